"""`quanta parts bench`: the match scores and their null, the planted truth of every kind of parts run, the bench
end to end on a tiny parity world and a tiny planted-language world, its refusals, and kill-then-resume."""

import json
import random

import numpy as np
import pandas as pd
import pytest

from conftest import kill_mid_run
from quanta.errors import QuantaError
from quanta.falsify import FalsifyConfig, verdict_of_sizes
from quanta.parts.bench import BenchConfig, bench_markdown, match_scores, run_bench, summarize_bench, unit_truth
from quanta.store import Run


def _membership(pairs):
    s, p = zip(*pairs)
    return pd.DataFrame({"sample": np.asarray(s, dtype=np.int64), "part": np.asarray(p, dtype=np.int32)})


# ---------------------------------------------------------------------------------------------- match scores
def test_a_perfect_partition_scores_one_and_beats_its_null():
    rng = np.random.default_rng(0)
    truth = rng.choice(5, size=400, p=[0.4, 0.25, 0.15, 0.12, 0.08])
    parts = (truth + 3) % 5  # the same partition under other names
    m = match_scores(_membership(enumerate(parts)), 400, truth, partition=True, n_perm=30, seed=1)
    assert m["f1"] == pytest.approx(1.0) and m["f1_unweighted"] == pytest.approx(1.0)
    assert m["ari"] == pytest.approx(1.0) and m["n_matched"] == 5 == m["n_quanta"]
    assert m["f1_null_q95"] < 0.5 and m["f1_p"] == pytest.approx(1 / 31) and m["ari_p"] == pytest.approx(1 / 31)
    # parts unrelated to the truth sit inside their null
    noise = rng.integers(0, 5, size=400)
    r = match_scores(_membership(enumerate(noise)), 400, truth, partition=True, n_perm=30, seed=1)
    assert r["f1"] < r["f1_null_q95"] + 0.05 and r["f1_p"] > 0.05 and abs(r["ari"]) < 0.05


def test_f1_by_hand_with_overlap_and_background():
    # samples 0-3 quantum 0, 4-5 quantum 1, 6-7 no quantum (background)
    truth = np.array([0, 0, 0, 0, 1, 1, -1, -1])
    # part 10 fires on 0,1,2 and background 6; part 11 on 4,5 and 0; part 12 everywhere
    pairs = [(0, 10), (1, 10), (2, 10), (6, 10), (4, 11), (5, 11), (0, 11)] + [(i, 12) for i in range(8)]
    m = match_scores(_membership(pairs), 8, truth, n_perm=5)
    # F1(10, q0) = 2*3/(4+4) = 0.75; F1(11, q1) = 2*2/(3+2) = 0.8; part 12: F1 with q0 = 2*4/(8+4) = 0.667
    assert m["f1"] == pytest.approx(4 / 6 * 0.75 + 2 / 6 * 0.8)
    assert m["f1_unweighted"] == pytest.approx((0.75 + 0.8) / 2)
    assert m["n_parts"] == 3 and m["n_quanta"] == 2 and m["n_matched"] == 2
    # only live parts count: without 10 and 11 the dense part is the best match of quantum 0
    m2 = match_scores(_membership(pairs), 8, truth, live_parts=[12], n_perm=5)
    assert m2["f1"] == pytest.approx(4 / 6 * 2 * 4 / 12)
    with pytest.raises(QuantaError, match="not a partition"):
        match_scores(_membership(pairs), 8, truth, partition=True, n_perm=2)
    with pytest.raises(QuantaError, match="8 samples"):
        match_scores(_membership(pairs), 8, truth[:5], n_perm=2)


# ---------------------------------------------------------------------------------------------- tiny worlds
PLANTED = "planted:skills=40,alpha=0.5,seed=7,docs=400,doc_len=96"
LM_SIZES = [[8, 1, 2, 3e-3], [16, 1, 2, 3e-3], [24, 1, 2, 3e-3], [32, 2, 2, 3e-3], [40, 2, 2, 3e-3],
            [48, 2, 2, 3e-3]]
TINY = {"qdg": {"n_samples": 300}, "sae": {"n_steps": 150, "n_latents": 32, "n_samples": 2000, "n_boot": 20},
        "acts": {"n_samples": 300, "n_boot": 20}}
TINY_LM = {"qdg": {"n_tokens": 120, "n_boot": 20, "threshold": 3.0}, "sae": {"n_steps": 150, "n_latents": 32, "n_boot": 20},
           "acts": {"n_tokens": 150, "n_clusters": 6, "n_boot": 20}}


@pytest.fixture(scope="module")
def parity_world(tmp_path_factory):
    """A six-width cpu-tiny sweep (one seed) and its `parity analyze` run."""
    from quanta.parity import preset_config, run_parity
    from quanta.parity.analyze import run_parity_analysis

    root = tmp_path_factory.mktemp("bench_parity")
    run_parity(preset_config("cpu-tiny", {"seeds": [3], "steps": 500, "widths": [4, 6, 8, 12, 24, 48]}), root / "run")
    run_parity_analysis(root / "run", root / "analyze")
    return root / "analyze"


@pytest.fixture(scope="module")
def lm_world(tmp_path_factory):
    """A six-size tiny suite on a planted corpus, its losses on the test split and their `lm analyze` run."""
    from quanta.lm.analyze import AnalyzeConfig, analyze_losses
    from quanta.lm.losses import LossesConfig, compute_losses
    from quanta.lm.train import SuiteConfig, train_suite

    root = tmp_path_factory.mktemp("bench_lm")
    train_suite(SuiteConfig(preset="tiny", corpus=PLANTED, sizes=LM_SIZES, steps=40), root / "suite", device="cpu")
    compute_losses(LossesConfig(suite=(str(root / "suite"),), corpus=PLANTED + ":test", max_docs=40),
                   root / "losses", device="cpu")
    analyze_losses(root / "losses", root / "analyze", AnalyzeConfig(n_boot=20))
    return root / "analyze"


def _parity_argv(world):
    sets = [f"--set={m}.{k}={v}" for m, o in TINY.items() for k, v in o.items()]
    return ["parts", "bench", "--world", str(world), "--seeds", "0,1", *sets, "--n-perm", "10"]


@pytest.fixture(scope="module")
def parity_bench(parity_world, tmp_path_factory):
    """The bench run once, uninterrupted, on the parity world (two seeds, tiny method settings)."""
    from conftest import run_cli

    out = tmp_path_factory.mktemp("bench_ref") / "bench"
    code, stdout, err = run_cli(*_parity_argv(parity_world), "--out", out)
    assert code == 0, err
    return out, stdout


def test_bench_on_a_parity_world_scores_every_method(parity_bench):
    out, stdout = parity_bench
    assert "By match F1:" in stdout and f"wrote {out}" in stdout
    run = Run.open(out, command="parts bench")
    scores = run.read_table("scores")
    assert len(scores) == 6 and set(scores["method"]) == {"qdg", "sae", "acts"}
    assert (scores["zipf_true"] == 1.4).all() and scores["world"].eq("parity-a0.4").all()
    # every unit is a real parts run and a real closing test, and its score is recomputed from them
    for _, r in scores.iterrows():
        parts = Run.open(r["parts_dir"])
        fals = Run.open(r["falsify_dir"], command="falsify")
        assert fals.summary["verdict"] == r["verdict"] and fals.summary["parts_run"] == r["parts_dir"]
        truth, info = unit_truth(r["parts_dir"])
        assert np.array_equal(truth, parts.read_table("samples")["task"].to_numpy())
        assert info["partition"] == (r["method"] != "sae") and info["shift"] == 0
        table = parts.read_table("parts")
        again = match_scores(parts.read_table("membership"), len(truth), truth,
                             live_parts=table.loc[table["live"], "part"], partition=info["partition"], n_perm=10,
                             seed=int(r["seed"]))
        assert again["f1"] == r["f1"] and again["f1_null"] == r["f1_null"] and 0 <= r["f1"] <= 1
        assert r["exponent_error"] == pytest.approx(r["exponent"] - 1.4)
        # the reference: the planted tasks of the same samples as parts, decided by the same test and alpha_N
        sizes = np.bincount(truth[truth >= 0])
        ref = verdict_of_sizes(np.sort(sizes[sizes > 0])[::-1], fals.summary["alpha_N"], fals.summary["alpha_N_se"],
                               FalsifyConfig(n_boot=Run.open(out).config["falsify_n_boot"], seed=int(r["seed"])))
        assert r["oracle_verdict"] == ref["verdict"] and r["oracle_test_exponent"] == ref["zipf_measured"]
        assert r["oracle_verdict"] in ("consistent", "inconsistent", "undetermined", "not a power law")
    # partitions carry an ARI; the SAE's overlapping features do not
    assert scores.loc[scores["method"] == "sae", "ari"].isna().all()
    assert scores.loc[scores["method"] != "sae", "ari"].notna().all()
    # acts clusters QDG's own samples (same draw, same loss filter): only the rows differ
    q = Run.open(scores.query("method == 'qdg' and seed == 0")["parts_dir"].iloc[0]).read_table("samples")
    a = Run.open(scores.query("method == 'acts' and seed == 0")["parts_dir"].iloc[0]).read_table("samples")
    assert np.array_equal(q["task"].to_numpy(), a["task"].to_numpy())
    s = run.summary
    assert s["ranking_f1"]["best"] in ("qdg", "sae", "acts") and s["ranking_f1"]["n_paired"] == 2
    methods = run.read_table("methods")
    assert methods["n_units"].tolist() == [2, 2, 2]
    assert (methods["n_oracle_consistent"] + methods["n_oracle_inconsistent"]
            + methods["n_oracle_not_power_law"] <= 2).all()
    assert "truth as parts" in stdout
    assert (run.path / "figures" / "bench.png").exists()


@pytest.mark.slow
def test_bench_on_a_planted_language_world(lm_world, tmp_path):
    cfg = BenchConfig(worlds=(str(lm_world),), seeds=(0,), max_docs=40, n_perm=5, options=TINY_LM)
    summary, scores = run_bench(cfg, tmp_path / "bench")
    assert len(scores) == 3 and scores["world"].eq("planted-a0.5-s7").all()
    assert (scores["zipf_true"] == 1.5).all()
    from quanta.lm.corpus import load_corpus
    from quanta.lm.models import load_tokenizer
    from quanta.lm.planted import row_skills

    for _, r in scores.iterrows():
        run = Run.open(r["parts_dir"])
        truth, info = unit_truth(r["parts_dir"])
        # QDG's rows are predicted tokens; an activation at token t is scored by the skill of token t+1
        rows = run.read_table("tokens" if r["method"] == "qdg" else "samples")
        assert info["shift"] == (0 if r["method"] == "qdg" else 1)
        docs = load_corpus(run.config["corpus"], max_docs=40)
        tok = load_tokenizer(run.config["model"])
        ids = {d.doc: tok(d.text)["input_ids"] for d in docs}
        lengths = {d: len(v) for d, v in ids.items()}
        # the rows' positions index the same tokenisation the planted labels are read from
        assert all(ids[d][p] == t for d, p, t in zip(rows["doc"], rows["pos"], rows["token_id"]))
        nxt = rows.assign(pos=rows["pos"] + info["shift"])
        ok = nxt["pos"].to_numpy() < nxt["doc"].map(lengths).to_numpy()
        want = np.full(len(rows), -1)
        want[ok] = row_skills(nxt[ok], docs, tok, run.config["corpus"])
        assert np.array_equal(truth, np.where(want > 0, want, -1))
        assert 0 < r["share_in_quanta"] < 1  # background words are no quantum
        # the world is the suite's largest model, read on the analysis's corpus
        assert run.config["model"].endswith("neox-d48-l2") and run.config["corpus"] == PLANTED + ":test"
    assert "| qdg |" in bench_markdown(summary)
    # the losses run and the suite the world was read from are inputs: --out may not be either (even with force)
    for read in ("losses", "suite"):
        with pytest.raises(QuantaError, match=f"is the input {lm_world.parent / read}"):
            run_bench(cfg, lm_world.parent / read, force=True)
        assert (lm_world.parent / read / "manifest.json").is_file()
    # a method that cannot run on a world is a result: recorded with its message, and the bench goes on
    strict = {**TINY_LM, "qdg": {**TINY_LM["qdg"], "threshold": 1e-9}}
    cfg2 = BenchConfig(worlds=(str(lm_world),), methods=("qdg", "acts"), seeds=(0,), max_docs=40, n_perm=5,
                       options=strict)
    summary2, scores2 = run_bench(cfg2, tmp_path / "bench2")
    q = scores2.set_index("method")
    assert q.loc["qdg", "verdict"] == "error" and "no token has loss below" in q.loc["qdg", "error"]
    assert q.loc["acts", "verdict"] != "error" and np.isfinite(q.loc["acts", "f1"])
    assert {r["method"]: r["n_failed"] for r in summary2["methods"]} == {"qdg": 1, "acts": 0}
    assert "| qdg | 1 (1 failed) |" in bench_markdown(summary2)


@pytest.mark.parametrize("args, message", [
    (("--world", "{parity_run}"), "a bench world is a scaling analysis"),
    (("--world", "{parity_world}", "--methods", "qdg,pca"), "methods"),
    (("--world", "{parity_world}", "--seeds", "0,x"), "comma-separated list of integers"),
    (("--world", "{parity_world}", "--set", "n_steps=5"), "name the method"),
    (("--world", "{parity_world}", "--set", "sae.n_stepz=5"), "n_stepz is not a setting of SAEParityConfig"),
    (("--world", "{parity_world}", "--set", "sae.run_dir=x"), "set by the bench"),
    (("--world", "{parity_world}", "--set", "qdg.n_clusters=0"), "n_clusters"),
    (("--world", "{parity_world}", "--resume", "--force"), "contradict"),
    (("--world", "{parity_world}", "--set", "sae.n_boot=10000000000"), "sae.n_boot=10000000000"),
])
def test_bench_bad_input_is_one_line_and_leaves_nothing(parity_world, tmp_path, cli_run, args, message):
    parity_run = Run.open(parity_world).summary["run_dir"]
    args = [a.format(parity_world=parity_world, parity_run=parity_run) for a in args]
    out = tmp_path / "bad"
    code, _, err = cli_run("parts", "bench", *args, "--out", out)
    assert code == 2 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_a_world_without_planted_truth_is_refused(tmp_path):
    from quanta.parts.bench import bench_world

    losses = Run.create(tmp_path / "losses", command="lm losses", config={"corpus": "stdlib:test", "suite": []})
    losses.finish({})
    an = Run.create(tmp_path / "an", command="lm analyze", config={"losses_dir": str(tmp_path / "losses")})
    an.finish({})
    with pytest.raises(QuantaError, match="no planted quanta"):
        bench_world(tmp_path / "an")


@pytest.mark.slow
def test_bench_resumes_after_sigkill(parity_world, parity_bench, tmp_path):
    """Killed inside a unit (after a parts run or a closing test was written), the resumed bench gives the same
    scores as an uninterrupted one; only wall times and the units' paths differ."""
    from conftest import run_cli

    ref, _ = parity_bench
    argv = _parity_argv(parity_world)
    killed = tmp_path / "killed"
    kill_mid_run(argv, killed, ["units/*/sae-s0/parts/membership.parquet", "units/*/qdg-s1/falsify/manifest.json"],
                 random.Random(4))
    code, _, err = run_cli(*argv, "--out", killed, "--resume")
    assert code == 0, err
    timing = ["seconds", "unit_seconds", "parts_dir", "falsify_dir"]
    a = pd.read_parquet(killed / "scores.parquet").drop(columns=timing)
    b = pd.read_parquet(ref / "scores.parquet").drop(columns=timing)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    sa, sb = (json.loads((p / "summary.json").read_text()) for p in (killed, ref))
    assert sa["ranking_f1"] == sb["ranking_f1"]


def test_summary_ranks_and_leads_by_paired_units():
    rows = []
    for w in ("a", "b"):
        for s in range(3):
            for m, f1, err in (("qdg", 0.6, 0.2), ("sae", 0.5, -0.1), ("acts", 0.3, 0.4)):
                rows.append({"world": w, "domain": "parity", "zipf_true": 1.5, "method": m, "seed": s,
                             "f1": f1 + 0.01 * s, "f1_unweighted": f1, "f1_null": 0.1, "f1_null_q95": 0.12,
                             "n_matched": 3, "n_quanta": 5, "ari": 0.5 if m != "sae" else np.nan,
                             "exponent": 1.5 + err, "exponent_error": err, "oracle_exponent": 1.5,
                             "verdict": "consistent" if m == "sae" else "inconsistent", "seconds": 1.0})
    summary, methods = summarize_bench(pd.DataFrame(rows))
    r = summary["ranking_f1"]
    assert r["order"] == ["qdg", "sae", "acts"] and r["lead"] == pytest.approx(0.1)
    assert r["lead_ci"][0] == pytest.approx(0.1) and r["n_paired"] == 6
    e = summary["ranking_exponent"]
    assert e["order"] == ["sae", "qdg", "acts"] and e["lead"] == pytest.approx(0.1)
    sae = methods.set_index("method").loc["sae"]
    assert sae["n_consistent"] == 6 and sae["exponent_bias"] == pytest.approx(-0.1) and np.isnan(sae["ari"])
    assert methods.set_index("method").loc["qdg", "n_inconsistent"] == 6
    table = [line for line in bench_markdown(summary).splitlines() if line.startswith("|")]
    assert len(table) == 5 and len({line.replace("\\|", "").count("|") for line in table}) == 1
    assert "| 3.0 of 5.0 |" in table[2]


def test_report_shows_the_scoreboard(parity_bench, tmp_path, cli_run):
    out, _ = parity_bench
    code, _, err = cli_run("report", out, *sorted(out.glob("units/*/sae-s0/parts")), "--out", tmp_path / "rep")
    assert code == 0, err
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "Parts: other decompositions and the scoreboard" in html and "Scoreboard: parts against" in html
    summary = json.loads((out / "summary.json").read_text())
    assert f"By match F1: {' &gt; '.join(summary['ranking_f1']['order'])}" in html
    assert "Method sae:" in html  # a single parts run gets its one-line digest
    # its top contexts are browsed part by part (largest first), each part's members in the order of their weight
    assert 'class="browser"' in html and "</strong> part " in html
    # and only there: its every-sample table stays a plain table, not a second flat context list
    assert "Tokens in context <span class=\"mut\">(samples)" not in html and html.count('class="browser"') == 1
    # the reference column: the counts of the truth's own verdicts, as the summary holds them
    assert "truth as parts: consistent / inconsistent / not a power law" in html
    r = summary["methods"][0]
    assert f"{r['n_oracle_consistent']} / {r['n_oracle_inconsistent']} / {r['n_oracle_not_power_law']}" in html


def test_a_method_that_fails_on_the_hard_world_is_not_ranked_on_the_easy_one_alone():
    """The ranking compares methods on the units all of them scored: a method failing every unit of the hard world
    (NaN scores) is not ranked best by a mean over the easy world only, and its failures are counted."""
    from quanta.parts.bench import _ranking

    rows = []
    for seed in range(3):
        rows += [dict(world="easy", seed=seed, method="qdg", f1=0.90),
                 dict(world="easy", seed=seed, method="sae", f1=0.85),
                 dict(world="hard", seed=seed, method="qdg", f1=0.30),
                 dict(world="hard", seed=seed, method="sae", f1=np.nan)]
    r = _ranking(pd.DataFrame(rows), "f1", higher=True, ci=0.9, n_boot=200, seed=0)
    assert r["best"] == "qdg" and r["lead"] == pytest.approx(0.05) and r["n_paired"] == r["n_units_ranked"] == 3
    assert r["failed_units"] == {"sae": 3} and r["means"] == {"qdg": pytest.approx(0.9), "sae": pytest.approx(0.85)}
