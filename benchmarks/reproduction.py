"""docs/reproduction.md from the paper-scale parity runs: the measured exponents beside the paper's and the theory's.

After a GPU call of ``benchmarks/gpu_run.sh`` (``cat FILES_AT/parity.tar.part* | tar xf -`` in the repo root,
FILES_AT being where the device tool put the call's files, leaves the runs in ``runs/gpu/NAME``):

    .venv/bin/python benchmarks/reproduction.py runs/gpu

reads ``RUNS/fig2-params``, ``RUNS/fig2-data`` and the α sweep (``RUNS/alpha-sweep``, or its runs of one α each,
``RUNS/alpha-sweep-aA``, as gpu_run.sh makes them), analyses every finished one with
``quanta.parity.analyze`` (the same fits, ranges and intervals as ``quanta parity analyze``; runs of several seeds
are also analysed seed by seed, for the spread), records ``docs/data/reproduction.json`` and writes
``docs/reproduction.md`` and ``docs/img/reproduction_*.png`` from that record alone. An unfinished run is listed
with its progress and not analysed. ``--check`` re-renders the page from the record and exits 1 if the page
differs (what tests/test_reproduction.py asserts for the recorded page).

The target (issue 18): within ±0.05 of the paper's measured α_N and α_S at α = 0.4, and the same trend across α
(a positive rank correlation of each measured exponent with α, as the paper's).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RUNS = ("fig2-params", "fig2-data", "alpha-sweep")
#: The paper's Fig. 10 (docs/science.md): α -> measured α_N, α_S, α_D and the exponent x of n ∝ D^x.
PAPER_FIG10 = {
    0.1: (0.229, 0.228, 0.275, 0.878), 0.2: (0.283, 0.267, 0.274, 0.765), 0.3: (0.339, 0.307, 0.297, 0.739),
    0.4: (0.378, 0.346, 0.308, 0.678), 0.5: (0.454, 0.376, 0.335, 0.677), 0.6: (0.503, 0.422, 0.357, 0.650),
    0.7: (0.571, 0.468, 0.373, 0.617), 0.8: (0.608, 0.482, 0.404, 0.578),
}
#: analysis quantity -> (column of PAPER_FIG10, how the page names it, the theory's value as a formula)
QUANTITIES = {"alpha_N": (0, "α_N", "α"), "alpha_S": (1, "α_S", "α/(α+1)"), "alpha_D": (2, "α_D", "α/(α+1)"),
              "n_vs_D_exponent": (3, "x in n ∝ D^x", "1/(α+1)")}
TARGET_ALPHA, TARGET_TOL = 0.4, 0.05
DOC, RECORD = ROOT / "docs" / "reproduction.md", ROOT / "docs" / "data" / "reproduction.json"
IMG = ROOT / "docs" / "img"


def paper_value(alpha: float, quantity: str) -> float | None:
    row = PAPER_FIG10.get(round(float(alpha), 3))
    return None if row is None or quantity not in QUANTITIES else row[QUANTITIES[quantity][0]]


def run_status(path: Path) -> dict:
    """What a run directory holds: status, progress and settings (from its manifest and checkpoint)."""
    man = json.loads((path / "manifest.json").read_text())
    cfg = man.get("config", {})
    done = cfg.get("steps") if man.get("status") == "complete" else None
    if done is None and (path / "checkpoint.pt").exists():
        import torch

        done = int(torch.load(path / "checkpoint.pt", weights_only=True, map_location="cpu")["step"])
    keys = ("alphas", "seeds", "steps", "batch_size", "n_tasks", "n", "k", "tf32", "compile", "kernel")
    return {"status": man.get("status"), "steps_done": done, "device": man.get("device"),
            "torch": man.get("versions", {}).get("torch"), "ended_at": man.get("ended_at"),
            "n_widths": len(cfg.get("widths", [])), "data_sizes": cfg.get("data_sizes"),
            **{k: cfg.get(k) for k in keys}}


def _by_seed(tables, seed):
    from quanta.parity.tables import parity_tables

    models = tables.models[tables.models["seed"] == seed]
    ids = set(models["model"])
    pick = {"tasks": tables.tasks, "models": models, "eval": tables.eval[tables.eval["model"].isin(ids)],
            "eval_mean": tables.eval_mean[tables.eval_mean["model"].isin(ids)]}
    return parity_tables(pick, config=tables.config)


#: The paper's own estimator of Fig. 10 (ejmichaud/quantization-model, notebooks/scaling-exp-vs-zipf-exp.ipynb, read
#: 2026-12-04 after the first H200 run): a least-squares line of log loss against log x, no L∞ term, the points of
#: every seed pooled. α_N: the last loss of every online model against its parameters, all widths. α_S: the loss of
#: the widest online model at the steps its code logged, every 500 from 500 to 14,500 (REFERENCE_STEPS). α_D: each
#: fixed-D model's lowest mean test loss over training against D, from the smallest D whose loss is below 0.95 bits
#: (REFERENCE_D_START_BITS) to the largest. x of n ∝ D^x: the tasks whose own test loss ever fell below 0.1 nats
#: (REFERENCE_LEARNED_NATS) against D, from the smallest D with one learned.
REFERENCE_STEPS = np.arange(500, 15000, 500)
REFERENCE_D_START_BITS, REFERENCE_LEARNED_NATS = 0.95, 0.1


def _loglog_slope(x, y) -> float:
    """Minus the slope of the least-squares line of log y against log x (NaN with fewer than 2 usable points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2 or np.ptp(x[ok]) == 0:
        return math.nan
    return float(-np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def _data_fit(points: pd.DataFrame, start, sign: float = 1.0) -> tuple[float, list[float], int, int] | None:
    """The paper's line of log y against log D over each seed's points from the first D that ``start(y)`` admits
    (D ascending) to the last, pooled and per seed, as ``sign`` × minus its slope (the exponent of a falling loss;
    ``sign=-1`` for a rising count), with the number of points and of those left out (a y of 0, such as a count
    that falls back to none, or a model with no evaluation: the paper's line would fail on them); None with fewer
    than 2 usable points in every seed. The paper takes |slope|; the sign is kept here, so that a curve going the
    wrong way shows as a negative exponent. The paper's runs are one seed of 25 sizes and its cut is taken on that
    one list, to its end; for several seeds the cut is taken per seed."""
    kept = []
    for _, g in points.sort_values("D").groupby("seed"):
        ok = np.flatnonzero(start(g["y"].to_numpy()))
        if len(ok):
            kept.append(g.iloc[ok[0]:])
    usable = [g[np.isfinite(g["y"]) & (g["y"] > 0)] for g in kept]
    pairs = [(g, u) for g, u in zip(kept, usable) if len(u) >= 2]
    if not pairs:
        return None
    both = pd.concat([u for _, u in pairs])
    dropped = sum(len(g) - len(u) for g, u in pairs)
    return (sign * _loglog_slope(both["D"], both["y"]), [sign * _loglog_slope(u["D"], u["y"]) for _, u in pairs],
            len(both), dropped)


def reference_fits(models, eval_mean, eval_tasks=None) -> list[dict]:
    """Fig. 10's exponents of each α of a run by the paper's own estimator (see :data:`REFERENCE_STEPS`): one row per
    (alpha, quantity) with the pooled fit (``measured``), the per-seed fits (``seed_values``, ``seed_sd``) and the
    points used. α_N and α_S from the online models; our evaluations are log-spaced, so each seed's loss at the
    paper's steps is read off its curve by log-log interpolation between the two evaluations around it (exact for a
    power law), and a run whose evaluations do not span 500 to 14,500 steps gets no α_S row. α_D and the exponent of
    n ∝ D^x from the fixed-D models of the widest width (x needs ``eval_tasks``, the per-task evaluations)."""
    rows = []
    for alpha, fixed in models[models["D"] > 0].groupby("alpha"):
        fixed = fixed[fixed["width"] == fixed["width"].max()]
        lowest = eval_mean[eval_mean["model"].isin(fixed["model"])].groupby("model")["loss"].min()
        pts = fixed.assign(y=fixed["model"].map(lowest) / math.log(2))  # bits, as the paper's cut is
        fits = {"alpha_D": _data_fit(pts, lambda y: y < REFERENCE_D_START_BITS)}
        if eval_tasks is not None:
            ev = eval_tasks[eval_tasks["model"].isin(fixed["model"])]
            n = (ev.groupby(["model", "task"])["loss"].min() < REFERENCE_LEARNED_NATS).groupby("model").sum()
            fits["n_vs_D_exponent"] = _data_fit(fixed.assign(y=fixed["model"].map(n).fillna(0)), lambda y: y > 0,
                                                  sign=-1.0)
        for q, fit in fits.items():
            if fit is not None:
                rows.append(_reference_row(alpha, q, *fit[:3], n_dropped=fit[3]))
    online = models[models["D"] == 0]
    for alpha, ms in online.groupby("alpha"):
        fits = {}
        if ms["width"].nunique() >= 2:
            pooled = _loglog_slope(ms["n_params"], ms["final_loss"])
            per = [_loglog_slope(g["n_params"], g["final_loss"]) for _, g in ms.groupby("seed")
                   if g["width"].nunique() >= 2]
            fits["alpha_N"] = (pooled, per, len(ms))
        widest = ms[ms["width"] == ms["width"].max()]
        curves, own = [], []
        for m in widest.itertuples():
            ev = eval_mean[(eval_mean["model"] == m.model) & (eval_mean["step"] > 0)].sort_values("step")
            if len(ev) >= 2 and ev["step"].min() <= REFERENCE_STEPS[0] and ev["step"].max() >= REFERENCE_STEPS[-1]:
                curves.append(np.exp(np.interp(np.log(REFERENCE_STEPS), np.log(ev["step"].to_numpy(float)),
                                                np.log(ev["loss"].to_numpy(float)))))
                own.append(ev[(ev["step"] >= REFERENCE_STEPS[0]) & (ev["step"] <= REFERENCE_STEPS[-1])])
        extra = {}
        if curves:
            pooled = _loglog_slope(np.tile(REFERENCE_STEPS, len(curves)), np.concatenate(curves))
            fits["alpha_S"] = (pooled, [_loglog_slope(REFERENCE_STEPS, c) for c in curves],
                               len(curves) * len(REFERENCE_STEPS))
            own = pd.concat(own)  # a check of the interpolation: the same line through our own evaluations there
            extra["alpha_S"] = {"own_steps": _f(_loglog_slope(own["step"], own["loss"])), "own_points": len(own)}
        rows += [_reference_row(alpha, q, *fit, **extra.get(q, {})) for q, fit in fits.items()]
    return rows


def _reference_row(alpha, quantity, pooled, per, n_points, **extra) -> dict:
    per = [v for v in per if np.isfinite(v)]
    return {"alpha": float(alpha), "quantity": quantity, "measured": _f(pooled), "seed_values": per,
            "seed_sd": float(np.std(per, ddof=1)) if len(per) > 1 else None, "n_points": n_points,
            "n_seeds": len(per), "paper": paper_value(alpha, quantity), **extra}


def analyse(path: Path, n_boot: int = 200, seed: int = 0):
    """The exponent rows of one finished run (all seeds' mean, with the sd over per-seed analyses), its analysis and
    the rows of the paper's own estimator (:func:`reference_fits`)."""
    from quanta.parity.analyze import AnalyzeConfig, analyze_parity
    from quanta.parity.tables import load_parity_run

    cfg = AnalyzeConfig(n_boot=n_boot, seed=seed)
    tables = load_parity_run(path)
    result = analyze_parity(tables, cfg)
    seeds = sorted(tables.models["seed"].unique())
    per_seed = [analyze_parity(_by_seed(tables, s), cfg).exponents for s in seeds] if len(seeds) > 1 else []
    rows = []
    for r in result.exponents.itertuples():
        if r.quantity not in QUANTITIES:
            continue
        vals = [float(e.loc[(e["alpha"] == r.alpha) & (e["quantity"] == r.quantity), "measured"].iloc[0])
                for e in per_seed if ((e["alpha"] == r.alpha) & (e["quantity"] == r.quantity)).any()]
        vals = [v for v in vals if np.isfinite(v)]
        rows.append({"alpha": float(r.alpha), "quantity": r.quantity, "measured": _f(r.measured),
                     "ci_lo": _f(r.ci_lo), "ci_hi": _f(r.ci_hi), "theory": _f(r.predicted),
                     "paper": paper_value(r.alpha, r.quantity), "n_seeds": len(seeds),
                     "seed_sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else None,
                     "seed_values": vals})
    return rows, result, reference_fits(tables.models, tables.eval_mean, tables.eval)


def _f(v):
    return None if v is None or not np.isfinite(v) else float(v)


def target(rows: list[dict]) -> dict:
    """The issue's target, read from the rows: |measured − paper| at α = 0.4 for α_N and α_S, and the trend."""
    from scipy.stats import spearmanr

    out = {}
    for q in ("alpha_N", "alpha_S"):
        at = [r for r in rows
              if r["quantity"] == q and abs(r["alpha"] - TARGET_ALPHA) < 1e-9 and r["measured"] is not None]
        if at:
            # the α sweep's own α = 0.4 run if there is one (the same sweep as the trend), else Fig. 2's
            r = next((x for x in at if x["run"] == "alpha-sweep"), at[0])
            d = r["measured"] - r["paper"]
            out[f"{q}_at_0.4"] = {"run": r["run"], "measured": r["measured"], "paper": r["paper"], "difference": d,
                                  "within": bool(abs(d) <= TARGET_TOL)}
        sweep = sorted((r["alpha"], r["measured"]) for r in rows
                       if r["quantity"] == q and r["run"] == "alpha-sweep" and r["measured"] is not None)
        if len(sweep) >= 3:
            rho = float(spearmanr([a for a, _ in sweep], [m for _, m in sweep]).statistic)
            out[f"{q}_trend"] = {"n_alphas": len(sweep), "spearman_with_alpha": rho, "same_as_paper": rho > 0}
    return out


def run_dirs(runs_dir: Path) -> list[tuple[str, str]]:
    """``(reproduction, folder)`` pairs in page order: fig2-params, fig2-data, then the α sweep, whole
    (``alpha-sweep``) or as runs of one α each (``alpha-sweep-aA``, by A); an absent reproduction gets its own name."""
    def alpha_of(name: str) -> float:
        try:
            return float(name[len("alpha-sweep-a"):])
        except ValueError:
            return math.inf

    pairs = [(name, name) for name in RUNS[:2]]
    sweep = sorted((p.name for p in runs_dir.glob("alpha-sweep-a*") if (p / "manifest.json").exists()), key=alpha_of)
    whole = [RUNS[2]] if (runs_dir / RUNS[2] / "manifest.json").exists() or not sweep else []
    return pairs + [(RUNS[2], name) for name in whole + sweep]


def page_order(name: str) -> tuple:
    """Where a run folder goes on the page: fig2-params, fig2-data, the whole α sweep, then its runs by α."""
    if name.startswith(RUNS[2] + "-a"):
        try:
            return (3, float(name[len(RUNS[2] + "-a"):]), name)
        except ValueError:
            return (3, math.inf, name)
    return (RUNS.index(name) if name in RUNS else 4, 0.0, name)


def build_record(runs_dir: Path, *, device: str | None, date: str | None, n_boot: int = 200,
                 previous: dict | None = None) -> tuple[dict, dict]:
    """The record of the runs under ``runs_dir`` and ``{folder: ParityAnalysis}`` of the finished ones. A run that
    ``previous`` (the committed record) holds as finished and ``runs_dir`` lacks keeps its status and rows from it,
    marked ``kept_from`` with that record's date: runs/ is not committed, so a later session has only the runs of
    its own calls, and gpu_run.sh does not run a recorded one again. A paused run that ``runs_dir`` lacks is not
    kept: without its checkpoint it starts over."""
    record = {"date": date, "device": device, "runs": {}, "rows": [], "reference_rows": []}
    analyses = {}
    for run, name in run_dirs(runs_dir):
        path = runs_dir / name
        if not (path / "manifest.json").exists():
            record["runs"][name] = {"status": "absent"}
            continue
        st = run_status(path)
        record["runs"][name] = st
        if st["status"] == "complete":
            rows, analyses[name], ref = analyse(path, n_boot=n_boot)
            record["rows"] += [{"run": run, "dir": name, **r} for r in rows]
            record["reference_rows"] += [{"run": run, "dir": name, **r} for r in ref]
            st["notes"] = list(analyses[name].notes)  # the analysis's own caveats (a fit's bias, a sweep missing)
    for name, st in (previous or {}).get("runs", {}).items():
        if st.get("status") == "complete" and record["runs"].get(name, {"status": "absent"})["status"] == "absent":
            record["runs"][name] = {**st, "kept_from": st.get("kept_from") or (st.get("ended_at") or "")[:10]
                                           or previous.get("date")}
            record["rows"] += [r for r in previous.get("rows", []) if r["dir"] == name]
            record["reference_rows"] += [r for r in previous.get("reference_rows", []) if r["dir"] == name]
    if any(n.startswith(RUNS[2] + "-a") for n in record["runs"]) and record["runs"].get(RUNS[2]) == {
            "status": "absent"}:
        del record["runs"][RUNS[2]]  # the sweep is there as runs of one α each (run_dirs' rule)
    record["runs"] = {n: record["runs"][n] for n in sorted(record["runs"], key=page_order)}
    from quanta.parity.presets import preset_config

    started = {a for name, st in record["runs"].items() if name.startswith(RUNS[2]) and st["status"] != "absent"
               for a in st.get("alphas") or []}
    record["sweep_alphas_not_started"] = sorted(set(preset_config("paper-alpha-sweep").alphas) - started)
    record["target"] = target(record["rows"])
    record["reference_target"] = target(record["reference_rows"])
    return record, analyses


def _num(v, fmt="{:.3f}"):
    return "–" if v is None else fmt.format(v)


def _text(v):
    return "–" if v is None else str(v)


def render(record: dict) -> str:
    """The whole page, from the record alone."""
    lines = ["# Reproduction of the paper's parity scaling (Fig. 2 and Fig. 10)", "",
             "<!-- generated by benchmarks/reproduction.py from docs/data/reproduction.json; do not edit by hand -->",
             "",
             f"Runs of {record['date'] or 'an unrecorded date'} on {record['device'] or 'an unrecorded device'}, "
             "made by `benchmarks/gpu_run.sh` (presets `paper-fig2-params`, `paper-fig2-data` and "
             "`paper-alpha-sweep`, the last one α per run, `alpha-sweep-aA`; "
             "see [parity run](parity-run.md)) and analysed as `quanta parity analyze` does "
             "([parity analyze](parity-analyze.md)): fits of L = L∞ + A·x^-α with profile-likelihood intervals "
             "(90%), the fit-range rules of that page, and tasks learned below 0.1 bits. The paper's values are its "
             "Fig. 10 ([science](science.md)); the theory's are α, α/(α+1), α/(α+1) and 1/(α+1). The paper's α_D "
             "and x across α come from a data sweep at every α (its code's D-scaling-9: 25 sizes from 1e4 to 5e6, "
             "width 500, one seed); the runs here hold a data sweep at α = 0.4 only (`paper-fig2-data`), so those "
             "two can be compared at α = 0.4 and not across α.", "",
             "## The runs", "",
             "| run | status | steps done | α | seeds | widths | data sizes | tf32 / compile / kernel | device "
             "| torch |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, st in record["runs"].items():
        if st["status"] == "absent":
            lines.append(f"| {name} | not run | | | | | | | | |")
            continue
        ds = st.get("data_sizes") or []
        flags = " / ".join(_text(st.get(k)) for k in ("tf32", "compile", "kernel"))
        kept = f" (run of {st['kept_from']}, kept from its record)" if st.get("kept_from") else ""
        lines.append(
            f"| {name} | {st['status']}{kept} | {_num(st['steps_done'], '{:,}')} of {_num(st['steps'], '{:,}')} | "
            f"{', '.join(str(a) for a in st['alphas'] or []) or '–'} | "
            f"{len(st['seeds']) if st['seeds'] else '–'} | "
            f"{st['n_widths']} | {len([d for d in ds if d]) or 'online'} | {flags} | {_text(st['device'])} | "
            f"{_text(st['torch'])} |")
    missing = record.get("sweep_alphas_not_started")
    if missing:
        lines += ["", "Not started yet: the α sweep's runs at α = " + ", ".join(f"{a:g}" for a in missing) + "."]
    lines += ["", "## Exponents by quanta's own fits", ""]
    rows = record["rows"]
    finished = [n for n, st in record["runs"].items() if st["status"] == "complete"]
    if not rows and finished:
        lines += [f"No exponent could be fitted from the finished runs ({', '.join(finished)}): too few sizes, "
                  "steps or learned tasks for the fits of `quanta parity analyze`.", ""]
    elif not rows:
        lines += ["No run has finished yet, so no exponent is measured: each GPU call of `gpu_run.sh` continues the "
                  "runs (`benchmarks/gpu_pack.py carry runs/gpu .gpu-carry` before it, carry `.gpu-carry`), and this "
                  "page is written again from them.", ""]
    else:
        lines += ["| run | α | quantity | measured [90% interval] | sd over seeds | paper | measured − paper "
                  "| theory |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in sorted(rows, key=lambda r: (RUNS.index(r["run"]), list(QUANTITIES).index(r["quantity"]), r["alpha"])):
            ci = (f" [{_num(r['ci_lo'])}, {_num(r['ci_hi'])}]" if r["ci_lo"] is not None or r["ci_hi"] is not None
                  else "")
            sd = _num(r["seed_sd"]) if r["n_seeds"] > 1 else "one seed"
            diff = (_num(r["measured"] - r["paper"], "{:+.3f}") if r["measured"] is not None
                    and r["paper"] is not None else "–")
            lines.append(f"| {r['run']} | {r['alpha']:g} | {QUANTITIES[r['quantity']][1]} | {_num(r['measured'])}{ci} "
                         f"| {sd} | {_num(r['paper'])} | {diff} | {_num(r['theory'])} |")
        lines.append("")
    ref = record.get("reference_rows", [])
    if ref:
        lines += ["## The same runs by the paper's own estimator", "",
                  "The paper's Fig. 10 exponents come from its code's own fits (ejmichaud/quantization-model, "
                  "`notebooks/scaling-exp-vs-zipf-exp.ipynb`): a least-squares line of log loss against log x with "
                  "no L∞ term, the points of all seeds pooled; α_N from every online model's last loss against its "
                  "parameters, α_S from the widest model's loss at steps 500, 1,000, ..., 14,500, α_D from each "
                  "fixed-D model's lowest test loss against D from the first D below 0.95 bits, and x from the "
                  "number of tasks whose loss ever fell below 0.1 nats against D. The fits above are "
                  "quanta's own (an L∞ term, rule-chosen ranges), which estimate the theory's exponent; these "
                  "estimate the paper's number, and so test whether the runs themselves reproduce the paper's. "
                  "Our evaluations are log-spaced, so the loss at the paper's steps is read off each curve by log-log "
                  "interpolation. This estimator was added after the first run of 2026-12-04 had shown quanta's α_S "
                  "outside the target: it is the paper's, fixed there, and neither chosen nor adjusted on these "
                  "runs; quanta's own fits above are unchanged.", "",
                  "| run | α | quantity | paper's estimator (seeds pooled) | per seed | sd over seeds | points "
                  "| paper | measured − paper |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(ref, key=lambda r: (RUNS.index(r["run"]), list(QUANTITIES).index(r["quantity"]), r["alpha"])):
            per = ", ".join(f"{v:.3f}" for v in r["seed_values"]) or "–"
            diff = (_num(r["measured"] - r["paper"], "{:+.3f}") if r["paper"] is not None
                    and r["measured"] is not None else "–")
            points = f"{r['n_points']}" + (f" ({r['n_dropped']} left out: y = 0)" if r.get("n_dropped") else "")
            lines.append(f"| {r['run']} | {r['alpha']:g} | {QUANTITIES[r['quantity']][1]} | {_num(r['measured'])} | "
                         f"{per} | {_num(r['seed_sd'])} | {points} | {_num(r['paper'])} | {diff} |")
        lines.append("")  # a blank line ends the table
        own = [r for r in ref if r.get("own_steps") is not None]
        if own:
            lines += ["Without the interpolation, the same line through our own evaluations between those steps "
                      "(log-spaced, so weighted differently) gives α_S " + "; ".join(
                          f"{r['own_steps']:.3f} ({r['run']}, α = {r['alpha']:g}, {r['own_points']} points)"
                          for r in own) + ".", ""]
    lines += ["## Against the target", "",
              f"Target: within ±{TARGET_TOL} of the paper's measured α_N and α_S at α = {TARGET_ALPHA}, and the "
              "same trend across α. The reading declared before any run is the one by quanta's own fits; the one by "
              "the paper's estimator was added after the first run had been read (above).", ""]
    for label, key in (("quanta's own fits", "target"), ("the paper's estimator", "reference_target")):
        if key == "reference_target" and not ref:
            continue
        lines += [f"By {label}:", ""] + _target_lines(record.get(key, {})) + [""]
    noted = [(name, st["notes"]) for name, st in record["runs"].items() if st.get("notes")]
    if noted:
        lines += ["## What the analysis says about its own fits", "",
                  "The notes `quanta parity analyze` wrote for each finished run, as it wrote them:", ""]
        for name, notes in noted:
            lines += [f"- {name}: {note}" for note in notes]
    if rows:
        lines += ["", "## Figures", "", "![exponents against α](img/reproduction_exponents.png)", ""]
        for name in sorted({r["dir"] for r in rows}, key=list(record["runs"]).index):
            alt = f"{name}: mean test loss against the sizes it sweeps, with the fits"
            lines += [f"![{alt}](img/{figure_name(name)}.png)", ""]
            for fig in record["runs"][name].get("task_figures", []):
                lines += [f"![{name}: each task's test loss, coloured by its frequency rank](img/{fig}.png)", ""]
    return "\n".join(lines).rstrip() + "\n"


def _target_lines(t: dict) -> list[str]:
    lines = []
    for q in ("alpha_N", "alpha_S"):
        name = QUANTITIES[q][1]
        at = t.get(f"{q}_at_0.4")
        lines.append(f"- {name} at α = 0.4: " + (
            f"{at['measured']:.3f} ({at['run']}) against the paper's {at['paper']:.3f}, a difference of "
            f"{at['difference']:+.3f}: **{'within' if at['within'] else 'outside'}** ±{TARGET_TOL}."
            if at else "not measured yet."))
        tr = t.get(f"{q}_trend")
        lines.append(f"- {name} across α: " + (
            f"Spearman correlation with α {tr['spearman_with_alpha']:+.2f} over {tr['n_alphas']} α: "
            f"**{'the same trend as the paper' if tr['same_as_paper'] else 'not the paper trend'}** (it rises with α)."
            if tr else "needs the finished α sweep."))
    return lines


def figure_name(run_dir: str) -> str:
    """The file name (no extension) of a finished run's loss-scaling figure under docs/img."""
    return "reproduction_" + run_dir.replace("-", "_").replace(".", "_")


def exponents_figure(record: dict):
    """Measured exponents against α (intervals as bars), the paper's Fig. 10 points and the theory's curves."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4.0), layout="constrained")
    axes = fig.subplots(1, len(QUANTITIES))
    grid = np.linspace(0.05, 0.85, 50)
    theory = {"alpha_N": grid, "alpha_S": grid / (grid + 1), "alpha_D": grid / (grid + 1),
              "n_vs_D_exponent": 1 / (grid + 1)}
    marks = {"fig2-params": "o", "fig2-data": "s", "alpha-sweep": "D"}
    for ax, (q, (col, label, formula)) in zip(axes, QUANTITIES.items()):
        ax.plot(grid, theory[q], "-", color="0.6", label="theory")
        pa = sorted(PAPER_FIG10)
        ax.plot(pa, [PAPER_FIG10[a][col] for a in pa], "x", color="black", label="paper Fig. 10")
        for run, m in marks.items():
            rs = sorted((r for r in record["rows"] if r["run"] == run and r["quantity"] == q
                         and r["measured"] is not None), key=lambda r: r["alpha"])
            if not rs:
                continue
            a = np.array([r["alpha"] for r in rs])
            y = np.array([r["measured"] for r in rs])
            lo = np.array([r["ci_lo"] if r["ci_lo"] is not None else np.nan for r in rs])
            hi = np.array([r["ci_hi"] if r["ci_hi"] is not None else np.nan for r in rs])
            err = np.vstack([np.where(np.isfinite(lo), y - lo, 0), np.where(np.isfinite(hi), hi - y, 0)])
            ax.errorbar(a, y, yerr=err, fmt=m, ms=5, capsize=2, label=f"quanta's fits: {run}")
        rs = sorted((r for r in record.get("reference_rows", []) if r["quantity"] == q), key=lambda r: r["alpha"])
        if rs:
            ax.errorbar([r["alpha"] + 0.012 for r in rs], [r["measured"] for r in rs],
                        yerr=[r["seed_sd"] or 0 for r in rs], fmt="P", ms=6, capsize=2, color="tab:red",
                        label="quanta's runs, the paper's estimator (± sd over seeds)")
        ax.set_xlabel("α")
        ax.set_title(f"{label} (theory {formula})")
        ax.grid(alpha=0.3)
    handles = {}
    for ax in axes:  # every series once, whichever panel has it
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=len(handles), fontsize=8)
    return fig


def write(record: dict, analyses: dict, doc: Path, record_path: Path, img: Path) -> None:
    from quanta.parity.figures import plot_parity_analysis
    from quanta.store import atomic_path, atomic_write_bytes, atomic_write_json

    figures = {"reproduction_exponents": exponents_figure(record)} if record["rows"] else {}
    for name, result in analyses.items():
        figs = plot_parity_analysis(result)
        if "loss_scaling" in figs and any(r["dir"] == name for r in record["rows"]):
            figures[figure_name(name)] = figs["loss_scaling"]
        # each task's loss against steps and size: the quanta emerging one by one (one figure per α of the run)
        tasks = {figure_name(name) + k[len("task_curves"):].replace(".", "_") + "_tasks": f
                 for k, f in figs.items() if k.startswith("task_curves")}
        figures.update(tasks)
        record["runs"][name]["task_figures"] = list(tasks)
    atomic_write_json(record_path, record)
    for name, fig in figures.items():
        with atomic_path(img / f"{name}.png") as tmp:
            fig.savefig(tmp, dpi=110)
    atomic_write_bytes(doc, render(record).encode())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="?", default="runs/gpu", help="the folder holding fig2-params, fig2-data, ...")
    ap.add_argument("--device", default=None, help="the GPU the runs ran on (default: from their manifests)")
    ap.add_argument("--date", default=None, help="the date of the runs (default: the day of their ends, first to last)")
    ap.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples of the count fits")
    ap.add_argument("--doc", default=str(DOC))
    ap.add_argument("--record", default=str(RECORD))
    ap.add_argument("--img", default=str(IMG))
    ap.add_argument("--check", action="store_true", help="only re-render the page from the record and compare")
    ap.add_argument("--replace", action="store_true",
                    help="build the record from RUNS alone (default: finished runs of the existing record that RUNS "
                         "lacks are kept, with their rows)")
    args = ap.parse_args(argv)
    doc, record_path = Path(args.doc), Path(args.record)
    if args.check:
        same = doc.read_text() == render(json.loads(record_path.read_text()))
        print("the page matches its record" if same else f"{doc} differs from what {record_path} renders")
        return 0 if same else 1
    runs = Path(args.runs)
    if not runs.is_dir():
        print(f"{runs} is not a folder: unpack the GPU call's parity.tar.part* first "
              "(cat FILES_AT/parity.tar.part* | tar xf -)")
        return 2
    previous = None
    if not args.replace and record_path.exists():
        try:
            previous = json.loads(record_path.read_text())
        except (OSError, ValueError) as e:
            print(f"{record_path} cannot be read ({e}): mend it, or pass --replace to build the record from {runs} "
                  "alone")
            return 2
    record, analyses = build_record(runs, device=args.device, date=args.date, n_boot=args.n_boot, previous=previous)
    done = [st for st in record["runs"].values() if st["status"] != "absent"]
    if not [st for st in done if not st.get("kept_from")]:
        print(f"{runs} holds none of {', '.join(RUNS)}")
        return 2
    if record["device"] is None:
        devices = list(dict.fromkeys(st["device"] for st in done if st.get("device")))
        record["device"] = " and ".join(devices) or None
    if record["date"] is None:
        ends = sorted(st["ended_at"][:10] for st in done if st.get("ended_at"))
        record["date"] = (ends[0] if ends[0] == ends[-1] else f"{ends[0]} to {ends[-1]}") if ends else None
    write(record, analyses, doc, record_path, Path(args.img))
    print(f"wrote {doc}, {record_path}; {len(record['rows'])} exponent rows from "
          f"{sum(st['status'] == 'complete' for st in done)} finished run(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
