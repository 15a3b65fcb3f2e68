"""Figures of a calibration: the power curve and the coverage of the intervals against their nominal level."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_power", "plot_coverage"]


def plot_power(summary: dict):
    """Share of verdicts that refuse the prediction against the planted gap |a - b| (0: true worlds)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    rows = summary["power_by_gap"]
    gaps = np.array([r["gap"] for r in rows])
    for key, label, color, dx in (("power", "called inconsistent", "tab:red", 0.0),
                                  ("detected", "inconsistent or not a power law", "tab:purple", 0.006),
                                  ("gap_test_power", "exponent test alone rejects", "tab:gray", -0.006)):
        y = np.array([r[key]["rate"] for r in rows])
        lo = np.array([r[key]["lo"] for r in rows])
        hi = np.array([r[key]["hi"] for r in rows])
        ax.errorbar(gaps + dx, y, yerr=np.clip([y - lo, hi - y], 0, None), fmt="o-", color=color, capsize=3, ms=4, label=label)
    ax.axhline(summary.get("power_target", 0.8), color="black", ls=":", lw=1, label="80% power")
    ax.axhline(summary.get("level", 0.05), color="tab:green", ls="--", lw=1, label="level of the test")
    ax.set_xlabel("planted gap |α_scaling − α_parts| (0 = true worlds)")
    ax.set_ylabel("share of verdicts (95% Wilson)")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("power of the closing test on planted parity worlds")
    ax.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    return fig


def plot_coverage(summary: dict):
    """Coverage of the predicted and measured intervals for the planted α + 1, against the nominal level."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0, 3.2))
    ax = fig.subplots()
    t = summary["true_worlds"]
    names = ["predicted\n(α_N + 1)", "measured\n(parts)"]
    vals = [t["coverage_predicted"], t["coverage_measured"]]
    y = np.array([v["rate"] for v in vals], dtype=float)
    lo = np.array([v["lo"] for v in vals], dtype=float)
    hi = np.array([v["hi"] for v in vals], dtype=float)
    ax.bar(names, y, color=["tab:blue", "tab:red"], alpha=0.6)
    ax.errorbar(range(2), y, yerr=np.nan_to_num(np.clip([y - lo, hi - y], 0, None)), fmt="none", color="black", capsize=4)
    ax.axhline(summary["ci_level"], color="black", ls="--", lw=1, label=f"nominal {summary['ci_level']:.0%}")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of intervals holding α + 1")
    ax.set_title(f"coverage in true worlds (n = {t['n']})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
