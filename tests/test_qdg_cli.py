"""`quanta qdg` on a tiny saved GPT-NeoX, and the group/subcommand layout."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from quanta.store import Run

TEXT = ["def add(a, b):\n    return a + b\n", "for i in range(10):\n    print(i)\n",
        "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
        "import os\nimport sys\nprint(os.path.join('a', 'b'))\n"]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("qdg_lm")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(TEXT * 5, trainers.BpeTrainer(vocab_size=300, show_progress=False,
                                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    from tokenizers import decoders

    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok)
    torch.manual_seed(0)
    model = GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=len(fast), hidden_size=32, num_hidden_layers=2,
                                             num_attention_heads=4, intermediate_size=64,
                                             max_position_embeddings=128))
    mdir = root / "model"
    model.save_pretrained(mdir)
    fast.save_pretrained(mdir)
    cdir = root / "corpus"
    cdir.mkdir()
    for i, t in enumerate(TEXT * 3):
        (cdir / f"doc{i:02d}.py").write_text(t * 2)
    return mdir, cdir


def test_qdg_lm_cli_writes_tables_figures_and_contexts(cli_run, tiny_lm, tmp_path):
    mdir, cdir = tiny_lm
    out = tmp_path / "qdg"
    # a random model predicts nothing below 0.1 nats, so the threshold is raised to let tokens through
    code, stdout, err = cli_run("qdg", "--model", mdir, "--corpus", cdir, "--threshold", "100", "--n-tokens", "60",
                                "--counts", "3,5,8", "--n-clusters", "4", "--project", "512", "--seed", "1", "--out", out)
    assert code == 0, err
    assert "zipf_exponent" in stdout and f"wrote {out}" in stdout
    run = Run.open(out, command="qdg")
    s = run.summary
    assert s["n_tokens"] == 60 and s["n_clusters"] == 4 and s["counts"] == [3, 4, 5, 8] and s["project"] == 512
    assert s["precondition"] == "none"  # the paper's raw gradients stay the LM default
    assert s["corpus_test_fraction"] == 0.1  # a model of no suite: load_corpus's default split
    # falsify prints how the count was chosen; LM QDG has no data-driven rule, and says so
    from quanta.qdg.pipeline import choose_counts, count_rule

    assert s["cluster_count_rule"] == count_rule(4) == "given (n_clusters)"
    assert choose_counts(300)[1] == 12 and count_rule().startswith("n_tokens/25")
    tokens = run.read_table("tokens")
    assert len(tokens) == 60 and (tokens["pos"] >= 1).all() and (tokens["loss"] < 100).all()
    cl = run.read_table("clusters")
    assert sorted(cl["n_clusters"].unique()) == [3, 4, 5, 8]
    assert (cl.groupby("n_clusters")["token"].count() == 60).all()
    sizes = run.read_table("sizes")
    assert (sizes.groupby("n_clusters")["size"].sum() == 60).all()
    # the parts contract (docs/parts.md) at the headline count: a partition, counts = cluster sizes
    parts, mem = run.read_table("parts"), run.read_table("membership")
    head = cl[cl["n_clusters"] == 4].sort_values("token")
    assert mem["part"].tolist() == head["cluster"].tolist() and (mem["weight"] == 1).all()
    assert sorted(parts["count"], reverse=True) == sizes[sizes["n_clusters"] == 4].sort_values("rank")["size"].tolist()
    assert not parts["dense"].any()
    ctx = run.read_table("contexts")
    assert {"context_before", "token", "context_after", "cluster", "n_clusters"} <= set(ctx.columns)
    assert (ctx["member_rank"] < 10).all()
    # and the contract's columns: at the headline count they name the parts and samples of parts/membership, the
    # weight is the member's centrality (its order within the part), count and rank the part's row of parts
    at = ctx[ctx["n_clusters"] == 4]
    assert {"sample", "part", "weight", "count", "rank"} <= set(ctx.columns)
    assert (at["sample"] == at["token_index"]).all() and (at["part"] == at["cluster"]).all()
    assert (mem.set_index("sample").loc[at["sample"], "part"].to_numpy() == at["part"].to_numpy()).all()
    joined = at.merge(parts, on="part", suffixes=("", "_parts"))
    assert len(joined) == len(at) and (joined["count"] == joined["count_parts"]).all()
    assert (joined["rank"] == joined["rank_parts"]).all() and (at["weight"] == at["centrality"]).all()
    assert all((g.sort_values("member_rank")["weight"].diff().dropna() <= 0).all() for _, g in at.groupby("part"))
    assert "feature_density.png" in {p.name for p in run.figures()}
    # the token text is the decoded target token of the tokens table
    merged = ctx.merge(tokens, left_on="token_index", right_on="token", suffixes=("", "_t"))
    assert (merged["token"] == merged["token_str"]).all()
    assert {p.name for p in run.figures()} >= {"rank_frequency.png", "similarity_sorted.png", "rank_frequency_k4.png"}
    # same command, same seed: same clusters
    out2 = tmp_path / "qdg2"
    code, _, err = cli_run("qdg", "--model", mdir, "--corpus", cdir, "--threshold", "100", "--n-tokens", "60",
                           "--counts", "3,5,8", "--n-clusters", "4", "--project", "512", "--seed", "1", "--out", out2)
    assert code == 0, err
    pd.testing.assert_frame_equal(cl, Run.open(out2).read_table("clusters"))


def test_qdg_lm_cli_knn_graph_and_eigensolvers_agree(cli_run, tiny_lm, tmp_path):
    # above --dense-max the affinity is a kNN graph; auto picks Chebyshev subspace iteration there, and it gives
    # the spectrum and the clusters of scikit-learn's LOBPCG + AMG
    mdir, cdir = tiny_lm
    runs = {}
    for solver in ("auto", "amg"):
        out = tmp_path / solver
        code, stdout, err = cli_run("qdg", "--model", mdir, "--corpus", cdir, "--threshold", "100", "--n-tokens",
                                    "60", "--counts", "3,5", "--n-clusters", "4", "--project", "512", "--dense-max",
                                    "40", "--n-neighbors", "10", "--eigen-solver", solver, "--out", out)
        assert code == 0, err
        runs[solver] = Run.open(out, command="qdg")
    assert runs["auto"].summary["graph"] == "knn"
    assert runs["auto"].summary["eigen_solver"] == "chebyshev" and runs["amg"].summary["eigen_solver"] == "amg"
    ea, ec = (runs[k].read_table("eigenvalues")["eigenvalue"].to_numpy() for k in ("auto", "amg"))
    np.testing.assert_allclose(ea, ec, atol=1e-6)
    ca, cc = (runs[k].read_table("clusters") for k in ("auto", "amg"))
    pd.testing.assert_frame_equal(ca, cc)
    code, _, err = cli_run("qdg", "--model", mdir, "--corpus", cdir, "--eigen-solver", "arpack",
                           "--out", tmp_path / "bad")
    assert code == 2 and "eigen-solver" in err and "Traceback" not in err


def test_qdg_lm_cli_precondition_diag(cli_run, tiny_lm, tmp_path):
    mdir, cdir = tiny_lm
    args = ["qdg", "--model", mdir, "--corpus", cdir, "--threshold", "100", "--n-tokens", "30", "--counts", "3",
            "--n-clusters", "3", "--project", "256", "--seed", "1"]
    code, _, err = cli_run(*args, "--precondition", "diag", "--out", tmp_path / "d")
    assert code == 0, err
    run = Run.open(tmp_path / "d", command="qdg")
    assert run.summary["precondition"] == "diag" and run.manifest["config"]["precondition"] == "diag"
    assert run.read_table("clusters")["token"].nunique() == 30
    code, _, err = cli_run(*args, "--precondition", "full", "--out", tmp_path / "e")
    assert code == 2 and "precondition" in err


def test_qdg_cli_errors_are_one_line(cli_run, tiny_lm, tmp_path):
    mdir, cdir = tiny_lm
    code, _, err = cli_run("qdg", "--model", mdir, "--corpus", cdir, "--out", tmp_path / "x")
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1 and "0.1 nats" in err
    code, _, err = cli_run("qdg", "--model", mdir, "parity", tmp_path, "--out", tmp_path / "y")
    assert code == 2 and "--model" in err and err.count("\n") == 1
    code, _, err = cli_run("qdg", "parity", tmp_path / "nope", "--out", tmp_path / "z")
    assert code == 2 and "not a quanta run directory" in err
    code, out, _ = cli_run("qdg")
    assert code == 0 and "parity" in out and "--model" in out


def test_qdg_lm_neither_reads_nor_changes_the_global_rngs(tiny_lm, tmp_path):
    """run_qdg_lm seeds its own generators: the global RNG state before it does not matter, and it is left as is."""
    import random

    from quanta.qdg.pipeline import QDGConfig, run_qdg_lm

    mdir, cdir = tiny_lm
    cfg = QDGConfig(model=str(mdir), corpus=str(cdir), threshold=100.0, n_tokens=40, counts=(3, 5), n_clusters=4,
                    project=256, n_boot=20, seed=2)
    tables = []
    for i, state in enumerate((1, 12345)):
        random.seed(state)
        np.random.seed(state)
        torch.manual_seed(state)
        before = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state().clone())
        s = run_qdg_lm(cfg, tmp_path / f"q{i}", device="cpu")
        assert random.getstate() == before[0]
        assert np.array_equal(np.random.get_state()[1], before[1]) and torch.equal(torch.get_rng_state(), before[2])
        s.pop("timings_s")
        run = Run.open(tmp_path / f"q{i}")
        tables.append((s, run.read_table("tokens"), run.read_table("clusters")))
    (s0, t0, c0), (s1, t1, c1) = tables
    assert s0 == s1
    pd.testing.assert_frame_equal(t0, t1)
    pd.testing.assert_frame_equal(c0, c1)
