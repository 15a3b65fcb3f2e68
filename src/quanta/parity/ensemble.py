"""Many MLPs trained as one batched model, mathematically equal to training each alone.

A sweep's members are arranged on a grid ``(G, M)``: ``G`` *groups* (members of a group see the
same data: one (α, D, seed) stream each) times ``M`` widths. Within a group the hidden layers of
all widths are concatenated into one hidden layer of total width ``H = Σ widths``; the output
layer (and any further hidden layer) is block-diagonal, so every member's logits depend only on
its own parameters. Groups form a leading batch dimension (``bmm``).

With the training loss ``Σ_members mean-loss(member)``, each member's gradient is exactly the
gradient it would get alone, and AdamW acts elementwise, so the update is the same too. Only the
float summation order of the wide matmuls differs from a model trained alone.

The first layer never sees the one-hot control bits: ``x·W = W_ctrl[task] + bits·W_bits``.

A single member, as a plain module, is :class:`ParityMLP`.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from quanta.parity.data import derive_seed


def n_params(n_in: int, width: int, depth: int = 1) -> int:
    """Parameters of a ParityMLP: ``n_in·w + w + (depth-1)·(w² + w) + 2·w + 2``."""
    return n_in * width + width + (depth - 1) * (width * width + width) + 2 * width + 2


class ParityMLP(nn.Module):
    """One MLP: ``depth`` ReLU hidden layers of ``width`` units and 2 logits.

    Parameters
    ----------
    n_in : int
        Input size, ``n_tasks + n``.
    width : int
    depth : int, default 1
        Number of hidden layers.

    Inputs ``x`` (B, n_in) float 0/1; output logits (B, 2).
    """

    def __init__(self, n_in: int, width: int, depth: int = 1):
        super().__init__()
        sizes = [n_in] + [width] * depth + [2]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.n_in, self.width, self.depth = int(n_in), int(width), int(depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


def init_member(n_in: int, width: int, depth: int, seed: int) -> dict[str, torch.Tensor]:
    """A member's initial parameters, a ParityMLP state dict, derived from (seed, width) only.

    Same scheme as ``nn.Linear``'s default (uniform in ±1/√fan_in for weights and biases), drawn
    from a CPU generator seeded by ``derive_seed(seed, width, n_in, depth)``, so a member starts
    identically whether it is trained alone or in any sweep, on any device.
    """
    g = torch.Generator().manual_seed(derive_seed(int(seed), int(width), int(n_in), int(depth), "parity-init"))
    sizes = [n_in] + [width] * depth + [2]
    state = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1.0 / math.sqrt(a)
        state[f"layers.{i}.weight"] = (torch.rand(b, a, generator=g, dtype=torch.float64) * 2 - 1).mul_(bound).float()
        state[f"layers.{i}.bias"] = (torch.rand(b, generator=g, dtype=torch.float64) * 2 - 1).mul_(bound).float()
    return state


class BatchedMLP(nn.Module):
    """``G × M`` ParityMLPs (G groups, M widths per group) as one module.

    Parameters
    ----------
    n_tasks, n : int
        Control bits and data bits; the input size is ``n_tasks + n``.
    widths : sequence of int, length M
        The widths in every group.
    n_groups : int
        G.
    depth : int
        Hidden layers per member.
    seeds : sequence of int, length G, optional
        The init seed of each group's members (see :func:`init_member`); default all 0.

    Parameters (shapes): ``w_ctrl`` (G, T, H), ``w_bits`` (G, n, H), ``b_in`` (G, H),
    ``w_hid.{l}`` (G, H, H) and ``b_hid.{l}`` (G, H) for deeper layers, ``w_out`` (G, H, 2M),
    ``b_out`` (G, 2M). Off-block entries of ``w_hid`` and ``w_out`` are zero and masked in the
    forward pass, so they get zero gradient and stay zero under AdamW.
    """

    def __init__(self, n_tasks: int, n: int, widths: Sequence[int], n_groups: int, depth: int = 1,
                 seeds: Sequence[int] | None = None):
        super().__init__()
        self.n_tasks, self.n, self.depth = int(n_tasks), int(n), int(depth)
        self.widths = [int(w) for w in widths]
        G, M, H = int(n_groups), len(self.widths), sum(self.widths)
        self.G, self.M, self.H = G, M, H
        seeds = [0] * G if seeds is None else [int(s) for s in seeds]
        offsets = [0]
        for w in self.widths:
            offsets.append(offsets[-1] + w)
        self.offsets = offsets
        unit_member = torch.repeat_interleave(torch.arange(M), torch.tensor(self.widths))  # (H,)
        self.register_buffer("unit_member", unit_member, persistent=False)
        self.register_buffer("hid_mask", (unit_member[:, None] == unit_member[None, :]).float(), persistent=False)
        out_member = torch.arange(2 * M) // 2
        self.register_buffer("out_mask", (unit_member[:, None] == out_member[None, :]).float(), persistent=False)

        w_ctrl = torch.zeros(G, n_tasks, H)
        w_bits = torch.zeros(G, n, H)
        b_in = torch.zeros(G, H)
        w_hid = [torch.zeros(G, H, H) for _ in range(depth - 1)]
        b_hid = [torch.zeros(G, H) for _ in range(depth - 1)]
        w_out = torch.zeros(G, H, 2 * M)
        b_out = torch.zeros(G, 2 * M)
        for g in range(G):
            for m, w in enumerate(self.widths):
                st = init_member(n_tasks + n, w, depth, seeds[g])
                s = slice(offsets[m], offsets[m + 1])
                w_ctrl[g, :, s] = st["layers.0.weight"][:, :n_tasks].T
                w_bits[g, :, s] = st["layers.0.weight"][:, n_tasks:].T
                b_in[g, s] = st["layers.0.bias"]
                for layer in range(depth - 1):
                    w_hid[layer][g, s, s] = st[f"layers.{layer + 1}.weight"].T
                    b_hid[layer][g, s] = st[f"layers.{layer + 1}.bias"]
                w_out[g, s, 2 * m:2 * m + 2] = st[f"layers.{depth}.weight"].T
                b_out[g, 2 * m:2 * m + 2] = st[f"layers.{depth}.bias"]
        self.w_ctrl = nn.Parameter(w_ctrl)
        self.w_bits = nn.Parameter(w_bits)
        self.b_in = nn.Parameter(b_in)
        self.w_hid = nn.ParameterList(nn.Parameter(t) for t in w_hid)
        self.b_hid = nn.ParameterList(nn.Parameter(t) for t in b_hid)
        self.w_out = nn.Parameter(w_out)
        self.b_out = nn.Parameter(b_out)

    def forward(self, task: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """Logits of every member.

        Parameters
        ----------
        task : torch.Tensor (G, B) int64
            Task ids (the one-hot control bits).
        bits : torch.Tensor (G, B, n) float
            Data bits.

        Returns
        -------
        torch.Tensor (G, B, M, 2)
        """
        G, B = task.shape
        rows = task + (torch.arange(G, device=task.device) * self.n_tasks)[:, None]  # (G, B)
        h = F.embedding(rows, self.w_ctrl.reshape(G * self.n_tasks, self.H))  # (G, B, H): W_ctrl[task]
        h = torch.baddbmm(h + self.b_in[:, None, :], bits, self.w_bits)  # + bits·W_bits
        h = F.relu(h)
        for w, b in zip(self.w_hid, self.b_hid):
            h = F.relu(torch.baddbmm(b[:, None, :], h, w * self.hid_mask))  # block-diagonal (G, H, H)
        out = torch.baddbmm(self.b_out[:, None, :], h, self.w_out * self.out_mask)  # (G, B, 2M)
        return out.view(G, B, self.M, 2)

    # ------------------------------------------------------------------ members
    def member_state(self, g: int, m: int) -> dict[str, torch.Tensor]:
        """Member (g, m) as a :class:`ParityMLP` state dict (CPU tensors, copies)."""
        s = slice(self.offsets[m], self.offsets[m + 1])
        st = {
            "layers.0.weight": torch.cat([self.w_ctrl[g, :, s], self.w_bits[g, :, s]], 0).T,
            "layers.0.bias": self.b_in[g, s],
        }
        for layer in range(self.depth - 1):
            st[f"layers.{layer + 1}.weight"] = self.w_hid[layer][g, s, s].T
            st[f"layers.{layer + 1}.bias"] = self.b_hid[layer][g, s]
        st[f"layers.{self.depth}.weight"] = self.w_out[g, s, 2 * m:2 * m + 2].T
        st[f"layers.{self.depth}.bias"] = self.b_out[g, 2 * m:2 * m + 2]
        return {k: v.detach().to("cpu", torch.float32).contiguous().clone() for k, v in st.items()}

    def member(self, g: int, m: int) -> ParityMLP:
        """Member (g, m) as a plain :class:`ParityMLP` (on the CPU)."""
        net = ParityMLP(self.n_tasks + self.n, self.widths[m], self.depth)
        net.load_state_dict(self.member_state(g, m))
        return net

    def param_masks(self, members: torch.Tensor) -> dict[str, torch.Tensor]:
        """Boolean masks, broadcastable to each parameter, selecting the entries of the given members.

        ``members`` is a (G, M) bool tensor. Every parameter entry belongs to exactly one member
        (off-block zeros of ``w_hid``/``w_out`` are assigned by column), so restoring the masked
        entries freezes exactly those members.
        """
        units = members[:, self.unit_member]  # (G, H)
        cols = members.repeat_interleave(2, dim=1)  # (G, 2M)
        masks = {"w_ctrl": units[:, None, :], "w_bits": units[:, None, :], "b_in": units,
                 "w_out": cols[:, None, :], "b_out": cols}
        for layer in range(self.depth - 1):
            masks[f"w_hid.{layer}"] = units[:, None, :]
            masks[f"b_hid.{layer}"] = units
        return masks


def parity_ce(logits: torch.Tensor, y: torch.Tensor):
    """Per-sample cross-entropy (nats) and correctness for 2-logit outputs.

    Parameters
    ----------
    logits : torch.Tensor (..., M, 2)
    y : torch.Tensor (...) int64

    Returns
    -------
    ce : torch.Tensor (..., M), ``log(1 + exp(l_other - l_y))``
    correct : torch.Tensor (..., M) bool (argmax, ties to class 0)
    """
    d = (logits[..., 1] - logits[..., 0]).float()  # (..., M)
    sign = (1 - 2 * y).to(d.dtype)[..., None]  # +1 for y=0, -1 for y=1
    ce = F.softplus(sign * d)
    correct = (d > 0) == (y[..., None] == 1)
    return ce, correct
