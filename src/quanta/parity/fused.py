"""The fused parity step: loss and every weight gradient of a :class:`~quanta.parity.ensemble.BatchedMLP` in two
Triton kernels, without ever writing the ``B × H`` hidden activations.

Selected by ``ParityConfig.kernel``: ``"torch"`` (the default, the plain autograd path), ``"triton"`` (this module;
on CUDA, or on the CPU under ``TRITON_INTERPRET=1`` for tests) or ``"auto"`` (``"triton"`` where it can run
compiled, i.e. on CUDA with triton installed and a one-hidden-layer model without bf16; ``"torch"`` elsewhere).

It computes the same model as the plain path: the same parameters (one wide hidden layer, block-diagonal output,
row lookup for the control bits), the same loss ``Σ_members mean-CE(member)`` and the gradients of exactly that
loss, which are then handed to the same ``torch.optim.AdamW``. Only the float summation order differs (the
logit difference is summed as ``Σ h·(w1 - w0)`` instead of ``l1 - l0``; batch tiles are reduced in another
order, by atomic adds on the GPU, so the GPU result is not bitwise reproducible from run to run). With
``tf32=true`` the kernels' matrix products round their inputs to TF32, as the plain path's do.

Scope: ``depth == 1`` (the paper's models) and fp32 (``bf16`` is refused). Evaluation stays on the plain path.
See :mod:`quanta.parity.fused_kernels` for the kernels.
"""

from __future__ import annotations

import importlib.util
import os

import torch

from quanta.errors import QuantaError

from quanta.parity.config import KERNELS  # noqa: E402


def triton_available() -> bool:
    """Whether the ``triton`` package can be imported (it is an optional extra: ``pip install triton``)."""
    return importlib.util.find_spec("triton") is not None


def interpreting() -> bool:
    """Whether Triton kernels run in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "yes", "on")


def resolve_kernel(kernel: str, device, *, depth: int = 1, bf16: bool = False) -> str:
    """``"torch"`` or ``"triton"``: what ``kernel`` means on ``device`` for this model.

    ``"auto"`` picks ``"triton"`` only where it runs compiled (CUDA, triton importable, depth 1, no bf16).
    ``"triton"`` where it cannot run raises a one-line :class:`~quanta.errors.QuantaError`.
    """
    if kernel not in KERNELS:
        raise QuantaError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}", "e.g. --set kernel=torch")
    device = torch.device(device)
    if kernel == "torch":
        return "torch"
    usable = triton_available() and depth == 1 and not bf16 and (device.type == "cuda" or interpreting())
    if kernel == "auto":
        return "triton" if usable and device.type == "cuda" else "torch"
    if not triton_available():
        raise QuantaError("kernel=triton needs the triton package", "pip install triton, or --set kernel=torch")
    if depth != 1:
        raise QuantaError(f"kernel=triton covers one hidden layer (depth=1), got depth={depth}", "--set kernel=torch")
    if bf16:
        raise QuantaError("kernel=triton runs in fp32 (or TF32 with tf32=true); bf16=true is for the torch kernel",
                          "drop --set bf16=true, or --set kernel=torch")
    if device.type != "cuda" and not interpreting():
        raise QuantaError(f"kernel=triton needs a CUDA device, got {device}",
                          "--set kernel=torch, or set TRITON_INTERPRET=1 to run it (slowly) in Triton's interpreter")
    return "triton"


def _pow2(v: int, low: int = 16) -> int:
    return max(low, 1 << (int(v) - 1).bit_length())


class FusedStep:
    """Loss and gradients of a depth-1 :class:`~quanta.parity.ensemble.BatchedMLP` by the fused Triton kernels.

    Parameters
    ----------
    model : BatchedMLP
        depth 1; its parameters get their ``.grad`` set by each call.
    tf32 : bool
        TF32 inputs for the kernels' matrix products (as ``tf32=true`` does for the plain path).
    block_b, block_h : int, optional
        Tile sizes (powers of two >= 16); defaults suit an H100/H200 on CUDA and the interpreter on the CPU.
    split : int, optional
        Batch splits of the backward kernel (more programs; partial sums added atomically); default: enough to
        fill the GPU, 1 in the interpreter (deterministic).

    Calling it with ``(task (G, B), bits (G, B, n) uint8, y (G, B), row_weight (G, B), live (G, M))`` sets the
    gradients of ``Σ_{g,m} live[g, m]·Σ_b row_weight[g, b]·CE[g, b, m]`` and returns each member's loss
    ``Σ_b row_weight·CE`` (G, M), detached.
    """

    def __init__(self, model, *, tf32: bool = False, block_b: int | None = None, block_h: int | None = None,
                 split: int | None = None):
        if model.depth != 1:
            raise QuantaError(f"the fused step covers depth 1, got depth={model.depth}", "--set kernel=torch")
        self.model = model
        self.prec = "tf32" if tf32 else "ieee"
        interp = interpreting()
        self.block_b = int(block_b or (128 if interp else 64))
        self.block_h = int(block_h or (64 if interp else 64))
        self.split = split
        self.num_warps = 4 if interp else 8  # the backward tile holds two (n_pad × block_h) fp32 blocks
        self.n_pad = _pow2(model.n)
        self.m_pad = _pow2(model.M)
        self.member = model.unit_member.to(torch.int32)
        self.cols1 = (2 * model.unit_member + 1)  # (H,): each unit's column of logit 1 in w_out
        self.cols0 = 2 * model.unit_member

    def _split(self, B: int, device) -> int:
        if self.split:
            return int(self.split)
        if device.type != "cuda":
            return 1
        programs = self.model.G * -(-self.model.H // self.block_h)
        sms = torch.cuda.get_device_properties(device).multi_processor_count
        return max(1, min(-(-B // self.block_b), -(-2 * sms // programs)))

    def __call__(self, task, bits, y, row_weight, live=None) -> torch.Tensor:
        from quanta.parity.fused_kernels import kernels

        fwd, bwd = kernels()
        m = self.model
        G, B = task.shape
        H, M, T, n = m.H, m.M, m.n_tasks, m.n
        dev = task.device
        if live is None:
            live = torch.ones(G, M, device=dev)
        w_out = m.w_out.detach()
        b_out = m.b_out.detach()
        idx1 = self.cols1.expand(G, H)[..., None]
        idx0 = self.cols0.expand(G, H)[..., None]
        wdiff = (w_out.gather(2, idx1) - w_out.gather(2, idx0))[..., 0].contiguous()  # (G, H)
        bdiff = (b_out[:, 1::2] - b_out[:, 0::2]).contiguous()  # (G, M)
        task = task.contiguous()
        bits = bits.to(torch.uint8).contiguous()
        y = y.contiguous()
        rw = row_weight.to(torch.float32).contiguous()
        live = live.to(dev, torch.float32).contiguous()
        wctrl, wbits, b_in = m.w_ctrl.detach(), m.w_bits.detach(), m.b_in.detach()
        ce = torch.empty(G, B, M, device=dev)
        coef = torch.empty(G, B, M, device=dev)
        fwd[(-(-B // self.block_b), G)](
            task, bits, wctrl, wbits, b_in, wdiff, self.member, bdiff, y, rw, live, ce, coef,
            B, H, n, T, M, BLOCK_B=self.block_b, BLOCK_H=self.block_h, N_PAD=self.n_pad, M_PAD=self.m_pad,
            PREC=self.prec, num_warps=self.num_warps)
        split = self._split(B, dev)
        g_wctrl = torch.zeros_like(wctrl)
        alloc = torch.zeros if split > 1 else torch.empty
        g_wbits = alloc(wbits.shape, device=dev)
        g_bin = alloc(b_in.shape, device=dev)
        g_wdiff = alloc(G, H, device=dev)
        bwd[(-(-H // self.block_h), G, split)](
            task, bits, wctrl, wbits, b_in, wdiff, self.member, coef, g_wctrl, g_wbits, g_bin, g_wdiff,
            B, H, n, T, M, BLOCK_B=self.block_b, BLOCK_H=self.block_h, N_PAD=self.n_pad, SPLIT=split,
            PREC=self.prec, num_warps=self.num_warps)
        g_wout = torch.zeros_like(w_out)
        g_wout.scatter_(2, idx1, g_wdiff[..., None])
        g_wout.scatter_(2, idx0, -g_wdiff[..., None])
        csum = coef.sum(1)  # (G, M): ∂L/∂bdiff
        g_bout = torch.stack([-csum, csum], dim=-1).reshape(G, 2 * M)
        for p, grad in ((m.w_ctrl, g_wctrl), (m.w_bits, g_wbits), (m.b_in, g_bin), (m.w_out, g_wout),
                        (m.b_out, g_bout)):
            p.grad = grad if p.grad is None else p.grad + grad
        return torch.einsum("gbm,gb->gm", ce, rw)
