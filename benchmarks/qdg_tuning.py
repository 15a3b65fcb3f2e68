"""Choose QDG's parity defaults (similarity, power, count rule) on tuning runs, and record the evidence.

    python benchmarks/qdg_tuning.py RUN [RUN ...] --out runs/tuning.csv [--sims abs_cosine:4,abs_cosine:2]
    python benchmarks/qdg_tuning.py --summarize runs/tuning.csv [--write-docs]

The first form decomposes the widest model of every training seed of each RUN (label-free: low-loss samples,
margin gradients) with each similarity:power, and writes one row per (run, seed, draw, similarity, count k):
the stability and eigengap evidence of k, the exponent of the part sizes at k, the ARI at k, and the exponent of the
true task sizes of the same samples. The second form scores every candidate count rule by how far its exponent
lands from that of the true task sizes (what the verdict needs) and by its ARI, writes
docs/data/qdg_tuning.json and, with --write-docs, the table between the tuning markers of docs/qdg.md.
The runs given here must never be the ones docs/falsify.md reports (tests/test_docs_figures.py checks that).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from docblock import write_block

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "qdg_tuning.json"
DOC = ROOT / "docs" / "qdg.md"
START, END = "<!-- tuning:start -->", "<!-- tuning:end -->"
THRESHOLDS = (0.6, 0.7, 0.8, 0.9)


def collect(runs, sims, n_samples=2000, draws=(0,)) -> pd.DataFrame:
    from sklearn.metrics import adjusted_rand_score

    from quanta.fit import fit_zipf_from_sizes
    from quanta.parity import ParityTasks, load_member
    from quanta.qdg.cluster import log_eigengaps
    from quanta.qdg.parity import ParityQDGConfig, decompose_parity, widest_models
    from quanta.store import Run

    rows = []
    for run_dir in runs:
        src = Run.open(run_dir, command="parity run")
        models = src.read_table("models")
        for seed, mid in sorted(widest_models(models).items()):
            alpha = float(models.loc[models["model"] == mid, "alpha"].iloc[0])
            model = load_member(run_dir, mid)
            tasks = ParityTasks.from_config(src.config, alpha=alpha)
            for d in draws:
                for spec in sims:
                    sim, power = spec.split(":")
                    cfg = ParityQDGConfig(run_dir=str(run_dir), n_samples=n_samples, similarity=sim,
                                          affinity_power=int(power), n_boot=0, null_control=False)
                    t0 = time.time()
                    parts = decompose_parity(model, tasks, cfg, train_seed=seed, model_id=mid, draw_seed=1000 + d)
                    true = np.bincount(parts.task)
                    exp_true = fit_zipf_from_sizes(true[true > 0], n_boot=0).exponent
                    gaps = log_eigengaps(parts.eigenvalues)
                    for k, lab in parts.labels.items():
                        sz = np.bincount(lab)
                        try:
                            e = fit_zipf_from_sizes(sz[sz > 0], n_boot=0).exponent
                        except Exception:
                            e = np.nan
                        rows.append(dict(run=Path(run_dir).name, alpha=alpha, seed=seed, draw=d, sim=spec, k=k,
                                         stability=parts.stability.get(k, np.nan),
                                         gap=float(gaps[k - 1]), exponent=e,
                                         ari=adjusted_rand_score(parts.task, lab), exp_true=exp_true,
                                         n_tasks=int((true > 0).sum()), n=len(parts.task)))
                    print(f"{run_dir} seed {seed} draw {d} {spec}: {time.time() - t0:.0f} s", flush=True)
    return pd.DataFrame(rows)


def rules(group: pd.DataFrame) -> dict:
    """The count each candidate rule picks on one decomposition (a group of rows, one per k)."""
    g = group.sort_values("k")
    out = {"eigengap": int(g.loc[g["gap"].idxmax(), "k"])}
    for t in THRESHOLDS:
        ok = g[g["stability"] >= t]
        out[f"stability (>= {t})"] = int(ok["k"].max()) if len(ok) else int(g["k"].min())
        out[f"stable_eigengap (>= {t})"] = int(ok.loc[ok["gap"].idxmax(), "k"]) if len(ok) else int(g["k"].min())
    return out


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (similarity:power, count rule), best first: first the rules whose count leaves the verdict a
    head to test in every decomposition (at least ``MIN_HEAD_RANKS`` parts, ``testable``), then by the mean absolute
    error of the parts' exponent against the true task sizes' exponent. A rule with fewer parts than the head
    minimum makes every verdict ``not a power law`` whatever its exponent error (docs/qdg.md)."""
    from quanta.plausibility import MIN_HEAD_RANKS

    rows = []
    for key, g in df.groupby(["run", "seed", "draw", "sim"]):
        g = g.set_index("k")
        for rule, k in rules(g.reset_index()).items():
            rows.append(dict(run=key[0], seed=key[1], draw=key[2], sim=key[3], rule=rule, k=k,
                             n_tasks=int(g["n_tasks"].iloc[0]), ari=g.loc[k, "ari"],
                             err=g.loc[k, "exponent"] - g.loc[k, "exp_true"]))
    per = pd.DataFrame(rows)
    return (per.groupby(["sim", "rule"])
            .agg(n=("err", "size"), mean_abs_err=("err", lambda e: float(np.mean(np.abs(e)))),
                 mean_err=("err", "mean"), max_abs_err=("err", lambda e: float(np.max(np.abs(e)))),
                 mean_ari=("ari", "mean"), min_ari=("ari", "min"), mean_k=("k", "mean"), min_k=("k", "min"),
                 mean_tasks=("n_tasks", "mean"))
            .reset_index()
            .assign(testable=lambda t: t["min_k"] >= MIN_HEAD_RANKS)
            .sort_values(["testable", "mean_abs_err"], ascending=[False, True]))


def render(table: pd.DataFrame, top: int = 12) -> str:
    s = ("| similarity:power | count rule | decompositions | testable (count >= 5 in all) | mean abs. exponent error "
         "| mean error | max abs. error | mean ARI | min ARI | mean count | min count | mean tasks in samples |\n"
         "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    for r in table.head(top).itertuples():
        s += (f"| {r.sim} | {r.rule} | {r.n} | {'yes' if r.testable else 'no'} | {r.mean_abs_err:.3f} | "
              f"{r.mean_err:+.3f} | {r.max_abs_err:.3f} | {r.mean_ari:.2f} | {r.min_ari:.2f} | {r.mean_k:.1f} | "
              f"{r.min_k} | {r.mean_tasks:.1f} |\n")
    return s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*")
    ap.add_argument("--out")
    ap.add_argument("--sims", default="abs_cosine:4,abs_cosine:2,abs_cosine:8")
    ap.add_argument("--summarize", nargs="+")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    if args.runs:
        collect(args.runs, args.sims.split(",")).to_csv(args.out, index=False)
    if args.summarize:
        df = pd.concat([pd.read_csv(p) for p in args.summarize], ignore_index=True)
        table = summarize(df)
        record = {"date": time.strftime("%Y-%m-%d"), "runs": sorted(df["run"].unique().tolist()),
                  "alphas": sorted(df["alpha"].unique().tolist()), "seeds": sorted(df["seed"].unique().tolist()),
                  "table": table.to_dict(orient="records")}
        DATA.write_text(json.dumps(record, indent=1) + "\n")
        if args.write_docs:
            write_block(DOC, START + "\n" + render(table) + END, START, END)
        print(render(table, top=40))
    return 0


if __name__ == "__main__":
    sys.exit(main())
