import json

import numpy as np
import pandas as pd
import pytest

from quanta.errors import QuantaError
from quanta.falsify import FalsifyConfig, falsify, falsify_side_by_side, scaling_from_models
from quanta.store import Run


def _scaling_run(path, alpha_N, ci, command="parity analyze", n_points=8, run_dir=None):
    run = Run.create(path, command=command, config={})
    run.finish({"alpha": 0.4, "alpha_N": alpha_N, "alpha_N_ci": list(ci), "alpha_N_n_points": n_points,
                "run_dir": run_dir})


def _parts_run(path, s, n_parts=40, n=20000, seed=0, command="qdg parity", run_dir=None, config=None):
    rng = np.random.default_rng(seed)
    p = np.arange(1, n_parts + 1, dtype=float) ** -s
    rows = []
    for k in (10, 20, n_parts):
        pk = p[:k] / p[:k].sum()
        sizes = np.sort(rng.multinomial(n, pk))[::-1]
        rows.append(pd.DataFrame({"n_clusters": k, "rank": np.arange(1, k + 1), "size": sizes}))
    run = Run.create(path, command=command, config=config or {})
    run.write_table("sizes", pd.concat(rows, ignore_index=True))
    run.finish({"n_clusters": n_parts, "cluster_count_rule": "stable_eigengap", "run_dir": run_dir})


def test_two_runs_planted_agreement_is_consistent(tmp_path):
    _scaling_run(tmp_path / "s", 0.4, (0.37, 0.43))
    _parts_run(tmp_path / "p", 1.4)
    summary, table = falsify(tmp_path / "s", tmp_path / "p", tmp_path / "f", FalsifyConfig(n_boot=300))
    assert summary["zipf_measured"] == pytest.approx(1.4, abs=0.05)
    assert summary["verdict"] == "consistent" and summary["p_value"] > 0.05 and summary["power_law_plausible"]
    assert summary["n_train_seeds"] == 1 and summary["cluster_count_rule"] == "stable_eigengap"
    assert (tmp_path / "f" / "figures" / "verdict.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "f" / "summary.json").read_text())
    for key in ("verdict", "p_value", "zipf_pred", "zipf_pred_ci", "zipf_measured", "zipf_measured_ci",
                "power_law_plausible", "n_train_seeds", "cluster_count_rule"):
        assert key in saved
    assert set(table.method) == {"scaling fit", "mle", "config"}


def test_verdict_of_sizes_is_the_two_run_decision(tmp_path):
    """Parts given only by their sizes get the very decision falsify makes from a parts run (the bench's
    reference row uses it): the same exponent, interval and verdict, consistent and inconsistent alike."""
    from quanta.falsify import verdict_of_sizes

    _parts_run(tmp_path / "p", 1.4)
    sizes = Run.open(tmp_path / "p").read_table("sizes").query("n_clusters == 40")["size"].to_numpy()
    for alpha, ci, want in ((0.4, (0.37, 0.43), "consistent"), (0.08, (0.06, 0.10), "inconsistent")):
        _scaling_run(tmp_path / f"s{alpha}", alpha, ci)
        cfg = FalsifyConfig(n_boot=300, seed=3)
        summary, _ = falsify(tmp_path / f"s{alpha}", tmp_path / "p", tmp_path / f"f{alpha}", cfg)
        ref = verdict_of_sizes(sizes, summary["alpha_N"], summary["alpha_N_se"], cfg)
        assert summary["verdict"] == ref["verdict"] == want
        assert ref["zipf_measured"] == summary["zipf_measured"] and ref["p_value"] == summary["p_value"]
        assert ref["zipf_pred_ci"] == summary["zipf_pred_ci"]


def test_two_runs_read_the_alpha_of_the_parts_model_from_an_analysis_of_several(tmp_path):
    """A parity analysis of several α has one α_N per α (``per_alpha``); the two-run test reads the one at the α of
    the model the parts come from, and refuses in one line when the parts do not say it or it was not analysed."""
    run = Run.create(tmp_path / "s", command="parity analyze", config={})
    run.finish({"run_dir": "/x/run", "alpha": [0.1, 0.4],
                "per_alpha": [{"alpha": 0.1, "alpha_N": 0.9, "alpha_N_ci": [0.85, 0.95], "alpha_N_n_points": 9},
                              {"alpha": 0.4, "alpha_N": 0.4, "alpha_N_ci": [0.37, 0.43], "alpha_N_n_points": 9}]})
    _parts_run(tmp_path / "p", 1.4, run_dir="/x/run")
    with pytest.raises(QuantaError, match=r"several α \(0.1, 0.4\).*does not say which α"):
        falsify(tmp_path / "s", tmp_path / "p", tmp_path / "f", FalsifyConfig(n_boot=100))
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    for alpha, want in ((0.4, "consistent"), (0.1, "inconsistent")):
        _parts_run(tmp_path / f"p{alpha}", 1.4, run_dir="/x/run")
        summary = json.loads((tmp_path / f"p{alpha}" / "summary.json").read_text())
        (tmp_path / f"p{alpha}" / "summary.json").write_text(json.dumps({**summary, "alpha": alpha}))
        out, _ = falsify(tmp_path / "s", tmp_path / f"p{alpha}", tmp_path / f"f{alpha}", FalsifyConfig(n_boot=300))
        assert out["verdict"] == want and out["alpha_N"] == pytest.approx(0.4 if alpha == 0.4 else 0.9)
        assert out["alpha_planted"] == alpha
    (tmp_path / "p0.4" / "summary.json").write_text(json.dumps({**summary, "alpha": 0.8}))
    with pytest.raises(QuantaError, match="analyzes α 0.1, 0.4, but the parts come from a model at α 0.8"):
        falsify(tmp_path / "s", tmp_path / "p0.4", tmp_path / "g", FalsifyConfig(n_boot=100))
    assert not (tmp_path / "g").exists()
    # side by side, the second parts run's α is checked (and its fit made) before anything is written: a finished
    # run in --out survives a refused --force
    Run.create(tmp_path / "g", command="falsify", config={}).finish({"verdict": "kept"})
    with pytest.raises(QuantaError, match="at α 0.8"):
        falsify_side_by_side(tmp_path / "s", [tmp_path / "p0.1", tmp_path / "p0.4"], tmp_path / "g",
                             FalsifyConfig(n_boot=100), force=True)
    with pytest.raises(QuantaError, match="rank_range applies"):
        falsify_side_by_side(tmp_path / "s", [tmp_path / "p0.1", tmp_path / "p"], tmp_path / "g",
                             FalsifyConfig(n_boot=100, rank_range=(1, 10)), force=True)
    assert Run.open(tmp_path / "g").summary == {"verdict": "kept"}


def test_two_runs_mismatch_is_inconsistent_and_thin_fits_are_undetermined(tmp_path):
    _scaling_run(tmp_path / "s", 0.08, (0.06, 0.10), command="lm analyze")
    _parts_run(tmp_path / "p", 1.8, command="qdg")
    summary, _ = falsify(tmp_path / "s", tmp_path / "p", tmp_path / "f", FalsifyConfig(n_boot=300))
    assert summary["verdict"] == "inconsistent" and summary["p_value"] < 1e-3 and summary["gap_se"] > 3
    # 5 model sizes for a 3-parameter law: 2 degrees of freedom, not enough to decide
    _scaling_run(tmp_path / "s5", 0.08, (0.06, 0.10), command="lm analyze", n_points=5)
    summary, _ = falsify(tmp_path / "s5", tmp_path / "p", tmp_path / "g", FalsifyConfig(n_boot=100))
    assert summary["verdict"] == "undetermined" and "degree" in summary["verdict_reason"]


def test_runs_from_different_worlds_are_refused(tmp_path):
    _scaling_run(tmp_path / "s", 0.4, (0.3, 0.5), run_dir="/a/parity")
    _parts_run(tmp_path / "lm", 1.4, command="qdg")
    with pytest.raises(QuantaError, match="different|parity analysis"):
        falsify(tmp_path / "s", tmp_path / "lm", tmp_path / "f")
    _parts_run(tmp_path / "p", 1.4, run_dir="/b/parity")
    with pytest.raises(QuantaError, match="analyzes"):
        falsify(tmp_path / "s", tmp_path / "p", tmp_path / "f")
    assert not (tmp_path / "f").exists()
    summary, _ = falsify(tmp_path / "s", tmp_path / "lm", tmp_path / "f", FalsifyConfig(n_boot=50),
                         allow_mismatch=True)
    assert summary["verdict"] in ("consistent", "inconsistent", "undetermined", "not a power law")


def test_lm_runs_of_another_suite_or_planted_world_are_refused(tmp_path):
    """An LM analysis of one suite against QDG on a model of another (or on another planted world) is refused."""
    spec = "planted:skills=50,alpha={a},seed=2"
    for name in ("A", "B"):
        (tmp_path / name / "models" / "m").mkdir(parents=True)

    def world(tag, suite, a):
        losses = Run.create(tmp_path / f"losses{tag}", command="lm losses",
                            config={"suite": [str(tmp_path / suite)], "corpus": spec.format(a=a) + ":test"})
        losses.finish({})
        run = Run.create(tmp_path / f"s{tag}", command="lm analyze", config={"losses_dir": str(losses.path)})
        run.finish({"alpha_N": 0.4, "alpha_N_ci": [0.3, 0.5], "alpha_N_n_points": 8})
        _parts_run(tmp_path / f"p{tag}", 1.4, command="qdg",
                   config={"model": str(tmp_path / suite / "models" / "m"), "corpus": spec.format(a=a) + ":test"})

    world("A", "A", 0.3)
    world("B", "B", 0.8)
    world("C", "A", 0.8)  # a model of suite A read on another planted world
    cfg = FalsifyConfig(n_boot=50)
    summary, _ = falsify(tmp_path / "sA", tmp_path / "pA", tmp_path / "fA", cfg)  # the same world passes
    assert summary["verdict"] in ("consistent", "inconsistent", "not a power law")
    with pytest.raises(QuantaError, match="another suite") as exc:
        falsify(tmp_path / "sA", tmp_path / "pB", tmp_path / "f", cfg)
    assert "--allow-mismatch" in exc.value.one_line()
    with pytest.raises(QuantaError, match="another planted world"):
        falsify(tmp_path / "sA", tmp_path / "pC", tmp_path / "f", cfg)
    assert not (tmp_path / "f").exists()
    summary, _ = falsify(tmp_path / "sA", tmp_path / "pB", tmp_path / "f", cfg, allow_mismatch=True)
    assert summary["zipf_pred"] == pytest.approx(1.4)


def test_falsify_cli_bad_input_is_one_line(tmp_path, cli_run):
    _scaling_run(tmp_path / "s", 0.4, (0.3, 0.5))
    code, _, err = cli_run("falsify", "--scaling", tmp_path / "s", "--parts", tmp_path / "s", "--out", tmp_path / "f")
    assert code == 2 and err.count("\n") == 1 and "qdg" in err
    assert not (tmp_path / "f").exists()
    code, _, err = cli_run("falsify", "--out", tmp_path / "g")
    assert code == 2 and "nothing to falsify" in err
    with pytest.raises(QuantaError):
        FalsifyConfig(ci=1.5)
    with pytest.raises(QuantaError):
        FalsifyConfig(n_clusters="oracle")


def test_falsify_cli_matches_library(tmp_path, cli_run):
    _scaling_run(tmp_path / "s", 0.4, (0.33, 0.47))
    _parts_run(tmp_path / "p", 1.4)
    code, out, err = cli_run("falsify", "--scaling", tmp_path / "s", "--parts", tmp_path / "p", "--out",
                             tmp_path / "f", "--n-boot", "200")
    assert code == 0, err
    lib, _ = falsify(tmp_path / "s", tmp_path / "p", tmp_path / "g", FalsifyConfig(n_boot=200))
    cli = json.loads((tmp_path / "f" / "summary.json").read_text())
    assert cli["zipf_measured"] == pytest.approx(lib["zipf_measured"]) and cli["verdict"] in out
    # the verdict line's p-value is that of d = 0, told apart from the margin test's p in the reason
    assert "p of d = 0: " in out and "p = " not in out.split("verdict:")[1].splitlines()[0]


def test_scaling_pools_seeds_with_a_label_free_range():
    rows = []
    rng = np.random.default_rng(0)
    widths = [4, 6, 8, 12, 18, 26, 38, 56, 84, 128]
    for seed, a in zip((0, 1, 2), (0.38, 0.40, 0.42)):
        for i, w in enumerate(widths):
            n = 300.0 * w
            loss = min(0.6931, 0.02 + 9 * n ** -a) * (1 + rng.normal(0, 0.005))
            rows.append(dict(model=len(rows), seed=seed, width=w, n_params=n, D=0, final_loss=loss, alpha=0.4))
    side = scaling_from_models(pd.DataFrame(rows))
    assert len(side.per_seed) == 3 and side.estimate.n_units == 3
    assert side.estimate.value == pytest.approx(0.40, abs=0.03)
    assert side.per_seed["n_points"].min() >= 6
    with pytest.raises(QuantaError, match="degree"):
        scaling_from_models(pd.DataFrame(rows).query("width >= 38"))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    from quanta.parity import preset_config, run_parity

    root = tmp_path_factory.mktemp("fals")
    cfg = preset_config("cpu-tiny", {"seeds": [5, 6], "steps": 800, "widths": [4, 6, 8, 12, 16, 24, 32, 48]})
    run_parity(cfg, root / "run")
    return root / "run"


@pytest.mark.slow
def test_end_to_end_uses_no_label(small_run, tmp_path, cli_run):
    """falsify RUN_DIR: every seed a replicate; a planted wrong label table leaves the verdict as it was."""
    cfg = ["--n-samples", "300", "--n-draws", "2", "--n-boot", "100"]
    code, out, err = cli_run("falsify", small_run, "--out", tmp_path / "f", *cfg)
    assert code == 0, err
    s = json.loads((tmp_path / "f" / "summary.json").read_text())
    assert s["verdict"] in out and s["n_train_seeds"] == 2 and s["n_replicates"] == 4
    assert s["zipf_true"] == pytest.approx(1.4) and s["cluster_count_rule"] == "stability"
    # the shipped rates were measured for this kind of verdict (end to end, QDG parts, seeds pooled)
    assert s["calibration_applies"] is True and "no measured error rate" not in s["calibration"]
    reps = Run.open(tmp_path / "f").read_table("replicates")
    assert sorted(reps["seed"].unique().tolist()) == [5, 6]
    for step in ("scaling", "parts"):
        assert Run.open(tmp_path / "f" / step).manifest["status"] == "complete"
    # every exponent says which ranks it was fitted over, per replicate
    assert s["zipf_envelope_ranks"].startswith("1\u2013") and "replicates, their mean" in s["zipf_envelope_ranks"]
    assert f"in each of {s['n_replicates']} replicates" in s["zipf_measured_ranks"]
    # each nested run records the sub-command that reproduces it, not the falsify command line
    assert Run.open(tmp_path / "f" / "scaling").manifest["argv"].startswith("quanta parity analyze ")
    assert Run.open(tmp_path / "f" / "parts").manifest["argv"].startswith("quanta qdg parity ")
    code, _, err = cli_run("falsify", small_run, "--out", tmp_path / "f", "--resume", *cfg)
    assert code == 2 and "finished" in err

    # plant a wrong label table: task ids of the evaluation and the task frequencies shuffled
    import shutil

    wrong = tmp_path / "wrong"
    shutil.copytree(small_run, wrong)
    rng = np.random.default_rng(1)
    for name, col in (("eval", "task"), ("tasks", "p")):
        path = wrong / f"{name}.parquet"
        df = pd.read_parquet(path)
        df[col] = rng.permutation(df[col].to_numpy())
        df.to_parquet(path)
    code, _, err = cli_run("falsify", wrong, "--out", tmp_path / "g", *cfg)
    assert code == 0, err
    w = json.loads((tmp_path / "g" / "summary.json").read_text())
    for key in ("verdict", "p_value", "zipf_pred", "zipf_measured", "zipf_measured_ci", "n_clusters_by_replicate"):
        assert w[key] == s[key], key


@pytest.mark.slow
def test_rank_range_reaches_the_envelope(small_run):
    from quanta.falsify import parts_replicates

    reps = parts_replicates(small_run, config=FalsifyConfig(n_draws=1, n_samples=200, n_boot=20, rank_range=(1, 3)))
    assert len(reps) == 2 and (reps["envelope_lo"] == 1).all() and (reps["envelope_hi"] == 3).all()


@pytest.mark.slow
def test_each_training_seed_draws_its_own_samples(small_run, monkeypatch):
    """The pooled error counts the draw among the sources of the spread between seeds, so each seed's model must
    filter its own candidate samples (one draw shared by every seed left its effect out of that spread)."""
    import quanta.qdg.parity as qp
    from quanta.falsify import parts_replicates

    seen = []
    select = qp.select_low_loss

    def spy(model, tasks, n, **kw):
        out = select(model, tasks, n, **kw)
        seen.append((kw["seed"], out[0].numpy().copy()))
        return out

    monkeypatch.setattr(qp, "select_low_loss", spy)
    reps = parts_replicates(small_run, config=FalsifyConfig(n_draws=2, n_samples=200, n_boot=20))
    assert len(reps) == len(seen) == 4 and reps["seed"].nunique() == 2
    assert len({s for s, _ in seen}) == 4
    (_, a), (_, b) = seen[0], seen[2]  # the two seeds' first draws
    assert reps["draw"].iloc[0] == reps["draw"].iloc[2] == 0 and reps["seed"].iloc[0] != reps["seed"].iloc[2]
    assert (a[: len(b)] == b[: len(a)]).all(axis=1).mean() < 0.2


def _no_parts_for_seed(monkeypatch, seed):
    """QDG finds no parts on the models of one training seed (as when it learned too little)."""
    import quanta.qdg.parity as qp

    decompose = qp.decompose_parity

    def failing(model, tasks, cfg, *, train_seed, **kw):
        if train_seed == seed:
            raise QuantaError("only 3 low-loss samples among 100000 drawn", "train longer")
        return decompose(model, tasks, cfg, train_seed=train_seed, **kw)

    monkeypatch.setattr(qp, "decompose_parity", failing)


@pytest.mark.slow
def test_a_seed_whose_decomposition_fails_is_a_replicate_without_parts(small_run, monkeypatch):
    """One badly trained seed gives replicates without an exponent, with the reason; it no longer aborts the test
    of the other seeds."""
    from quanta.falsify import parts_replicates, verdict_from_replicates

    _no_parts_for_seed(monkeypatch, 6)
    cfg = FalsifyConfig(n_draws=1, n_samples=200, n_boot=20)
    reps = parts_replicates(small_run, config=cfg)
    bad = reps[reps["seed"] == 6].iloc[0]
    assert len(reps) == 2 and np.isnan(bad["exponent"]) and "low-loss samples" in bad["error"]
    assert reps.loc[reps["seed"] == 5, "error"].isna().all()
    alpha = scaling_from_models(Run.open(small_run).read_table("models")).estimate
    out = verdict_from_replicates(alpha, reps, config=cfg)
    assert out["parts_estimate"]["n_units"] == 1 and out["power_law_plausible"] is False


@pytest.mark.slow
def test_end_to_end_goes_on_when_the_first_seed_finds_no_parts(small_run, tmp_path, monkeypatch):
    """The first training seed learned too little: the nested qdg parity run takes the next seed, the verdict
    comes from the seed that has parts, and the count ignores the failed replicate."""
    from quanta.falsify import falsify_parity_run

    _no_parts_for_seed(monkeypatch, 5)
    summary, _ = falsify_parity_run(small_run, tmp_path / "f", FalsifyConfig(n_draws=1, n_samples=200, n_boot=20))
    parts = Run.open(tmp_path / "f" / "parts")
    models = Run.open(small_run).read_table("models")
    assert int(models.loc[models["model"] == parts.config["model_id"], "seed"].iloc[0]) == 6
    assert summary["n_replicates"] == 1 and summary["n_replicates_without_fit"] == 1
    assert summary["n_clusters"] == max(summary["n_clusters_by_replicate"]) > 0


def test_nested_runs_record_commands_that_reproduce_them(tmp_path, monkeypatch):
    """The command lines falsify records for its scaling/ and parts/ runs make the same library calls, with the
    same configs, as falsify makes."""
    import quanta.parity.analyze as PA
    import quanta.qdg.parity as QP
    from quanta.cli import cli
    from quanta.falsify import nested_commands
    from quanta.parity.analyze import AnalyzeConfig
    from quanta.qdg.parity import ParityQDGConfig

    qcfg = ParityQDGConfig(run_dir=str(tmp_path / "run"), model_id=17, n_samples=300, n_boot=100, seed=3007,
                           n_clusters="stable_eigengap")
    seen = {}
    monkeypatch.setattr(QP, "run_qdg_parity", lambda cfg, out, **kw: seen.setdefault("parts", (cfg, str(out))) and {})
    monkeypatch.setattr(PA, "run_parity_analysis",
                        lambda run_dir, out, config=None, **kw: seen.setdefault("scaling", (config, str(out))) and {})
    argvs = nested_commands(tmp_path / "run", tmp_path / "f", qcfg)
    for name, argv in argvs.items():
        assert argv[0] == "quanta"
        try:
            cli.main(args=argv[1:], prog_name="quanta", standalone_mode=False)
        except Exception:  # the patched calls return nothing for the command to print
            pass
    assert seen["parts"] == (qcfg, str(tmp_path / "f" / "parts"))
    assert seen["scaling"][1] == str(tmp_path / "f" / "scaling")
    assert seen["scaling"][0] in (None, AnalyzeConfig())


def test_replicate_ranks_are_stated_as_fitted():
    from quanta.falsify import _replicate_ranks

    lo, hi = pd.Series([1, 1, 1, None]), pd.Series([12, 26, 53, None])
    assert (_replicate_ranks(lo, hi, "k", "the rule's count", mean=True)
            == "1\u2013k (the rule's count k: 12\u201353) in each of 3 replicates, their mean")
    assert _replicate_ranks(pd.Series([100, 100]), pd.Series([1000, 1000]), "k", "x") == "100\u20131000 in each of 2 replicates"
    assert _replicate_ranks(pd.Series([None]), pd.Series([None]), "k", "x") is None


@pytest.mark.slow
def test_end_to_end_resumes_after_sigkill(small_run, tmp_path, cli_run):
    """SIGKILL at a seeded moment inside `falsify RUN_DIR` (while a step runs, after the run wrote part of its work),
    then --resume: the tables equal an uninterrupted run's, bit for bit."""
    import random

    from conftest import kill_mid_run

    cfg = ["falsify", small_run, "--n-samples", "300", "--n-draws", "1", "--n-boot", "50"]
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    code, _, err = cli_run(*cfg, "--out", ref)
    assert code == 0, err
    kill_mid_run(cfg, killed, ["scaling/manifest.json", "scaling/summary.json", "parts/manifest.json",
                               "parts/summary.json"], random.Random(0))
    code, _, err = cli_run(*cfg, "--out", killed, "--resume")
    assert code == 0, err
    for name in ("scaling_fits", "replicates", "verdict", "scaling/exponents", "parts/sizes", "parts/clusters"):
        pd.testing.assert_frame_equal(pd.read_parquet(killed / f"{name}.parquet"),
                                      pd.read_parquet(ref / f"{name}.parquet"), check_exact=True, obj=name)
    want, got = (json.loads((d / "summary.json").read_text()) for d in (ref, killed))
    for key in ("verdict", "p_value", "zipf_measured", "alpha_N_per_seed"):
        assert got[key] == want[key], key


def _sae_parts_run(path, s, n_parts=40, n=20000, seed=0, run_dir=None):
    """A `quanta parts` run: one set of parts, counts drawn from p ∝ r^-s, plus a dead and a dense part."""
    from quanta.parts.law import parts_table

    rng = np.random.default_rng(seed)
    p = np.arange(1, n_parts + 1, dtype=float) ** -s
    n_rows = 2 * n  # firings spread over twice as many rows, so no real part is dense
    counts = np.concatenate([rng.multinomial(n, p / p.sum()), [0, n_rows]])  # a dead part and a dense one
    run = Run.create(path, command="parts sae", config={})
    run.write_table("parts", parts_table(counts, n_rows))
    run.finish({"method": "sae", "run_dir": run_dir})


def test_two_runs_read_a_parts_run(tmp_path):
    _scaling_run(tmp_path / "s", 0.4, (0.37, 0.43), run_dir="/a/parity")
    _sae_parts_run(tmp_path / "p", 1.4, run_dir="/a/parity")
    summary, _ = falsify(tmp_path / "s", tmp_path / "p", tmp_path / "f", FalsifyConfig(n_boot=300))
    assert summary["zipf_measured"] == pytest.approx(1.4, abs=0.05)
    assert summary["n_clusters"] == 40 and summary["cluster_count_rule"] == "live parts"  # dead, dense left out
    assert summary["verdict"] == "consistent"
    _sae_parts_run(tmp_path / "q", 1.8, run_dir="/a/parity")
    summary, _ = falsify(tmp_path / "s", tmp_path / "q", tmp_path / "g", FalsifyConfig(n_boot=300))
    assert summary["verdict"] == "inconsistent"
    with pytest.raises(QuantaError, match="one set of 40 live parts"):
        falsify(tmp_path / "s", tmp_path / "p", tmp_path / "h", FalsifyConfig(n_clusters=20))
    _sae_parts_run(tmp_path / "lm", 1.4)  # no run_dir: parts of a language model
    with pytest.raises(QuantaError, match="parity analysis"):
        falsify(tmp_path / "s", tmp_path / "lm", tmp_path / "h")
    assert not (tmp_path / "h").exists()


def test_several_decompositions_side_by_side(tmp_path, cli_run):
    """`--parts A --parts B`: one verdict per parts run, as each alone would get, in one table and one figure."""
    _scaling_run(tmp_path / "s", 0.4, (0.35, 0.45))
    _parts_run(tmp_path / "a", 1.4, seed=1)  # the predicted law
    _parts_run(tmp_path / "b", 2.4, seed=2)  # far from it
    code, out, err = cli_run("falsify", "--scaling", tmp_path / "s", "--parts", tmp_path / "a", "--parts",
                             tmp_path / "b", "--out", tmp_path / "f", "--n-boot", "100")
    assert code == 0, err
    run = Run.open(tmp_path / "f", command="falsify")
    table = run.read_table("verdicts")
    assert list(table["parts_run"]) == [str(tmp_path / "a"), str(tmp_path / "b")]
    alone = [falsify(tmp_path / "s", tmp_path / p, tmp_path / f"alone-{p}", FalsifyConfig(n_boot=100))[0]
             for p in ("a", "b")]
    assert list(table["verdict"]) == [s["verdict"] for s in alone]
    assert table["zipf_measured"].tolist() == pytest.approx([s["zipf_measured"] for s in alone])
    assert alone[1]["verdict"] == "inconsistent" and alone[0]["verdict"] != "inconsistent"
    assert (tmp_path / "f" / "figures" / "side_by_side.png").exists() and (tmp_path / "f" / "parts-1").is_dir()
    # refused before anything is written
    code, _, err = cli_run("falsify", "--scaling", tmp_path / "s", "--parts", tmp_path / "a", "--parts",
                           tmp_path / "a", "--out", tmp_path / "g")
    assert code == 2 and "twice" in err and not (tmp_path / "g").exists()
    code, _, err = cli_run("falsify", "--scaling", tmp_path / "s", "--parts", tmp_path / "a", "--parts",
                           tmp_path / "s", "--out", tmp_path / "g")
    assert code == 2 and not (tmp_path / "g").exists()


def test_each_verdict_says_whether_the_shipped_rates_were_measured_for_it(tmp_path):
    """The shipped error rates are for the end-to-end parity test with QDG parts (and, for an LM, two runs with
    `quanta qdg` parts): a two-run parity verdict, or one on SAE parts, quotes them as not its own."""
    from quanta.calibrate.shipped import calibration_sentence

    _scaling_run(tmp_path / "s", 0.4, (0.37, 0.43), run_dir="/a/parity")
    _parts_run(tmp_path / "q", 1.4, run_dir="/a/parity")
    _sae_parts_run(tmp_path / "p", 1.4, run_dir="/a/parity")
    qdg, _ = falsify(tmp_path / "s", tmp_path / "q", tmp_path / "fq", FalsifyConfig(n_boot=100))
    sae, _ = falsify(tmp_path / "s", tmp_path / "p", tmp_path / "fp", FalsifyConfig(n_boot=100))
    for s in (qdg, sae):
        assert s["calibration"].startswith(calibration_sentence()) and s["calibration_applies"] is False
        assert "this verdict from one scaling run and one parts run has no measured error rate" in s["calibration"]
    assert "parts sae" not in qdg["calibration"] and "nor do parts from `quanta parts sae`" in sae["calibration"]
    saved = json.loads((tmp_path / "fp" / "summary.json").read_text())
    assert saved["calibration_applies"] is False
    # an LM verdict: the planted-language rates are for `quanta qdg` parts
    from quanta.falsify import _calibration, _calibration_applies

    assert "no measured error rate" not in _calibration("lm", two_runs=True, parts_command="qdg")
    assert "from `quanta parts sae` has no measured error rate" in _calibration("lm", two_runs=True,
                                                                             parts_command="parts sae")
    assert _calibration_applies("lm", True, "qdg") and not _calibration_applies("lm", True, "parts acts")
