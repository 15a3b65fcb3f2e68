"""Watching parts form (quanta.formation): both tests against their permutation null, on planted worlds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quanta.errors import QuantaError
from quanta.formation import formation_answers, part_formation, plot_formation


def planted_world(seed: int, *, together: bool = True, ordered: bool = True, n_parts: int = 20, n_tokens: int = 600,
                  alpha: float = 0.5, share_unlearned: float = 0.2):
    """Parts with Zipf sizes; each part's tokens learned around one log10 step (``together``), frequent parts
    first (``ordered``). With neither, every token's step is drawn independently of its part."""
    rng = np.random.default_rng(seed)
    p = np.arange(1, n_parts + 1, dtype=float) ** -(alpha + 1)
    part = rng.choice(n_parts, size=n_tokens, p=p / p.sum())
    centre = 1.0 + 2.5 * (np.arange(n_parts) / n_parts if ordered else rng.permutation(n_parts) / n_parts)
    if together:
        y = centre[part] + rng.normal(0, 0.1, n_tokens)
    else:
        y = rng.uniform(1.0, 3.5, n_tokens)
    step = 10.0 ** y
    step[rng.random(n_tokens) < share_unlearned] = np.nan
    tid = rng.integers(0, 500, n_tokens)
    members = pd.DataFrame({"doc": np.arange(n_tokens) // 50, "pos": np.arange(n_tokens) % 50, "part": part,
                            "token_id": tid})
    learning = pd.DataFrame({"doc": members["doc"], "pos": members["pos"], "token_id": tid, "learning_step": step})
    return members, learning


def test_planted_world_is_learned_together_and_in_order():
    m, l_ = planted_world(0)
    r = part_formation(m, l_, n_perm=499, seed=1)
    assert r.spread_ratio < 0.3 and r.spread_p <= 0.01
    assert r.rho < -0.8 and r.rho_p <= 0.01
    assert r.n_tokens == 600 and r.n_matched == 600 and 400 < r.n_learned < 560
    assert r.x_name == "learning_step" and r.parts["n_members"].sum() == 600
    answers = formation_answers(r)
    assert [a["answer"].split()[0] for a in answers] == ["supported", "supported"]
    fig = plot_formation(r, title="planted")
    assert len(fig.axes) == 3


def test_tied_part_medians_leave_the_order_untested_for_what_it_is():
    """Every tested part has the same median step: rho is undefined, which the answer says (it said fewer than 3
    parts were tested beside n_parts_tested = 4)."""
    part = np.repeat(np.arange(4), 15)
    step = np.tile(np.r_[np.full(8, 100.0), np.full(7, 1000.0)], 4)
    members = pd.DataFrame({"doc": np.arange(60) // 20, "pos": np.arange(60) % 20, "part": part,
                            "token_id": np.arange(60)})
    learning = members[["doc", "pos", "token_id"]].assign(learning_step=step)
    r = part_formation(members, learning, n_perm=99, seed=0)
    assert r.n_parts_tested == 4 and np.isnan(r.rho)
    assert formation_answers(r)[1]["answer"] == ("untested (the statistic is undefined: the tested parts' median "
                                                 "steps are all tied)")


def test_together_but_not_ordered_separates_the_two_tests():
    m, l_ = planted_world(2, ordered=False)
    r = part_formation(m, l_, n_perm=499, seed=0)
    assert r.spread_p <= 0.01
    assert r.rho_p > 0.01  # order by frequency was not planted


@pytest.mark.parametrize("seed", [3])
def test_shuffled_world_is_not_supported(seed):
    m, l_ = planted_world(seed, together=False)
    r = part_formation(m, l_, n_perm=499, seed=0)
    assert 0.85 < r.spread_ratio < 1.15 and r.spread_p > 0.05


def test_the_null_rejects_at_its_level():
    """The error rate of both tests in worlds without the planted effect: p < 0.1 in at most 14 of 60 worlds (6
    expected at the level), and a test that never rejects fails too."""
    rej_s = rej_r = 0
    n = 60
    for seed in range(100, 100 + n):
        m, l_ = planted_world(seed, together=False, n_parts=12, n_tokens=240)
        r = part_formation(m, l_, n_perm=99, seed=seed)
        rej_s += r.spread_p < 0.1
        rej_r += r.rho_p < 0.1
    # binomial(60, 0.1): mean 6, P(X > 14) < 0.001
    assert rej_s <= 14 and rej_r <= 14
    assert rej_s + rej_r >= 2  # a test that never rejects is no test


def test_overlapping_parts_give_each_token_to_its_heaviest_part():
    m, l_ = planted_world(4)
    other = m.assign(part=(m["part"] + 1) % 20, weight=0.2)
    r = part_formation(pd.concat([m.assign(weight=0.8), other]), l_, n_perm=199)
    r0 = part_formation(m, l_, n_perm=199)
    assert r.spread == pytest.approx(r0.spread) and r.n_tokens == r0.n_tokens


def test_bad_inputs_are_refused():
    m, l_ = planted_world(5)
    with pytest.raises(QuantaError, match="members: needs columns"):
        part_formation(m.drop(columns="part"), l_)
    with pytest.raises(QuantaError, match="learning_step"):
        part_formation(m, l_.drop(columns="learning_step"))
    with pytest.raises(QuantaError, match="tokenised the corpus differently"):
        part_formation(m, l_.assign(token_id=l_["token_id"] + 1))
    with pytest.raises(QuantaError, match="part\\(s\\) have at least"):
        part_formation(m, l_.assign(learning_step=np.nan))
    with pytest.raises(QuantaError, match="n_perm"):
        part_formation(m, l_, n_perm=5)


def test_summary_is_json_ready():
    import json

    m, l_ = planted_world(6, n_parts=3, n_tokens=60)
    r = part_formation(m, l_, n_perm=99)
    s = r.summary()
    json.dumps(s)
    assert all(v is None or not (isinstance(v, float) and math.isnan(v)) for v in s.values())


# ------------------------------------------------------------------------------------------ run directories, CLI
def _runs(root, *, corpus="stdlib:test", parts_corpus="stdlib:test", model="models/m"):
    """A `lm losses`, `lm analyze` (dynamics) and `qdg` run holding a planted world, written as the engines do."""
    from quanta.store import Run

    m, l_ = planted_world(7)
    model_dir = root / "suite" / model
    model_dir.mkdir(parents=True)
    with Run.create(root / "losses", command="lm losses",
                    config={"suite": [str(model_dir)], "corpus": corpus, "revisions": ["all"]}) as run:
        run.finish({"n_models": 8})
    with Run.create(root / "dyn", command="lm analyze", config={"losses_dir": str(root / "losses")}) as run:
        run.write_table("tokens", l_)
        run.finish({"mode": "dynamics"})
    tokens = m[["doc", "pos", "token_id"]].assign(token=np.arange(len(m)))
    clusters = pd.concat([pd.DataFrame({"token": tokens["token"], "n_clusters": 20, "cluster": m["part"]}),
                          pd.DataFrame({"token": tokens["token"], "n_clusters": 2, "cluster": m["part"] % 2})])
    with Run.create(root / "qdg", command="qdg", config={"model": str(model_dir)}) as run:
        run.write_table("tokens", tokens)
        run.write_table("clusters", clusters)
        sizes = clusters.groupby(["n_clusters", "cluster"]).size().rename("size").reset_index()
        sizes = sizes.sort_values(["n_clusters", "size"], ascending=[True, False])
        sizes["rank"] = sizes.groupby("n_clusters").cumcount() + 1
        run.write_table("sizes", sizes[["n_clusters", "rank", "size"]])
        run.finish({"model": str(model_dir), "corpus": parts_corpus, "n_clusters": 20})
    return root


def test_cli_writes_a_run_and_prints_both_answers(cli_run, tmp_path):
    from quanta.store import Run

    root = _runs(tmp_path)
    code, out, err = cli_run("formation", "--parts", root / "qdg", "--dynamics", root / "dyn", "--out", root / "f",
                  "--n-perm", "199")
    assert code == 0, out + err
    assert "learned together: supported" in out and "in order of frequency: supported" in out
    run = Run.open(root / "f", command="formation")
    s = run.summary
    assert s["n_clusters"] == 20 and s["world_checked"] and s["spread_p"] <= 0.01
    assert set(run.read_table("tests")["test"]) == {"learned together", "learned in order of frequency"}
    assert len(run.read_table("null")) == 199 and (root / "f" / "figures" / "formation.png").exists()
    # another count of the same run: 2 parts cannot give rho
    code, out, err = cli_run("formation", "--parts", root / "qdg", "--dynamics", root / "dyn", "--out", root / "f2",
                  "--n-perm", "199", "--n-clusters", "2")
    assert code == 0 and "untested" in out


@pytest.mark.parametrize("args, match", [
    (["--n-clusters", "7"], "was not swept"),
    (["--n-perm", "3"], "n_perm"),
    (["--level", "1.5"], "level"),
])
def test_cli_bad_input_is_one_line_and_writes_nothing(cli_run, tmp_path, args, match):
    root = _runs(tmp_path)
    code, out, err = cli_run("formation", "--parts", root / "qdg", "--dynamics", root / "dyn", "--out", root / "f",
                             *args)
    assert code == 2 and match in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1 and not (root / "f").exists()


def test_runs_of_different_worlds_are_refused_unless_allowed(cli_run, tmp_path):
    root = _runs(tmp_path, parts_corpus="stdlib:train")
    code, out, err = cli_run("formation", "--parts", root / "qdg", "--dynamics", root / "dyn", "--out", root / "f")
    assert code == 2 and "corpus" in err
    code, out, err = cli_run("formation", "--parts", root / "qdg", "--dynamics", root / "dyn", "--out", root / "f",
                  "--allow-mismatch", "--n-perm", "99")
    assert code == 0, out + err
    other = _runs(tmp_path / "b")
    code, out, err = cli_run("formation", "--parts", other / "qdg", "--dynamics", root / "dyn", "--out", root / "g")
    assert code == 2 and "model" in err
    code, out, err = cli_run("formation", "--parts", root / "dyn", "--dynamics", root / "dyn", "--out", root / "g")
    assert code == 2 and "no parts table" in err
    code, out, err = cli_run("formation", "--parts", root / "qdg", "--dynamics", root / "qdg", "--out", root / "g")
    assert code == 2 and "lm analyze" in err


def test_falsify_takes_the_formation_tests_as_a_second_test(cli_run, tmp_path):
    from quanta.store import Run

    root = _runs(tmp_path)
    with Run.create(root / "scaling", command="lm analyze", config={"losses_dir": str(root / "losses")}) as run:
        run.finish({"mode": "suite", "alpha_N": 0.5, "alpha_N_ci": [0.4, 0.6], "alpha_N_n_points": 8})
    code, out, err = cli_run("falsify", "--scaling", root / "scaling", "--parts", root / "qdg", "--dynamics",
                             root / "dyn", "--out", root / "fz", "--n-boot", "100")
    assert code == 0, out + err
    assert "second test" in out and "learned together: supported" in out
    run = Run.open(root / "fz", command="falsify")
    assert run.summary["formation_learned_together"].startswith("supported")
    assert "not on language models" in run.summary["calibration"]  # the parity rates are not claimed for an LM
    # QDG parts of an LM in two runs: what the planted language measured applies
    assert run.summary["calibration_applies"] is True and "no measured error rate" not in run.summary["calibration"]
    assert 10 <= run.summary["formation_n_parts_tested"] <= 20  # parts with >= 3 learned members
    assert len(run.read_table("formation")) == 2
    code, out, err = cli_run("falsify", root / "scaling", "--dynamics", root / "dyn", "--out", root / "fy")
    assert code == 2 and "--dynamics applies" in err


def test_the_token_null_tells_parts_from_sorted_token_types():
    """Parts that are only groups of token types, each type learned at its own step, pass the first null but not the
    stricter one; planted parts whose tokens share a step across types pass both."""
    rng = np.random.default_rng(8)
    n = 900
    tid = rng.integers(0, 60, n)
    type_step = rng.uniform(1.0, 3.5, 60)
    part_of_type = rng.permutation(60) // 3  # 20 parts of 3 types
    members = pd.DataFrame({"doc": np.arange(n) // 100, "pos": np.arange(n) % 100, "part": part_of_type[tid],
                            "token_id": tid})
    steps = 10 ** (type_step[tid] + rng.normal(0, 0.05, n))
    learning = members[["doc", "pos", "token_id"]].assign(learning_step=steps)
    r = part_formation(members, learning, n_perm=299, seed=0)
    assert r.spread_p <= 0.01 and r.spread_p_token > 0.05
    assert "not beyond token identity" in formation_answers(r)[0]["answer"]
    m, l_ = planted_world(9)  # token ids drawn independently of parts: parts are not token types
    r = part_formation(m, l_, n_perm=299, seed=0)
    assert r.spread_p <= 0.01 and r.spread_p_token <= 0.01
    assert "also beyond token identity" in formation_answers(r)[0]["answer"]


def test_the_report_has_a_formation_section(cli_run, tmp_path):
    from quanta.report import render_report

    root = _runs(tmp_path)
    code, out, err = cli_run("formation", "--parts", root / "qdg", "--dynamics", root / "dyn", "--out", root / "f",
                             "--n-perm", "99")
    assert code == 0, err
    rep = render_report([root / "f"])
    assert "formation" in rep.sections
    assert "Watching parts form over training" in rep.html and "data:image/png" in rep.html


def test_falsify_refuses_lm_runs_of_different_worlds(cli_run, tmp_path):
    """quanta.world: the parts must come from a model of the analyzed suite, on its corpus (either split)."""
    from quanta.store import Run
    from quanta.world import base_corpus

    assert base_corpus("planted:skills=5,seed=1:test") == "planted:skills=5,seed=1" and base_corpus(None) is None
    root = _runs(tmp_path, parts_corpus="stdlib")  # the other split of the same corpus: one world
    other = _runs(tmp_path / "b")  # a model outside root's suite
    with Run.create(root / "scaling", command="lm analyze", config={"losses_dir": str(root / "losses")}) as run:
        run.finish({"mode": "suite", "alpha_N": 0.5, "alpha_N_ci": [0.4, 0.6], "alpha_N_n_points": 8})
    args = ["--n-boot", "50"]
    code, out, err = cli_run("falsify", "--scaling", root / "scaling", "--parts", root / "qdg", "--out", root / "a",
                             *args)
    assert code == 0, err
    code, out, err = cli_run("falsify", "--scaling", root / "scaling", "--parts", other / "qdg", "--out", root / "fb",
                             *args)
    assert code == 2 and "model" in err and not (root / "fb").exists()
    code, out, err = cli_run("falsify", "--scaling", root / "scaling", "--parts", other / "qdg", "--out", root / "fb",
                             "--allow-mismatch", *args)
    assert code == 0, err
    # formation matches tokens by position: the split must be the same there
    code, out, err = cli_run("formation", "--parts", root / "qdg", "--dynamics", root / "dyn", "--out", root / "c")
    assert code == 2 and "corpus" in err


def test_the_vectorised_spread_is_the_plain_one():
    from quanta.formation import _pooled_spread

    rng = np.random.default_rng(0)
    for n, k in [(7, 3), (50, 5), (1000, 40)]:
        codes = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
        y = rng.normal(size=n)
        total, med, spr = _pooled_spread(y, codes, k)
        med2 = np.array([np.median(y[codes == i]) for i in range(k)])
        spr2 = np.array([np.abs(y[codes == i] - med2[i]).mean() for i in range(k)])
        np.testing.assert_allclose(med, med2)
        np.testing.assert_allclose(spr, spr2)
        assert total == pytest.approx(sum(np.abs(y[codes == i] - med2[i]).sum() for i in range(k)) / n)


def test_the_formation_figure_has_no_defects():
    from tests.test_figures import figure_defects

    m, l_ = planted_world(10)
    fig = plot_formation(part_formation(m, l_, n_perm=199), title="planted world")
    assert figure_defects(fig) == []


def test_a_parts_run_with_overlapping_features_is_read_through_its_samples(cli_run, tmp_path):
    """A `quanta parts` run (samples + membership with weights) gives each token its heaviest part; a real
    `quanta qdg` run, which also writes membership, is read through its clusters at the chosen count. A parts
    sample is the activation read at token pos, which predicts token pos + 1: it is joined to that token's step."""
    from quanta.store import Run

    root = _runs(tmp_path)
    m, _ = planted_world(7)
    model = Run.open(root / "qdg").summary["model"]
    token_at = m.set_index(["doc", "pos"])["token_id"]

    def parts_run(name, shift):
        # each predicted token's part, on the sample read `shift` tokens before it (1: as parts runs read them)
        read = m.assign(pos=m["pos"] - shift)
        read = read[read["pos"] >= 0].reset_index(drop=True)
        samples = read[["doc", "pos"]].assign(
            sample=np.arange(len(read)),
            token_id=token_at.reindex(pd.MultiIndex.from_frame(read[["doc", "pos"]])).to_numpy())
        membership = pd.concat([
            pd.DataFrame({"sample": samples["sample"], "part": read["part"], "weight": 0.9}),
            pd.DataFrame({"sample": samples["sample"], "part": (read["part"] + 7) % 20, "weight": 0.1})])
        with Run.create(root / name, command="parts sae", config={"model": model, "corpus": "stdlib:test"}) as run:
            run.write_table("samples", samples)
            run.write_table("membership", membership)
            run.finish({"n_parts": 20})
        code, out, err = cli_run("formation", "--parts", root / name, "--dynamics", root / "dyn", "--out",
                                 root / f"f{name}", "--n-perm", "199")
        assert code == 0, err
        return Run.open(root / f"f{name}").summary

    a = parts_run("sae", 1)
    code, out, err = cli_run("formation", "--parts", root / "qdg", "--dynamics", root / "dyn", "--out", root / "fq",
                             "--n-perm", "199")
    b = Run.open(root / "fq").summary
    assert b["n_tokens"] == 600 and a["n_tokens"] == 600 - 12  # the first token of each of 12 documents is not read
    assert a["spread"] == pytest.approx(b["spread"], rel=0.05) and a["spread_ratio"] < 0.3
    assert a["world_checked"] and a["n_clusters"] is None
    # the same parts read at the token they predict (the join before it was shifted) lose the planted structure
    wrong = parts_run("sae-unshifted", 0)
    assert wrong["spread_ratio"] > 0.8
