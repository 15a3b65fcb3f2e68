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

from quanta.parity.config import FUSED_CTRL, KERNELS  # noqa: E402


#: The oldest triton the kernels run with: ``triton.knobs`` (read by :func:`~quanta.parity.fused_kernels.kernels`)
#: appeared in 3.4 (3.3 compiles the kernels but has no knobs; 3.2 fails to compile them).
TRITON_MIN = (3, 4)
#: Triton's interpreter before 3.7 turns a scalar argument into a 1-element array and calls ``int()`` on it, which
#: numpy 2.4 refuses (``only 0-dimensional arrays can be converted``). Checked on the CPU: 3.6.0 fails with numpy
#: 2.4.6 and passes with 2.3.5 (as 3.4.0 and 3.5.1 do); 3.7.1 and 3.8.0 pass with 2.4.6. The compiled path does
#: not use numpy and is unaffected.
INTERPRETER_NUMPY = {"triton": (3, 7), "numpy": (2, 4)}

#: Tiles and warps of the compiled kernels (CUDA) and of the interpreter; see :class:`FusedStep`.
CUDA_TILES = {"block_b": 64, "block_h": 64, "num_warps": 8}
INTERPRETER_TILES = {"block_b": 128, "block_h": 64, "num_warps": 4}
#: The fused step's speed against the plain step's (TF32 both) at the Fig. 2 shape, as measured on a GPU of each
#: compute capability (``benchmarks/gpu_run.sh`` step 0; docs/benchmarks.md): ``kernel="auto"`` picks the fused step
#: only where this is above 1. sm_90: an H200 on 2026-12-04, 3.772 ms against 2.873 ms with ``fused_ctrl=segments``.
MEASURED_SPEEDUP = {90: 0.76}
#: ``kernel="auto"`` picks the fused step only up to this many data bits (the widest ``N_PAD`` checked, 128) and on
#: GPUs with at least this much shared memory per block (sm_80, sm_90, sm_100; the consumer sm_86/89/120 have 99 KB).
AUTO_MAX_N, AUTO_SHARED = 128, 160 * 1024
#: Dynamic shared memory one block may opt into, in bytes, by compute capability (CUDA programming guide,
#: "Technical Specifications per Compute Capability"); what :func:`compile_ahead` checks a kernel against.
SHARED_LIMIT = {80: 163 * 1024, 86: 99 * 1024, 89: 99 * 1024, 90: 227 * 1024, 100: 227 * 1024, 120: 99 * 1024}
#: Whether the compiled kernels may contract a multiply and an add into one FMA (triton's ``enable_fp_fusion``).
#: Set here, not left to triton's default: that default is on up to 3.9, which warns that 3.10 turns it off, so a
#: newer triton would otherwise change the fused step's rounding unannounced. The plain path's cuBLAS products fuse
#: too. The interpreter (numpy) never fuses.
FP_FUSION = True


def tile_problems(block_b: int, block_h: int, num_warps: int, num_stages: int | None = None) -> list[str]:
    """What is wrong with a tile of the fused kernels (empty when nothing): block sizes are powers of two >= 16,
    ``num_warps`` one of 1, 2, 4, 8, 16 and ``num_stages`` (None: triton's choice) at least 1."""
    bad = [f"{k} {v}" for k, v in (("block_b", block_b), ("block_h", block_h)) if v < 16 or v & (v - 1)]
    bad += [f"num_warps {num_warps}"] if num_warps not in (1, 2, 4, 8, 16) else []
    return bad + ([f"num_stages {num_stages}"] if num_stages is not None and num_stages < 1 else [])


def launch_options(num_warps: int, num_stages: int | None = None) -> dict:
    """The compile options of the fused kernels, as :class:`FusedStep` launches them and :func:`compile_ahead`
    compiles them (triton picks the pipelining stages unless ``num_stages`` is given)."""
    return {"num_warps": int(num_warps), "enable_fp_fusion": FP_FUSION,
            **({"num_stages": int(num_stages)} if num_stages else {})}


def _dotted(version: tuple[int, int]) -> str:
    return ".".join(map(str, version))


def _version(text: str) -> tuple[int, int]:
    major, minor = (text.split("+")[0].split(".") + ["0"])[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def triton_version() -> tuple[int, int] | None:
    """``(major, minor)`` of the installed triton, or None when it is not installed."""
    if importlib.util.find_spec("triton") is None:
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        return _version(version("triton"))
    except PackageNotFoundError:  # a source tree on the path: ask the module
        import triton

        return _version(triton.__version__)


def triton_available() -> bool:
    """Whether a triton the kernels run with (>= :data:`TRITON_MIN`) is installed (an optional extra)."""
    v = triton_version()
    return v is not None and v >= TRITON_MIN


def interpreting() -> bool:
    """Whether Triton kernels run in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "yes", "on")


def interpreter_problem() -> str | None:
    """Why Triton's interpreter cannot run the kernels with the installed triton and numpy, or None."""
    import numpy

    v, npv = triton_version(), _version(numpy.__version__)
    if v is not None and v < INTERPRETER_NUMPY["triton"] and npv >= INTERPRETER_NUMPY["numpy"]:
        return (f"triton {_dotted(v)}'s interpreter cannot run with numpy {numpy.__version__} (its scalar "
                f"arguments fail int()); the compiled CUDA path is unaffected")
    return None


def shared_optin(device) -> int:
    """The shared memory one block may opt into on a CUDA ``device``, in bytes."""
    props = torch.cuda.get_device_properties(device)
    optin = getattr(props, "shared_memory_per_block_optin", None)
    return int(optin) if optin else SHARED_LIMIT.get(10 * props.major + props.minor, 0)


def device_arch(device) -> int:
    """A CUDA device's compute capability as one number (90 for an H100 or H200)."""
    major, minor = torch.cuda.get_device_capability(device)
    return 10 * major + minor


def resolve_kernel(kernel: str, device, *, depth: int = 1, bf16: bool = False, n: int | None = None) -> str:
    """``"torch"`` or ``"triton"``: what ``kernel`` means on ``device`` for this model (``n`` data bits).

    ``"auto"`` picks ``"triton"`` only where it runs compiled (CUDA, triton importable, depth 1, no bf16), its
    tiles are known to fit (``n <= AUTO_MAX_N`` on a GPU with at least ``AUTO_SHARED`` bytes of shared memory per
    block: A100, H100, H200, B200; the forward kernel takes about 146 KB at n = 100, :func:`compile_ahead`) and it was
    measured faster than the plain step on a GPU of that compute capability (:data:`MEASURED_SPEEDUP`): so far on
    none, so ``"auto"`` means ``"torch"`` everywhere until a measurement says otherwise.
    ``"triton"`` where it cannot run raises a one-line :class:`~quanta.errors.QuantaError`.
    """
    if kernel not in KERNELS:
        raise QuantaError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}", "e.g. --set kernel=torch")
    device = torch.device(device)
    if kernel == "torch":
        return "torch"
    usable = triton_available() and depth == 1 and not bf16 and (device.type == "cuda" or interpreting())
    if kernel == "auto":
        roomy = usable and device.type == "cuda" and (n is None or n <= AUTO_MAX_N)
        faster = roomy and MEASURED_SPEEDUP.get(device_arch(device), 0.0) > 1.0
        return "triton" if faster and shared_optin(device) >= AUTO_SHARED else "torch"
    if not triton_available():
        v = triton_version()
        have = "is not installed" if v is None else f"is {_dotted(v)}"
        need = _dotted(TRITON_MIN)
        raise QuantaError(f"kernel=triton needs triton >= {need}; triton {have}",
                          f"pip install 'triton>={need}', or --set kernel=torch")
    if depth != 1:
        raise QuantaError(f"kernel=triton covers one hidden layer (depth=1), got depth={depth}", "--set kernel=torch")
    if bf16:
        raise QuantaError("kernel=triton runs in fp32 (or TF32 with tf32=true); bf16=true is for the torch kernel",
                          "drop --set bf16=true, or --set kernel=torch")
    if device.type != "cuda" and not interpreting():
        raise QuantaError(f"kernel=triton needs a CUDA device, got {device}",
                          "--set kernel=torch, or set TRITON_INTERPRET=1 to run it (slowly) in Triton's interpreter")
    problem = interpreter_problem() if device.type != "cuda" else None
    if problem:
        need = _dotted(INTERPRETER_NUMPY["triton"])
        raise QuantaError(problem, f"pip install 'triton>={need}' (or numpy<2.4), or --set kernel=torch")
    return "triton"


def _pow2(v: int, low: int = 16) -> int:
    return max(low, 1 << (int(v) - 1).bit_length())


#: Element types of the kernels' pointer arguments, as :meth:`FusedStep.__call__` passes them (fp32 elsewhere).
_POINTER_TYPES = {"task_ptr": "*i64", "bits_ptr": "*u8", "member_ptr": "*i32", "y_ptr": "*i64"}


def launch_signature(fn, sizes: dict[str, int]) -> tuple[dict, dict, dict]:
    """``(signature, constexprs, attrs)`` of a fused kernel as Triton's JIT specialises a CUDA launch of it: pointers
    (torch allocations, 16-byte aligned) and integer sizes divisible by 16 get a divisibility hint, a size equal to
    1 becomes a constant; ``sizes`` gives ``B, H, N, T, M``. Constexpr arguments are left to the caller."""
    import inspect

    signature, constexprs, attrs = {}, {}, {}
    for i, (name, par) in enumerate(inspect.signature(fn).parameters.items()):
        if "constexpr" in str(par.annotation):
            signature[name] = "constexpr"
        elif name.endswith("_ptr"):
            signature[name] = _POINTER_TYPES.get(name, "*fp32")
            attrs[(i,)] = [["tt.divisibility", 16]]
        elif sizes[name] == 1:
            signature[name], constexprs[name] = "constexpr", 1
        else:
            signature[name] = "i32"
            if sizes[name] % 16 == 0:
                attrs[(i,)] = [["tt.divisibility", 16]]
    return signature, constexprs, attrs


def compile_ahead(cfg, *, arch: int = 90, splits: tuple[int, ...] = (1, 2), tiles: dict | None = None) -> list[dict]:
    """Compile the fused step's kernels ahead of time for an NVIDIA GPU of compute capability ``arch`` (90: H100,
    H200), as :class:`FusedStep` launches them on CUDA for a parity config (its tiles, warps, sizes and precision).

    Needs triton (it carries its own ``ptxas``) but no GPU: it shows on the CPU whether the kernels compile with the
    installed triton and whether each fits the GPU's shared memory (:data:`SHARED_LIMIT`), the failures a GPU run
    would otherwise meet first. ``splits`` are the backward kernel's variants (1: plain stores; more: atomic adds).
    The batch size taken is ``cfg.batch_size`` (a sweep of fixed-D members all below it launches a smaller one).
    ``tiles`` overrides :data:`CUDA_TILES` (``block_b``, ``block_h``, ``num_warps``) and may add ``num_stages``, as
    :class:`FusedStep` takes them.

    Returns one row per kernel variant: ``kernel``, ``split``, ``prec``, ``ctrl``, ``tiles``, ``n_pad``, ``m_pad``,
    ``shared_bytes``, ``shared_limit``, ``fits``, ``fp_fusion`` (as compiled: :data:`FP_FUSION`), ``seconds``. A
    kernel that fails to compile raises triton's error.
    """
    import time

    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from quanta.parity import fused_kernels as fk

    if not triton_available():
        raise QuantaError(f"compiling the fused kernels needs triton >= {_dotted(TRITON_MIN)}",
                          "pip install triton")
    if arch not in SHARED_LIMIT:
        raise QuantaError(f"arch must be one of {', '.join(map(str, SHARED_LIMIT))}, got {arch}", "e.g. arch=90")
    t = {**CUDA_TILES, **(tiles or {})}
    sizes = {"B": cfg.batch_size, "H": sum(cfg.widths), "N": cfg.n, "T": cfg.n_tasks, "M": len(cfg.widths)}
    prec = "tf32" if cfg.tf32 else "ieee"
    common = dict(BLOCK_B=t["block_b"], BLOCK_H=t["block_h"], N_PAD=_pow2(cfg.n), PREC=prec)
    variants = [(fk._fwd_loss, None, {**common, "M_PAD": _pow2(len(cfg.widths))})]
    variants += [(fk._bwd, int(sp), {**common, "SPLIT": int(sp), "SEGMENTS": cfg.fused_ctrl == "segments"})
                 for sp in splits]
    rows = []
    for fn, split, const in variants:
        signature, ones, attrs = launch_signature(fn, sizes)
        t0 = time.perf_counter()
        options = launch_options(t["num_warps"], t.get("num_stages"))
        compiled = triton.compile(ASTSource(triton.jit(fn), signature, {**const, **ones}, attrs),
                                  target=GPUTarget("cuda", arch, 32), options=options)
        shared = int(compiled.metadata.shared)
        rows.append({"kernel": fn.__name__.lstrip("_"), "split": split, "prec": prec, "ctrl": cfg.fused_ctrl,
                     "tiles": t, "n_pad": const["N_PAD"], "m_pad": const.get("M_PAD"), "shared_bytes": shared,
                     "shared_limit": SHARED_LIMIT[arch], "fp_fusion": bool(compiled.metadata.enable_fp_fusion),
                     "fits": shared <= SHARED_LIMIT[arch], "seconds": round(time.perf_counter() - t0, 2)})
    return rows


class FusedStep:
    """Loss and gradients of a depth-1 :class:`~quanta.parity.ensemble.BatchedMLP` by the fused Triton kernels.

    Parameters
    ----------
    model : BatchedMLP
        depth 1; its parameters get their ``.grad`` set by each call.
    tf32 : bool
        TF32 inputs for the kernels' matrix products (as ``tf32=true`` does for the plain path).
    block_b, block_h : int, optional
        Tile sizes (powers of two >= 16); defaults :data:`CUDA_TILES` on CUDA and :data:`INTERPRETER_TILES` on the
        CPU. The H200's first timing (docs/benchmarks.md) found the CUDA defaults slower than the plain path;
        ``benchmarks/fused_tiles.py`` times other tiles.
    num_warps, num_stages : int, optional
        Warps per program (default from the same tiles) and software-pipelining stages of the kernels' loops
        (default: triton's). Fewer stages take less shared memory, so more programs fit one multiprocessor.
    split : int, optional
        Batch splits of the backward kernel (more programs; partial sums added atomically); default: enough to
        fill the GPU, 1 in the interpreter (deterministic).
    ctrl : {"segments", "rows"}
        How ``∂W_ctrl`` is added (``ParityConfig.fused_ctrl``): ``"segments"`` sorts each group's batch by task
        and adds one partial sum per run of equal tasks in a batch tile; ``"rows"`` adds every row atomically.
        The loss and gradients are the same sums in another order (the batch is a set: its order does not enter).

    Calling it with ``(task (G, B), bits (G, B, n) uint8, y (G, B), row_weight (G, B), live (G, M))`` sets the
    gradients of ``Σ_{g,m} live[g, m]·Σ_b row_weight[g, b]·CE[g, b, m]`` and returns each member's loss
    ``Σ_b row_weight·CE`` (G, M), detached.
    """

    def __init__(self, model, *, tf32: bool = False, block_b: int | None = None, block_h: int | None = None,
                 split: int | None = None, ctrl: str = "segments", num_warps: int | None = None,
                 num_stages: int | None = None):
        if model.depth != 1:
            raise QuantaError(f"the fused step covers depth 1, got depth={model.depth}", "--set kernel=torch")
        if ctrl not in FUSED_CTRL:
            raise QuantaError(f"ctrl must be one of {', '.join(FUSED_CTRL)}, got {ctrl!r}", "e.g. ctrl='segments'")
        self.segments = ctrl == "segments"
        self.model = model
        self.prec = "tf32" if tf32 else "ieee"
        tiles = INTERPRETER_TILES if interpreting() else CUDA_TILES
        self.block_b = int(block_b or tiles["block_b"])
        self.block_h = int(block_h or tiles["block_h"])
        self.split = split
        self.num_warps = int(num_warps or tiles["num_warps"])  # the backward tile holds two (n_pad × block_h) blocks
        bad = tile_problems(self.block_b, self.block_h, self.num_warps, num_stages)
        if bad:
            raise QuantaError(f"the fused step's tile: {', '.join(bad)} (block sizes are powers of two >= 16, "
                              "num_warps one of 1, 2, 4, 8, 16, num_stages >= 1)", "e.g. block_b=64, block_h=64")
        # triton picks the stages unless told (its choice is what the timing of 2026-12-04 used)
        self.launch = launch_options(self.num_warps, num_stages)
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
        bits, rw = bits.to(torch.uint8), row_weight.to(torch.float32)
        if self.segments:  # each group's rows in task order: equal tasks form runs the backward sums before adding
            task, order = torch.sort(task, dim=1)
            bits = bits.gather(1, order[..., None].expand(-1, -1, bits.shape[-1]))
            y, rw = y.gather(1, order), rw.gather(1, order)
        task, bits, y, rw = task.contiguous(), bits.contiguous(), y.contiguous(), rw.contiguous()
        live = live.to(dev, torch.float32).contiguous()
        wctrl, wbits, b_in = m.w_ctrl.detach(), m.w_bits.detach(), m.b_in.detach()
        ce = torch.empty(G, B, M, device=dev)
        coef = torch.empty(G, B, M, device=dev)
        from triton.runtime.errors import OutOfResources

        try:
            fwd[(-(-B // self.block_b), G)](
                task, bits, wctrl, wbits, b_in, wdiff, self.member, bdiff, y, rw, live, ce, coef,
                B, H, n, T, M, BLOCK_B=self.block_b, BLOCK_H=self.block_h, N_PAD=self.n_pad, M_PAD=self.m_pad,
                PREC=self.prec, **self.launch)
            split = self._split(B, dev)
            g_wctrl = torch.zeros_like(wctrl)
            alloc = torch.zeros if split > 1 else torch.empty
            g_wbits = alloc(wbits.shape, device=dev)
            g_bin = alloc(b_in.shape, device=dev)
            g_wdiff = alloc(G, H, device=dev)
            bwd[(-(-H // self.block_h), G, split)](
                task, bits, wctrl, wbits, b_in, wdiff, self.member, coef, g_wctrl, g_wbits, g_bin, g_wdiff,
                B, H, n, T, M, BLOCK_B=self.block_b, BLOCK_H=self.block_h, N_PAD=self.n_pad, SPLIT=split,
                PREC=self.prec, SEGMENTS=self.segments, **self.launch)
        except OutOfResources as e:  # a GPU with less shared memory per block than the tiles take
            raise QuantaError(f"the fused kernels' tiles do not fit this GPU ({e})", "--set kernel=torch") from e
        g_wout = torch.zeros_like(w_out)
        g_wout.scatter_(2, idx1, g_wdiff[..., None])
        g_wout.scatter_(2, idx0, -g_wdiff[..., None])
        csum = coef.sum(1)  # (G, M): ∂L/∂bdiff
        g_bout = torch.stack([-csum, csum], dim=-1).reshape(G, 2 * M)
        for p, grad in ((m.w_ctrl, g_wctrl), (m.w_bits, g_wbits), (m.b_in, g_bin), (m.w_out, g_wout),
                        (m.b_out, g_bout)):
            p.grad = grad if p.grad is None else p.grad + grad
        return torch.einsum("gbm,gb->gm", ce, rw)
