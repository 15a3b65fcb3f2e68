"""Corpora: text files, folders, globs, jsonl(.zst) and parquet into separate documents; tokenisation helpers.

A corpus *spec* is a string (or a list of them, read in order):

``planted:KEY=VALUE,...[:train|:test]``
    The planted-quanta language (:mod:`quanta.lm.planted`): generated documents whose skills and their Zipf
    frequencies are known; split by source as the stdlib corpus is.
``stdlib``, ``stdlib:train``, ``stdlib:test``
    The Python standard library's ``.py`` source on the running machine (no site-packages, no test folders),
    one document per file, in sorted order of relative path. The split is by file: a file is held out when
    the CRC32 of its relative path falls in the last ``test_fraction`` of the range, so the split of a file
    never depends on which other files exist.
a file, a folder or a glob
    Folders are read recursively (hidden files skipped), globs are expanded; every match is read by its
    extension: ``.jsonl`` / ``.jsonl.zst`` (one document per line, the ``text`` field: the Pile's format),
    ``.parquet`` (one document per row of the ``text`` column), anything else as UTF-8 text (one document
    per file; files that contain NUL bytes are skipped as binary).

Documents are numbered ``0 .. n-1`` in that deterministic order. Tokenisation keeps documents separate and
truncates each to the context length as in the paper, optionally cutting it into several windows
(:func:`tokenize_documents`).
"""

from __future__ import annotations

import glob as _glob
import io
import json
import os
import sysconfig
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from quanta.errors import QuantaError

STDLIB = "stdlib"
STDLIB_SPLITS = ("all", "train", "test")
_SKIP_DIRS = {"site-packages", "dist-packages", "__pycache__", "test", "tests", "idle_test"}


@dataclass(frozen=True)
class Document:
    """One document of a corpus.

    Attributes
    ----------
    doc : int
        The document id: its index in the corpus's deterministic order.
    source : str
        Where it came from: a file path relative to its root, or ``path:line`` / ``path:row`` for records.
    text : str
    """

    doc: int
    source: str
    text: str


@dataclass(frozen=True)
class TokenizedWindow:
    """A window of one document's tokens, the unit the loss engine batches.

    Attributes
    ----------
    doc : int
        The document id.
    start : int
        Position of ``ids[0]`` in the document's token sequence; ``ids[i]`` is the token at ``start + i``.
    ids : numpy.ndarray
        ``(T,)`` int64 token ids.
    """

    doc: int
    start: int
    ids: np.ndarray

    @property
    def n_predictions(self) -> int:
        return max(len(self.ids) - 1, 0)


# --------------------------------------------------------------------------- stdlib corpus
def stdlib_root() -> Path:
    """The folder of the running Python's standard library."""
    return Path(sysconfig.get_paths()["stdlib"])


def held_out(key: str, test_fraction: float) -> bool:
    """Whether ``key`` (a file name or record id) belongs to the held-out split.

    Decided by the CRC32 of the key alone, so the split is the same on every machine and run.
    """
    return (zlib.crc32(key.encode("utf-8")) % 10_000) < round(test_fraction * 10_000)


def stdlib_files(split: str = "all", *, test_fraction: float = 0.1) -> list[Path]:
    """The sorted ``.py`` files of the standard library in ``split`` (``all``, ``train`` or ``test``)."""
    if split not in STDLIB_SPLITS:
        raise QuantaError(f"corpus: stdlib split must be one of {', '.join(STDLIB_SPLITS)}, got {split!r}",
                          "write stdlib, stdlib:train or stdlib:test")
    root = stdlib_root()
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for name in filenames:
            if name.endswith(".py"):
                files.append(Path(dirpath) / name)
    rel = sorted((p.relative_to(root).as_posix(), p) for p in files)
    if split == "all":
        return [p for _, p in rel]
    want_test = split == "test"
    return [p for r, p in rel if held_out(r, test_fraction) == want_test]


# --------------------------------------------------------------------------- readers
def _read_text_file(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def _open_jsonl(path: Path):
    if path.name.endswith(".zst"):
        import zstandard

        fh = open(path, "rb")
        reader = zstandard.ZstdDecompressor().stream_reader(fh)
        return io.TextIOWrapper(reader, encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _iter_jsonl(path: Path, text_field: str, label: str) -> Iterable[tuple[str, str]]:
    with _open_jsonl(path) as fh:
        for i, line in enumerate(fh):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise QuantaError(f"corpus: {path} line {i + 1} is not valid JSON ({exc.msg})",
                                  "jsonl corpora hold one JSON object per line") from exc
            if not isinstance(rec, dict) or text_field not in rec:
                raise QuantaError(f"corpus: {path} line {i + 1} has no {text_field!r} field",
                                  f"each record needs a {text_field!r} string (the Pile's format); "
                                  "choose the field with text_field")
            yield f"{label}:{i}", str(rec[text_field])


def _iter_parquet(path: Path, text_field: str, label: str) -> Iterable[tuple[str, str]]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    if text_field not in pf.schema_arrow.names:
        raise QuantaError(f"corpus: {path} has no column {text_field!r} (columns: {', '.join(pf.schema_arrow.names)})",
                          "choose the text column with text_field")
    row = 0
    for batch in pf.iter_batches(columns=[text_field], batch_size=4096):
        for value in batch.column(0).to_pylist():
            if value is not None:
                yield f"{label}:{row}", str(value)
            row += 1


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".jsonl") or name.endswith(".jsonl.zst") or name.endswith(".json.zst"):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    return "text"


def _expand_path_spec(spec: str) -> list[tuple[Path, str]]:
    """Files named by a path, folder or glob, with their labels (path relative to the root), sorted."""
    if any(ch in spec for ch in "*?["):
        matches = sorted(Path(p) for p in _glob.glob(spec, recursive=True))
        out = []
        for m in matches:
            out.extend(_expand_path_spec(str(m)) if m.is_dir() else [(m, m.as_posix())])
        if not out:
            raise QuantaError(f"corpus: the glob {spec!r} matches no files", "check the pattern (quote it in a shell)")
        return out
    path = Path(spec).expanduser()
    if path.is_file():
        return [(path, path.name)]
    if path.is_dir():
        found = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
            for name in filenames:
                if not name.startswith("."):
                    p = Path(dirpath) / name
                    found.append((p.relative_to(path).as_posix(), p))
        if not found:
            raise QuantaError(f"corpus: the folder {path} holds no files", "pass corpus=PATH of text, jsonl or parquet files")
        return [(p, rel) for rel, p in sorted(found)]
    raise QuantaError(f"corpus: {spec!r} is neither stdlib[:train|:test] nor an existing file, folder or glob",
                      "pass stdlib, a text/jsonl/jsonl.zst/parquet file, a folder or a quoted glob")


def _iter_spec(spec: str, *, text_field: str, test_fraction: float) -> Iterable[tuple[str, str]]:
    spec = str(spec).strip()
    head, _, split = spec.partition(":")
    if head == "planted" and not Path(spec).exists():
        from quanta.lm.planted import planted_sources

        yield from planted_sources(spec, held_out=lambda source: held_out(source, test_fraction))
        return
    if head == STDLIB and not Path(spec).exists():
        root = stdlib_root()
        for p in stdlib_files(split or "all", test_fraction=test_fraction):
            text = _read_text_file(p)
            if text is not None:
                yield p.relative_to(root).as_posix(), text
        return
    for path, label in _expand_path_spec(spec):
        kind = _kind(path)
        if kind == "jsonl":
            yield from _iter_jsonl(path, text_field, label)
        elif kind == "parquet":
            yield from _iter_parquet(path, text_field, label)
        else:
            text = _read_text_file(path)
            if text is not None:
                yield label, text


def _split_specs(spec: str) -> list[str]:
    """A comma-separated string into specs; the ``KEY=VALUE`` pieces of a ``planted:`` spec stay with it."""
    out: list[str] = []
    for piece in spec.split(","):
        if not piece.strip():
            continue
        head = piece.strip().partition(":")[0]
        if out and out[-1].strip().startswith("planted:") and "=" in head and "/" not in head:
            out[-1] += "," + piece
        else:
            out.append(piece)
    return out


def load_corpus(spec: str | Sequence[str], *, max_docs: int | None = None, min_chars: int = 1,
                text_field: str = "text", test_fraction: float = 0.1) -> list[Document]:
    """Read a corpus into separate documents, in a deterministic order.

    Parameters
    ----------
    spec : str or sequence of str
        ``stdlib``, ``stdlib:train``, ``stdlib:test``, a file, a folder or a glob (see the module docstring);
        a sequence is read in order. A comma-separated string is split into several specs.
    max_docs : int, optional
        Keep only the first ``max_docs`` documents.
    min_chars : int, default 1
        Skip documents with fewer characters (after stripping whitespace).
    text_field : str, default "text"
        The field of jsonl records / column of parquet files that holds the text.
    test_fraction : float, default 0.1
        Held-out share of the stdlib corpus (by file).

    Returns
    -------
    list of Document
        With ids ``0 .. n-1``.

    Raises
    ------
    QuantaError
        For a spec that names nothing, a malformed record, or a corpus with no documents.
    """
    if isinstance(spec, str):
        specs = _split_specs(spec) if not Path(spec).exists() else [spec]
    else:
        specs = [str(s) for s in spec]
    if not specs:
        raise QuantaError("corpus: no corpus was given", "pass e.g. corpus=stdlib:test or a path")
    if max_docs is not None and max_docs < 1:
        raise QuantaError(f"corpus: max_docs must be >= 1, got {max_docs}", "leave it unset to read everything")
    if not 0.0 < test_fraction < 1.0:
        raise QuantaError(f"corpus: test_fraction must be in (0, 1), got {test_fraction}", "e.g. 0.1")
    docs: list[Document] = []
    for s in specs:
        for source, text in _iter_spec(s, text_field=text_field, test_fraction=test_fraction):
            if len(text.strip()) < min_chars:
                continue
            docs.append(Document(len(docs), source, text))
            if max_docs is not None and len(docs) >= max_docs:
                return docs
    if not docs:
        raise QuantaError(f"corpus: {', '.join(specs)} holds no documents (of at least {min_chars} characters)",
                          "check the path and the text field")
    return docs


def split_documents(docs: Sequence[Document], *, test_fraction: float = 0.1) -> tuple[list[Document], list[Document]]:
    """Split documents into (train, held-out) by the CRC32 of their source, as the stdlib split does.

    Ids are kept; use :func:`renumber` to number a split ``0 .. n-1``.
    """
    train = [d for d in docs if not held_out(d.source, test_fraction)]
    test = [d for d in docs if held_out(d.source, test_fraction)]
    return train, test


def renumber(docs: Sequence[Document]) -> list[Document]:
    """The same documents with ids ``0 .. n-1`` in their order."""
    return [Document(i, d.source, d.text) for i, d in enumerate(docs)]


# --------------------------------------------------------------------------- tokenisation
def encode_texts(tokenizer, texts: Sequence[str], *, add_special_tokens: bool = True) -> list[list[int]]:
    """Token ids of each text, with a ``transformers`` tokenizer or a raw ``tokenizers.Tokenizer``."""
    texts = list(texts)
    if not texts:
        return []
    if hasattr(tokenizer, "encode_batch") and not hasattr(tokenizer, "batch_decode"):  # tokenizers.Tokenizer
        return [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=add_special_tokens)]
    out = tokenizer(texts, add_special_tokens=add_special_tokens, return_attention_mask=False,
                    verbose=False)["input_ids"]
    return [list(x) for x in out]


def _text_budget(n_tokens: int) -> int:
    # Characters read before tokenising a long document: generous (16 characters per token), so that cutting the
    # text rarely changes a token inside the kept range; tokenize_documents checks and re-encodes in full if not.
    return 16 * n_tokens + 256


def tokenize_documents(docs: Sequence[Document], tokenizer, *, context_length: int, n_windows: int = 1,
                       min_tokens: int = 2, add_special_tokens: bool = True,
                       batch_size: int = 256) -> list[TokenizedWindow]:
    """Tokenise documents separately and cut each into windows of at most ``context_length`` tokens.

    With ``n_windows=1`` (the paper's setting) each document is truncated to its first ``context_length``
    tokens. With ``n_windows=k`` it gives up to ``k`` consecutive, non-overlapping windows; the first token of
    each window is context only, so a window of ``T`` tokens yields ``T - 1`` predictions.

    Parameters
    ----------
    docs : sequence of Document
    tokenizer : transformers tokenizer or tokenizers.Tokenizer
    context_length : int
        Tokens per window (>= 2).
    n_windows : int, default 1
        Windows per document at most (>= 1).
    min_tokens : int, default 2
        Drop windows shorter than this (a window needs 2 tokens for one prediction).
    add_special_tokens : bool, default True
        Passed to the tokenizer (GPT-NeoX tokenizers add none; Llama-style ones add a BOS token).
    batch_size : int, default 256
        Documents tokenised per call.

    Returns
    -------
    list of TokenizedWindow
        In document order, then window order.
    """
    if context_length < 2:
        raise QuantaError(f"context_length must be >= 2, got {context_length}", "e.g. 1024 (the paper) or 256")
    if n_windows < 1:
        raise QuantaError(f"n_windows must be >= 1, got {n_windows}", "1 truncates each document (the paper)")
    min_tokens = max(int(min_tokens), 2)
    need = context_length * n_windows
    margin = 64
    out: list[TokenizedWindow] = []
    for b in range(0, len(docs), batch_size):
        chunk = docs[b:b + batch_size]
        budget = _text_budget(need + margin)
        cut = [d.text[:budget] for d in chunk]
        ids_list = encode_texts(tokenizer, cut, add_special_tokens=add_special_tokens)
        redo = [i for i, (d, ids) in enumerate(zip(chunk, ids_list)) if len(d.text) > budget and len(ids) < need + margin]
        if redo:
            full = encode_texts(tokenizer, [chunk[i].text for i in redo], add_special_tokens=add_special_tokens)
            for i, ids in zip(redo, full):
                ids_list[i] = ids
        for d, ids in zip(chunk, ids_list):
            ids = np.asarray(ids[:need], dtype=np.int64)
            for w in range(n_windows):
                piece = ids[w * context_length:(w + 1) * context_length]
                if len(piece) < min_tokens:
                    break
                out.append(TokenizedWindow(d.doc, w * context_length, piece))
    return out


def limit_tokens(windows: Sequence[TokenizedWindow], max_tokens: int | None) -> list[TokenizedWindow]:
    """The leading windows holding at most ``max_tokens`` predictions in all (the last one cut short)."""
    if max_tokens is None:
        return list(windows)
    if max_tokens < 1:
        raise QuantaError(f"max_tokens must be >= 1, got {max_tokens}", "leave it unset to use every token")
    out, left = [], int(max_tokens)
    for w in windows:
        if left <= 0:
            break
        if w.n_predictions <= left:
            out.append(w)
            left -= w.n_predictions
        else:
            out.append(TokenizedWindow(w.doc, w.start, w.ids[:left + 1]))
            left = 0
    return out
