"""Which tokens QDG clusters: low loss under a chosen model, not induction, subsampled deterministically.

docs/science.md §4 steps 1–3. A *token* is a prediction: position ``p >= 1`` of a context, the token ``ids[p]``
predicted from ``ids[:p]``. Losses are in nats.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from quanta.errors import QuantaError

__all__ = ["context_losses", "induction_mask", "select_tokens"]


def _ids(c) -> np.ndarray:
    if isinstance(c, torch.Tensor):
        return c.detach().cpu().numpy().astype(np.int64)
    return np.asarray(c, dtype=np.int64)


@torch.no_grad()
def context_losses(model, contexts: Sequence, *, batch_size: int = 8, device=None) -> list[np.ndarray]:
    """Per-token losses (nats) of a causal LM on each context.

    Parameters
    ----------
    model : HF causal LM
    contexts : sequence of 1-D int arrays
    batch_size : int, default 8
    device : optional (default: the model's)

    Returns
    -------
    list of float32 arrays, one per context, of its length; entry ``p`` is the loss of ``ids[p]`` given
    ``ids[:p]``, entry 0 is NaN (nothing predicts the first token).
    """
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[np.ndarray | None] = [None] * len(contexts)
    order = sorted(range(len(contexts)), key=lambda i: len(contexts[i]))
    try:
        for s in range(0, len(order), batch_size):
            batch = order[s:s + batch_size]
            arrs = [_ids(contexts[i]) for i in batch]
            T = max(len(a) for a in arrs)
            ids = torch.zeros(len(batch), T, dtype=torch.long)
            for b, a in enumerate(arrs):
                ids[b, :len(a)] = torch.as_tensor(a)
            ids = ids.to(dev)
            logits = model(input_ids=ids).logits.float()  # (B, T, V); right padding never affects earlier positions
            lp = torch.log_softmax(logits[:, :-1], dim=-1)
            nll = -lp.gather(-1, ids[:, 1:, None])[..., 0].cpu().numpy()  # (B, T-1)
            for b, i in enumerate(batch):
                L = len(arrs[b])
                row = np.full(L, np.nan, dtype=np.float32)
                row[1:] = nll[b, :L - 1]
                out[i] = row
    finally:
        model.train(was_training)
    return out  # type: ignore[return-value]


def induction_mask(ids) -> np.ndarray:
    """True at positions whose token completes a trigram that already occurred earlier in the same context.

    Position ``p`` (>= 2) is flagged when ``(ids[p-2], ids[p-1], ids[p])`` equals ``(ids[q-2], ids[q-1], ids[q])``
    for some ``q < p``: the model can predict it by copying (an induction head), not by a quantum of its own.
    """
    a = _ids(ids)
    mask = np.zeros(len(a), dtype=bool)
    seen: set[tuple[int, int, int]] = set()
    for p in range(2, len(a)):
        tri = (int(a[p - 2]), int(a[p - 1]), int(a[p]))
        if tri in seen:
            mask[p] = True
        else:
            seen.add(tri)
    return mask


def select_tokens(contexts: Sequence, losses: Sequence, *, threshold: float = 0.1, drop_induction: bool = True,
                  n_tokens: int | None = None, seed: int = 0, doc_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Tokens predicted with loss below ``threshold`` nats, without induction tokens, subsampled to ``n_tokens``.

    Parameters
    ----------
    contexts : sequence of 1-D int arrays
    losses : sequence of float arrays
        Per-position losses of each context (as from :func:`context_losses`; NaN where undefined).
    threshold : float, default 0.1
        Keep tokens with loss strictly below this (nats).
    drop_induction : bool, default True
        Drop tokens flagged by :func:`induction_mask`.
    n_tokens : int, optional
        Keep a uniformly random subset of this many tokens (all of them when fewer qualify); None keeps all.
    seed : int, default 0
        Seed of the subsample; the same inputs and seed give the same tokens.
    doc_ids : sequence of int, optional
        The document id of each context (default: its index), written to the ``doc`` column.

    Returns
    -------
    pandas.DataFrame
        Columns ``context`` (index into ``contexts``), ``doc``, ``pos``, ``token_id``, ``loss``; sorted by
        (context, pos).
    """
    if len(contexts) != len(losses):
        raise QuantaError(f"losses: need one array per context, got {len(losses)} for {len(contexts)} contexts",
                          "compute losses with context_losses(model, contexts)")
    if not np.isfinite(threshold) or threshold <= 0:
        raise QuantaError(f"threshold: must be a positive number of nats, got {threshold}",
                          "the paper uses 0.1 nats")
    if n_tokens is not None and n_tokens < 1:
        raise QuantaError(f"n_tokens: must be >= 1 or None, got {n_tokens}", "pass e.g. n_tokens=1000")
    doc_ids = list(range(len(contexts))) if doc_ids is None else list(doc_ids)
    frames = []
    for i, (c, lo) in enumerate(zip(contexts, losses)):
        a = _ids(c)
        lo = np.asarray(lo, dtype=np.float64)
        if len(lo) != len(a):
            raise QuantaError(f"losses[{i}] has length {len(lo)} but context {i} has {len(a)} tokens",
                              "losses must give one value per position (NaN at position 0)")
        keep = np.isfinite(lo) & (lo < threshold)
        keep[0] = False
        if drop_induction:
            keep &= ~induction_mask(a)
        pos = np.nonzero(keep)[0]
        if len(pos):
            frames.append(pd.DataFrame({"context": i, "doc": doc_ids[i], "pos": pos.astype(np.int32),
                                        "token_id": a[pos].astype(np.int32), "loss": lo[pos].astype(np.float32)}))
    if not frames:
        raise QuantaError(f"no token has loss below {threshold} nats"
                          + (" outside induction trigrams" if drop_induction else ""),
                          "raise threshold=..., use a stronger model, or give more text")
    df = pd.concat(frames, ignore_index=True)
    if n_tokens is not None and len(df) > n_tokens:
        rng = np.random.default_rng(seed)
        df = df.iloc[np.sort(rng.choice(len(df), size=n_tokens, replace=False))].reset_index(drop=True)
    return df
