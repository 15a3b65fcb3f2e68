"""The CPU benchmarks of docs/benchmarks.md, run, recorded, and rendered into the page (none of their figures typed
by hand).

    python benchmarks/cpu_record.py run parity-throughput qdg-speed   # run these, add them to the record, render
    python benchmarks/cpu_record.py run all                           # every measurement below (about 45 minutes)
    python benchmarks/cpu_record.py --check                           # the page's blocks are what the record renders
    python benchmarks/cpu_record.py --render

Each measurement is one of the benchmark scripts with ``--json``, run in its own process; its entry in
docs/data/cpu_benchmarks.json keeps the date, the commit, the CPU, torch's version, the load average before and
after (another job on the shared cores shows there), the exit code and the script's figures. Each page block lists
every recorded run of its measurements, so that running one again adds a row and the spread shows, with the median
where a measurement has several runs. The peer rows need EleutherAI's bergson importable: ``--bergson-site DIR``
(a folder installed with ``pip install --no-deps --target DIR bergson==2.5.1 ...``, docs/benchmarks.md) is put on
the peer runs' PYTHONPATH; without it they are recorded as not importable (exit 3).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from docblock import write_block
from provenance import commit as _commit
from provenance import cpu_name as _cpu_name

from quanta.store import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
DOC, RECORD = ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "data" / "cpu_benchmarks.json"
PY = sys.executable

_PEER = ["qdg.py", "peer", "--device", "cpu", "--threads", "1"]
#: name -> (page block, the script and its arguments; each gets --json FILE)
MEASURES = {
    "parity-throughput": ("cpu-parity", ["parity_throughput.py", "--preset", "cpu-small", "--threads", "1"]),
    "lm-losses": ("cpu-lm-losses", ["lm_losses.py", "--shape", "small", "--device", "cpu", "--threads", "1"]),
    "qdg-speed": ("cpu-qdg-speed", ["qdg.py", "speed", "--n-tokens", "40", "--block", "10", "--repeats", "3",
                                    "--device", "cpu", "--threads", "1"]),
    "qdg-error": ("cpu-qdg-error", ["qdg.py", "error", "--shape", "pythia-70m", "--context", "128", "--n-tokens", "48",
                                    "--k", "1024,4096,8192,16384", "--device", "cpu"]),
    "peer-exact": ("cpu-qdg-peer", [*_PEER, "--n-tokens", "96", "--bergson-dim", "0", "--repeats", "3"]),
    "peer-p16": ("cpu-qdg-peer", [*_PEER, "--n-tokens", "96", "--bergson-dim", "16", "--repeats", "3"]),
    "peer-p32": ("cpu-qdg-peer", [*_PEER, "--n-tokens", "96", "--bergson-dim", "32", "--repeats", "3"]),
    "peer-70m-p16": ("cpu-qdg-peer", [*_PEER, "--shape", "pythia-70m", "--n-tokens", "48", "--bergson-dim", "16"]),
    # QDG's spectral step at 100k points (the slow ones: about 10 and 25 minutes on one thread)
    **{f"spectral-100k-{solver}": ("cpu-qdg-spectral", ["qdg.py", "cluster", "--n-points", "100000", "--dim", "256",
                                                        "--planted", "100", "--counts", "50,100,200,300", "--solver",
                                                        solver, "--device", "cpu", "--threads", "1"])
       for solver in ("lanczos", "chebyshev")},
}
BLOCKS = sorted({b for b, _ in MEASURES.values()})


def measure(name: str, *, bergson_site: str | None = None) -> dict:
    """Run measurement ``name`` in its own process and return its entry."""
    import torch

    block, argv = MEASURES[name]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "QUANTA_PROGRESS": "0",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *([bergson_site] if bergson_site else [])])}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.run([PY, str(ROOT / "benchmarks" / argv[0]), *argv[1:], "--json", str(out)], cwd=ROOT,
                              env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        result = json.loads(out.read_text()) if out.exists() else None
    sys.stdout.write(proc.stdout[-3000:])
    if proc.returncode not in (0, 3):
        sys.stdout.write(proc.stderr[-3000:])
    return {"name": name, "date": dt.date.today().isoformat(), "commit": _commit(), "cpu": _cpu_name(),
            "cores": os.cpu_count(), "torch": torch.__version__, "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2), "rc": proc.returncode, "seconds": round(seconds, 1),
            "result": result}


# ---------------------------------------------------------------------------------------------------- rendering
def _when(e: dict) -> str:
    return f"{e['date']} ({e['commit']}; load {e['load_before']:.1f} → {e['load_after']:.1f})"


def _runs(record, *names):
    return [e for e in record if e["name"] in names]


def _ok(e) -> bool:
    return e["rc"] == 0 and isinstance(e.get("result"), dict)


def _median_line(values, label: str, fmt: str) -> str:
    if len(values) < 2:
        return ""
    return (f"\n\n{label}: median {format(statistics.median(values), fmt)} over {len(values)} runs, range "
            f"{format(min(values), fmt)} to {format(max(values), fmt)}.")


def _failed(e) -> str:
    return f"| {_when(e)} | exit {e['rc']} after {e['seconds']:.0f} s{' (bergson not importable)' if e['rc'] == 3 else ''} |"


def render_parity(record) -> str:
    rows, ratios = [], []
    for e in _runs(record, "parity-throughput"):
        if not _ok(e):
            rows.append(_failed(e) + " | | |")
            continue
        r = e["result"]
        ratios.append(r["ratio_batched_over_per_model"])
        rows.append(f"| {_when(e)} | {r['preset']} ({len(r['widths'])} widths {min(r['widths'])}..{max(r['widths'])}, "
                    f"batch {r['batch_size']}), {r['threads']} thread | {r['batched_model_steps_per_s']:,.0f} "
                    f"model-steps/s | {r['per_model_model_steps_per_s']:,.0f} | **{r['ratio_batched_over_per_model']:.1f}×** |")
    head = ["| date (commit; load average) | shape, threads | batched | per-model loop | ratio |", "|---|---|---|---|---|"]
    return "\n".join(head + (rows or ["| no run recorded yet | | | | |"])) + _median_line(ratios, "Ratio", ".1f")


def render_lm_losses(record) -> str:
    rows, ratios = [], []
    for e in _runs(record, "lm-losses"):
        if not _ok(e):
            rows.append(_failed(e) + " | | | |")
            continue
        r = e["result"]
        ratios.append(r["speedup"])
        rows.append(f"| {_when(e)} | {r['shape']} GPT-NeoX ({r['n_tokens']:,} tokens), {r['threads']} thread | "
                    f"{r['engine_tokens_per_s']:,.0f} tok/s | {r['baseline_tokens_per_s']:,.0f} tok/s | "
                    f"**{r['speedup']:.2f}×** | {r['max_abs_diff_nats']:.1e} |")
    head = ["| date (commit; load average) | model | engine | batch-1 loop | ratio | max \\|Δ loss\\| (nats) |",
            "|---|---|---|---|---|---|"]
    return "\n".join(head + (rows or ["| no run recorded yet | | | | | |"])) + _median_line(ratios, "Ratio", ".2f")


def render_qdg_speed(record) -> str:
    rows, ratios = [], []
    for e in _runs(record, "qdg-speed"):
        if not _ok(e) or "reference_seconds" not in e["result"]:
            rows.append(_failed(e) + " | | | |")
            continue
        r = e["result"]
        ratios.append(r["ratio_reference_over_quanta"])
        rows.append(f"| {_when(e)} | {r['tokens']} tokens of the {r['shape']} shape, context {r['context']}, blocks of "
                    f"{r['block']} ({r['reference_gradients']} gradients computed by the reference), {r['threads']} "
                    f"thread | {r['reference_seconds']:.2f} s | {r['seconds']:.2f} s | "
                    f"**{r['ratio_reference_over_quanta']:.1f}×** | {r['max_abs_diff']:.0e} |")
    head = ["| date (commit; load average) | setting | reference | quanta | ratio | max \\|Δ cosine\\| |",
            "|---|---|---|---|---|---|"]
    return "\n".join(head + (rows or ["| no run recorded yet | | | | | |"])) + _median_line(ratios, "Ratio", ".1f")


def render_qdg_error(record) -> str:
    runs = [e for e in _runs(record, "qdg-error") if _ok(e)]
    if not runs:
        return "No run recorded yet."
    e = runs[-1]
    r = e["result"]
    lines = [f"{_when(e)}: {r['shape']} shape (random weights), context {r['context']}, {r['tokens']} tokens, "
             f"{r['pairs']:,} pairs × {r['seeds']} sketch seeds; exact cosines' mean |cos| "
             f"{r['exact_mean_abs_cos']:.3f}{f' (the latest of {len(runs)} runs)' if len(runs) > 1 else ''}.", "",
             "| K | mean abs error | RMS | 99th percentile | max | 1/√K |", "|---|---|---|---|---|---|"]
    for row in r["rows"]:
        lines.append(f"| {row['k']}{' (default)' if row['k'] == _default_k() else ''} | {row['mean_abs']:.3f} | "
                     f"{row['rms']:.3f} | {row['p99']:.3f} | {row['max']:.3f} | {row['k'] ** -0.5:.3f} |")
    meets = [row["k"] for row in r["rows"] if row["mean_abs"] <= 0.02 and row["rms"] <= 0.02]
    p99 = [row["k"] for row in r["rows"] if row["p99"] <= 0.02]
    lines.append("")
    lines.append(f"The ≤ 0.02 target on mean and RMS error is met from K = {min(meets):,}" if meets else
                 "No K meets the ≤ 0.02 target on mean and RMS error")
    lines[-1] += (f"; on the 99th percentile from K = {min(p99):,}." if p99 else
                  "; no K tried meets it on the 99th percentile.")
    return "\n".join(lines)


def render_peer(record) -> str:
    rows, noisier = [], []
    for e in _runs(record, "peer-exact", "peer-p16", "peer-p32", "peer-70m-p16"):
        if not _ok(e):
            rows.append(_failed(e) + " | | |")
            continue
        r = e["result"]
        size = (f"p = {r['bergson_dim']} ({r['bergson_modules']} modules × {r['bergson_dim'] ** 2} = {r['k']:,} "
                f"dimensions)" if r["k"] else "exact gradients")
        if r["k"] and r.get("quanta_err_rms"):
            err = f"{r['quanta_err_rms']:.3f}, {r['bergson_err_rms']:.3f} (1/√k = {r['k'] ** -0.5:.3f})"
            noisier.append(r["bergson_err_rms"] / r["quanta_err_rms"])
        else:
            err = f"both exact; their cosines agree to {r['agree_mean_abs']:.0e}"
        rows.append(f"| {_when(e)} | {r['shape']} GPT-NeoX, context {r['context']}, {r['tokens']} tokens, {size} | "
                    f"**{r['ratio_bergson_over_quanta']:.2f}×** | {err} |")
    head = ["| date (commit; load average) | setting | bergson / quanta time | cosine error against exact (RMS): "
            "quanta, bergson |", "|---|---|---|---|"]
    text = "\n".join(head + (rows or ["| no run recorded yet | | | |"]))
    if noisier:
        text += (f"\n\nAt the same size bergson's projection was {min(noisier):.1f}–{max(noisier):.1f}× noisier "
                 f"than quanta's sketch (RMS error against the exact cosines, {len(noisier)} runs).")
    return text


def render_spectral(record) -> str:
    rows, by_solver = [], {}
    for e in _runs(record, *(n for n in MEASURES if n.startswith("spectral-100k-"))):
        if not _ok(e):
            rows.append(_failed(e) + " | | | |")
            continue
        r = e["result"]
        by_solver.setdefault(r["solver"], []).append(r["spectral_s"])
        rows.append(f"| {_when(e)} | {r['solver']} | {r['knn_s']:.0f} s | {r['spectral_s']:.0f} s "
                    f"({max(r['counts'])} eigenvectors, counts {', '.join(map(str, r['counts']))}) | "
                    f"{r['ari_at_planted']:.3f} |")
    head = ["| date (commit; load average) | eigensolver | kNN graph | spectral sweep | ARI at the planted count |",
            "|---|---|---|---|---|"]
    text = "\n".join(head + (rows or ["| no run recorded yet | | | | |"]))
    for solver, secs in sorted(by_solver.items()):
        text += _median_line(secs, f"Spectral sweep with {solver}, seconds", ".0f")
    return text


RENDER = {"cpu-parity": render_parity, "cpu-lm-losses": render_lm_losses, "cpu-qdg-speed": render_qdg_speed,
          "cpu-qdg-error": render_qdg_error, "cpu-qdg-peer": render_peer, "cpu-qdg-spectral": render_spectral}


def markers(block: str) -> tuple[str, str]:
    return f"<!-- {block}:start -->", f"<!-- {block}:end -->"


def render(record, block: str) -> str:
    start, end = markers(block)
    return f"{start}\n{RENDER[block](record)}\n{end}"


def _default_k() -> int:
    """QDG's default sketch size for language models (``QDGConfig.project``), marked in the error table."""
    from quanta.qdg import QDGConfig

    return QDGConfig.__dataclass_fields__["project"].default


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", nargs="?", choices=("run",))
    ap.add_argument("names", nargs="*", help=f"measurements: all, or some of {', '.join(MEASURES)}")
    ap.add_argument("--check", action="store_true", help="only compare the page's blocks with the record")
    ap.add_argument("--render", action="store_true", help="only write the page's blocks from the record")
    ap.add_argument("--bergson-site", default=None, help="a folder holding bergson, for the peer rows")
    ap.add_argument("--doc", default=str(DOC))
    ap.add_argument("--record", default=str(RECORD))
    args = ap.parse_args(argv)
    doc, rec = Path(args.doc), Path(args.record)
    record = json.loads(rec.read_text()) if rec.exists() else []
    if args.check:
        text = doc.read_text()
        bad = [b for b in BLOCKS if render(record, b) not in text]
        print("the page's CPU blocks match their record" if not bad else f"blocks that differ from {rec}: {bad}")
        return 1 if bad else 0
    if not args.render:
        if args.action != "run" or not args.names:
            print("name measurements to run (run all, or run NAME ...), or --check / --render")
            return 2
        names = list(MEASURES) if args.names == ["all"] else args.names
        unknown = [n for n in names if n not in MEASURES]
        if unknown:
            print(f"unknown measurement(s) {', '.join(unknown)}; choose from all, {', '.join(MEASURES)}")
            return 2
        failed = []
        for name in names:
            print(f"=== {name}", flush=True)
            record.append(measure(name, bergson_site=args.bergson_site))
            atomic_write_json(rec, record)  # after each, so a long session keeps what it measured
            if record[-1].get("rc"):
                failed.append(name)
    for block in BLOCKS:
        start, end = markers(block)
        write_block(doc, render(record, block), start, end)
    print(f"wrote {len(BLOCKS)} blocks of {doc} from {rec} ({len(record)} run(s))")
    if not args.render and failed:
        print(f"failed (recorded with their exit codes): {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
