"""The per-token loss engine: the cross-entropy of every next-token prediction of every model on a corpus.

Batching. Windows (documents truncated to the context length) are sorted by length and grouped into batches of
at most ``batch_tokens`` padded tokens. Rows are right-padded. A causal LM's prediction at position ``i`` attends
only to positions ``<= i``, and in a right-padded row every position ``<= i`` of a real token is real, so padding
can never leak into a real prediction and documents never mix (each row is one document). The padded positions
are dropped before the output head, so they are neither computed nor reported. No attention mask is needed for
that; leaving it out keeps the fused causal attention kernels (``is_causal``) on GPU.

Precision. fp32 on CPU (matches a plain batch-1 computation within 1e-3 nats, a test). On GPU the body runs under
bf16 (or fp16) autocast and the log-softmax is taken in fp32 on the upcast logits; docs/lm.md gives the measured
bf16 deviation.

Output (``quanta lm losses``, docs/tables.md): ``losses/part-SSSSS-mMMM.parquet`` holds the losses of model
``MMM`` on document shard ``SSSSS`` (documents ``S*docs_per_shard ..``), columns ``doc``, ``pos``, ``token_id``,
``model``, ``loss``; ``models.parquet``, ``docs.parquet``; the tokenizer in ``tokenizer/``. A shard file that
exists is finished (writes are atomic), so a killed run resumes where it stopped. Under ``torchrun`` the shards
are split across ranks (shard ``s`` goes to rank ``s % world_size``); the files are the same as in one process.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from quanta.errors import QuantaError
from quanta.lm.corpus import TokenizedWindow

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LOSSES_DIR = "losses"
TOKENIZER_DIR = "tokenizer"
# Model families whose base model returns the final (normed) hidden states that the output embedding maps to
# logits with nothing in between, so the head can be applied to the real positions only.
_HEAD_SPLIT_TYPES = {"gpt_neox", "llama", "gpt2", "mistral", "qwen2", "qwen3", "gptj", "phi3"}


# --------------------------------------------------------------------------- batching
def make_batches(lengths: Sequence[int], *, batch_tokens: int, max_batch_size: int | None = None) -> list[list[int]]:
    """Group window indices into batches of at most ``batch_tokens`` padded tokens.

    Windows are taken longest first, so each batch pads to its first window's length. A window longer than
    ``batch_tokens`` gets a batch of its own.

    Returns
    -------
    list of list of int
        Indices into ``lengths``.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    cur: list[int] = []
    width = 0
    for i in order:
        w = width if cur else lengths[i]
        if cur and ((len(cur) + 1) * w > batch_tokens or (max_batch_size and len(cur) >= max_batch_size)):
            batches.append(cur)
            cur, w = [], lengths[i]
        cur.append(i)
        width = w
    if cur:
        batches.append(cur)
    return batches


def resolve_precision(precision: str | None, device) -> str:
    """``auto`` becomes bf16 on CUDA (fp16 where bf16 is unsupported) and fp32 elsewhere."""
    import torch

    precision = precision or "auto"
    if precision not in PRECISIONS:
        raise QuantaError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}",
                          "fp32 on CPU; bf16 on GPU")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    return precision


def _autocast(device, precision: str):
    import contextlib

    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def per_token_losses(model, windows: Sequence[TokenizedWindow], *, device=None, precision: str = "auto",
                     batch_tokens: int | None = None, max_batch_size: int | None = None,
                     head_chunk: int = 1 << 24) -> pd.DataFrame:
    """Cross-entropy of every next-token prediction of ``model`` on ``windows``.

    Parameters
    ----------
    model : transformers PreTrainedModel
        A causal LM, already on ``device``.
    windows : sequence of TokenizedWindow
        From :func:`quanta.lm.corpus.tokenize_documents`. A window of ``T`` tokens gives ``T - 1`` predictions.
    device : torch.device, optional
        Default: the model's device.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast precision of the forward pass; the log-softmax is always fp32. ``auto``: bf16 on CUDA, else fp32.
    batch_tokens : int, optional
        Padded tokens per batch. Default 8192 on CPU, 65536 on CUDA.
    max_batch_size : int, optional
        Rows per batch at most.
    head_chunk : int, default 2**24
        Logit elements computed at once (bounds the memory of the output head).

    Returns
    -------
    pandas.DataFrame
        Columns ``doc`` (int64), ``pos`` (int32: position of the predicted token in its document, >= 1),
        ``token_id`` (int32), ``loss`` (float32, nats), sorted by ``doc`` then ``pos``.
    """
    import torch
    import torch.nn.functional as F

    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    if batch_tokens is None:
        batch_tokens = 65536 if device.type == "cuda" else 8192
    windows = [w for w in windows if len(w.ids) >= 2]
    n_pred = sum(len(w.ids) - 1 for w in windows)
    out_doc = np.empty(n_pred, dtype=np.int64)
    out_pos = np.empty(n_pred, dtype=np.int32)
    out_tok = np.empty(n_pred, dtype=np.int32)
    out_loss = np.empty(n_pred, dtype=np.float32)
    offsets = np.zeros(len(windows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(w.ids) - 1 for w in windows])
    for k, w in enumerate(windows):
        sl = slice(offsets[k], offsets[k + 1])
        out_doc[sl] = w.doc
        out_pos[sl] = np.arange(w.start + 1, w.start + len(w.ids), dtype=np.int32)
        out_tok[sl] = w.ids[1:]
    if not windows:
        return pd.DataFrame({"doc": out_doc, "pos": out_pos, "token_id": out_tok, "loss": out_loss})
    vocab = model.get_output_embeddings().weight.shape[0] if model.get_output_embeddings() is not None else None
    max_id = max(int(w.ids.max()) for w in windows)
    if vocab is not None and max_id >= vocab:
        raise QuantaError(f"token id {max_id} is outside the model's vocabulary of {vocab}",
                          "the corpus was tokenised with another tokenizer than the model's")
    split_head = (getattr(model.config, "model_type", None) in _HEAD_SPLIT_TYPES
                  and model.get_output_embeddings() is not None
                  and not getattr(model.config, "final_logit_softcapping", None))
    base = getattr(model, model.base_model_prefix) if split_head else None
    head = model.get_output_embeddings() if split_head else None
    lengths = [len(w.ids) for w in windows]
    with torch.inference_mode():
        for batch in make_batches(lengths, batch_tokens=batch_tokens, max_batch_size=max_batch_size):
            width = lengths[batch[0]]
            ids = torch.zeros((len(batch), width), dtype=torch.long)  # (B, T), right-padded
            valid = torch.zeros((len(batch), width), dtype=torch.bool)  # (B, T): position predicts a real token
            for r, k in enumerate(batch):
                n = lengths[k]
                ids[r, :n] = torch.from_numpy(windows[k].ids)
                valid[r, :n - 1] = True
            ids = ids.to(device)
            valid_d = valid.to(device)
            targets = ids[:, 1:][valid_d[:, :-1]]  # (M,)
            with _autocast(device, precision):
                if split_head:
                    hidden = base(input_ids=ids, use_cache=False).last_hidden_state  # (B, T, d)
                    h = hidden[valid_d]  # (M, d)
                else:
                    h = model(input_ids=ids, use_cache=False).logits[valid_d]  # (M, V)
                rows = max(1, head_chunk // (vocab or h.shape[-1]))
                pieces = []
                for a in range(0, h.shape[0], rows):
                    logits = head(h[a:a + rows]) if split_head else h[a:a + rows]
                    pieces.append(F.cross_entropy(logits.float(), targets[a:a + rows], reduction="none"))
            loss = torch.cat(pieces).cpu().numpy()  # (M,) in row-major order of (batch row, position)
            # scatter back: row r of the batch holds window batch[r], whose predictions are contiguous
            a = 0
            for r, k in enumerate(batch):
                m = lengths[k] - 1
                out_loss[offsets[k]:offsets[k] + m] = loss[a:a + m]
                a += m
    df = pd.DataFrame({"doc": out_doc, "pos": out_pos, "token_id": out_tok, "loss": out_loss})
    if len(windows) > 1 and not (np.all(np.diff(out_doc) >= 0)):
        df = df.sort_values(["doc", "pos"], kind="stable").reset_index(drop=True)
    return df


def reference_losses(model, window: TokenizedWindow) -> np.ndarray:
    """Per-token losses of one window by the plainest computation: batch 1, fp32, full logits. For tests."""
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    with torch.inference_mode():
        ids = torch.as_tensor(window.ids, dtype=torch.long, device=device)[None]  # (1, T)
        logits = model(input_ids=ids).logits[0].float()  # (T, V)
        return F.cross_entropy(logits[:-1], ids[0, 1:], reduction="none").cpu().numpy()
