"""`quanta parts sae` on the tiny LM of the qdg tests and on the hand-built parity solver: the parts contract."""

import json

import numpy as np
import pytest
import torch
from test_qdg_cli import tiny_lm  # noqa: F401 (a fixture)
from test_qdg_parity import CFG, parity_run  # noqa: F401 (a fixture)

from quanta.store import Run

SMALL = ("--n-latents", "16", "--k", "2", "--steps", "60", "--sae-batch-size", "64")


def _check_contract(run):
    parts, mem, ctx, samples = (run.read_table(t) for t in ("parts", "membership", "contexts", "samples"))
    s = run.summary
    n = len(samples)
    assert s["n_samples"] == n and s["n_parts"] == len(parts) == 16
    # counts are the rows on which a part fires, i.e. the membership rows of that part
    by_part = mem.groupby("part").size().reindex(parts["part"], fill_value=0).to_numpy()
    assert np.array_equal(by_part, parts["count"].to_numpy())
    assert np.allclose(parts["frequency"], parts["count"] / n)
    assert (mem["weight"] > 0).all() and mem["sample"].between(0, n - 1).all()
    assert s["n_dead"] == int((parts["count"] == 0).sum())
    assert s["n_dense"] == int((parts["frequency"] > s["dense_share"]).sum())
    assert s["n_live"] + s["n_dead"] + s["n_dense"] == len(parts)
    assert (ctx.groupby("part")["member_rank"].max() < 10).all()
    assert {p.name for p in run.figures()} >= {"rank_frequency.png", "feature_density.png"}
    return parts, mem, ctx, samples


@pytest.mark.parametrize("site", ["resid", "mlp"])
def test_parts_sae_lm_writes_the_contract(cli_run, tiny_lm, tmp_path, site):  # noqa: F811
    mdir, cdir = tiny_lm
    out = tmp_path / "sae"
    code, stdout, err = cli_run("parts", "sae", "--model", mdir, "--corpus", cdir, "--layer", "1", "--site", site,
                                *SMALL, "--seed", "1", "--out", out)
    assert code == 0, err
    assert "n_live" in stdout and f"wrote {out}" in stdout
    run = Run.open(out, command="parts sae")
    parts, mem, ctx, samples = _check_contract(run)
    assert run.summary["site"] == site and run.summary["d_model"] == 32
    assert run.summary["corpus_test_fraction"] == 0.1
    assert {"context_before", "token", "context_after", "token_id"} <= set(ctx.columns)
    # the activations really are the model's at that site: recompute one token's by hand
    if site == "resid":
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(mdir)
        assert json.loads((out / "manifest.json").read_text())["config"]["layer"] == 1
        doc0 = samples[samples["doc"] == samples["doc"].iloc[0]]
        ids = torch.tensor(doc0["token_id"].to_numpy())[None]
        with torch.no_grad():
            h = model(ids, output_hidden_states=True).hidden_states[1][0]  # (T, 32)
        from quanta.parts.activations import lm_activations

        X, _ = lm_activations(model, [doc0["token_id"].tolist()], layer=1, site="resid")
        assert torch.allclose(X, h, atol=1e-5)


def test_parts_sae_parity_reads_the_hidden_layer(cli_run, parity_run, tmp_path):  # noqa: F811
    out = tmp_path / "sae_parity"
    code, stdout, err = cli_run("parts", "sae", "--parity", parity_run, "--n-samples", "2000", *SMALL,
                                "--out", out)
    assert code == 0, err
    run = Run.open(out, command="parts sae")
    parts, mem, ctx, samples = _check_contract(run)
    assert run.summary["zipf_true"] == pytest.approx(1.4) and run.summary["width"] == 5 * CFG["n_tasks"]
    assert {"task", "y", "loss"} <= set(samples.columns) and len(samples) == 2000


@pytest.mark.parametrize("args, message", [
    ((), "exactly one of --model and --parity"),
    (("--model", "m", "--parity", "r"), "exactly one of --model and --parity"),
    (("--parity", "r", "--layer", "1"), "--layer do not apply"),
    (("--model", "m", "--k", "1.5", "--sparsity", "topk"), "whole number"),
    (("--model", "m", "--sparsity", "topk"), "needs a whole --k"),
    (("--model", "m", "--dense-share", "2"), "dense_share"),
])
def test_parts_sae_bad_input_is_one_line(cli_run, tmp_path, args, message):
    out = tmp_path / "bad"
    code, stdout, err = cli_run("parts", "sae", *args, "--out", out)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_parts_sae_bad_layer_leaves_nothing(cli_run, tiny_lm, tmp_path):  # noqa: F811
    mdir, cdir = tiny_lm
    out = tmp_path / "bad"
    code, _, err = cli_run("parts", "sae", "--model", mdir, "--corpus", cdir, "--layer", "5", "--out", out)
    assert code == 2 and "layer must be 0..2" in err and not out.exists()
    code, _, err = cli_run("parts", "sae", "--model", mdir, "--corpus", cdir, "--layer", "2", "--site", "mlp",
                           "--out", out)
    assert code == 2 and "layer must be 0..1" in err and not out.exists()


def test_parts_refuse_a_bootstrap_beyond_memory_before_writing(parity_run, tmp_path):  # noqa: F811
    """`n_boot` has no flag on `quanta parts`, but the library configs take it: a huge one is refused before the
    run directory is created (the parts law's fits would otherwise fail after the SAE was trained)."""
    from quanta.errors import QuantaError
    from quanta.parts.run import ActsPartsConfig, SAEParityConfig, run_parts_acts_lm, run_parts_sae_parity

    out = tmp_path / "huge"
    with pytest.raises(QuantaError, match="parts sae: n_boot=10000000000 .* memory"):
        run_parts_sae_parity(SAEParityConfig(run_dir=str(parity_run), n_boot=10**10), out)
    with pytest.raises(QuantaError, match="parts acts: n_boot=10000000000 .* memory"):
        run_parts_acts_lm(ActsPartsConfig(model=str(tmp_path / "no-model"), n_boot=10**10), out)
    assert not out.exists()


def test_parts_acts_lm_writes_the_contract(cli_run, tiny_lm, tmp_path):  # noqa: F811
    mdir, cdir = tiny_lm
    out = tmp_path / "acts"
    code, stdout, err = cli_run("parts", "acts", "--model", mdir, "--corpus", cdir, "--layer", "2", "--n-tokens",
                                "120", "--n-clusters", "6", "--seed", "2", "--out", out)
    assert code == 0, err
    run = Run.open(out, command="parts acts")
    parts, mem, ctx, samples = (run.read_table(t) for t in ("parts", "membership", "contexts", "samples"))
    assert len(samples) == 120 and len(parts) == 6 and run.summary["n_clusters"] == 6
    # a partition: every token in exactly one part, counts are cluster sizes, nothing flagged dense
    assert mem.groupby("sample").size().eq(1).all() and len(mem) == 120
    assert parts["count"].sum() == 120 and not parts["dense"].any()
    assert (mem["weight"] > 0).all() and {"context_before", "token"} <= set(ctx.columns)
    code, _, err = cli_run("parts", "acts", "--model", mdir, "--corpus", cdir, "--n-tokens", "120",
                           "--n-clusters", "200", "--out", tmp_path / "bad")
    assert code == 2 and "out of range" in err and not (tmp_path / "bad").exists()


def test_parts_acts_parity_clusters_qdgs_samples_by_their_activations(cli_run, parity_run, tmp_path):  # noqa: F811
    out = tmp_path / "acts_parity"
    code, stdout, err = cli_run("parts", "acts", "--parity", parity_run, "--n-samples", "400", "--seed", "3",
                                "--out", out)
    assert code == 0, err
    run = Run.open(out, command="parts acts")
    parts, mem, ctx, samples = (run.read_table(t) for t in ("parts", "membership", "contexts", "samples"))
    s = run.summary
    assert len(samples) == 400 and s["zipf_true"] == pytest.approx(1.4)
    assert s["cluster_count_rule"] == "stability" and s["similarity"] == "abs_cosine"
    assert mem.groupby("sample").size().eq(1).all() and parts["count"].sum() == 400 and not parts["dense"].any()
    # the same samples QDG parity clusters with the same seed (its draw and loss filter); only the rows differ
    code, _, err = cli_run("qdg", "parity", parity_run, "--n-samples", "400", "--seed", "3", "--out",
                           tmp_path / "qdg")
    assert code == 0, err
    q = Run.open(tmp_path / "qdg").read_table("samples")
    assert np.array_equal(q["task"].to_numpy(), samples["task"].to_numpy())
    # the solver gives each solved task its own hidden units, so with the sharpened affinity (power 4, the count
    # among stable ones with the largest eigengap: QDG parity's defaults until 2026-12-04) no part mixes two tasks;
    # its units also encode the bit sum, so a task's activations may split into several parts (purity 1, not ARI 1).
    # The defaults now (power 1, the largest stable count) merge some tasks there.
    from quanta.qdg.parity import score_clusters

    code, _, err = cli_run("parts", "acts", "--parity", parity_run, "--n-samples", "400", "--seed", "3",
                           "--affinity-power", "4", "--n-clusters", "stable_eigengap", "--out", tmp_path / "p4")
    assert code == 0, err
    sharp = Run.open(tmp_path / "p4", command="parts acts")
    labels = sharp.read_table("membership").sort_values("sample")["part"].to_numpy()
    assert score_clusters(labels, samples["task"].to_numpy())["purity"] == 1.0
    labels = mem.sort_values("sample")["part"].to_numpy()
    assert score_clusters(labels, samples["task"].to_numpy())["purity"] >= 0.9
    # falsify reads it as a parity parts run
    assert run.summary["run_dir"] == str(parity_run)


@pytest.mark.parametrize("args, message", [
    (("--parity", "r", "--n-tokens", "100"), "--n-tokens do not apply to a parity run"),
    (("--model", "m", "--threshold", "0.2"), "--threshold do not apply to a language model"),
    (("--model", "m", "--n-clusters", "stable_eigengap"), "an LM takes a count"),
    (("--parity", "r", "--n-clusters", "banana"), "n_clusters"),
    ((), "exactly one of --model and --parity"),
])
def test_parts_acts_bad_input_is_one_line(cli_run, tmp_path, args, message):
    out = tmp_path / "bad"
    code, stdout, err = cli_run("parts", "acts", *args, "--out", out)
    assert code == 2 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
