"""The planted-quanta language at CPU scale: train a suite, score per-token losses by planted skill, run QDG.

Steps (each through the library call the CLI makes, so the corpus goes the user's way; labels are read only in the
scoring steps):

1. ``quanta lm train-suite --corpus SPEC --preset cpu`` (skipped when ``--suite`` names a trained suite);
2. ``quanta lm losses`` of every model on ``SPEC:test`` (``--windows`` windows per document);
3. the planted skill of every row (:func:`quanta.lm.planted.row_skills`): mean loss on background and on skill
   tokens per model, skills learned per model (mean loss below ``--learned-below`` nats), loss by skill rank;
   fits of ``L = L_inf + A·N^-alpha`` to the mean loss and to the skill-token loss
   (:func:`quanta.fit.fit_power_law`, bootstrap over tokens is not done: 5 points, read as a rough figure);
4. ``quanta qdg`` on the largest model on ``SPEC:test``, scored by
   :func:`quanta.lm.planted_score.score_against_planted`.

Writes a JSON of the figures (``--json``; docs/data/planted_cpu.json is one such record). Usage::

    python benchmarks/planted_suite.py --out runs/planted --json docs/data/planted_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QUANTA_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="planted:skills=200,alpha=0.5,seed=1")
    ap.add_argument("--out", required=True, help="folder for the suite, losses and qdg runs")
    ap.add_argument("--suite", default=None, help="an already trained suite (skips step 1)")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: the preset's; warmup 10%%)")
    ap.add_argument("--max-docs", type=int, default=200, help="held-out documents scored")
    ap.add_argument("--windows", type=int, default=2)
    ap.add_argument("--learned-below", type=float, default=0.1)
    ap.add_argument("--qdg-tokens", type=int, default=300)
    ap.add_argument("--skip-qdg", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    from quanta.fit import fit_power_law
    from quanta.lm.corpus import load_corpus
    from quanta.lm.losses import LossesConfig, compute_losses, read_losses
    from quanta.lm.models import load_tokenizer
    from quanta.lm.planted import parse_planted_spec, row_skills, skill_losses, skill_table
    from quanta.lm.train import SuiteConfig, train_suite

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ps, _ = parse_planted_spec(args.spec)
    test_spec = ps.to_spec("test")
    record: dict = {"spec": args.spec, "test_spec": test_spec, "preset": args.preset, "steps": args.steps,
                    "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)", "seconds": {}}
    suite = Path(args.suite) if args.suite else out / "suite"
    if not args.suite:
        t0 = time.perf_counter()
        extra = {"steps": args.steps, "warmup_steps": args.steps // 10} if args.steps else {}
        summary = train_suite(SuiteConfig(corpus=args.spec, preset=args.preset, **extra), suite, force=True)
        record["seconds"]["train_suite"] = round(time.perf_counter() - t0, 1)
    summary = json.loads((suite / "summary.json").read_text())
    record["suite"] = {k: summary[k] for k in ("models", "n_params_nonembed", "heldout_loss", "decades_nonembed",
                                               "loss_falls_with_size", "tokens_per_model")}

    t0 = time.perf_counter()
    lcfg = LossesConfig(suite=(str(suite),), corpus=test_spec, n_windows=args.windows, max_docs=args.max_docs)
    compute_losses(lcfg, out / "losses", force=True)
    record["seconds"]["losses"] = round(time.perf_counter() - t0, 1)
    df = read_losses(out / "losses")
    tok = load_tokenizer(str(suite))
    docs = load_corpus(test_spec, max_docs=args.max_docs)
    ctx = json.loads((suite / "suite.json").read_text())["context_length"]
    one = df[df["model"] == df["model"].iloc[0]]
    skills_one = row_skills(one, docs, tok, ps, context_length=ctx)
    key = dict(zip(zip(one["doc"], one["pos"]), skills_one))
    skills = np.fromiter((key[(d, p)] for d, p in zip(df["doc"], df["pos"])), dtype=np.int32, count=len(df))
    sl = skill_losses(df, skills, learned_below=args.learned_below)
    models = summary["models"]
    n_params = summary["n_params_nonembed"]
    import pandas as pd

    train_log = pd.read_parquet(suite / "train.parquet")
    last = train_log[train_log["step"] > train_log["step"].max() - 100].groupby("model")["loss"].mean()
    tab = skill_table(ps)
    kind_skills = {k: tab.loc[tab["kind"] == k, "skill"].to_numpy() for k in ps.kind_list}
    per_model = []
    for m in models:
        rows = df["model"] == m
        s = skills[rows.to_numpy()]
        loss = df.loc[rows, "loss"].to_numpy(np.float64)
        t = sl[(sl["model"] == m) & (sl["skill"] > 0)]
        per_model.append({
            "model": m, "mean_loss": float(loss.mean()), "background_loss": float(loss[s <= 0].mean()),
            "skill_loss": float(loss[s > 0].mean()),
            "train_loss_last100": float(last[m]),
            "skill_loss_by_kind": {k: float(loss[np.isin(s, kind_skills[k])].mean()) for k in kind_skills},
            "skills_learned": int(t["learned"].sum()),
            "skills_seen": int(len(t)),
            "learned_ranks": [int(k) for k in t.loc[t["learned"], "skill"]],
            "skill_loss_by_decile": [float(x) for x in
                                     t.groupby(np.minimum((t["skill"] - 1) * 10 // ps.skills, 9))["mean_loss"].mean()],
        })
    record["n_tokens_per_model"] = int((df["model"] == models[0]).sum())
    record["skill_token_share"] = float((skills_one > 0).mean())
    record["per_model"] = per_model
    x = np.asarray(n_params, dtype=np.float64)
    fits = {}
    for name in ("mean_loss", "skill_loss"):
        y = np.asarray([p[name] for p in per_model])
        try:
            f = fit_power_law(x, y, offset=True, n_boot=200, seed=0)
            fits[name] = {"alpha": f.alpha, "alpha_ci": list(f.alpha_ci), "L_inf": f.L_inf, "r2": f.r2}
        except Exception as exc:  # a failed fit is a recorded outcome
            fits[name] = {"error": str(exc)}
    record["fits"] = fits
    record["planted_alpha"] = ps.alpha
    record["learned_below"] = args.learned_below

    if not args.skip_qdg:
        from quanta.lm.planted_score import score_against_planted
        from quanta.qdg.pipeline import QDGConfig, run_qdg_lm

        largest = json.loads((suite / "suite.json").read_text())["models"][-1]["path"]
        t0 = time.perf_counter()
        qcfg = QDGConfig(model=str(suite / largest), corpus=test_spec, context_length=ctx, n_tokens=args.qdg_tokens,
                         max_docs=args.max_docs, n_boot=100)
        qsum = run_qdg_lm(qcfg, out / "qdg", force=True)
        record["seconds"]["qdg"] = round(time.perf_counter() - t0, 1)
        score = score_against_planted(out / "qdg", n_boot=100)
        score["ari_by_count"] = {str(k): v for k, v in score["ari_by_count"].items()}
        record["qdg"] = {"model": largest, "n_candidates": qsum["n_candidates"], **score}
    text = json.dumps(record, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return record


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
