"""The closing test (``quanta falsify``) on the planted-quanta language at CPU scale, true and mismatched pairs.

For each planted exponent (default 0.3 and 0.8; the other runs and the spec's default use 0.5) and spec seed
(default 2 and 3; runs A-C use 1), on
``planted:skills=500,alpha=A,seed=S,kinds=complete+count,rate=0.4`` (run B's fields of docs/planted.md):

1. ``quanta lm train-suite --corpus SPEC --preset cpu`` with one size more than the preset (24x2, between its
   16x2 and 32x2): ``quanta lm analyze`` fits ``L = L_inf + A·N^-alpha`` only with >= 3 degrees of freedom, so the
   preset's 5 sizes give no alpha_N and every verdict would be ``undetermined``;
2. ``quanta lm losses`` of every model on ``SPEC:test``;
3. ``quanta lm analyze`` of those losses (alpha_N with its profile interval);
4. ``quanta qdg`` on the largest model on ``SPEC:test`` (label-free), scored afterwards against the planted skills
   (:func:`quanta.lm.planted_score.score_against_planted`);

then ``quanta falsify --scaling <analyze a> --parts <qdg b>`` for every pair (a, b): true when a == b, mismatched
otherwise (``allow_mismatch``: the worlds differ only in the planted alpha, which is what a mismatched pair is for).
Every step is the library call the command makes. Writes a JSON record (``--json``;
docs/data/planted_falsify_cpu.json is one) and, with ``--doc``, the section between the markers of
docs/calibration.md (``tests/test_docs_planted.py`` regenerates it from the record and compares). Usage::

    python benchmarks/planted_falsify.py --out runs/lmfals --json docs/data/planted_falsify_cpu.json --doc
    python benchmarks/planted_falsify.py --render     # rewrite the doc's section from the recorded JSON
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

from docblock import write_block

os.environ.setdefault("QUANTA_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "planted_falsify_cpu.json"
DOC = ROOT / "docs" / "calibration.md"
START, END = "<!-- planted-falsify:start -->", "<!-- planted-falsify:end -->"

#: the cpu preset's sizes with 24x2 added (hidden, layers, heads, lr; the lr of its neighbours 16x2 and 32x2)
SIZES = ((16, 2, 2, 1e-2), (24, 2, 2, 1e-2), (32, 2, 2, 1e-2), (48, 3, 4, 8e-3), (64, 3, 4, 7e-3), (96, 3, 4, 5e-3))
SPEC = "planted:skills=500,alpha={alpha},seed={seed},kinds=complete+count,rate=0.4"


def _complete(path: Path) -> bool:
    m = path / "manifest.json"
    return m.exists() and json.loads(m.read_text()).get("status") == "complete"


def _wall_seconds(path: Path) -> float:
    """Wall time of a finished run directory, from its manifest's start and end."""
    m = json.loads((path / "manifest.json").read_text())
    t0, t1 = (datetime.datetime.fromisoformat(m[k]) for k in ("started_at", "ended_at"))
    return round((t1 - t0).total_seconds(), 1)


def measure_world(spec: str, out: Path, *, preset: str, max_docs: int, windows: int, qdg_tokens: int) -> dict:
    """Steps 1-4 for one planted spec; finished steps (complete run directories) are kept."""
    from quanta.lm.analyze import AnalyzeConfig, analyze_losses
    from quanta.lm.losses import LossesConfig, compute_losses
    from quanta.lm.planted import loss_floor, parse_planted_spec
    from quanta.lm.planted_score import score_against_planted
    from quanta.lm.train import SuiteConfig, train_suite
    from quanta.qdg.pipeline import QDGConfig, run_qdg_lm

    ps, _ = parse_planted_spec(spec)
    test_spec = ps.to_spec("test")
    seconds: dict = {}
    suite = out / "suite"

    def step(name, path, fn):
        if not _complete(path):
            fn()
        seconds[name] = _wall_seconds(path)  # from the manifest, also for a step made by an earlier call

    step("train_suite", suite, lambda: train_suite(SuiteConfig(corpus=spec, preset=preset, sizes=SIZES), suite,
                                                   force=suite.exists()))
    ssum = json.loads((suite / "summary.json").read_text())
    step("losses", out / "losses", lambda: compute_losses(
        LossesConfig(suite=(str(suite),), corpus=test_spec, n_windows=windows, max_docs=max_docs), out / "losses",
        force=(out / "losses").exists()))
    step("analyze", out / "analyze", lambda: analyze_losses(out / "losses", out / "analyze", AnalyzeConfig(),
                                                            force=(out / "analyze").exists()))
    asum = json.loads((out / "analyze" / "summary.json").read_text())
    suite_json = json.loads((suite / "suite.json").read_text())
    largest = suite_json["models"][-1]["path"]
    qcfg = QDGConfig(model=str(suite / largest), corpus=test_spec, context_length=suite_json["context_length"],
                     n_tokens=qdg_tokens, max_docs=max_docs)
    step("qdg", out / "qdg", lambda: run_qdg_lm(qcfg, out / "qdg", force=(out / "qdg").exists()))
    t0 = time.perf_counter()
    score = score_against_planted(out / "qdg")
    seconds["score"] = round(time.perf_counter() - t0, 1)
    train_seconds = None
    if (suite / "models.parquet").exists():
        import pandas as pd

        train_seconds = round(float(pd.read_parquet(suite / "models.parquet")["train_seconds"].sum()), 1)
    return {
        "spec": spec, "test_spec": test_spec, "planted_alpha": ps.alpha, "dirs": {
            k: str(out / k) for k in ("suite", "losses", "analyze", "qdg")},
        "suite": {k: ssum.get(k) for k in ("models", "n_params_nonembed", "heldout_loss", "decades_nonembed",
                                           "loss_falls_with_size", "tokens_per_model")},
        "train_seconds_models": train_seconds,
        "mean_loss": asum.get("mean_loss"),
        "alpha_N": asum.get("alpha_N"), "alpha_N_ci": asum.get("alpha_N_ci"),
        "alpha_N_n_points": asum.get("alpha_N_n_points"), "fit_r2": asum.get("fit_r2"),
        "L_inf": asum.get("L_inf"), "ci_level": asum.get("ci_level"), "fit_error": asum.get("fit_error"),
        "ideal_loss": loss_floor(ps)["per_token"],
        "qdg": {"model": largest, **{k: score[k] for k in (
            "n_tokens", "background_share", "background_top", "n_skills_selected", "n_clusters", "ari",
            "ari_skill_tokens", "ari_kind", "planted_exponent", "parts_exponent", "parts_exponent_ci",
            "oracle_exponent", "oracle_exponent_ci")}},
        "seconds": seconds,
    }


def falsify_pair(scaling: Path, parts: Path, out: Path) -> dict:
    """``quanta falsify --scaling S --parts P`` (defaults), as the command calls it, and the figures it prints."""
    from quanta.falsify import FalsifyConfig, falsify

    t0 = time.perf_counter()
    s, _ = falsify(scaling, parts, out, FalsifyConfig(), force=out.exists(), allow_mismatch=True)
    keys = ("verdict", "verdict_reason", "p_value", "gap_se", "difference", "alpha_N", "alpha_N_ci", "zipf_pred",
            "zipf_pred_ci", "zipf_measured", "zipf_measured_ci", "power_law_plausible", "power_law_gof_p",
            "parts_head", "n_clusters", "cluster_count_rule", "level", "margin", "calibration")
    rec = {k: s.get(k) for k in keys}
    test = s.get("test") or {}
    rec["difference_ci"] = test.get("diff_ci")
    rec["dir"] = str(out)
    rec["seconds"] = round(time.perf_counter() - t0, 1)
    return rec


def measure(args) -> dict:
    out = Path(args.out)
    record: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs)",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "preset": args.preset, "sizes": [list(s) for s in SIZES], "max_docs": args.max_docs,
        "windows": args.windows, "qdg_tokens": args.qdg_tokens, "seeds": args.seeds, "alphas": args.alphas,
        "held_out": ("planted alpha 0.5 (the spec's default, runs A-C of docs/planted.md) and seed 1 were where the "
                     "planted language, the cpu preset and QDG's defaults on it were looked at; these worlds use "
                     f"alpha {' and '.join(map(str, args.alphas))} and seed(s) {', '.join(map(str, args.seeds))}, "
                     "and nothing was chosen on them"),
        "worlds": [], "pairs": [],
    }
    t_all = time.perf_counter()
    for seed in args.seeds:
        for a in args.alphas:
            spec = SPEC.format(alpha=a, seed=seed)
            w = measure_world(spec, out / f"seed{seed}" / f"a{a}", preset=args.preset, max_docs=args.max_docs,
                              windows=args.windows, qdg_tokens=args.qdg_tokens)
            record["worlds"].append({"seed": seed, **w})
        for a in args.alphas:  # every (scaling, parts) pair within one seed
            for b in args.alphas:
                d = out / f"seed{seed}"
                rec = falsify_pair(d / f"a{a}" / "analyze", d / f"a{b}" / "qdg", d / f"falsify_s{a}_p{b}")
                record["pairs"].append({"seed": seed, "scaling_alpha": a, "parts_alpha": b,
                                        "kind": "true" if a == b else "mismatched", **rec})
    record["seconds_total"] = round(time.perf_counter() - t_all, 1)
    return record


# ------------------------------------------------------------------------------------------------------- the doc
def _ci(ci, fmt="{:.2f}") -> str:
    if not ci or any(v is None for v in ci):
        return "no interval"
    return "[" + ", ".join(fmt.format(v) for v in ci) + "]"


def _num(v, fmt="{:.2f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def block(record: dict) -> str:
    """The section's recorded figures, as docs/calibration.md shows them between the markers."""
    worlds = record["worlds"]
    train = [w["seconds"]["train_suite"] / 60 for w in worlds]
    rest = [sum(w["seconds"][k] for k in ("losses", "analyze", "qdg", "score")) for w in worlds]
    fals = [p["seconds"] for p in record["pairs"]]
    lines = [START, f"Recorded {record['date']} on {record['machine']}. Wall time per world: training the suite "
             f"{min(train):.0f}–{max(train):.0f} minutes (two or four suites trained at once), losses, analysis, "
             f"QDG and scoring {min(rest):.0f}–{max(rest):.0f} s; each falsify {max(fals):.0f} s at most.",
             "",
             "| seed | planted α | α_N (mean loss, " + f"{len(record['sizes'])} sizes) | R² | fit's L∞ | lowest mean "
             "loss | ideal predictor's loss | QDG parts | ARI vs skills "
             "(skill tokens only; kinds) | selected tokens of no skill | skills among them | parts exponent "
             "(QDG's MLE, all ranks) | oracle exponent | planted α + 1 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for w in worlds:
        q = w["qdg"]
        lines.append(
            f"| {w['seed']} | {w['planted_alpha']:g} | {_num(w['alpha_N'])} {_ci(w['alpha_N_ci'])} | {_num(w['fit_r2'])} | "
            f"{_num(w['L_inf'], '{:.3f}')} | {min(w['mean_loss'].values()):.3f} | {w['ideal_loss']:.3f} | "
            f"{q['n_clusters']} | {_num(q['ari'])} ({_num(q['ari_skill_tokens'])}; {_num(q['ari_kind'])}) | "
            f"{q['background_share']:.0%} | {q['n_skills_selected']} | {_num(q['parts_exponent'])} "
            f"{_ci(q['parts_exponent_ci'])} | {_num(q['oracle_exponent'])} {_ci(q['oracle_exponent_ci'])} | "
            f"{q['planted_exponent']:.2f} |")
    if len(record["seeds"]) > 1:
        lines.append("")
        for a in record["alphas"]:
            ws = [w for w in worlds if w["planted_alpha"] == a]

            def rng(vals):
                vals = [v for v in vals if v is not None]
                return f"{min(vals):.2f}–{max(vals):.2f}" if vals else "n/a"
            lines.append(f"Spread over the {len(ws)} seeds at α = {a:g} (min–max): α_N {rng(w['alpha_N'] for w in ws)}; "
                         f"parts exponent {rng(w['qdg']['parts_exponent'] for w in ws)}; oracle "
                         f"{rng(w['qdg']['oracle_exponent'] for w in ws)}; ARI {rng(w['qdg']['ari'] for w in ws)}.")
            lines.append("")
        lines.pop()
    lines += ["", "| seed | pair | scaling (α of the suite) | parts (α of the QDG model) | predicted α_N + 1 | parts "
              "exponent (falsify: plausible head) | difference d (90% interval) | p of d = 0 | verdict |",
              "|---|---|---|---|---|---|---|---|---|"]
    for p in record["pairs"]:
        lines.append(
            f"| {p['seed']} | {p['kind']} | {p['scaling_alpha']:g} | {p['parts_alpha']:g} | {_num(p['zipf_pred'])} "
            f"{_ci(p['zipf_pred_ci'])} | {_num(p['zipf_measured'])} {_ci(p['zipf_measured_ci'])} "
            f"(head {p['parts_head'] if p['parts_head'] is not None else 'none'}) | {_num(p['difference'], '{:+.2f}')}"
            f" {_ci(p['difference_ci'])} | {_num(p['p_value'], '{:.3g}')} | `{p['verdict']}` |")
    lines.append("")
    from quanta.calibrate.rates import wilson

    for kind, right in (("true", "consistent"), ("mismatched", "inconsistent")):
        ps = [p for p in record["pairs"] if p["kind"] == kind]
        n_inc = sum(p["verdict"] == "inconsistent" for p in ps)
        lo, hi = wilson(n_inc, len(ps))
        counts = ", ".join(f"`{v}` {sum(p['verdict'] == v for p in ps)}" for v in sorted({p["verdict"] for p in ps}))
        lines.append(f"{kind.capitalize()} pairs (right answer `{right}`): {counts} of {len(ps)}; called "
                     f"`inconsistent` in {n_inc / len(ps):.0%} [{lo:.0%}, {hi:.0%}] (95% Wilson).")
        lines.append("")
    # what falsify prints today beside an LM verdict: the shipped parity calibration and this record's rates
    from quanta.calibrate.shipped import calibration_sentence, lm_calibration_sentence, lm_table

    lines += [f"falsify prints with every LM verdict: \"{calibration_sentence()}; "
              f"{lm_calibration_sentence(lm_table(record))}\"", END]
    return "\n".join(lines)


def check_docs() -> bool:
    return block(json.loads(DATA.read_text())) in DOC.read_text()


def render_doc(record: dict) -> None:
    write_block(DOC, block(record), START, END)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="folder of the suites and runs (finished steps are kept)")
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.3, 0.8])
    ap.add_argument("--seeds", type=int, nargs="+", default=[2, 3], help="the spec's seeds (skills and documents)")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--max-docs", type=int, default=200, help="held-out documents scored (losses and QDG)")
    ap.add_argument("--windows", type=int, default=2)
    ap.add_argument("--qdg-tokens", type=int, default=300)
    ap.add_argument("--json", default=None)
    ap.add_argument("--doc", action="store_true", help="rewrite the section of docs/calibration.md")
    ap.add_argument("--render", action="store_true", help="only rewrite the doc's section from docs/data")
    args = ap.parse_args(argv)
    if args.render:
        record = json.loads(DATA.read_text())
    else:
        if not args.out:
            ap.error("--out is needed to measure")
        record = measure(args)
        text = json.dumps(record, indent=1)
        print(text)
        if args.json:
            Path(args.json).write_text(text + "\n")
    if args.doc or args.render:
        render_doc(record)
        # what `quanta falsify` quotes beside an LM verdict (tests/test_docs_figures.py checks it is this record's)
        from quanta.calibrate.shipped import SHIPPED_LM, write_shipped_lm

        write_shipped_lm(record, SHIPPED_LM)
    return record


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
