"""Triton kernels of the fused parity step (imported only when ``kernel="triton"`` is used; needs ``triton``).

Notation (one group ``g``; every group is one more grid axis): a batch of ``B`` rows ``(task, bits, y)``, ``H``
hidden units in ``M`` members (unit ``j`` belongs to member ``member[j]``), ``n`` data bits, ``T`` tasks.

* ``pre[b, j] = W_ctrl[task_b, j] + b_in[j] + Σ_i bits[b, i]·W_bits[i, j]``, ``h = relu(pre)``
* ``d[b, m] = Σ_{j ∈ m} h[b, j]·wdiff[j] + bdiff[m]``: the logit difference ``l1 - l0`` of member m, where
  ``wdiff[j] = W_out[j, 2m+1] - W_out[j, 2m]`` and ``bdiff[m] = b_out[2m+1] - b_out[2m]``
* ``ce = softplus(s·d)`` with ``s = 1 - 2y``; ``coef[b, m] = ∂L/∂d = rw[b]·live[m]·s·sigmoid(s·d)``

``fwd_loss`` computes ``ce`` and ``coef`` per batch tile, looping over the hidden units and never writing ``h``.
``bwd`` recomputes ``pre`` per (hidden tile, batch tile) and accumulates every weight gradient:
``∂W_bits = bitsᵀ·dh``, ``∂b_in = Σ_b dh``, ``∂W_ctrl[task_b] += dh[b]`` (atomic adds),
``∂wdiff = Σ_b h·coef[b, member]``, with ``dh = coef[b, member[j]]·wdiff[j]·[pre > 0]``.
With ``SEGMENTS`` the batch arrives sorted by task, and ``∂W_ctrl`` gets one atomic add per run of equal tasks in a
batch tile instead of one per row: the run sums come from one more product per tile, ``[same run] · dh``
(BLOCK_B × BLOCK_B by BLOCK_B × BLOCK_H, TF32 inputs with ``tf32``, like the other products). Zipf batches hold long
runs of the frequent tasks, so this cuts the B × H atomic adds, many on the same rows, by about the mean run length.

The kernel bodies are plain functions; :func:`kernels` wraps them with ``triton.jit`` at call time, so the choice
between the compiled path and the interpreter (``TRITON_INTERPRET=1``) is read when they are first used.
"""

from __future__ import annotations

import functools

import triton
import triton.language as tl


def _fwd_loss(task_ptr, bits_ptr, wctrl_ptr, wbits_ptr, bin_ptr, wdiff_ptr, member_ptr, bdiff_ptr, y_ptr, rw_ptr,
              live_ptr, ce_ptr, coef_ptr,
              B, H, N, T, M,
              BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, N_PAD: tl.constexpr, M_PAD: tl.constexpr,
              PREC: tl.constexpr):
    pid_b = tl.program_id(0)
    g = tl.program_id(1)
    offs_b = pid_b * BLOCK_B + tl.arange(0, BLOCK_B)
    bmask = offs_b < B
    offs_n = tl.arange(0, N_PAD)
    nmask = offs_n < N
    offs_m = tl.arange(0, M_PAD)
    mmask = offs_m < M
    task = tl.load(task_ptr + g * B + offs_b, mask=bmask, other=0)
    bits = tl.load(bits_ptr + (g * B + offs_b[:, None]) * N + offs_n[None, :],
                   mask=bmask[:, None] & nmask[None, :], other=0).to(tl.float32)
    acc = tl.zeros((BLOCK_B, M_PAD), dtype=tl.float32)
    for h0 in range(0, H, BLOCK_H):
        offs_h = h0 + tl.arange(0, BLOCK_H)
        hmask = offs_h < H
        wb = tl.load(wbits_ptr + (g * N + offs_n[:, None]) * H + offs_h[None, :],
                     mask=nmask[:, None] & hmask[None, :], other=0.0)
        pre = tl.dot(bits, wb, input_precision=PREC)
        pre += tl.load(wctrl_ptr + (g * T + task[:, None]) * H + offs_h[None, :],
                       mask=bmask[:, None] & hmask[None, :], other=0.0)
        pre += tl.load(bin_ptr + g * H + offs_h, mask=hmask, other=0.0)[None, :]
        h = tl.maximum(pre, 0.0)
        wd = tl.load(wdiff_ptr + g * H + offs_h, mask=hmask, other=0.0)
        mem = tl.load(member_ptr + offs_h, mask=hmask, other=-1)
        onehot = (mem[:, None] == offs_m[None, :]).to(tl.float32)  # (BLOCK_H, M_PAD): unit -> member
        acc += tl.dot(h * wd[None, :], onehot, input_precision=PREC)
    d = acc + tl.load(bdiff_ptr + g * M + offs_m, mask=mmask, other=0.0)[None, :]
    y = tl.load(y_ptr + g * B + offs_b, mask=bmask, other=0)
    s = (1 - 2 * y).to(tl.float32)
    z = s[:, None] * d
    ce = tl.maximum(z, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(z)))  # softplus(z)
    sig = 1.0 / (1.0 + tl.exp(-z))
    rw = tl.load(rw_ptr + g * B + offs_b, mask=bmask, other=0.0)
    live = tl.load(live_ptr + g * M + offs_m, mask=mmask, other=0.0)
    coef = rw[:, None] * live[None, :] * s[:, None] * sig
    out = (g * B + offs_b[:, None]) * M + offs_m[None, :]
    omask = bmask[:, None] & mmask[None, :]
    tl.store(ce_ptr + out, ce, mask=omask)
    tl.store(coef_ptr + out, coef, mask=omask)


def _bwd(task_ptr, bits_ptr, wctrl_ptr, wbits_ptr, bin_ptr, wdiff_ptr, member_ptr, coef_ptr,
         gwctrl_ptr, gwbits_ptr, gbin_ptr, gwdiff_ptr,
         B, H, N, T, M,
         BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, N_PAD: tl.constexpr, SPLIT: tl.constexpr,
         PREC: tl.constexpr, SEGMENTS: tl.constexpr):
    pid_h = tl.program_id(0)
    g = tl.program_id(1)
    pid_s = tl.program_id(2)
    offs_h = pid_h * BLOCK_H + tl.arange(0, BLOCK_H)
    hmask = offs_h < H
    offs_n = tl.arange(0, N_PAD)
    nmask = offs_n < N
    wb = tl.load(wbits_ptr + (g * N + offs_n[:, None]) * H + offs_h[None, :],
                 mask=nmask[:, None] & hmask[None, :], other=0.0)
    bias = tl.load(bin_ptr + g * H + offs_h, mask=hmask, other=0.0)
    wd = tl.load(wdiff_ptr + g * H + offs_h, mask=hmask, other=0.0)
    mem = tl.load(member_ptr + offs_h, mask=hmask, other=0)
    acc_wb = tl.zeros((N_PAD, BLOCK_H), dtype=tl.float32)
    acc_b = tl.zeros((BLOCK_H,), dtype=tl.float32)
    acc_wd = tl.zeros((BLOCK_H,), dtype=tl.float32)
    for b0 in range(pid_s * BLOCK_B, B, SPLIT * BLOCK_B):
        offs_b = b0 + tl.arange(0, BLOCK_B)
        bmask = offs_b < B
        bhmask = bmask[:, None] & hmask[None, :]
        task = tl.load(task_ptr + g * B + offs_b, mask=bmask, other=0)
        bits = tl.load(bits_ptr + (g * B + offs_b[:, None]) * N + offs_n[None, :],
                       mask=bmask[:, None] & nmask[None, :], other=0).to(tl.float32)
        ctrl = wctrl_ptr + (g * T + task[:, None]) * H + offs_h[None, :]
        pre = tl.dot(bits, wb, input_precision=PREC) + tl.load(ctrl, mask=bhmask, other=0.0) + bias[None, :]
        h = tl.maximum(pre, 0.0)
        c = tl.load(coef_ptr + (g * B + offs_b[:, None]) * M + mem[None, :], mask=bhmask, other=0.0)
        dh = tl.where(pre > 0, c * wd[None, :], 0.0)
        acc_wb += tl.dot(tl.trans(bits), dh, input_precision=PREC)
        acc_b += tl.sum(dh, axis=0)
        acc_wd += tl.sum(h * c, axis=0)
        if SEGMENTS:  # tasks sorted: sum each run of equal tasks in the tile, add it once at the run's last row
            prev = tl.load(task_ptr + g * B + offs_b - 1, mask=bmask & (offs_b > b0), other=-1)
            nxt = tl.load(task_ptr + g * B + offs_b + 1, mask=(offs_b + 1 < B) & (offs_b + 1 < b0 + BLOCK_B),
                          other=-1)
            run_id = tl.cumsum((task != prev).to(tl.int32), axis=0)  # the run each row belongs to
            same = (run_id[:, None] == run_id[None, :]).to(tl.float32)  # (BLOCK_B, BLOCK_B): rows of one run
            run = tl.dot(same, dh, input_precision=PREC)  # each row: its run's sum (used at the run's last row)
            last = bmask & (task != nxt)
            tl.atomic_add(gwctrl_ptr + (g * T + task[:, None]) * H + offs_h[None, :], run,
                          mask=last[:, None] & hmask[None, :])
        else:
            tl.atomic_add(gwctrl_ptr + (g * T + task[:, None]) * H + offs_h[None, :], dh, mask=bhmask)
    wb_out = gwbits_ptr + (g * N + offs_n[:, None]) * H + offs_h[None, :]
    wb_mask = nmask[:, None] & hmask[None, :]
    if SPLIT == 1:
        tl.store(wb_out, acc_wb, mask=wb_mask)
        tl.store(gbin_ptr + g * H + offs_h, acc_b, mask=hmask)
        tl.store(gwdiff_ptr + g * H + offs_h, acc_wd, mask=hmask)
    else:
        tl.atomic_add(wb_out, acc_wb, mask=wb_mask)
        tl.atomic_add(gbin_ptr + g * H + offs_h, acc_b, mask=hmask)
        tl.atomic_add(gwdiff_ptr + g * H + offs_h, acc_wd, mask=hmask)


@functools.lru_cache(maxsize=2)
def _jitted(interpret: bool):
    return triton.jit(_fwd_loss), triton.jit(_bwd)


def kernels():
    """``(fwd_loss, bwd)``, jitted for the current mode (compiled, or the interpreter under TRITON_INTERPRET=1).

    Triton builds its own library functions (``tl.zeros``, ...) for one mode when it is first imported, so the
    mode cannot change afterwards: a mismatch raises a one-line QuantaError.
    """
    from quanta.errors import QuantaError
    from triton.runtime.interpreter import InterpretedFunction

    interpret = bool(triton.knobs.runtime.interpret)
    if interpret != isinstance(tl.zeros, InterpretedFunction):
        raise QuantaError(f"triton was imported with TRITON_INTERPRET={'0' if interpret else '1'} and cannot switch "
                          "modes in this process", "set TRITON_INTERPRET before Python starts")
    return _jitted(interpret)
