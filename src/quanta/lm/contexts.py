"""Example tokens in their documents: the tokenizer a losses run saved, the text around a token and the choice
of the most striking examples of a label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from quanta.errors import QuantaError
from quanta.lm.loss_matrix import LossMatrix


def load_tokenizer(losses_dir):
    """The tokenizer copied by ``quanta lm losses`` (``tokenizer/tokenizer.json``), or None if absent."""
    path = Path(losses_dir) / "tokenizer" / "tokenizer.json"
    if not path.is_file():
        return None
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - tokenizers raises its own exception type
        raise QuantaError(f"{path} cannot be loaded ({str(exc).splitlines()[0][:200]})",
                          "the tokenizer copy is damaged; re-run `quanta lm losses`") from exc


def token_contexts(lm: LossMatrix, rows: np.ndarray, tokenizer=None, *, before: int = 40,
                   after: int = 8, context_length: int | None = None) -> pd.DataFrame:
    """Context strings around chosen tokens (row indices of ``lm``).

    The document's tokens come from the losses table itself (the token predicted at each pos, so
    the document's first token, pos 0, is never shown). With ``context_length`` (the losses run's window, read
    with ``--windows K``) the context stays inside the token's window, ``[w·C, (w+1)·C)``: the text before the
    window was never seen with the token, and the window's first token, context only, is not in the table, so a
    context crossing it would miss a token. Returns ``context_before``, ``token_text``,
    ``context_after`` (so a report can highlight the token) and ``token_ids`` of the window.
    Without a tokenizer the strings are ``⟨id⟩`` sequences.
    """
    out = []
    for r in np.asarray(rows, dtype=np.int64):
        d, p = lm.doc[r], int(lm.pos[r])
        lo = np.searchsorted(lm.doc, d, side="left")
        hi = np.searchsorted(lm.doc, d, side="right")
        pos = lm.pos[lo:hi]
        first, last = p - before, p + after
        if context_length:
            start = (p // int(context_length)) * int(context_length)
            first, last = max(first, start + 1), min(last, start + int(context_length) - 1)
        a = lo + np.searchsorted(pos, first, side="left")
        b = lo + np.searchsorted(pos, last, side="right")
        ids_before = lm.token_id[a:r].tolist()
        ids_after = lm.token_id[r + 1:b].tolist()
        tok = int(lm.token_id[r])
        if tokenizer is None:
            fmt = lambda ids: "".join(f"⟨{i}⟩" for i in ids)  # noqa: E731
            cb, tt, ca = fmt(ids_before), fmt([tok]), fmt(ids_after)
        else:
            cb = tokenizer.decode(ids_before, skip_special_tokens=False)
            with_tok = tokenizer.decode(ids_before + [tok], skip_special_tokens=False)
            tt = with_tok[len(cb):] if with_tok.startswith(cb) else tokenizer.decode([tok], skip_special_tokens=False)
            full = tokenizer.decode(ids_before + [tok] + ids_after, skip_special_tokens=False)
            ca = full[len(with_tok):] if full.startswith(with_tok) else tokenizer.decode(ids_after,
                                                                                         skip_special_tokens=False)
        out.append({"context_before": cb, "token_text": tt, "context_after": ca,
                    "token_ids": ids_before + [tok] + ids_after, "token_index": len(ids_before)})
    return pd.DataFrame(out, columns=["context_before", "token_text", "context_after", "token_ids", "token_index"])


def pick_examples(labels: np.ndarray, score: np.ndarray, token_id: np.ndarray, label: str, n: int) -> np.ndarray:
    """Rows of the ``n`` highest-scoring tokens with ``label``, at most one per token id."""
    cand = np.flatnonzero((labels == label) & np.isfinite(score))
    cand = cand[np.argsort(-score[cand], kind="stable")]
    _, first = np.unique(token_id[cand], return_index=True)
    keep = cand[np.sort(first)]
    return keep[:n]
