"""Record `quanta parity run --preset cpu-small` and `quanta parity analyze` on it: the figures that
docs/parity-run.md and docs/parity-analyze.md quote for the CPU preset.

    PYTHONPATH=src python benchmarks/parity_cpu_small.py [--work /tmp/parity-cpu-small]

Runs, each the two commands as a user types them (one torch thread, as the CPU is shared), in --work:

- ``seed0``, ``seed1``, ``seed2``: the preset with ``--set seeds=[S]`` (seed 0 is the preset's own run); their
  times give the spread of the command's time, their exponents the spread over training seeds;
- ``tasks100``, ``tasks220``: seed 0 with ``--set n_tasks=100`` and ``220`` (the finite task set's effect on α_N).

For each run the record keeps the command's wall time, the training time, the analysis's wall time, the load
average before and after, the analysis's summary and fits, the learned counts, and the mean loss of every width at
every evaluated step. For every run it also computes, with quanta's own fits, three figures that
docs/parity-analyze.md's "On CPU" reading quotes: the L(S) fit over the rule of earlier versions (n >= 1 up to the
lowest loss), the fits without offset over the steps where the widest model is limited by steps and has learned
at least 3 tasks (plain and tail-corrected), and the median end loss of the tasks the widest model learned.
The record (with date, commit, CPU, torch and seeds) goes to docs/data/parity_cpu_small.json;
tests/test_docs_parity_pages.py checks the pages against it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from provenance import commit
from provenance import cpu_name as _cpu_name

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "parity_cpu_small.json"
PRESET = "cpu-small"
#: name -> the --set overrides of the preset
RUNS = {"seed0": ["seeds=[0]"], "seed1": ["seeds=[1]"], "seed2": ["seeds=[2]"],
        "tasks100": ["seeds=[0]", "n_tasks=100"], "tasks220": ["seeds=[0]", "n_tasks=220"]}


def _commit() -> str:
    return commit(("src",))  # the runs exercise the library only


def _timed(argv: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "quanta", *argv], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"`quanta {' '.join(argv)}` exited {proc.returncode}")
    return seconds


def extras(analysis: Path, alpha: float, n_tasks: int) -> dict:
    """The figures of the "On CPU" reading that the summary does not hold, from the analysis's tables."""
    import pandas as pd

    from quanta.fit import fit_loss_law, fit_power_law
    from quanta.parity.fit_ranges import STEPS_MIN_LEARNED, finite_tasks_offset, upto_lowest_loss

    summary = json.loads((analysis / "summary.json").read_text())
    lc = pd.read_parquet(analysis / "learned_counts.parquet")
    s = lc[lc["axis"] == "S"].sort_values("x")
    x, loss, n = (s[c].to_numpy(float) for c in ("x", "loss", "n_learned"))
    out: dict = {}
    old = (x > 0) & (n >= 1) & upto_lowest_loss(x, loss)
    fit = fit_loss_law(x[old], loss[old])
    out["alpha_S_old_rule"] = {"alpha": fit.alpha, "ci": list(fit.alpha_ci), "L_inf": fit.L_inf,
                               "x_min": fit.x_min, "x_max": fit.x_max, "n_points": fit.n_points}
    until = summary.get("alpha_S_steps_limited_until")
    if until is not None:
        lim = (x > 0) & (n >= STEPS_MIN_LEARNED) & (x <= until)
        out["steps_limited_points"] = int(lim.sum())
        if lim.sum() >= 2:
            delta = finite_tasks_offset(alpha, n_tasks)
            plain = fit_power_law(x[lim], loss[lim], offset=False)
            tail = fit_power_law(x[lim], loss[lim] + delta, offset=False)
            out["alpha_S_steps_limited_no_offset"] = plain.alpha
            out["alpha_S_steps_limited_no_offset_tail_corrected"] = tail.alpha
    run = analysis.parent / analysis.name.removesuffix("-analysis")
    ev = pd.read_parquet(run / "eval.parquet")
    widest = ev[ev["width"] == ev["width"].max()]
    end = widest[widest["step"] == widest["step"].max()]
    learned = end[end["loss"] < summary["threshold_nats"]]["loss"].to_numpy(float)
    out["widest_learned_end_loss_median"] = float(np.median(learned)) if len(learned) else None
    out["widest_learned_end_loss_max"] = float(learned.max()) if len(learned) else None
    return out


def record_run(work: Path, name: str, overrides: list[str], env: dict) -> dict:
    import pandas as pd

    run, analysis = work / name, work / f"{name}-analysis"
    sets = [a for o in overrides for a in ("--set", o)]
    load_before = os.getloadavg()[0]
    run_s = _timed(["parity", "run", "--preset", PRESET, "--out", str(run), "--device", "cpu", "--force", *sets], env)
    analyze_s = _timed(["parity", "analyze", str(run), "--out", str(analysis), "--force"], env)
    load_after = os.getloadavg()[0]
    train = json.loads((run / "summary.json").read_text())
    summary = json.loads((analysis / "summary.json").read_text())
    summary.pop("run_dir", None)
    summary.pop("per_alpha", None)  # the same keys as the top level (one α)
    fits = pd.read_parquet(analysis / "fits.parquet")
    lc = pd.read_parquet(analysis / "learned_counts.parquet")
    em = pd.read_parquet(run / "eval_mean.parquet")
    curves = {str(int(w)): [[int(s), float(v)] for s, v in g.groupby("step")["loss"].mean().items()]
              for w, g in em.groupby("width")}
    n_tasks = int(summary["n_tasks"])
    print(f"{name}: run {run_s:.1f} s (training {train['train_s']:.1f} s), analysis {analyze_s:.1f} s; "
          f"alpha_N {summary.get('alpha_N')}, alpha_S {summary.get('alpha_S')}", flush=True)
    return {
        "name": name, "overrides": overrides, "run_s": round(run_s, 1), "train_s": round(train["train_s"], 1),
        "analyze_s": round(analyze_s, 2), "load_before": round(load_before, 2), "load_after": round(load_after, 2),
        "train_summary": train, "summary": summary,
        "fits": json.loads(fits.to_json(orient="records")),
        "learned_counts": json.loads(lc[["axis", "width", "seed", "x", "loss", "n_learned"]].to_json(orient="records")),
        "mean_loss_by_width": curves,
        "extras": extras(analysis, float(summary["alpha"]), n_tasks),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="/tmp/parity-cpu-small", help="where the runs are written")
    ap.add_argument("--runs", nargs="*", default=list(RUNS), choices=list(RUNS))
    ap.add_argument("--out", default=str(DATA), help="the record (default: docs/data/parity_cpu_small.json)")
    args = ap.parse_args(argv)
    import torch

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "QUANTA_PROGRESS": "0", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    runs = [record_run(work, name, RUNS[name], env) for name in args.runs]
    out = Path(args.out)
    kept = []
    if set(args.runs) != set(RUNS) and out.exists():  # a run named alone replaces its own entry, not the record
        old = json.loads(out.read_text())
        kept = [r for r in old.get("runs", []) if r["name"] not in args.runs]
        for r in kept:  # each entry says when and on what it ran, since they may now differ
            for k in ("date", "commit", "cpu", "torch"):
                r.setdefault(k, old.get(k))
    stamp = {"date": dt.date.today().isoformat(), "commit": _commit(), "cpu": _cpu_name(), "torch": torch.__version__}
    if kept:  # the record's own stamp then spans its runs': the dates from first to last, every commit in that order
        runs = [{**r, **stamp} for r in runs]
        both = sorted(kept + runs, key=lambda r: r["date"] or "")
        dates = [r["date"] for r in both if r.get("date")]
        stamp["date"] = dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
        stamp["commit"] = ", ".join(dict.fromkeys(r["commit"] for r in both if r.get("commit")))
    order = list(RUNS)
    record = {**stamp, "cores": os.cpu_count(), "threads": 1, "preset": PRESET,
              "command": "quanta parity run --preset cpu-small --device cpu --set ...; quanta parity analyze",
              "runs": sorted(kept + runs, key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))}
    from quanta.store import atomic_write_bytes

    atomic_write_bytes(out, (json.dumps(record, indent=1) + "\n").encode())
    print(f"wrote {args.out}" + (f" ({len(kept)} run(s) kept from the earlier record)" if kept else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
