"""Watching parts form on the planted-quanta language: both formation tests on QDG's parts, over seeds.

For each corpus seed S (``planted:...,seed=S``) it trains one model (``quanta lm train-suite`` with one size and
log-spaced checkpoints), computes per-token losses at every checkpoint (``quanta lm losses --revision all``), fits
per-token learning curves (``quanta lm analyze``, dynamics mode), decomposes the final model label-free
(``quanta qdg --model``) and runs :func:`quanta.formation.part_formation` on

* ``qdg``: QDG's parts at the count its rule chose (the label-free path a user runs);
* ``oracle``: the same tokens grouped by their planted skill (tokens of no skill left out), read only here: what a
  decomposition into the true quanta gives on this sample;
* ``token``: the same tokens grouped by token id: the trivial decomposition that the stricter null is about.

Every call is the library call the CLI makes. Nothing here chose a default of quanta.formation: its statistics,
nulls, ``min_learned = 3`` and the level 0.05 were fixed before any run (docs/formation.md). Usage::

    python benchmarks/formation_planted.py --out runs/formation --seeds 3 4 5 --json docs/data/formation_planted_cpu.json

With that ``--json`` it also rewrites the tables of docs/formation.md; ``tests/test_docs_figures.py`` checks that the
page holds the recorded tables. ``--render`` rewrites the page from the recorded JSON alone.
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

SPEC = "planted:skills=500,alpha=0.5,seed={seed},kinds=complete+count,rate=0.4,docs=12000"
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "formation_planted_cpu.json"
DOC = ROOT / "docs" / "formation.md"
START, END = "<!-- formation:start -->", "<!-- formation:end -->"
NAMES = {"qdg": "QDG (label-free)", "oracle": "planted skills (oracle)", "token": "token ids (trivial)"}


def _p(v) -> str:
    return "–" if v is None else f"{v:.3g}"


def render(record: dict) -> str:
    """The doc's tables from a record: one row per (seed, decomposition), then the spread over seeds."""
    import numpy as np

    head = (f"Recorded {record['date']} on a {record['cpus']}-core {record['machine']} machine: spec "
            f"`{record['spec']}`, seeds {', '.join(str(r['seed']) for r in record['runs'])}; one model "
            f"{record['size'][0]}×{record['size'][1]} trained {record['steps']} steps with {record['n_checkpoints']} "
            f"log-spaced checkpoints; {record['max_docs']} held-out documents; QDG on {record['n_tokens']} "
            f"tokens of the final model; {record['n_perm']} permutations per null.\n\n")
    rows = ["| seed | parts | tested parts | learned tokens | spread ratio (× null) | p | p within token id "
            "| ρ(f, step) | null median | p | p within token id |", "|" + "---|" * 11]
    for r in record["runs"]:
        for name in NAMES:
            s = r[name]
            rows.append(f"| {r['seed']} | {NAMES[name]} | {s['n_parts_tested']} of {s['n_parts']} | "
                        f"{s['n_learned']} of {s['n_tokens']} | {s['spread_ratio']:.2f} | {_p(s['spread_p'])} | "
                        f"{_p(s['spread_p_token'])} | "
                        + (f"{s['rho']:+.2f} | {s['rho_null_median']:+.2f}" if s["rho"] is not None else "– | –")
                        + f" | {_p(s['rho_p'])} | {_p(s['rho_p_token'])} |")
    summ = ["", "| parts | spread ratio, mean ± sd over seeds | ρ, mean ± sd | learned together (p < 0.05) "
            "| beyond token id | in order of frequency | beyond token id |", "|" + "---|" * 7]
    for name in NAMES:
        ss = [r[name] for r in record["runs"]]
        n = len(ss)

        def count(key):
            return sum(1 for s in ss if s[key] is not None and s[key] < 0.05)

        sr = np.array([s["spread_ratio"] for s in ss], float)
        rho = np.array([s["rho"] if s["rho"] is not None else np.nan for s in ss], float)
        summ.append(f"| {NAMES[name]} | {sr.mean():.2f} ± {sr.std(ddof=1) if n > 1 else 0:.2f} | "
                    f"{np.nanmean(rho):+.2f} ± {np.nanstd(rho, ddof=1) if n > 1 else 0:.2f} | "
                    f"{count('spread_p')} of {n} | {count('spread_p_token')} of {n} | {count('rho_p')} of {n} | "
                    f"{count('rho_p_token')} of {n} |")
    return START + "\n" + head + "\n".join(rows + summ) + "\n" + END


def check_docs() -> bool:
    return render(json.loads(DATA.read_text())) in DOC.read_text()


def write_docs(record: dict) -> None:
    write_block(DOC, render(record), START, END)


def one_seed(seed: int, out: Path, *, steps: int, n_checkpoints: int, size, max_docs: int, n_tokens: int,
             n_perm: int) -> dict:
    from quanta.formation import formation_answers, formation_inputs, part_formation
    from quanta.lm.analyze import AnalyzeConfig, analyze_losses
    from quanta.lm.corpus import load_corpus
    from quanta.lm.losses import LossesConfig, compute_losses
    from quanta.lm.models import load_tokenizer
    from quanta.lm.planted import parse_planted_spec, row_skills
    from quanta.lm.train import SuiteConfig, train_suite
    from quanta.qdg import QDGConfig, run_qdg_lm
    from quanta.store import Run

    spec = SPEC.format(seed=seed)
    root = out / f"seed{seed}"
    t0 = time.perf_counter()
    suite = root / "suite"
    if not (suite / "summary.json").exists():
        train_suite(SuiteConfig(corpus=spec, preset="cpu", sizes=[list(size)], steps=steps,
                                warmup_steps=max(1, steps // 10), n_checkpoints=n_checkpoints), suite, force=True)
    model = sorted((suite / "models").iterdir())[-1]
    if not (root / "losses" / "summary.json").exists():
        compute_losses(LossesConfig(suite=(str(model),), revisions=("all",), corpus=spec + ":test",
                                    max_docs=max_docs), root / "losses", force=True)
    if not (root / "dyn" / "summary.json").exists():
        analyze_losses(root / "losses", root / "dyn", AnalyzeConfig(figures=False), force=True)
    if not (root / "qdg" / "summary.json").exists():
        run_qdg_lm(QDGConfig(model=str(model), corpus=spec + ":test", max_docs=max_docs, n_tokens=n_tokens),
                   root / "qdg", force=True)
    members, learning, info = formation_inputs(root / "qdg", root / "dyn")
    ps, _ = parse_planted_spec(spec)
    docs = load_corpus(spec + ":test", max_docs=max_docs)
    skills = row_skills(members, docs, load_tokenizer(str(model)), ps)
    decomps = {"qdg": members,
               "oracle": members.assign(part=skills)[skills >= 0],
               "token": members.assign(part=members["token_id"])}
    rec = {"seed": seed, "spec": spec, "model": model.name, "n_checkpoints": len(Run.open(root / "losses").summary
                                                                                 .get("models", [])),
           "qdg_n_clusters": info["n_clusters"], "skill_share": float((skills >= 0).mean())}
    for name, m in decomps.items():
        r = part_formation(m, learning, n_perm=n_perm, seed=seed)
        ans = formation_answers(r)
        rec[name] = {**r.summary(), "learned_together": ans[0]["answer"], "frequency_order": ans[1]["answer"]}
    rec["minutes"] = (time.perf_counter() - t0) / 60
    return rec


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="folder of the runs (required unless --render)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--n-checkpoints", type=int, default=16)
    ap.add_argument("--size", type=float, nargs=4, default=[64, 3, 4, 7e-3], metavar=("D", "L", "H", "LR"))
    ap.add_argument("--max-docs", type=int, default=200)
    ap.add_argument("--n-tokens", type=int, default=1000)
    ap.add_argument("--n-perm", type=int, default=999)
    ap.add_argument("--json", default=None)
    ap.add_argument("--render", action="store_true", help="only rewrite docs/formation.md from the recorded JSON")
    args = ap.parse_args(argv)
    if args.render:
        record = json.loads(DATA.read_text())
        write_docs(record)
        return record
    if args.out is None:
        ap.error("--out is required")
    size = (int(args.size[0]), int(args.size[1]), int(args.size[2]), float(args.size[3]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for s in args.seeds:
        rec = one_seed(s, out, steps=args.steps, n_checkpoints=args.n_checkpoints, size=size,
                       max_docs=args.max_docs, n_tokens=args.n_tokens, n_perm=args.n_perm)
        runs.append(rec)
        print(json.dumps({k: rec[k] for k in ("seed", "qdg_n_clusters")}),
              {n: (round(rec[n]["spread_ratio"], 3), rec[n]["spread_p"], rec[n]["spread_p_token"],
                   round(rec[n]["rho"], 3) if rec[n]["rho"] is not None else None, rec[n]["rho_p"])
               for n in ("qdg", "oracle", "token")}, flush=True)
    record = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "machine": platform.machine(),
              "cpus": os.cpu_count(), "spec": SPEC, "steps": args.steps, "n_checkpoints": args.n_checkpoints,
              "size": list(size), "max_docs": args.max_docs, "n_tokens": args.n_tokens, "n_perm": args.n_perm,
              "runs": runs}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=1) + "\n")
        if Path(args.json).resolve() == DATA.resolve() and DOC.exists():
            write_docs(record)
    return record


if __name__ == "__main__":
    main()
