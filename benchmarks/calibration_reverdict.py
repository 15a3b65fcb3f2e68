"""Decide a finished calibration's verdicts again from its recorded units, with the current decision code.

The units (``scaling_<world>``, ``parts_<world>``) are the expensive part and do not depend on the decision; after a
fix in the decision (``quanta.falsify.verdict_from_replicates``) or in the rates, this rewrites ``verdicts.parquet``,
``summary.json`` and the figures of the run in place, and says so in the summary (``reverdicted``).

    python benchmarks/calibration_reverdict.py runs/calibrate
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd


def main(run_dir: str) -> None:
    from quanta.calibrate import calibration_config
    from quanta.calibrate.config import CalibrationConfig
    from quanta.calibrate.figures import plot_coverage, plot_power
    from quanta.calibrate.rates import summarize
    from quanta.calibrate.verdicts import world_verdicts
    from quanta.store import Run, atomic_path

    run = Run.open(run_dir, command="calibrate")
    cfg = run.config
    base = calibration_config(cfg["preset"])
    cfg_obj = CalibrationConfig(**{**{k: getattr(base, k) for k in base.__dataclass_fields__},
                                   **{k: v for k, v in cfg.items() if k not in ("worlds",)},
                                   "worlds": cfg["worlds"]})
    tables = [world_verdicts(w, run.read_table(f"scaling_{w.name}"), run.read_table(f"parts_{w.name}"),
                             seeds_per_verdict=cfg_obj.seeds_per_verdict, config=cfg_obj.falsify_config(),
                             control_alphas=cfg_obj.control_alphas) for w in cfg_obj.worlds]
    verdicts = pd.concat(tables, ignore_index=True)
    summary = dict(run.summary)
    summary.update(summarize(verdicts, gaps=cfg_obj.gaps, ci=cfg_obj.ci))
    summary["reverdicted"] = "verdicts decided again from the recorded units (benchmarks/calibration_reverdict.py)"
    path = Path(run_dir)
    with atomic_path(path / "verdicts.parquet") as tmp:
        verdicts.to_parquet(tmp, index=False)
    with atomic_path(path / "summary.json") as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=1))
    for name, fig in (("power", plot_power(summary)), ("coverage", plot_coverage(summary))):
        with atomic_path(path / "figures" / f"{name}.png") as tmp:
            fig.savefig(tmp, dpi=110)
    print(f"rewrote {path}: {len(verdicts)} verdicts")


if __name__ == "__main__":
    main(sys.argv[1])
