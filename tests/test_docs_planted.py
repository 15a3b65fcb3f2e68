"""docs/planted.md quotes only the recorded run in docs/data/planted_cpu.json: its tables are rendered from it."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "planted_cpu.json"
DOC = ROOT / "docs" / "planted.md"


def suite_table(run: dict) -> str:
    """The by-size table of one recorded run, as docs/planted.md shows it."""
    lines = ["| model | non-embedding params | training loss, last 100 steps | held-out loss (train-suite) | "
             "mean loss | skill-token loss | skills learned (< {:g} nats) | skill loss, top 10% of ranks | bottom 10% |".format(run["learned_below"]),
             "|---|---|---|---|---|---|---|---|---|"]
    for p, n, h in zip(run["per_model"], run["suite"]["n_params_nonembed"], run["suite"]["heldout_loss"]):
        lines.append(f"| {p['model']} | {n:,} | {p['train_loss_last100']:.3f} | {h:.3f} | {p['mean_loss']:.3f} | "
                     f"{p['skill_loss']:.3f} | "
                     f"{p['skills_learned']} of {p['skills_seen']} | {p['skill_loss_by_decile'][0]:.2f} | "
                     f"{p['skill_loss_by_decile'][-1]:.2f} |")
    return "\n".join(lines)


def kind_table(run: dict) -> str:
    """Skill-token loss by kind (token-weighted) per model."""
    kinds = list(run["per_model"][0]["skill_loss_by_kind"])
    lines = ["| model | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for p in run["per_model"]:
        lines.append(f"| {p['model']} | " + " | ".join(f"{p['skill_loss_by_kind'][k]:.2f}" for k in kinds) + " |")
    return "\n".join(lines)


def qdg_line(run: dict) -> str:
    q = run["qdg"]
    top = ", ".join(f"'{k.strip()}' {v}" for k, v in q["background_top"].items())
    ci = q["parts_exponent_ci"]
    oci = q["oracle_exponent_ci"]
    return (f"QDG on {q['model']}: {q['n_tokens']} tokens ({q['background_share']:.0%} of no skill: {top}; "
            f"{q['n_skills_selected']} skills), k = {q['n_clusters']}: ARI {q['ari']:.2f} against the skills "
            f"({q['ari_skill_tokens']:.2f} on skill tokens only, {q['ari_kind']:.2f} against the kinds); parts "
            f"exponent {q['parts_exponent']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}], oracle {q['oracle_exponent']:.2f} "
            f"[{oci[0]:.2f}, {oci[1]:.2f}], planted {q['planted_exponent']:.2f}")


def fit_line(run: dict) -> str:
    parts = []
    for name, label in (("mean_loss", "mean loss"), ("skill_loss", "skill-token loss")):
        f = run["fits"][name]
        parts.append(f"{label}: alpha {f['alpha']:.2f} [{f['alpha_ci'][0]:.2f}, {f['alpha_ci'][1]:.2f}], "
                     f"R² {f['r2']:.2f}")
    return f"Fits of L∞ + A·N^-alpha over the {len(run['per_model'])} sizes ({'; '.join(parts)}); planted alpha " \
           f"{run['planted_alpha']:.2f}"


def test_doc_tables_match_the_recorded_runs():
    runs = json.loads(DATA.read_text())["runs"]
    doc = DOC.read_text()
    for run in runs:
        assert suite_table(run) in doc, run["spec"]
        assert fit_line(run) in doc, run["spec"]
        assert kind_table(run) in doc, run["spec"]
        if "qdg" in run:
            assert qdg_line(run) in doc, run["spec"]


def test_planted_falsify_section_is_the_recorded_run_and_held_out():
    """docs/calibration.md's planted-language section is rendered from docs/data/planted_falsify_cpu.json."""
    from conftest import load_benchmark

    bench = load_benchmark("planted_falsify")
    assert bench.check_docs()
    record = json.loads(bench.DATA.read_text())
    # held out: neither the planted alpha nor the seed of the runs the planted language was looked at on
    looked_at = json.loads(DATA.read_text())["runs"]
    from quanta.lm.planted import parse_planted_spec

    seen = {(parse_planted_spec(r["spec"])[0].alpha, parse_planted_spec(r["spec"])[0].seed) for r in looked_at}
    for w in record["worlds"]:
        ps, _ = parse_planted_spec(w["spec"])
        assert ps.alpha not in {a for a, _ in seen} and ps.seed not in {s for _, s in seen}, w["spec"]
        assert (ps.alpha, ps.seed) == (w["planted_alpha"], w["seed"])
    # every (scaling, parts) pair of each seed, true exactly when the alphas agree
    for seed in record["seeds"]:
        pairs = [p for p in record["pairs"] if p["seed"] == seed]
        assert sorted((p["scaling_alpha"], p["parts_alpha"]) for p in pairs) == sorted(
            (a, b) for a in record["alphas"] for b in record["alphas"])
        for p in pairs:
            assert (p["kind"] == "true") == (p["scaling_alpha"] == p["parts_alpha"])
            w = next(w for w in record["worlds"] if w["seed"] == seed and w["planted_alpha"] == p["scaling_alpha"])
            if p["zipf_pred"] is not None:  # the prediction is the scaling world's alpha_N + 1
                assert abs(p["zipf_pred"] - (w["alpha_N"] + 1)) < 1e-9
