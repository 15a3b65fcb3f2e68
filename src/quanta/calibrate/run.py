"""``quanta calibrate``: train the planted worlds, measure every unit, decide every verdict, write the rates."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from quanta.errors import QuantaError

__all__ = ["run_calibration"]


def _done(path: Path) -> bool:
    from quanta.store import Run

    return (path / "manifest.json").exists() and Run.open(path, require_complete=False).manifest.get(
        "status") == "complete"


def run_calibration(cfg, out, *, force: bool = False, resume: bool = False, device=None, ship: bool = False,
                    argv: list[str] | None = None) -> tuple[dict, pd.DataFrame]:
    """Run a calibration (:class:`~quanta.calibrate.config.CalibrationConfig`) into the run directory ``out``.

    Writes ``worlds/<name>/`` (one ``quanta parity run`` per training world, resumable), ``scaling_<name>`` and
    ``parts_<name>`` tables (the units, kept on resume), ``verdicts.parquet`` (one row per planted world and
    replicate), ``figures/power.png``, ``figures/coverage.png`` and ``summary.json``
    (:func:`quanta.calibrate.rates.summarize`). With ``ship``, the headline rates are also written to the package's
    table (:data:`quanta.calibrate.shipped.SHIPPED`), which ``quanta falsify`` and the demo quote.
    """
    from quanta.calibrate.config import calibration_config
    from quanta.utils import resolve_device

    if ship and cfg != calibration_config("cpu"):
        raise QuantaError("ship=True writes the CPU-scale table the package quotes; it needs the cpu preset unchanged",
                          "drop ship, or run the cpu preset without overrides")
    if force and resume:
        raise QuantaError("resume=True and force=True contradict each other", "pass one of them")
    from quanta.fit._shared import check_bootstrap_memory
    from quanta.qdg.parity import default_k_max

    for w in cfg.worlds:  # every world's parity config is checked before anything is written
        cfg.parity_config(w)
        # the units' Zipf fits and plausibility checks: over the parts (at most the sweep's top count) or the tasks
        check_bootstrap_memory(cfg.n_boot, max(default_k_max(cfg.n_samples), int(w.n_tasks)),
                               ("fit_zipf_from_sizes", "fit_rank_frequency", "power_law_check"), "calibrate")
    dev = resolve_device(device)
    with _one_thread_on_cpu(dev):
        return _run(cfg, out, force=force, resume=resume, dev=dev, ship=ship, argv=argv)


@contextlib.contextmanager
def _one_thread_on_cpu(dev):
    """On a CPU, torch on one thread for the duration (restored after). The calibration's models are small: on the
    shared 2-core machine, beside another job, one thread trained them 4.7x faster per model-step than torch's default
    of two (24 groups at 27 steps a second against 36 groups at 3.8, 2026-12-02)."""
    import torch

    if dev.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run(cfg, out, *, force, resume, dev, ship, argv):
    from quanta.calibrate.figures import plot_coverage, plot_power
    from quanta.calibrate.rates import summarize
    from quanta.calibrate.shipped import SHIPPED, write_shipped
    from quanta.calibrate.units import parts_units, scaling_units
    from quanta.calibrate.verdicts import world_verdicts
    from quanta.parity.train import run_parity
    from quanta.progress import progress
    from quanta.store import Run

    out = Path(out)
    fcfg = cfg.falsify_config()
    t_start = time.perf_counter()
    config = json.loads(json.dumps(asdict(cfg), default=str))
    with Run.create(out, command="calibrate", config=config, seed=cfg.seed, argv=argv, force=force,
                    resume=resume) as run:
        tables = []
        for w in cfg.worlds:
            wdir = out / "worlds" / w.name
            with run.timer(f"train {w.name}"):
                if not _done(wdir):
                    run_parity(cfg.parity_config(w), wdir, device=str(dev), resume=wdir.exists())
            src = Run.open(wdir, command="parity run")
            with run.timer(f"units {w.name}"):
                if (out / f"parts_{w.name}.parquet").exists():
                    scaling, parts = run.read_table(f"scaling_{w.name}"), run.read_table(f"parts_{w.name}")
                else:
                    scaling = scaling_units(src.read_table("models"), ci=cfg.ci)
                    parts = parts_units(wdir, n_samples=cfg.n_samples, n_draws=cfg.n_draws, n_boot=cfg.n_boot,
                                        control_alphas=cfg.control_alphas if w.planted_power_law else (),
                                        seed=cfg.seed, device=dev,
                                        progress=lambda jobs, n=w.name: progress(jobs, desc=f"calibrate {n}: units",
                                                                                 unit="model"))
                    run.write_table(f"scaling_{w.name}", scaling)
                    run.write_table(f"parts_{w.name}", parts)
            tables.append(world_verdicts(w, scaling, parts, seeds_per_verdict=cfg.seeds_per_verdict, config=fcfg,
                                         control_alphas=cfg.control_alphas))
        verdicts = pd.concat(tables, ignore_index=True)
        run.write_table("verdicts", verdicts)
        summary = summarize(verdicts, gaps=cfg.gaps, ci=cfg.ci)
        summary.update({"preset": cfg.preset, "level": cfg.level, "margin": cfg.margin,
                        "seeds_per_verdict": cfg.seeds_per_verdict, "n_verdicts_per_world": cfg.n_verdicts,
                        "n_samples": cfg.n_samples, "n_draws": cfg.n_draws,
                        "worlds": [asdict(w) for w in cfg.worlds],
                        "task_seed": cfg.seed, "train_seeds": list(cfg.seeds),
                        # summed over every attempt of a resumed run (the manifest's timings_s)
                        "minutes": sum(v for k, v in run.timings.items() if k != "total") / 60,
                        "minutes_this_attempt": (time.perf_counter() - t_start) / 60})
        run.save_figure(plot_power(summary), "power")
        run.save_figure(plot_coverage(summary), "coverage")
        if ship:
            write_shipped(summary, SHIPPED)
        return run.finish(summary), verdicts
