"""The parts scoreboard (`quanta parts bench`, issue 17) on held-out planted worlds at CPU scale.

Worlds (scaling analyses with planted truth, already trained; nothing here chooses a setting):

* parity: the ``parity analyze`` runs that ``benchmarks/falsify_validation.py`` made inside its falsify runs of
  the held-out ``cpu-small`` sweeps ``valid-a0.25`` and ``valid-a0.55`` (α 0.25 and 0.55, training seeds 20–22);
  QDG parity's defaults were chosen on α 0.3 and 0.6, seeds 10–12 (docs/qdg.md, docs/data/qdg_tuning.json);
* planted language: the ``lm analyze`` runs of ``benchmarks/planted_falsify.py`` (α 0.3 and 0.8, spec seeds 2
  and 3; the planted language and QDG's defaults on it were looked at on α 0.5, seed 1).

Every method runs with its command's defaults (the bench's ``options`` are empty) and seeds 0, 1, 2. The record
goes to ``--json`` (docs/data/parts_bench_cpu.json) and the block of docs/parts.md between the markers is
rendered from it; ``tests/test_docs_parts.py`` checks the page against the record. Usage::

    python benchmarks/parts_bench.py --out runs/bench --world runs/val/falsify/valid-a0.25/scaling ... \
        --json docs/data/parts_bench_cpu.json --doc
    python benchmarks/parts_bench.py --render      # rewrite the doc's block from the recorded JSON
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

from docblock import write_block

os.environ.setdefault("QUANTA_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "parts_bench_cpu.json"
DOC = ROOT / "docs" / "parts.md"
FIG = ROOT / "docs" / "img" / "parts_bench.png"
START, END = "<!-- parts-bench:start -->", "<!-- parts-bench:end -->"
HELD_OUT = ("parity: cpu-small sweeps at alpha 0.25 and 0.55, training seeds 20-22 (QDG parity's defaults were chosen "
            "at alpha 0.3 and 0.6, seeds 10-12); planted language: alpha 0.3 and 0.8, spec seeds 2 and 3 (the language "
            "and QDG's defaults on it were looked at on alpha 0.5, seed 1). The SAE and acts run with their commands' "
            "defaults, chosen on none of these worlds")


def _f(v, d=3):
    return "–" if v is None else f"{v:.{d}f}"


def _sae_k(record: dict) -> str:
    ks = record.get("sae_k") or {}
    said = [f"{ks[d]:g} on {name}" for d, name in (("parity", "parity"), ("lm", "the planted language")) if d in ks]
    return f" The SAE ran at its defaults: k = {' and '.join(said)}." if said else ""


def render(record: dict) -> str:
    """The doc's block: where and when, the per-method table and rankings, the per-world table, the figure."""
    from quanta.parts.bench import bench_markdown

    s = record["summary"]
    head = (f"Recorded {record['date']} on {record['machine']}: {s['n_units']} units ({len(record['worlds'])} "
            f"worlds × {len(record['methods'])} methods × seeds {', '.join(map(str, record['seeds']))}), "
            f"{record['minutes']:.0f} minutes. Worlds: " +
            "; ".join(f"`{w['name']}` ({w['domain']}, α+1 = {w['planted_alpha'] + 1:g})" for w in record["worlds"])
            + "." + _sae_k(record) + "\n\n")
    rows = ["| world | α + 1 | α_N + 1 | method | match F1 (mean ± sd over seeds) | F1 of the null | ARI "
            "| exponent (mean ± sd) | planted quanta of the same samples | verdicts | truth as parts: verdicts |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in s["by_world"]:
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(r["verdicts"].items()))
        truth = ", ".join(f"{k} {v}" for k, v in sorted((r.get("oracle_verdicts") or {}).items())) or "–"
        rows.append(f"| {r['world']} | {r['zipf_true']:g} | {_f(r.get('zipf_pred'), 2)} | {r['method']} "
                    f"| {_f(r['f1'])} ± {_f(r['f1_sd'])} | {_f(r['f1_null'])} | {_f(r['ari'])} "
                    f"| {_f(r['exponent'])} ± {_f(r['exponent_sd'])} | {_f(r['oracle_exponent'])} | {verdicts} "
                    f"| {truth} |")
    return (START + "\n" + head + bench_markdown(s) + "\n" + "\n".join(rows) + "\n\n"
            "![parts bench](img/parts_bench.png)\n" + END)


def sae_settings(out: Path, worlds: list[dict]) -> dict:
    """The k each domain's SAE units ran with, read back from their run directories (the command's defaults)."""
    ks: dict[str, set] = {}
    for w in worlds:
        for m in sorted((out / "units" / w["name"]).glob("sae-s*/parts/manifest.json")):
            ks.setdefault(w["domain"], set()).add(float(json.loads(m.read_text())["config"]["k"]))
    if any(len(v) != 1 for v in ks.values()):
        raise SystemExit(f"the SAE units of {out} ran with different k within a domain: {ks}; record the bench anew")
    return {d: v.pop() for d, v in ks.items()}


def write_doc(record: dict) -> None:
    write_block(DOC, render(record), START, END)


def main(argv=None) -> dict | None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", action="append", default=[])
    ap.add_argument("--out", default="runs/bench")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--json", default=None)
    ap.add_argument("--doc", action="store_true")
    ap.add_argument("--render", action="store_true", help="only rewrite the doc's block from the recorded JSON")
    args = ap.parse_args(argv)
    if args.render:
        write_doc(json.loads(DATA.read_text()))
        return None
    from quanta.parts.bench import BenchConfig, run_bench
    from quanta.store import Run

    out = Path(args.out)
    prior = Run.open(out, require_complete=False).manifest if (out / "manifest.json").exists() else None
    if prior is not None and prior.get("status") == "complete":  # recorded already: summarize its scores again
        import pandas as pd

        from quanta.parts.bench import summarize_bench

        done = Run.open(out, command="parts bench")
        summary, _ = summarize_bench(pd.read_parquet(out / "scores.parquet"), seed=int(done.config["seeds"][0]))
        summary["worlds"] = done.summary["worlds"]
    else:
        cfg = BenchConfig(worlds=tuple(args.world), seeds=tuple(int(s) for s in args.seeds.split(",")))
        summary, _ = run_bench(cfg, out, resume=prior is not None)
    manifest = json.loads((out / "manifest.json").read_text())
    minutes = sum(v for k, v in manifest.get("timings_s", {}).items() if k not in ("total", "total_prior")) / 60
    record = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"a {os.cpu_count()}-core {platform.machine()} machine (shared)",
        "worlds": summary["worlds"], "methods": list(manifest["config"]["methods"]),
        "seeds": list(manifest["config"]["seeds"]),
        "options": manifest["config"].get("options", {}), "n_perm": manifest["config"].get("n_perm"),
        "max_docs": manifest["config"].get("max_docs"),
        "held_out": HELD_OUT, "sae_k": sae_settings(out, summary["worlds"]), "minutes": minutes, "summary": {k: v for k, v in summary.items() if k != "worlds"},
    }
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1) + "\n")
    if args.doc:  # the figure from the recorded scores, drawn by the library's current code
        import pandas as pd

        from quanta.parts.bench import plot_bench

        plot_bench(pd.read_parquet(out / "scores.parquet"), summary).savefig(FIG, dpi=110)
        write_doc(record)
    print(render(record))
    return record


if __name__ == "__main__":
    main()
