"""Record one call of ``benchmarks/gpu_run.sh`` and render every recorded call into docs/benchmarks.md.

The call's ``results.json`` (each step's exit code, seconds and figures) is added to ``docs/data/gpu_runs.json``
under its date and device, and the block between ``<!-- gpu-run:start -->`` and ``<!-- gpu-run:end -->`` in
docs/benchmarks.md is written from that file alone, so that no GPU figure on the page is typed by hand:

    .venv/bin/python benchmarks/gpu_record.py /work/.device/.../results.json --device "NVIDIA H200" --date 2026-12-04
    .venv/bin/python benchmarks/gpu_record.py /work/.device/.../results.json --device "NVIDIA H200" --date 2026-12-04 \
        --call 2                                             # the same lease's second call
    .venv/bin/python benchmarks/gpu_record.py --check      # the page's block is what the record renders
    .venv/bin/python benchmarks/gpu_record.py --render     # rewrite the block from the record (a new layout)

Recording the same date, device and call number again replaces that entry; a session's later calls (``--call 2``, ...)
are kept beside its first.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from docblock import write_block

from quanta.store import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
DOC, RECORD = ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "data" / "gpu_runs.json"
START, END = "<!-- gpu-run:start -->", "<!-- gpu-run:end -->"


def entry(results: dict, *, device: str, date: str, call: int = 1) -> dict:
    """The part of a call's results.json that is kept: each step's rc, seconds and figures (the sm_90 compile
    rows, a dry-run check, are left out)."""
    steps = []
    for s in results["steps"]:
        s = dict(s)
        if s["step"] == "kernel-aot":
            continue
        steps.append(s)
    return {"date": date, "device": device, "call": call, "steps": steps, "left_out": results.get("left_out", [])}


def _key(e: dict) -> tuple:
    return e["date"], e["device"], e.get("call", 1)


def _step(e: dict, name: str) -> dict | None:
    return next((s for s in e["steps"] if s["step"] == name), None)


def _has(s: dict | None, key: str) -> bool:
    """Whether step ``s`` recorded the figure ``key``."""
    return s is not None and isinstance(s.get("result"), dict) and s["result"].get(key) is not None


def _e(v) -> str:
    return "–" if v is None else f"{v:.1e}"  # a NaN is kept as None in the record (quanta.store.to_jsonable)


def _outcome(s: dict | None) -> str:
    if s is None:
        return "not run"
    if s["rc"] == 125:
        return "skipped (no time left)"
    return f"rc {s['rc']} after {s['seconds']} s"


def cells(e: dict) -> list[str]:
    """The table cells of one recorded call."""
    k = _step(e, "kernel")
    if _has(k, "speedup"):
        r = k["result"]
        kernel = (f"plain {r['ms_per_step']:.3f} ms, fused ({r.get('fused_ctrl', '–')}) "
                  f"{r['ms_per_step_compared']:.3f} ms: **{r['speedup']:.2f}×**; weights {_e(r['max_weight_diff'])} "
                  f"apart after {r['steps']} steps (TF32 alone: {_e(r['tf32_effect'])}); verdict **{r['verdict']}**")
    else:
        kernel = _outcome(k)
    ti = _step(e, "tiles")
    if _has(ti, "plain"):
        r = ti["result"]
        top = r["plain"]["top"][0] if r["plain"]["top"] else None
        kernel += (f"; where the time goes: plain {r['plain']['ms_per_step']:.3f} ms"
                   + (f", largest kernel {top['share']:.0%} ({top['name'][:40]})" if top else ""))
        grid = r.get("grid") or [t["tile"] for t in r["tiles"]]
        fit = sum(bool(t.get("fits")) for t in r["tiles"])
        kernel += f"; tiles tried {len(r['tiles'])} of {len(grid)}, {fit} ran"
        if ti["rc"] != 0:
            kernel += f", step rc {ti['rc']} after {ti['seconds']} s"
        if r.get("best"):
            b = r["best"]
            kernel += f", fastest {b['tile']}: {b['ms_per_step']:.3f} ms (**{b['speedup']:.2f}×**)"
        if r.get("levers"):
            yard = r.get("lever_yardstick", {})
            kernel += "; the plain step's levers: " + ", ".join(
                f"{lv['lever']} {lv['ms_per_step']:.3f} ms (**{lv['speedup']:.2f}×**, weights {_e(lv['weight_gap'])}"
                f" apart)" if lv.get("ran") else f"{lv['lever']} failed ({lv['error'][:60]})" for lv in r["levers"])
            if yard:
                kernel += (f" (after {yard['gap_steps']} steps, against the uncompiled plain path; the plain step "
                           f"itself: {_e(yard['plain_weight_gap'])})")
            if r.get("levers_stopped"):
                kernel += f"; {r['levers_stopped']}"
    elif ti is not None:
        kernel += f"; tiles: {_outcome(ti)}"
    kernel = kernel.replace("|", "/")  # a cell of the page's table
    pk = _step(e, "parity-kernel")
    parity = []
    names = [s["step"][len("parity-"):] for s in e["steps"]
             if s["step"].startswith("parity-") and s["step"] != "parity-kernel"]  # gpu_run.sh's queue, as run
    for name in names:
        prog, run = _step(e, f"progress-{name}"), _step(e, f"parity-{name}")
        if prog is None:
            parity.append(f"{name}: {_outcome(run)}")
            continue
        p = prog["result"]
        if p.get("status") is None or p.get("steps") is None:  # a new run that failed early is removed whole
            parity.append(f"{name}: no run left ({_outcome(run)})")
            continue
        done = p["steps"] if p["status"] == "complete" else p["checkpoint_step"]
        how = p["kernel"] + (f"/{p['fused_ctrl']}" if p["kernel"] == "triton" and p.get("fused_ctrl") else "")
        parity.append(f"{name}: {p['status']}, step {done if done is not None else 0:,} of {p['steps']:,} "
                      f"({how}; {run['seconds'] if run else 0} s)")
    stop = _step(e, "queue-stop")
    if stop is not None:
        parity.append(f"queue stopped: {str(stop['result']).replace('|', '/')}")  # a cell of the page's table
    if e.get("left_out"):
        parity.append(f"not brought back (over the size limit): {', '.join(e['left_out'])}")
    chosen = pk["result"]["kernel"] if pk and isinstance(pk.get("result"), dict) else "–"
    g = _step(e, "qdg-grads")
    grads = (f"{g['result']['tokens']:,} tokens in {g['result']['seconds']:.1f} s "
             f"({g['result']['tokens_per_s']:.0f}/s)") if _has(g, "seconds") else _outcome(g)
    sp = _step(e, "qdg-spectral")
    spectral = (f"{sp['result']['n_points']:,} points: kNN {sp['result']['knn_s']:.1f} s + spectral "
                f"{sp['result']['spectral_s']:.1f} s; ARI {sp['result']['ari_at_planted']:.3f}"
                ) if _has(sp, "total_s") else _outcome(sp)
    pe = _step(e, "peer")
    if _has(pe, "ratio_bergson_over_quanta"):
        r = pe["result"]
        peer = f"bergson / quanta time **{r['ratio_bergson_over_quanta']:.2f}×**"
        if r.get("quanta_err_rms") is not None:
            peer += f"; cosine RMS error quanta {r['quanta_err_rms']:.3f}, bergson {r['bergson_err_rms']:.3f}"
    else:
        peer = _outcome(pe) + (" (bergson not importable)" if pe and pe["rc"] == 3 else "")
    when = e["date"] if e.get("call", 1) == 1 else f"{e['date']}, call {e['call']}"
    return [when, e["device"], kernel, f"kernel {chosen}; " + "; ".join(parity), grads, spectral, peer, _e2e(e)]


def _e2e(e: dict) -> str:
    """The cell of step 4, QDG end to end (benchmarks/qdg_e2e.py)."""
    s = _step(e, "qdg-e2e")
    if not _has(s, "seconds"):
        return _outcome(s)
    r = s["result"]
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in r.get("timings_s", {}).items())
    if r.get("interrupted"):
        cut = r.get("cut_stage")
        return (f"interrupted after {r['seconds']:.0f} s (stages done: {stages or 'none'}"
                + (f"; cut short in {cut['stage']} after {cut['seconds']:.0f} s" if cut else "") + ")")
    rc = "" if s.get("rc", 0) == 0 else f"; but the step exited {s['rc']} after writing this"
    return (f"{r['n_tokens']:,} tokens, context {r['context']}: **{r['seconds']:.0f} s** ({stages}; "
            f"{r['graph']} graph, {r['eigen_solver']}{rc})")


def render(record: list[dict]) -> str:
    lines = [START, "| date | device | 0: fused against plain step, Fig. 2 shape | 1: reproductions (this call) | "
             "2: QDG gradients, pythia-70m shape | 2: spectral step | 3: peer (bergson) | 4: QDG end to end |",
             "|---|---|---|---|---|---|---|---|"]
    for e in sorted(record, key=_key):
        lines.append("| " + " | ".join(cells(e)) + " |")
    if not record:
        lines.append("| – | no GPU call recorded yet | | | | | | |")
    return "\n".join(lines) + "\n" + END


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="?", help="the results.json a gpu_run.sh call brought back")
    ap.add_argument("--device", help="the GPU, e.g. 'NVIDIA H200'")
    ap.add_argument("--date", help="the call's date, YYYY-MM-DD")
    ap.add_argument("--call", type=int, default=1, help="which call of that date on that device (1, 2, ...)")
    ap.add_argument("--doc", default=str(DOC))
    ap.add_argument("--record", default=str(RECORD))
    ap.add_argument("--check", action="store_true", help="only compare the page's block with the record")
    ap.add_argument("--render", action="store_true", help="only write the page's block from the record (after a "
                                                          "change of the table's layout)")
    args = ap.parse_args(argv)
    doc, rec = Path(args.doc), Path(args.record)
    record = json.loads(rec.read_text()) if rec.exists() else []
    if args.check:
        text = doc.read_text()
        block = text[text.index(START):text.index(END) + len(END)] if START in text and END in text else None
        same = block == render(record)
        print("the page's GPU block matches its record" if same else f"{doc}'s GPU block differs from {rec}")
        return 0 if same else 1
    if args.render:
        write_block(doc, render(record), START, END)
        print(f"wrote {doc}'s GPU block from {rec} ({len(record)} call(s))")
        return 0
    if not (args.results and args.device and args.date):
        print("give the results.json of a gpu_run.sh call, --device and --date (or --check)")
        return 2
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.date):
        print(f"--date must be YYYY-MM-DD, got {args.date!r}")
        return 2
    if args.call < 1:
        print(f"--call counts a date's calls from 1, got {args.call}")
        return 2
    try:
        results = json.loads(Path(args.results).read_text())
        results["steps"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"{args.results} is not the results.json of a gpu_run.sh call ({type(exc).__name__}: {exc})")
        return 2
    new = entry(results, device=args.device, date=args.date, call=args.call)
    record = [e for e in record if _key(e) != _key(new)] + [new]
    write_block(doc, render(record), START, END)  # first: a page without the markers stops before the record
    atomic_write_json(rec, record)
    print(f"recorded {new['date']} {new['device']} call {new['call']} in {rec}; {len(record)} call(s) on the page")
    return 0


if __name__ == "__main__":
    sys.exit(main())
