import numpy as np
import pandas as pd
import pytest
import torch

from quanta.errors import QuantaError
from quanta.lm.corpus import TokenizedWindow, load_corpus, stdlib_files, tokenize_documents
from quanta.lm.losses import LossesConfig, make_batches, per_token_losses, read_losses, reference_losses
from quanta.lm.train import build_neox, neox_config, train_tokenizer

VOCAB = 300
# the agreement docs/lm.md states for the loss engine (tests/test_docs_lm_pages.py renders its sentences from these)
REFERENCE_TOL = 1e-3  # nats: the batched engine against a plain per-sequence forward pass, at most
ORDER_ATOL = 1e-5  # nats: batch size, padding and order change a loss by at most this
HALF_MEAN, HALF_MAX = 0.02, 0.1  # nats: half precision against fp32, on average and at most


@pytest.fixture(scope="module")
def tokenizer():
    texts = [p.read_text(errors="replace") for p in stdlib_files("train")[:8]]
    return train_tokenizer(texts, vocab_size=VOCAB)


def varied_docs(n):
    """Documents of very different lengths (stdlib files cut short), so batches need padding."""
    from quanta.lm.corpus import Document

    docs = load_corpus("stdlib:test", max_docs=n)
    return [Document(d.doc, d.source, d.text[:40 + 97 * i]) for i, d in enumerate(docs)]


def tiny_model(seed, hidden=32, layers=2, heads=4):
    cfg = neox_config(vocab_size=VOCAB, hidden_size=hidden, n_layers=layers, n_heads=heads, max_positions=256)
    return build_neox(cfg, seed=seed).eval()


@pytest.fixture(scope="module")
def suite_dirs(tmp_path_factory, tokenizer):
    """Two random GPT-NeoX models of two sizes saved as HF directories sharing one tokenizer."""
    root = tmp_path_factory.mktemp("suite")
    out = []
    for seed, (h, l) in enumerate([(16, 1), (32, 2)]):
        d = root / f"m{h}"
        tiny_model(seed, hidden=h, layers=l, heads=2).save_pretrained(str(d))
        tokenizer.save_pretrained(str(d))
        out.append(d)
    return out


def test_make_batches_respects_budget_and_covers_all():
    rng = np.random.default_rng(0)
    lengths = list(rng.integers(2, 100, size=57))
    batches = make_batches(lengths, batch_tokens=300)
    assert sorted(i for b in batches for i in b) == list(range(57))
    for b in batches:
        assert len(b) * max(lengths[i] for i in b) <= 300 or len(b) == 1
        assert lengths[b[0]] == max(lengths[i] for i in b)


def test_fp32_engine_matches_plain_batch1_and_padding_does_not_matter(tokenizer):
    model = tiny_model(0)
    windows = tokenize_documents(varied_docs(12), tokenizer, context_length=120)
    lengths = {len(w.ids) for w in windows}
    assert len(lengths) > 1  # documents of different lengths, so batches are padded
    df = per_token_losses(model, windows, precision="fp32", batch_tokens=2000)
    assert len(df) == sum(len(w.ids) - 1 for w in windows)
    for w in windows:
        got = df[df["doc"] == w.doc]
        ref = reference_losses(model, w)
        assert np.abs(got["loss"].to_numpy() - ref).max() < REFERENCE_TOL
        assert list(got["pos"]) == list(range(1, len(w.ids)))
        assert list(got["token_id"]) == list(w.ids[1:])
    # a short window padded next to long ones gives the same losses as alone
    short = min(windows, key=lambda w: len(w.ids))
    alone = per_token_losses(model, [short], precision="fp32")
    padded = df[df["doc"] == short.doc].reset_index(drop=True)
    np.testing.assert_allclose(alone["loss"].to_numpy(), padded["loss"].to_numpy(), atol=ORDER_ATOL)
    # batch size and order do not change the numbers
    rev = per_token_losses(model, windows[::-1], precision="fp32", batch_tokens=128)
    np.testing.assert_allclose(rev["loss"].to_numpy(), df["loss"].to_numpy(), atol=ORDER_ATOL)


def test_window_offsets_and_head_fallback(tokenizer):
    model = tiny_model(1)
    ids = np.arange(3, 40, dtype=np.int64)
    w = TokenizedWindow(doc=7, start=64, ids=ids)
    df = per_token_losses(model, [w], precision="fp32")
    assert list(df["pos"]) == list(range(65, 64 + len(ids)))
    # the generic path (full logits) gives the same numbers as the split-head path
    model.config.model_type = "unknown-family"
    df2 = per_token_losses(model, [w], precision="fp32")
    model.config.model_type = "gpt_neox"
    np.testing.assert_allclose(df["loss"].to_numpy(), df2["loss"].to_numpy(), atol=ORDER_ATOL)


def test_bf16_autocast_deviation_is_small(tokenizer):
    model = tiny_model(2)
    windows = tokenize_documents(varied_docs(8), tokenizer, context_length=100)
    a = per_token_losses(model, windows, precision="fp32")["loss"].to_numpy()
    b = per_token_losses(model, windows, precision="bf16", device=torch.device("cpu"))["loss"].to_numpy()
    # docs/lm.md states the bf16 tolerance: mean |difference| below 0.02 nats, max below 0.1
    assert np.abs(a - b).mean() < HALF_MEAN and np.abs(a - b).max() < HALF_MAX
    assert not np.array_equal(a, b)  # autocast really ran in bf16


def test_out_of_vocab_tokens_are_refused(tokenizer):
    model = tiny_model(0)
    w = TokenizedWindow(0, 0, np.array([1, 2, VOCAB + 5]))
    with pytest.raises(QuantaError, match="vocabulary"):
        per_token_losses(model, [w], precision="fp32")


def test_cli_losses_tables_resume_and_library_agreement(cli_run, suite_dirs, tmp_path, tokenizer):
    out = tmp_path / "run"
    args = ["lm", "losses", "--suite", ",".join(map(str, suite_dirs)), "--corpus", "stdlib:test", "--max-docs", "10",
            "--context-length", "64", "--docs-per-shard", "4", "--out", out]
    code, stdout, err = cli_run(*args)
    assert code == 0, err
    models = pd.read_parquet(out / "models.parquet")
    assert list(models.columns[:5]) == ["model", "n_params", "n_params_nonembed", "step", "order"]
    assert list(models["model"]) == ["m16", "m32"] and list(models["order"]) == [0, 1]
    assert models["n_params_nonembed"].is_monotonic_increasing
    docs = pd.read_parquet(out / "docs.parquet")
    assert list(docs.columns) == ["doc", "source", "n_tokens"]
    parts = sorted((out / "losses").glob("part-*.parquet"))
    assert len(parts) == 3 * 2  # 10 documents in shards of 4, two models
    df = read_losses(out)
    assert list(pd.read_parquet(parts[0]).columns) == ["doc", "pos", "token_id", "model", "loss"]
    assert str(df["doc"].dtype) == "int64" and str(df["pos"].dtype) == "int32"
    assert str(df["token_id"].dtype) == "int32" and str(df["loss"].dtype) == "float32"
    assert (df["pos"] >= 1).all()
    assert (df.groupby("model").size() == (docs["n_tokens"] - 1).sum()).all()
    # the library on the same windows gives the same losses
    from quanta.lm.models import load_model

    model, tok = load_model(str(suite_dirs[1]), device="cpu")
    windows = tokenize_documents(load_corpus("stdlib:test", max_docs=10), tok, context_length=64)
    lib = per_token_losses(model, windows, precision="fp32")
    mine = df[df["model"] == "m32"].reset_index(drop=True)
    np.testing.assert_allclose(mine["loss"].to_numpy(), lib["loss"].to_numpy(), atol=1e-6)
    # the tokenizer is copied so contexts decode offline
    from transformers import AutoTokenizer

    copy = AutoTokenizer.from_pretrained(str(out / "tokenizer"))
    assert copy.get_vocab() == tokenizer.get_vocab()
    # a finished run is not overwritten
    code, _, err = cli_run(*args)
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1
    # kill simulation: drop one shard, mark the run unfinished, resume: only that shard is recomputed
    import json

    manifest = json.loads((out / "manifest.json").read_text())
    manifest["status"] = "running"
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "summary.json").unlink()
    mtimes = {p.name: p.stat().st_mtime_ns for p in parts}
    parts[3].unlink()
    code, stdout, err = cli_run(*args, "--resume")
    assert code == 0, err
    assert "shards_skipped_rank0: 5" in stdout
    assert parts[3].exists()
    assert all(p.stat().st_mtime_ns == mtimes[p.name] for p in parts if p != parts[3])
    pd.testing.assert_frame_equal(read_losses(out), df)


def test_a_test_corpus_splits_at_the_suites_own_fraction(suite_dirs, tmp_path):
    """A suite trained with test_fraction 0.05 trained on half of the default 10% held-out files: its losses on
    stdlib:test read the suite's 5%, all of it unseen, and models of suites with different fractions are refused."""
    import json
    import shutil

    from quanta.lm.corpus import held_out
    from quanta.lm.losses import compute_losses
    from quanta.lm.models import held_out_fraction

    dirs = {}
    for name, frac in (("a", 0.05), ("b", 0.2)):
        (tmp_path / name / "models").mkdir(parents=True)
        (tmp_path / name / "suite.json").write_text(json.dumps({"format": 1, "test_fraction": frac, "models": []}))
        dirs[name] = [shutil.copytree(d, tmp_path / name / "models" / d.name) for d in suite_dirs]
    assert held_out_fraction(dirs["a"]) == 0.05 and held_out_fraction(list(suite_dirs)) == 0.1
    assert held_out_fraction(["EleutherAI/pythia-70m"]) == 0.1
    summary = compute_losses(LossesConfig(suite=tuple(map(str, dirs["a"])), corpus="stdlib:test", max_docs=200,
                                          context_length=32, max_tokens=3000), tmp_path / "run")
    sources = pd.read_parquet(tmp_path / "run" / "docs.parquet")["source"]
    assert summary["n_docs"] == len(sources) > 0
    assert all(held_out(s, 0.05) for s in sources)
    assert len(sources) < len(load_corpus("stdlib:test"))  # the default 10% holds files the suite trained on
    from quanta.store import Run

    assert Run.open(tmp_path / "run").manifest["corpus_test_fraction"] == 0.05
    with pytest.raises(QuantaError, match="different held-out fractions"):
        compute_losses(LossesConfig(suite=(str(dirs["a"][0]), str(dirs["b"][1])), corpus="stdlib:test",
                                    max_docs=5), tmp_path / "mixed")
    assert not (tmp_path / "mixed").exists()


def test_losses_config_validation_and_offline_hub_error(cli_run, tmp_path):
    with pytest.raises(QuantaError):
        LossesConfig(suite=(), corpus="stdlib:test")
    with pytest.raises(QuantaError):
        LossesConfig(suite=("x/y",), max_tokens=0)
    code, _, err = cli_run("lm", "losses", "--suite", "pythia-70m", "--out", tmp_path / "r", "--max-tokens", "10")
    assert code == 2 and err.count("\n") == 1
    assert "EleutherAI/pythia-70m" in err and "--suite DIR" in err
