import json

import numpy as np
import pandas as pd
import pytest

from quanta.errors import QuantaError
from quanta.lm.corpus import (Document, limit_tokens, load_corpus, split_documents, stdlib_files,
                              tokenize_documents)


@pytest.fixture(scope="module")
def tokenizer():
    from quanta.lm.train import train_tokenizer

    texts = [p.read_text(errors="replace") for p in stdlib_files("train")[:8]]
    return train_tokenizer(texts, vocab_size=400)


def test_stdlib_split_is_by_file_disjoint_and_deterministic():
    everything = load_corpus("stdlib")
    train = load_corpus("stdlib:train")
    test = load_corpus("stdlib:test")
    assert [d.doc for d in everything] == list(range(len(everything)))
    names_train = {d.source for d in train}
    names_test = {d.source for d in test}
    assert not names_train & names_test
    assert names_train | names_test == {d.source for d in everything}
    assert 0.04 < len(test) / len(everything) < 0.2
    assert [d.source for d in load_corpus("stdlib:test")] == [d.source for d in test]
    # no site-packages or test folders, sorted order
    srcs = [d.source for d in everything]
    assert srcs == sorted(srcs)
    assert not any(s.startswith(("site-packages/", "test/")) for s in srcs)
    # the generic split by source agrees with the stdlib split
    tr, te = split_documents(everything)
    assert {d.source for d in te} == names_test


def test_text_folder_glob_and_binary_skip(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.txt").write_text("second doc")
    (tmp_path / "a.txt").write_text("first doc")
    (tmp_path / "c.bin").write_bytes(b"\x00\x01binary")
    (tmp_path / ".hidden").write_text("skip me")
    docs = load_corpus(str(tmp_path))
    assert [(d.doc, d.source, d.text) for d in docs] == [(0, "a.txt", "first doc"), (1, "b/two.txt", "second doc")]
    globbed = load_corpus(str(tmp_path / "**" / "*.txt"))
    assert [d.text for d in globbed] == ["first doc", "second doc"]
    assert [d.text for d in load_corpus(str(tmp_path / "a.txt"))] == ["first doc"]
    # several specs in order, ids continue
    both = load_corpus([str(tmp_path / "b"), str(tmp_path / "a.txt")])
    assert [(d.doc, d.text) for d in both] == [(0, "second doc"), (1, "first doc")]


def test_jsonl_zst_and_parquet(tmp_path):
    import zstandard

    recs = [{"text": f"document number {i}", "meta": {"pile_set_name": "x"}} for i in range(5)]
    lines = "\n".join(json.dumps(r) for r in recs) + "\n"
    (tmp_path / "d.jsonl").write_text(lines)
    (tmp_path / "d.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(lines.encode()))
    pd.DataFrame({"text": [r["text"] for r in recs], "x": range(5)}).to_parquet(tmp_path / "d.parquet")
    for name in ("d.jsonl", "d.jsonl.zst", "d.parquet"):
        docs = load_corpus(str(tmp_path / name))
        assert [d.text for d in docs] == [r["text"] for r in recs]
        assert docs[3].source == f"{name}:3"
    assert len(load_corpus(str(tmp_path / "d.jsonl"), max_docs=2)) == 2
    with pytest.raises(QuantaError, match="field"):
        load_corpus(str(tmp_path / "d.jsonl"), text_field="body")
    with pytest.raises(QuantaError, match="column"):
        load_corpus(str(tmp_path / "d.parquet"), text_field="body")


@pytest.mark.parametrize("spec", ["no/such/path.txt", "stdlib:nope", "/nonexistent/*.jsonl"])
def test_bad_specs_raise_one_line_errors(spec):
    with pytest.raises(QuantaError) as info:
        load_corpus(spec)
    assert "\n" not in str(info.value)


def test_tokenize_truncates_and_windows(tokenizer):
    docs = load_corpus("stdlib:test", max_docs=6)
    full = [tokenizer(d.text, add_special_tokens=False)["input_ids"] for d in docs]
    one = tokenize_documents(docs, tokenizer, context_length=50, add_special_tokens=False)
    assert [w.doc for w in one] == [d.doc for d in docs if len(full[d.doc]) >= 2]
    for w in one:
        assert w.start == 0 and list(w.ids) == full[w.doc][:50]
    three = tokenize_documents(docs, tokenizer, context_length=50, n_windows=3, add_special_tokens=False)
    for w in three:
        assert list(w.ids) == full[w.doc][w.start:w.start + 50] and w.start % 50 == 0
    assert len(three) == sum(min(3, -(-len(f) // 50)) for f in full)


def test_long_document_prefix_tokenisation_matches_full(tokenizer):
    text = "".join(p.read_text() for p in stdlib_files("test")[:3])
    doc = Document(0, "long", text)
    win = tokenize_documents([doc], tokenizer, context_length=300, n_windows=2, add_special_tokens=False)
    full = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert np.array_equal(np.concatenate([w.ids for w in win]), full[:600])


def test_limit_tokens_counts_predictions(tokenizer):
    docs = load_corpus("stdlib:test", max_docs=5)
    win = tokenize_documents(docs, tokenizer, context_length=40, add_special_tokens=False)
    cut = limit_tokens(win, 100)
    assert sum(w.n_predictions for w in cut) == 100
    assert all(np.array_equal(a.ids, b.ids[:len(a.ids)]) for a, b in zip(cut, win))
    with pytest.raises(QuantaError):
        limit_tokens(win, 0)
