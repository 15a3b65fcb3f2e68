"""The calibration the package ships: the test's error rates measured at CPU scale, quoted with every verdict.

This module reads and writes only a small JSON table (``cpu.json`` beside it), so :mod:`quanta.falsify` can quote
it without importing the calibration's engine.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["SHIPPED", "SHIPPED_LM", "write_shipped", "shipped_calibration", "calibration_sentence", "lm_table",
           "write_shipped_lm", "lm_calibration_sentence"]

#: The calibration measured at CPU scale, shipped with the package (written by ``quanta calibrate --ship``).
SHIPPED = Path(__file__).with_name("cpu.json")
#: The closing test on the planted-quanta language at CPU scale (written from benchmarks/planted_falsify.py's record).
SHIPPED_LM = Path(__file__).with_name("lm_planted.json")


def write_shipped(summary: dict, path: Path) -> None:
    """The few figures ``quanta falsify`` quotes, from a calibration's summary, as a small JSON table."""
    from quanta.store import atomic_path

    t = summary["true_worlds"]
    keep = {"preset": summary["preset"], "level": summary["level"], "margin": summary["margin"],
            "seeds_per_verdict": summary["seeds_per_verdict"], "n_samples": summary["n_samples"],
            "worlds": summary["worlds"], "task_seed": summary.get("task_seed"),
            "train_seeds": summary.get("train_seeds"), "n_true": t["n"],
            "wrong_inconsistent": t["wrong_inconsistent"],
            "wrong_not_power_law": t["wrong_not_power_law"], "consistent": t["consistent"],
            "coverage_predicted": t["coverage_predicted"], "coverage_measured": t["coverage_measured"],
            "min_detectable_gap": summary["min_detectable_gap"],
            "min_detectable_gap_all": summary["min_detectable_gap_all"],
            "power_by_gap": [{"gap": r["gap"], "n": r["n"], "power": r["power"]} for r in summary["power_by_gap"]],
            "false_worlds": {k: {"n": v["n"], "detected": v["detected"]} for k, v in summary["false_worlds"].items()}}
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(keep, indent=1, sort_keys=True) + "\n")


def shipped_calibration(path: Path | None = None) -> dict | None:
    """The calibration shipped with the package (None if there is none)."""
    p = Path(path) if path else SHIPPED
    return json.loads(p.read_text()) if p.exists() else None


def calibration_sentence(cal: dict | None = None) -> str:
    """One sentence a verdict is printed with: the test's measured error rates at CPU scale."""
    cal = shipped_calibration() if cal is None else cal
    if not cal:
        return "the test has no shipped calibration (run: quanta calibrate --preset cpu --ship)"
    w = cal["wrong_inconsistent"]
    gap = cal.get("min_detectable_gap_all")
    gaps = [r["gap"] for r in cal["power_by_gap"] if r["gap"] > 0]
    gap_text = (f"detects a gap of {gap:g} with >= 80% power" if gap is not None else
                f"detects no planted gap ({min(gaps):g}-{max(gaps):g}) with 80% power" if gaps else
                "has no measured power")
    npl = cal.get("wrong_not_power_law") or {}
    return (f"calibrated on planted parity worlds at CPU scale ({cal['n_true']} true-world verdicts): the test wrongly "
            f"says inconsistent in {w['rate']:.0%} [{w['lo']:.0%}, {w['hi']:.0%}] of true worlds, consistent in "
            f"{cal['consistent']['rate']:.0%}, not a power law in {npl.get('rate', float('nan')):.0%}, and "
            f"{gap_text} (docs/calibration.md)")


def lm_table(record: dict) -> dict:
    """The answers of the closing test on the planted-quanta language, from ``benchmarks/planted_falsify.py``'s record.

    One entry per kind of pair (``true``: scaling and parts from the same planted world; ``mismatched``: from worlds
    that differ in the planted α): the number of pairs, the count of each answer, and the share called
    ``inconsistent`` with its 95% Wilson interval.
    """
    from quanta.calibrate.rates import wilson

    out = {"date": record.get("date"), "preset": record.get("preset"), "alphas": record.get("alphas"),
           "seeds": record.get("seeds")}
    for kind in ("true", "mismatched"):
        rows = [r for r in record["pairs"] if r["kind"] == kind]
        answers: dict[str, int] = {}
        for r in rows:
            answers[r["verdict"]] = answers.get(r["verdict"], 0) + 1
        k, n = answers.get("inconsistent", 0), len(rows)
        lo, hi = wilson(k, n)
        out[kind] = {"n": n, "answers": answers,
                     "inconsistent": {"k": k, "n": n, "rate": k / n if n else None, "lo": lo, "hi": hi}}
    return out


def write_shipped_lm(record: dict, path: Path) -> None:
    """Ship :func:`lm_table` of a recorded planted-language run (what ``quanta falsify`` quotes for LM verdicts)."""
    from quanta.store import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(lm_table(record), indent=1, sort_keys=True) + "\n")


def lm_calibration_sentence(table: dict | None = None) -> str:
    """The sentence an LM verdict is printed with: the parity calibration does not carry over; what the planted
    language measured instead."""
    if table is None:
        table = json.loads(SHIPPED_LM.read_text()) if SHIPPED_LM.exists() else None
    head = "those rates were measured on parity worlds, not on language models"
    if not table:
        return head + "; no planted-language record is shipped (benchmarks/planted_falsify.py)"

    def part(kind, label):
        c = table[kind]["inconsistent"]
        return (f"{label} pairs were called inconsistent in {c['k']} of {c['n']} "
                f"[{c['lo']:.0%}, {c['hi']:.0%}]") if c["n"] else f"no {label} pairs were measured"

    return (f"{head}; on the planted-quanta language at CPU scale {part('true', 'true')} (false alarms) and "
            f"{part('mismatched', 'mismatched')}, so this test does not yet separate them there "
            "(docs/calibration.md)" if table["true"]["inconsistent"]["k"] and table["true"]["n"] else
            f"{head}; on the planted-quanta language at CPU scale {part('true', 'true')} and "
            f"{part('mismatched', 'mismatched')} (docs/calibration.md)")
