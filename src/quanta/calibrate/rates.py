"""Error rates of the test, each with its Wilson interval and the number of verdicts behind it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["wilson", "rate", "summarize", "markdown_tables"]

DETECTED = ("inconsistent", "not a power law")


def wilson(k: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (``(nan, nan)`` when ``n == 0``).

    Examples
    --------
    >>> [round(v, 3) for v in wilson(8, 10)]
    [0.49, 0.943]
    """
    from scipy.stats import norm

    if n <= 0:
        return (math.nan, math.nan)
    z = float(norm.ppf(0.5 + confidence / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (0.0 if k == 0 else max(0.0, centre - half), 1.0 if k == n else min(1.0, centre + half))


def rate(mask) -> dict:
    """``{"rate", "lo", "hi", "k", "n"}`` of a boolean series (95% Wilson interval)."""
    m = np.asarray(mask, dtype=bool)
    k, n = int(m.sum()), int(m.size)
    lo, hi = wilson(k, n)
    return {"rate": k / n if n else math.nan, "lo": lo, "hi": hi, "k": k, "n": n}


def _breakdown(v: pd.Series) -> dict:
    return {str(k): int(c) for k, c in v.value_counts().items()}


def _true_rates(true: pd.DataFrame) -> dict:
    return {
        "n": int(len(true)),
        "answers": _breakdown(true["verdict"]),
        "wrong_inconsistent": rate(true["verdict"] == "inconsistent"),
        "wrong_not_power_law": rate(true["verdict"] == "not a power law"),
        "consistent": rate(true["verdict"] == "consistent"),
        "gap_test_wrong_inconsistent": rate(true["gap_test"] == "inconsistent"),
        "coverage_predicted": rate((true["pred_lo"] <= true["zipf_true"]) & (true["zipf_true"] <= true["pred_hi"])),
        "coverage_measured": rate((true["meas_lo"] <= true["zipf_true"]) & (true["zipf_true"] <= true["meas_hi"])),
        "mean_alpha_N_minus_alpha": float((true["alpha_N"] - true["alpha_scaling"]).mean()) if len(true) else None,
        "mean_measured_minus_true": float((true["zipf_measured"] - true["zipf_true"]).mean()) if len(true) else None,
        "mean_ari": float(true["ari"].mean()) if len(true) else None,
    }


def summarize(verdicts: pd.DataFrame, *, gaps=(0.1, 0.2, 0.4), ci: float = 0.9, power_target: float = 0.8) -> dict:
    """The calibration's headline figures from its verdict table (:func:`quanta.calibrate.world_verdicts`).

    * ``true_worlds``: the share of each answer in true worlds; ``wrong_inconsistent`` (false alarms, the test's
      size), ``consistent`` (the right answer), and the ``coverage`` of the ``ci`` intervals of the predicted
      (α_N + 1) and measured (parts) exponents for the planted α + 1; ``oracle_worlds``: the same with the parts a
      perfect decomposition would find (a reference that reads labels: the test apart from QDG's errors);
    * ``power_by_gap``: per gap of the mismatched pairs, the share called ``inconsistent`` (``power``), the share
      refused either way (``detected``: inconsistent or not a power law) and the share where the exponent test alone
      rejects (``gap_test_power``); the gap 0 row is the true worlds;
    * ``false_worlds``: per world that is not the model (untrained, random, raw inputs, not a power law), the share
      detected and the answers;
    * ``min_detectable_gap``: the smallest gap of ``gaps`` whose power reaches ``power_target`` there and at every
      larger gap tested (None if none); ``min_detectable_gap_all`` over every gap tested. Verdicts share
      measurements (a seed set's parts serve its true verdict and every mismatch), so the Wilson intervals, which
      treat verdicts as independent, are too narrow.
    """
    out: dict = {"n_verdicts": int(len(verdicts)), "ci_level": ci, "power_target": power_target,
                 "n_no_data": int((verdicts["verdict"] == "no data").sum())}
    # a verdict without data (every decomposition failed) is left out of every rate; n_no_data counts them
    verdicts = verdicts[verdicts["verdict"] != "no data"]
    out["true_worlds"] = _true_rates(verdicts[verdicts["kind"] == "true"])
    if (verdicts["kind"] == "oracle").any():
        out["oracle_worlds"] = _true_rates(verdicts[verdicts["kind"] == "oracle"])
    rows = []
    mism = verdicts[verdicts["kind"].isin(["true", "mismatch"])]
    for g, grp in mism.groupby(mism["gap"].round(3)):
        rows.append({"gap": float(g), "n": int(len(grp)),
                     "power": rate(grp["verdict"] == "inconsistent"),
                     "detected": rate(grp["verdict"].isin(DETECTED)),
                     "gap_test_power": rate(grp["gap_test"] == "inconsistent"),
                     "answers": _breakdown(grp["verdict"])})
    out["power_by_gap"] = rows
    out["false_worlds"] = {}
    for kind in ("untrained", "random", "raw_inputs", "not_power_law"):
        grp = verdicts[verdicts["kind"] == kind]
        if len(grp):
            out["false_worlds"][kind] = {"n": int(len(grp)), "detected": rate(grp["verdict"].isin(DETECTED)),
                                         "called_consistent": rate(grp["verdict"] == "consistent"),
                                         "answers": _breakdown(grp["verdict"]),
                                         "mean_ari": float(grp["ari"].mean())}

    def smallest(candidates, key):
        """The smallest candidate gap whose power reaches the target and stays there at every larger gap tested."""
        tested = sorted((r for r in rows if r["gap"] > 0), key=lambda r: r["gap"])
        for i, r in enumerate(tested):
            if any(abs(r["gap"] - c) < 1e-6 for c in candidates) and all(
                    q[key]["rate"] >= power_target for q in tested[i:]):
                return r["gap"]
        return None

    every = [r["gap"] for r in rows]
    out["min_detectable_gap"] = smallest(gaps, "power")
    out["min_detectable_gap_all"] = smallest(every, "power")
    out["min_detectable_gap_gap_test"] = smallest(every, "gap_test_power")
    out["headline_gaps"] = {f"{g:g}": next((r for r in rows if abs(r["gap"] - g) < 1e-6), None) for g in gaps}
    return out


def _cell(r: dict | None) -> str:
    if not r or not r.get("n"):
        return "n/a"
    return f"{r['rate']:.0%} [{r['lo']:.0%}, {r['hi']:.0%}] ({r['k']}/{r['n']})"


def markdown_tables(summary: dict) -> str:
    """The calibration's rates as Markdown tables (docs/calibration.md is generated from a run with this)."""
    t = summary["true_worlds"]
    o = summary.get("oracle_worlds")
    lines = ["| true worlds | share of verdicts (95% Wilson) |" + (" oracle parts (reference) |" if o else ""),
             "|---|---|" + ("---|" if o else "")]

    def both(key):
        return f"{_cell(t[key])} |" + (f" {_cell(o[key])} |" if o else "")

    lines += [
             f"| wrongly `inconsistent` (false alarm) | {both('wrong_inconsistent')}",
             f"| `consistent` (right) | {both('consistent')}",
             f"| `not a power law` | {both('wrong_not_power_law')}",
             f"| exponent test alone says inconsistent | {both('gap_test_wrong_inconsistent')}",
             f"| {summary['ci_level']:.0%} interval of α_N + 1 holds α + 1 | {both('coverage_predicted')}",
             f"| {summary['ci_level']:.0%} interval of the parts' exponent holds α + 1 | {both('coverage_measured')}",
             f"| mean α_N − α; mean parts exponent − (α + 1); mean label-free ARI | {t['mean_alpha_N_minus_alpha']:+.3f}; "
             f"{t['mean_measured_minus_true']:+.3f}; {t['mean_ari']:.2f} |" +
             (f" {o['mean_alpha_N_minus_alpha']:+.3f}; {o['mean_measured_minus_true']:+.3f}; 1 |" if o else ""),
             "", "| planted gap | n | called `inconsistent` | inconsistent or not a power law | exponent test alone |",
             "|---|---|---|---|---|"]
    for r in sorted(summary["power_by_gap"], key=lambda r: r["gap"]):
        lines.append(f"| {r['gap']:g} | {r['n']} | {_cell(r['power'])} | {_cell(r['detected'])} | "
                     f"{_cell(r['gap_test_power'])} |")
    lines += ["", "| world that is not the model | n | detected (inconsistent or not a power law) | called `consistent` | "
              "mean ARI |", "|---|---|---|---|---|"]
    order = ("untrained", "random", "raw_inputs", "not_power_law")
    for kind, v in sorted(summary["false_worlds"].items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 9):
        lines.append(f"| {kind} | {v['n']} | {_cell(v['detected'])} | {_cell(v['called_consistent'])} | "
                     f"{v['mean_ari']:.2f} |")
    gap = summary.get("min_detectable_gap")
    lines += ["", f"min_detectable_gap (80% power, among {', '.join(sorted(summary.get('headline_gaps', {}), key=float))}): "
              f"{gap if gap is not None else 'none'}; over every gap tested: "
              f"{summary.get('min_detectable_gap_all') if summary.get('min_detectable_gap_all') is not None else 'none'}"
              f"; by the exponent test alone: "
              f"{summary.get('min_detectable_gap_gap_test') if summary.get('min_detectable_gap_gap_test') is not None else 'none'}."]
    return "\n".join(lines)
