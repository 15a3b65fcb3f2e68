"""Per-token and per-sample gradients, each computed exactly once, optionally sketched to k dimensions.

Every parameter QDG uses is the weight (optionally the bias) of a linear layer (``nn.Linear``, or HF's
``Conv1D`` in GPT-2). For one example the gradient of such a weight is a sum of outer products over the
positions of its context: ``grad_W = Σ_t δ_t ⊗ a_t`` with ``a_t`` the layer's input and ``δ_t`` the gradient of
the example's loss with respect to the layer's output. Forward hooks keep ``a`` and the output tensors; one
backward call then gives ``δ`` for many examples at once, and the per-example gradients follow from one batched
matrix product per layer.

Language models (:func:`token_gradients`)
    One target token = (context, position). The loss of the token at position ``p`` depends only on the prefix
    ``ids[:p]``, so a batch of contexts is run forward once (each cut after its last target) and the targets are
    arranged in *rounds*: round ``r`` holds the ``r``-th target of every context. Contexts do not interact, so one
    backward pass of the summed round losses gives every context's own ``δ``; the rounds themselves are run as one
    vmapped backward (``torch.autograd.grad(..., is_grads_batched=True)``). Attention runs in eager mode during this
    (the SDPA backward has no batching rule).
Per-sample models (:func:`sample_gradients`)
    Rows are independent (the sparse parity MLP), so one plain backward pass gives every row's ``δ``.

Random projection (``project=k``)
    A seeded CountSketch: coordinate ``j`` of the gradient is added, with a random sign ``s_j``, to bucket
    ``h_j ∈ [0, k)``. It is a linear map whose inner products are unbiased (``E<Sx, Sy> = <x, y>``) with
    variance at most ``(|x|²|y|² + <x,y>²)/k``, the same as a dense Gaussian projection, but it costs one
    scatter-add per coordinate and needs only ``h`` and ``s`` (generated per layer from the seed). It is applied
    to each layer's block of gradients as soon as that block is formed, so the full gradients never exist:
    memory is ``n_targets × k`` plus one layer for one batch.

Preconditioning (``precondition="diag"``)
    Each coordinate is divided by its root-mean-square over the examples (the diagonal of their empirical Fisher;
    :mod:`quanta.qdg.precondition` says why and how, and its names are re-exported here). With a sketch it must
    come *before* sketching: a bucket sums many coordinates of different scales, so rescaling buckets is not
    rescaling coordinates, and the sketch of the preconditioned gradient is not a rescaled sketch. The gradients are then computed twice: a first pass sums
    ``g_c²`` block by block (memory: one float per parameter), the second scales each block before it is sketched.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from quanta.errors import QuantaError
from quanta.progress import progress
from quanta.qdg.precondition import PRECONDITIONERS, check_precondition, diag_scale, precondition_gradients


log = logging.getLogger(__name__)


__all__ = [
    "GradientBlock",
    "select_gradient_blocks",
    "token_gradients",
    "sample_gradients",
    "GradientSketch",
    "PRECONDITIONERS",
    "precondition_gradients",
    "use_eager_attention",
]


@dataclass(frozen=True)
class GradientBlock:
    """One parameter whose per-example gradient is computed.

    Attributes
    ----------
    name : str
        The parameter's name in ``model.named_parameters()``.
    module : nn.Module
        The linear layer that owns it.
    kind : str
        ``"weight"`` or ``"bias"``.
    transposed : bool
        True for HF ``Conv1D`` (weight stored as ``(d_in, d_out)``).
    shape : tuple of int
        The parameter's shape.
    """

    name: str
    module: nn.Module
    kind: str
    transposed: bool
    shape: tuple

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape))


def _is_conv1d(mod: nn.Module) -> bool:
    # transformers.pytorch_utils.Conv1D: y = x @ W + b with W of shape (d_in, d_out)
    return type(mod).__name__ == "Conv1D" and hasattr(mod, "weight") and hasattr(mod, "nf")


def select_gradient_blocks(model: nn.Module, params: Sequence[str] | None = None, *,
                           include_bias: bool = False) -> list[GradientBlock]:
    """The parameters QDG takes gradients of.

    Parameters
    ----------
    model : nn.Module
    params : sequence of str, optional
        Glob patterns (``fnmatch``) over parameter names, e.g. ``["*.mlp.*"]``. Default: the weight of every linear
        layer except the unembedding (``model.get_output_embeddings()``): for GPT-NeoX the attention and MLP weights;
        embeddings and LayerNorms are never linear layers, so they are left out.
    include_bias : bool, default False
        Also take the biases of the selected layers (with ``params``, a bias is taken when a pattern matches it).

    Returns
    -------
    list of GradientBlock, in module order.

    Raises
    ------
    QuantaError
        When a pattern matches a parameter that is not a linear layer's weight or bias, or nothing is selected.
    """
    unembed = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    linear_params: dict[str, tuple[nn.Module, str, bool]] = {}
    for mname, mod in model.named_modules():
        if isinstance(mod, nn.Linear) or _is_conv1d(mod):
            if unembed is not None and mod is unembed:
                continue
            prefix = f"{mname}." if mname else ""
            linear_params[prefix + "weight"] = (mod, "weight", _is_conv1d(mod))
            if getattr(mod, "bias", None) is not None:
                linear_params[prefix + "bias"] = (mod, "bias", _is_conv1d(mod))
    all_names = [n for n, _ in model.named_parameters()]
    if params is None:
        chosen = [n for n in all_names if n in linear_params
                  and (linear_params[n][1] == "weight" or include_bias)]
    else:
        if isinstance(params, str):
            params = [params]
        chosen = []
        for n in all_names:
            if not any(fnmatch.fnmatchcase(n, pat) for pat in params):
                continue
            if n not in linear_params:
                raise QuantaError(f"params: {n!r} matches {list(params)} but is not the weight or bias of a linear "
                                  "layer (embeddings, the unembedding and LayerNorms are not supported)",
                                  "narrow the patterns, e.g. '*.attention.*.weight' or '*.mlp.*.weight'")
            if linear_params[n][1] == "bias" and not include_bias and not any(
                    fnmatch.fnmatchcase(n, pat) and pat.endswith("bias") for pat in params):
                continue
            chosen.append(n)
    if not chosen:
        raise QuantaError(f"params: no linear-layer parameter of the model matches {params!r}",
                          "list parameter names with model.named_parameters() and pass matching glob patterns")
    pdict = dict(model.named_parameters())
    return [GradientBlock(n, linear_params[n][0], linear_params[n][1], linear_params[n][2],
                          tuple(pdict[n].shape)) for n in chosen]


class GradientSketch:
    """Collects per-example gradients block by block, exactly or as a seeded CountSketch.

    Parameters
    ----------
    blocks : list of GradientBlock
    n_rows : int
        Number of examples.
    project : int or None
        Sketch dimension k; None keeps the exact gradients (``n_rows × Σ numel``).
    seed : int
        Seeds the hash and sign of every block (block ``i`` uses ``seed`` and ``i``).
    device : torch.device
        Where the sketch is computed; the result is kept on the CPU.
    scales : list of torch.Tensor, optional
        Per-coordinate factors of every block (``numel`` each), applied before sketching (the preconditioner).
    """

    def __init__(self, blocks: list[GradientBlock], n_rows: int, *, project: int | None, seed: int = 0,
                 device=None, scales: list | None = None):
        self.blocks = blocks
        self.project = project
        self.device = torch.device(device or "cpu")
        sizes = [b.numel for b in blocks]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.dim = int(project) if project else int(self.offsets[-1])
        self.out = torch.zeros(n_rows, self.dim, dtype=torch.float32)
        self._hash: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.seed = int(seed)
        self.scales = None if scales is None else [sc.reshape(-1).to(self.device, torch.float32) for sc in scales]

    def _hash_for(self, i: int):
        if i not in self._hash:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
            n = self.blocks[i].numel
            idx = torch.randint(0, self.project, (n,), generator=g, dtype=torch.int64)
            sign = torch.randint(0, 2, (n,), generator=g, dtype=torch.int8).to(torch.float32).mul_(2).sub_(1)
            self._hash[i] = (idx.to(self.device), sign.to(self.device))
        return self._hash[i]

    def add(self, rows: torch.Tensor, i: int, grads: torch.Tensor) -> None:
        """Add ``grads`` (M, *block.shape) of block ``i`` for the examples ``rows`` (M,)."""
        flat = grads.reshape(grads.shape[0], -1).to(torch.float32)
        if self.scales is not None:
            flat = flat * self.scales[i].to(flat.device)
        rows = rows.cpu()
        if self.project:
            idx, sign = self._hash_for(i)
            sk = torch.zeros(flat.shape[0], self.dim, dtype=torch.float32, device=flat.device)
            sk.index_add_(1, idx, flat * sign)
            self.out.index_add_(0, rows, sk.cpu())
        else:
            lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
            self.out[rows, lo:hi] += flat.cpu()


class _SecondMoments:
    """A sink like :class:`GradientSketch` that sums the squares of every block's per-example gradients."""

    def __init__(self, blocks: list[GradientBlock], device=None):
        dev = torch.device(device or "cpu")
        self.sumsq = [torch.zeros(b.numel, dtype=torch.float64, device=dev) for b in blocks]

    def add(self, rows: torch.Tensor, i: int, grads: torch.Tensor) -> None:
        flat = grads.reshape(grads.shape[0], -1)
        self.sumsq[i] += flat.to(torch.float64).pow(2).sum(0).to(self.sumsq[i].device)

    def scales(self, n_rows: int, *, damping: float = 1e-8) -> list[torch.Tensor]:
        """Per-block factors of the diagonal preconditioner (the damping floor is global over all blocks)."""
        sizes = [len(v) for v in self.sumsq]
        allm = torch.cat([v.cpu() for v in self.sumsq]) / max(1, n_rows)
        return list(diag_scale(allm, damping=damping).split(sizes))


def _collect(blocks, n_rows, *, project, seed, device, precondition, damping, one_pass):
    """Run ``one_pass(sink)`` (it adds every block of every example to ``sink``) and return the gradients.

    ``precondition="diag"``: exact gradients are scaled after one pass; sketched ones need a first pass that sums
    the squares, then a second one that scales each block before sketching.
    """
    check_precondition(precondition)
    if precondition == "diag" and project:
        moments = _SecondMoments(blocks, device)
        one_pass(moments)
        sink = GradientSketch(blocks, n_rows, project=project, seed=seed, device=device,
                              scales=moments.scales(n_rows, damping=damping))
        return sink, one_pass(sink)
    sink = GradientSketch(blocks, n_rows, project=project, seed=seed, device=device)
    res = one_pass(sink)
    if precondition == "diag":
        sink.out = precondition_gradients(sink.out, "diag", damping=damping)
    return sink, res


class _Capture:
    """Forward hooks that keep each selected module's input (detached) and output (in the graph)."""

    def __init__(self, modules: list[nn.Module]):
        self.modules = modules
        self.inputs: dict[int, list[torch.Tensor]] = {}
        self.outputs: dict[int, list[torch.Tensor]] = {}
        self.handles = []

    def __enter__(self):
        for j, mod in enumerate(self.modules):
            self.handles.append(mod.register_forward_hook(self._hook(j)))
        return self

    def _hook(self, j):
        def hook(mod, inp, out):
            self.inputs.setdefault(j, []).append(inp[0].detach())
            self.outputs.setdefault(j, []).append(out)
        return hook

    def clear(self):
        self.inputs.clear()
        self.outputs.clear()

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles = []
        self.clear()
        return False


def _block_grads(block: GradientBlock, a: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Per-example gradient of one block from inputs a (M, T, d_in) and output grads d (M, T, d_out)."""
    if block.kind == "bias":
        return d.sum(1)
    if block.transposed:
        return torch.bmm(a.transpose(1, 2), d)  # (M, d_in, d_out)
    return torch.bmm(d.transpose(1, 2), a)  # (M, d_out, d_in)


def use_eager_attention(model: nn.Module) -> str | None:
    """Switch an HF model to eager attention (vmapped backward needs it); return the previous setting."""
    cfg = getattr(model, "config", None)
    prev = getattr(cfg, "_attn_implementation", None) if cfg is not None else None
    if prev is None or prev == "eager":
        return prev
    if hasattr(model, "set_attn_implementation"):
        try:
            model.set_attn_implementation("eager")
            return prev
        except Exception:  # pragma: no cover - depends on the transformers version
            pass
    cfg._attn_implementation = "eager"
    return prev


def _restore_attention(model: nn.Module, prev: str | None) -> None:
    if prev is None or prev == "eager":
        return
    if hasattr(model, "set_attn_implementation"):
        try:
            model.set_attn_implementation(prev)
            return
        except Exception:  # pragma: no cover
            pass
    model.config._attn_implementation = prev


def _check_targets(contexts, targets) -> np.ndarray:
    t = np.asarray(targets, dtype=np.int64)
    if t.ndim != 2 or t.shape[1] != 2:
        raise QuantaError(f"targets: expected an (n, 2) array of (context, position), got shape {t.shape}",
                          "pass one row per target token: its context index and its position (>= 1)")
    if len(t) == 0:
        raise QuantaError("targets: no target tokens were given", "select at least one token")
    lengths = np.array([len(c) for c in contexts])
    if t[:, 0].min() < 0 or t[:, 0].max() >= len(contexts):
        raise QuantaError(f"targets: context index out of range 0..{len(contexts) - 1}", "check the target table")
    if (t[:, 1] < 1).any() or (t[:, 1] >= lengths[t[:, 0]]).any():
        raise QuantaError("targets: a position is < 1 or beyond its context",
                          "positions index the predicted token, from 1 to len(context) - 1")
    return t


def _to_ids(c) -> torch.Tensor:
    return c.detach().to(torch.long).cpu() if isinstance(c, torch.Tensor) else torch.as_tensor(np.asarray(c),
                                                                                               dtype=torch.long)


def final_logits(config):
    """What a causal LM does to its output head's values before the softmax, as a function of them.

    The gradients are taken through ``base model -> output head``, so a model whose logits are not the head's plain
    output must get the rest here: Gemma 2 and 3 soft-cap them (``c·tanh(z/c)``), the Cohere family multiplies
    them by ``logit_scale`` and the Granite family divides them by ``logits_scaling``. Without it the losses, and
    the gradients of them, are not the model's (a soft-capped model's losses were off by up to 200 nats in a test).
    A family that does something else is refused by the check on the first batch (``_check_head``).
    """
    import torch

    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    kind = str(getattr(text, "model_type", "") or getattr(config, "model_type", ""))
    cap = getattr(text, "final_logit_softcapping", None) or getattr(config, "final_logit_softcapping", None)
    scale = getattr(text, "logit_scale", None) if kind.startswith("cohere") else None
    divide = getattr(text, "logits_scaling", None) if kind.startswith("granite") else None

    def finish(z):
        if scale:
            z = z * float(scale)
        if divide:
            z = z / float(divide)
        if cap:
            z = torch.tanh(z / float(cap)) * float(cap)
        return z

    return finish


def _check_head(model, base, unembed, finish, ids, b_idx, pos) -> None:
    """Refuse a model whose logits the gradients' path (base model, output head, :func:`final_logits`) does not
    reproduce: its token losses and gradients would not be the model's."""
    import torch

    with torch.no_grad():
        out = base(input_ids=ids)
        mine = finish(unembed(out.last_hidden_state[b_idx, pos - 1]).float())
        ref = model(input_ids=ids).logits[b_idx, pos - 1].float()
    if not torch.allclose(mine, ref, rtol=1e-3, atol=1e-3 * (1.0 + float(ref.abs().max()))):
        gap = float((mine - ref).abs().max())
        raise QuantaError(f"the {getattr(model.config, 'model_type', 'model')} model's logits are not its output "
                          f"head's (they differ by up to {gap:.3g}), so QDG's token gradients would not be its own",
                          "use a model whose logits are its output head's (GPT-NeoX/Pythia, GPT-2, Llama, Gemma ...)")


def token_gradients(model: nn.Module, contexts: Sequence, targets, *, params: Sequence[str] | None = None,
                    include_bias: bool = False, project: int | None = None, seed: int = 0,
                    batch_size: int = 8, rounds_per_pass: int = 16, device=None,
                    return_losses: bool = False, precondition: str = "none", damping: float = 1e-8):
    """Per-token gradients of a causal language model, each token's gradient computed once.

    Parameters
    ----------
    model : nn.Module
        An HF causal LM (``model.base_model`` gives hidden states, ``model.get_output_embeddings()`` the logits).
        It is put in eval mode; its attention is switched to eager for the call and restored after.
    contexts : sequence of 1-D int arrays/tensors
        Token ids of each context (e.g. a document truncated to the model's context length).
    targets : array-like of shape (n, 2)
        ``(context index, position)``: the token ``contexts[c][p]`` predicted from ``contexts[c][:p]``; ``p >= 1``.
    params, include_bias
        Which parameters; see :func:`select_gradient_blocks`.
    project : int, optional
        Sketch the gradients to this many dimensions (seeded CountSketch); None keeps them exact.
    seed : int, default 0
        Seed of the sketch.
    batch_size : int, default 8
        Contexts per forward pass.
    rounds_per_pass : int, default 16
        Targets per context handled by one vmapped backward call (memory ∝ rounds × batch × length × width).
    device : str or torch.device, optional
        Where to compute (default: the model's device).
    return_losses : bool, default False
        Also return each target's loss (nats), as a float32 numpy array.
    precondition : {"none", "diag"}, default "none"
        ``diag``: every coordinate divided by its RMS over the targets (diagonal empirical Fisher, see the module
        docstring), applied before sketching; with ``project`` the gradients are then computed twice.
    damping : float, default 1e-8
        Relative damping of the ``diag`` preconditioner.

    Returns
    -------
    torch.Tensor of shape (n, D) or (n, project), float32, on the CPU, in the order of ``targets``
        (and the losses when ``return_losses``).
    """
    t = _check_targets(contexts, targets)
    if project is not None and int(project) < 1:
        raise QuantaError(f"project: must be a positive number of dimensions or None, got {project}",
                          "pass e.g. project=8192, or None for exact gradients")
    if batch_size < 1 or rounds_per_pass < 1:
        raise QuantaError("batch_size and rounds_per_pass must be >= 1", "pass positive integers")
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    blocks = select_gradient_blocks(model, params, include_bias=include_bias)
    modules = list(dict.fromkeys(b.module for b in blocks))
    mod_index = {id(m): j for j, m in enumerate(modules)}
    check_precondition(precondition)
    losses_out = np.zeros(len(t), dtype=np.float32)
    unembed = model.get_output_embeddings()
    finish = final_logits(model.config)
    base = model.base_model
    was_training = model.training
    model.eval()
    prev_attn = use_eager_attention(model)

    # group targets by context; contexts in order of length so batches pad little
    by_ctx: dict[int, list[int]] = {}
    for row, (c, _) in enumerate(t):
        by_ctx.setdefault(int(c), []).append(row)
    # batches of contexts with similar numbers of targets (every round of a batch runs a backward over all of its
    # contexts) and similar lengths (padding)
    ctx_ids = sorted(by_ctx, key=lambda c: (len(by_ctx[c]), int(t[by_ctx[c], 1].max()), c))

    def one_pass(sketch):
        bar = progress(total=len(t), desc="gradients", unit="tok")
        try:
            with _Capture(modules) as cap:
                for start in range(0, len(ctx_ids), batch_size):
                    batch = ctx_ids[start:start + batch_size]
                    rows = [sorted(by_ctx[c], key=lambda r: t[r, 1]) for c in batch]
                    ends = [int(t[r, 1].max()) for r in rows]  # last needed position of each context
                    T = max(ends)
                    ids = torch.zeros(len(batch), T, dtype=torch.long)
                    for b, c in enumerate(batch):
                        ids[b, :ends[b]] = _to_ids(contexts[c])[:ends[b]]
                    ids = ids.to(dev)
                    flat_rows = [r for rr in rows for r in rr]
                    b_idx = torch.tensor([b for b, rr in enumerate(rows) for _ in rr], device=dev)
                    pos = torch.tensor([int(t[r, 1]) for r in flat_rows], device=dev)
                    if start == 0:  # once: the head path must give the model's own logits
                        _check_head(model, base, unembed, finish, ids, b_idx, pos)
                    cap.clear()
                    with torch.enable_grad():
                        hidden = base(input_ids=ids, use_cache=False).last_hidden_state if _accepts_cache(base) \
                            else base(input_ids=ids).last_hidden_state  # (B, T, H)
                        round_of = torch.tensor([k for rr in rows for k in range(len(rr))], device=dev)
                        tgt = _gather_targets(contexts, t, flat_rows).to(dev)
                        logits = finish(unembed(hidden[b_idx, pos - 1]).float())  # (M, V)
                        loss = torch.nn.functional.cross_entropy(logits, tgt, reduction="none")  # (M,)
                        losses_out[flat_rows] = loss.detach().cpu().numpy()
                        outs = [o for j in range(len(modules)) for o in cap.outputs[j]]
                        n_rounds = max(len(rr) for rr in rows)
                        for r0 in range(0, n_rounds, rounds_per_pass):
                            r1 = min(n_rounds, r0 + rounds_per_pass)
                            sel = ((round_of >= r0) & (round_of < r1)).nonzero().flatten()
                            onehot = torch.zeros(r1 - r0, len(flat_rows), device=dev, dtype=loss.dtype)
                            onehot[round_of[sel] - r0, sel] = 1.0
                            last = r1 >= n_rounds
                            if r1 - r0 == 1:
                                deltas = torch.autograd.grad(loss, outs, grad_outputs=onehot[0],
                                                             retain_graph=not last)
                                deltas = [d.unsqueeze(0) for d in deltas]
                            else:
                                deltas = torch.autograd.grad(loss, outs, grad_outputs=onehot, retain_graph=not last,
                                                             is_grads_batched=True)
                            # deltas[k]: (R, B, T, d_out); pick (round, context) of every selected target
                            rr_idx = round_of[sel] - r0
                            bb_idx = b_idx[sel]
                            rows_t = torch.tensor(flat_rows, dtype=torch.long)[sel.cpu()]
                            k = 0
                            per_mod: dict[int, list[torch.Tensor]] = {}
                            for j in range(len(modules)):
                                for call in range(len(cap.outputs[j])):
                                    d = deltas[k][rr_idx, bb_idx]  # (m, T, d_out)
                                    a = cap.inputs[j][call][bb_idx]  # (m, T, d_in)
                                    per_mod.setdefault(j, []).append((a, d))
                                    k += 1
                            for i, blk in enumerate(blocks):
                                j = mod_index[id(blk.module)]
                                g = sum(_block_grads(blk, a, d) for a, d in per_mod[j])
                                sketch.add(rows_t, i, g)
                            del deltas, per_mod
                    bar.update(sum(len(rr) for rr in rows))
                    cap.clear()
        finally:
            bar.close()

    try:
        sketch, _ = _collect(blocks, len(t), project=project, seed=seed, device=dev, precondition=precondition,
                             damping=damping, one_pass=one_pass)
    finally:
        _restore_attention(model, prev_attn)
        model.train(was_training)
    return (sketch.out, losses_out) if return_losses else sketch.out


def _accepts_cache(base: nn.Module) -> bool:
    import inspect

    try:
        return "use_cache" in inspect.signature(base.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def _gather_targets(contexts, t, rows) -> torch.Tensor:
    return torch.tensor([int(_to_ids(contexts[int(t[r, 0])])[int(t[r, 1])]) for r in rows], dtype=torch.long)


def classification_margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``t = logsumexp_{j≠y}(z_j - z_y)`` per row of ``logits`` (B, C), C >= 2; the cross-entropy is softplus(t).

    Written without ``p_y - 1``, so neither ``t`` nor its gradient loses a confidently right row to rounding.
    """
    z_y = logits.gather(1, labels[:, None])  # (B, 1)
    others = logits.masked_fill(torch.nn.functional.one_hot(labels, logits.shape[1]).bool(), float("-inf"))
    return torch.logsumexp(others - z_y, dim=1)


def sample_gradients(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, *,
                     params: Sequence[str] | None = None, include_bias: bool = False, project: int | None = None,
                     seed: int = 0, batch_size: int = 1024, device=None, return_losses: bool = False,
                     precondition: str = "none", damping: float = 1e-8, target: str = "loss"):
    """Per-sample gradients of a classifier whose rows are independent (e.g. the sparse parity MLP).

    Parameters
    ----------
    model : nn.Module
        Maps ``inputs`` (B, ...) to logits (B, n_classes).
    inputs : torch.Tensor of shape (n, ...)
    labels : torch.Tensor of shape (n,), int
    params, include_bias, project, seed
        As in :func:`token_gradients`.
    batch_size : int, default 1024
    device : optional
    return_losses : bool, default False
    precondition : {"none", "diag"}, default "none"
        ``diag``: every coordinate divided by its RMS over the ``n`` examples (the diagonal empirical Fisher; see
        the module docstring), before sketching when ``project`` is set (the gradients are then computed twice).
    damping : float, default 1e-8
        Relative damping of the ``diag`` preconditioner.
    target : {"loss", "margin"}, default "loss"
        What is differentiated. ``loss``: the cross-entropy. ``margin``: ``t = logsumexp_{j≠y}(z_j - z_y)``,
        of which the cross-entropy is ``softplus(t)``. The two gradients differ by the positive factor
        ``sigmoid(t)`` per row, so they have the same direction (all that cosines see), but a confidently right
        sample's loss gradient carries a factor as small as 1e-23 that underflows in float32 (and the
        right class's ``p - 1`` rounds to 0, which bends the direction), while its margin gradient is O(1).
        Use ``margin`` for clustering directions; the losses returned are the cross-entropy either way.

    Returns
    -------
    torch.Tensor of shape (n, D) or (n, project), float32, on the CPU (and the losses when ``return_losses``).
    """
    if target not in ("loss", "margin"):
        raise QuantaError(f"target: must be loss or margin, got {target!r}", "use target='margin' for directions")
    n = len(inputs)
    if n == 0 or len(labels) != n:
        raise QuantaError(f"inputs and labels: need the same, non-zero number of rows, got {n} and {len(labels)}",
                          "pass one label per input row")
    if project is not None and int(project) < 1:
        raise QuantaError(f"project: must be a positive number of dimensions or None, got {project}",
                          "pass e.g. project=4096, or None for exact gradients")
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    blocks = select_gradient_blocks(model, params, include_bias=include_bias)
    modules = list(dict.fromkeys(b.module for b in blocks))
    mod_index = {id(m): j for j, m in enumerate(modules)}
    check_precondition(precondition)
    losses_out = np.zeros(n, dtype=np.float32)
    was_training = model.training
    model.eval()

    def one_pass(sketch):
        with _Capture(modules) as cap:
            for s in range(0, n, batch_size):
                cap.clear()
                x = inputs[s:s + batch_size].to(dev)
                y = labels[s:s + batch_size].to(dev).long()
                with torch.enable_grad():
                    logits = model(x).float()
                    t = classification_margin(logits, y)  # (B,)
                    loss = torch.nn.functional.softplus(t)  # the cross-entropy, exact also where it is ~1e-30
                    losses_out[s:s + len(x)] = loss.detach().cpu().numpy()
                    outs = [o for j in range(len(modules)) for o in cap.outputs[j]]
                    deltas = torch.autograd.grad((t if target == "margin" else loss).sum(), outs)
                rows = torch.arange(s, s + len(x))
                k = 0
                per_mod: dict[int, list] = {}
                for j in range(len(modules)):
                    for call in range(len(cap.outputs[j])):
                        a = cap.inputs[j][call]
                        d = deltas[k]
                        per_mod.setdefault(j, []).append((a.reshape(len(x), -1, a.shape[-1]),
                                                          d.reshape(len(x), -1, d.shape[-1])))
                        k += 1
                for i, blk in enumerate(blocks):
                    g = sum(_block_grads(blk, a, d) for a, d in per_mod[mod_index[id(blk.module)]])
                    sketch.add(rows, i, g)

    try:
        sketch, _ = _collect(blocks, n, project=project, seed=seed, device=dev, precondition=precondition,
                             damping=damping, one_pass=one_pass)
    finally:
        model.train(was_training)
    return (sketch.out, losses_out) if return_losses else sketch.out
