"""Activations of a language model at one layer and site, one row per token (the input of ``quanta parts sae``).

Sites: ``resid`` is the residual stream after block ``layer`` (``hidden_states[layer]`` of a Hugging Face model:
0 is the embeddings, ``n_layers`` the last block's output after the model's final norm, as ``hidden_states``
gives it); ``mlp`` is the output of block ``layer``'s MLP (0-based), read by a forward hook on the block's ``mlp``
module.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from quanta.errors import QuantaError

__all__ = ["SITES", "model_blocks", "check_site", "lm_activations"]

SITES = ("resid", "mlp")


def model_blocks(model):
    """The transformer blocks (a ModuleList) of a Hugging Face causal LM (GPT-NeoX, Llama-style, GPT-2)."""
    base = getattr(model, "base_model", model)
    for name in ("layers", "h", "blocks"):
        blocks = getattr(base, name, None)
        if isinstance(blocks, torch.nn.ModuleList):
            return blocks
    raise QuantaError(f"cannot find the transformer blocks of {type(model).__name__}",
                      "use a GPT-NeoX, Llama-style or GPT-2 model")


def check_site(model, layer: int, site: str) -> None:
    """Refuse a site or layer the model does not have, in one line."""
    n = len(model_blocks(model))
    if site not in SITES:
        raise QuantaError(f"site must be one of {', '.join(SITES)}, got {site!r}", "pass --site resid or --site mlp")
    hi = n if site == "resid" else n - 1
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= hi:
        raise QuantaError(f"layer must be 0..{hi} for site {site} of this {n}-block model, got {layer!r}",
                          f"pass --layer between 0 and {hi}")
    if site == "mlp" and not isinstance(getattr(model_blocks(model)[layer], "mlp", None), torch.nn.Module):
        raise QuantaError(f"block {layer} has no `mlp` module", "use --site resid")


@torch.no_grad()
def lm_activations(model, contexts, *, layer: int, site: str = "resid", batch_size: int = 8,
                   device=None, progress=None, prefix: int | None = None) -> tuple[torch.Tensor, pd.DataFrame]:
    """Activations at (layer, site) for every token of ``contexts`` (lists of token ids).

    With ``prefix`` (a token id, such as the tokenizer's BOS), the model reads ``[prefix] + context`` and the
    prefix's row is dropped: the rows are still one per token of ``contexts``, each having seen the prefix.

    Returns ``(X, index)``: ``X`` (n_tokens, d) float32 on the CPU, and ``index`` with one row per token
    (``row``, ``context``, ``pos``, ``token_id``), in the order of the rows of ``X``; ``pos`` counts from the
    context's first token, not the prefix.
    """
    check_site(model, layer, site)
    dev = next(model.parameters()).device if device is None else torch.device(device)
    captured = {}
    handle = None
    if site == "mlp":
        def hook(_mod, _inp, out):
            captured["x"] = out[0] if isinstance(out, tuple) else out
        handle = model_blocks(model)[layer].mlp.register_forward_hook(hook)
    rows, index = [], []
    try:
        for start in range(0, len(contexts), batch_size):
            batch = contexts[start:start + batch_size]
            skip = 0 if prefix is None else 1
            T = skip + max(len(c) for c in batch)
            ids = torch.zeros((len(batch), T), dtype=torch.long)
            mask = torch.zeros((len(batch), T), dtype=torch.long)
            for i, c in enumerate(batch):  # right padding: causal attention keeps real tokens unaffected
                ids[i, :skip + len(c)] = torch.as_tensor(([prefix] if skip else []) + list(c))
                mask[i, :skip + len(c)] = 1
            out = model(input_ids=ids.to(dev), attention_mask=mask.to(dev), output_hidden_states=site == "resid")
            h = out.hidden_states[layer] if site == "resid" else captured["x"]  # (B, T, d)
            for i, c in enumerate(batch):
                rows.append(h[i, skip:skip + len(c)].float().cpu())
                index.append(pd.DataFrame({"context": np.int64(start + i), "pos": np.arange(len(c), dtype=np.int32),
                                           "token_id": np.asarray(c, dtype=np.int64)}))
            if progress is not None:
                progress(len(batch))
    finally:
        if handle is not None:
            handle.remove()
    X = torch.cat(rows)
    idx = pd.concat(index, ignore_index=True)
    idx.insert(0, "row", np.arange(len(idx), dtype=np.int64))
    return X, idx
