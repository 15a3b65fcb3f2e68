"""QDG, an SAE and activation clusters on one model of a CPU suite, side by side against α_N + 1 (issue 17).

Steps, each the library call its command makes (defaults everywhere unless named here):

1. ``quanta lm train-suite --corpus stdlib --preset cpu`` with one size more than the preset (24×2), because
   ``quanta lm analyze`` fits ``L∞ + A·N^-α`` only with at least 3 degrees of freedom (the preset's 5 sizes give
   no α_N); skipped when ``--suite`` names a trained suite;
2. ``quanta lm losses --corpus stdlib:test --max-docs 200`` and ``quanta lm analyze`` (α_N);
3. on the largest model, on ``stdlib:test``: ``quanta qdg`` with the demo's settings (``--threshold 1.0
   --n-tokens 600 --max-docs 300``: the default 0.1 nats selects almost no token of this small suite),
   ``quanta parts sae --layer L --site resid`` and ``quanta parts acts --layer L`` (L = the last block), each
   with ``--seed`` 0, 1 and 2 (``--seeds``), so that every exponent comes with its spread across seeds;
4. ``quanta falsify --scaling <analyze> --parts <qdg-s0> --parts <sae-s0> ...`` over all nine parts runs.

Nothing here is tuned: every setting is the command's default or forced by the fit's rule above. The record goes to
``--json`` (docs/data/side_by_side_cpu.json); with it the block of docs/parts.md is rewritten, and
``tests/test_docs_figures.py`` checks the page against the record. Usage::

    python benchmarks/side_by_side_cpu.py --out runs/side --json docs/data/side_by_side_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from docblock import write_block

os.environ.setdefault("QUANTA_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "side_by_side_cpu.json"
DOC = ROOT / "docs" / "parts.md"
START, END = "<!-- side-by-side:start -->", "<!-- side-by-side:end -->"
SIZES = [[16, 2, 2, 0.01], [24, 2, 2, 0.01], [32, 2, 2, 0.01], [48, 3, 4, 0.008], [64, 3, 4, 0.007],
         [96, 3, 4, 0.005]]


def _ci(v) -> str:
    return "–" if not v or v[0] is None else f"[{v[0]:.2f}, {v[1]:.2f}]"


def render(record: dict) -> str:
    a = record["alpha_N"]
    head = (f"Recorded {record['date']} on a {record['cpus']}-core {record['machine']} machine: stdlib suite of "
            f"{len(record['sizes'])} sizes (cpu preset and 24×2), largest model `{record['model']}`, layer "
            f"{record['layer']}" + (f", SAE k = {record['sae_k']:g} (its default)" if record.get("sae_k") else "")
            + ". α_N = " + (f"{a:.3f} {_ci(record['alpha_N_ci'])}" if a is not None else "none")
            + ", so α_N + 1 = " + (f"{record['zipf_pred']:.3f} {_ci(record['zipf_pred_ci'])}"
                                   if record["zipf_pred"] is not None else "none") + ".\n\n")
    seeded = "seed" in record["rows"][0]
    rows = ["| parts |" + (" seed |" if seeded else "") + " count | exponent of f_i (90%) | difference from α_N + 1 "
            "| p of d = 0 | verdict |", "|---|" + ("---|" if seeded else "") + "---|---|---|---|---|"]
    for r in record["rows"]:
        d = "–" if r["difference"] is None else f"{r['difference']:+.3f}"
        p = "–" if r["p_value"] is None else f"{r['p_value']:.3g}"
        rows.append(f"| {r['method']} |" + (f" {r['seed']} |" if seeded else "") + f" {r['n_parts']} | "
                    f"{r['zipf_measured']:.3f} [{r['ci_lo']:.3f}, {r['ci_hi']:.3f}] | {d} | {p} | `{r['verdict']}` |")
    return START + "\n" + head + "\n".join(rows) + "\n" + spread(record) + END


def spread(record: dict) -> str:
    """Per decomposition: its exponent's mean and standard deviation across the seeds, and its verdicts."""
    if "seed" not in record["rows"][0]:
        return ""
    import statistics

    lines = ["", "| parts | seeds | exponent (mean ± sd over seeds) | verdicts |", "|---|---|---|---|"]
    for method in dict.fromkeys(r["method"] for r in record["rows"]):
        rs = [r for r in record["rows"] if r["method"] == method]
        e = [r["zipf_measured"] for r in rs]
        sd = statistics.stdev(e) if len(e) > 1 else float("nan")
        verdicts = ", ".join(f"{v} {n}" for v, n in sorted(
            {v: sum(r["verdict"] == v for r in rs) for v in {r["verdict"] for r in rs}}.items()))
        lines.append(f"| {method} | {len(rs)} | {statistics.mean(e):.3f} ± {sd:.3f} | {verdicts} |")
    return "\n".join(lines) + "\n"


def check_docs() -> bool:
    return render(json.loads(DATA.read_text())) in DOC.read_text()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=False)
    ap.add_argument("--suite", default=None, help="a trained suite (skips step 1)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--seeds", default="0,1,2", help="seeds of every decomposition (the spread of its exponent)")
    ap.add_argument("--render", action="store_true", help="only rewrite docs/parts.md from the record")
    args = ap.parse_args(argv)
    if args.render:
        record = json.loads(DATA.read_text())
    else:
        from quanta.falsify import FalsifyConfig, falsify_side_by_side
        from quanta.lm.analyze import AnalyzeConfig, analyze_losses
        from quanta.lm.losses import LossesConfig, compute_losses
        from quanta.lm.train import SuiteConfig, train_suite
        from quanta.parts.run import ActsPartsConfig, SAEPartsConfig, run_parts_acts_lm, run_parts_sae_lm
        from quanta.qdg import QDGConfig, run_qdg_lm

        if not args.out:
            ap.error("--out is needed to measure")
        out = Path(args.out)
        seeds = [int(x) for x in args.seeds.split(",")]
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        suite = Path(args.suite) if args.suite else out / "suite"
        if not args.suite:
            train_suite(SuiteConfig(corpus="stdlib", preset="cpu", sizes=SIZES), suite, force=True)
        import pandas as pd

        sizes = pd.read_parquet(suite / "models.parquet")
        model = suite / "models" / str(sizes.loc[sizes["n_params_nonembed"].idxmax(), "name"])
        n_layers = json.loads((model / "config.json").read_text())["num_hidden_layers"]
        compute_losses(LossesConfig(suite=(str(suite),), corpus="stdlib:test", max_docs=200), out / "losses",
                       force=True)
        an = analyze_losses(out / "losses", out / "analyze", AnalyzeConfig(), force=True)
        from quanta.demo import DemoConfig

        demo = DemoConfig()  # QDG as the demo runs it on this suite (the default 0.1 nats leaves ~no token here)
        runs, seed_of = [], {}
        for seed in seeds:
            for name, call in (
                ("qdg", lambda d, seed=seed: run_qdg_lm(QDGConfig(
                    model=str(model), corpus="stdlib:test", n_tokens=demo.qdg_tokens,
                    threshold=float(demo.qdg_threshold), max_docs=300, seed=seed), d, force=True)),
                ("sae", lambda d, seed=seed: run_parts_sae_lm(SAEPartsConfig(model=str(model), layer=n_layers,
                                                                             seed=seed), d, force=True)),
                ("acts", lambda d, seed=seed: run_parts_acts_lm(ActsPartsConfig(model=str(model), layer=n_layers,
                                                                               seed=seed), d, force=True))):
                d = out / f"{name}-s{seed}"
                call(d)
                runs.append(d)
                seed_of[str(d)] = seed
        s, table = falsify_side_by_side(out / "analyze", runs, out / "side", FalsifyConfig(), force=True)
        table.insert(1, "seed", [seed_of[str(r)] for r in table["parts_run"]])
        rows = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
                for r in table.drop(columns=["parts_run"]).to_dict("records")]
        record = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "machine": platform.machine(),
                  "cpus": os.cpu_count(), "sizes": SIZES, "model": model.name, "layer": n_layers,
                  "alpha_N": an.get("alpha_N"), "alpha_N_ci": an.get("alpha_N_ci"), "zipf_pred": s.get("zipf_pred"),
                  "zipf_pred_ci": s.get("zipf_pred_ci"), "rows": rows,
                  "seeds": list(seeds),
                  "sae_k": json.loads((out / "sae-s0" / "manifest.json").read_text())["config"]["k"],
                  "minutes": (time.perf_counter() - t0) / 60}
        if args.json:
            Path(args.json).write_text(json.dumps(record, indent=1, default=str) + "\n")
    if args.json or args.render:
        write_block(DOC, render(record), START, END)
    print(render(record))
    return record


if __name__ == "__main__":
    main()
