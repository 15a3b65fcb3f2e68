"""The fused Triton step (quanta.parity.fused) against the plain autograd path, under Triton's CPU interpreter."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from quanta.errors import QuantaError
from quanta.parity import fused
from quanta.parity.fused import resolve_kernel
from quanta.parity.presets import preset_config
from quanta.parity.train import SweepTrainer

HAS_TRITON = importlib.util.find_spec("triton") is not None and fused.triton_available()
needs_triton = pytest.mark.skipif(not HAS_TRITON, reason="triton >= 3.4 is not installed (pip install triton)")
INTERPRETER = HAS_TRITON and fused.interpreter_problem() is None
needs_interpreter = pytest.mark.skipif(not INTERPRETER, reason=(fused.interpreter_problem() if HAS_TRITON else None)
                                       or "triton >= 3.4 is not installed (pip install 'triton>=3.7')")
# Triton fixes its mode (compiled or interpreted) when first imported, and other tests may import it first (through
# torch), so the comparisons run in a fresh process with TRITON_INTERPRET=1 (test_fused_under_interpreter).
INNER = os.environ.get("QUANTA_FUSED_INNER") == "1"
inner = pytest.mark.skipif(not INNER, reason="runs inside test_fused_under_interpreter's subprocess")

# 2 seeds x (online, fixed D=200 < batch 256: padded rows) x 4 widths = 16 members in 4 groups
OVER = dict(seeds=[0, 1], data_sizes=[0, 200])


def test_kernel_option_resolution(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert resolve_kernel("torch", "cpu") == "torch"
    assert resolve_kernel("auto", "cpu") == "torch"  # auto never picks the interpreter
    with pytest.raises(QuantaError, match="kernel must be one of"):
        preset_config("cpu-tiny", {"kernel": "cuda"})
    with pytest.raises(QuantaError, match="fused_ctrl must be one of segments, rows"):
        preset_config("cpu-tiny", {"fused_ctrl": "atomic"})
    with pytest.raises(QuantaError, match="kernel=triton"):
        SweepTrainer(preset_config("cpu-tiny", {"kernel": "triton"}))  # no CUDA, no interpreter (or no triton)
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    if INTERPRETER:
        with pytest.raises(QuantaError, match="depth=1"):
            resolve_kernel("triton", "cpu", depth=2)
        with pytest.raises(QuantaError, match="bf16"):
            resolve_kernel("triton", "cpu", bf16=True)
        assert resolve_kernel("triton", "cpu") == "triton"


@needs_interpreter
def test_fused_under_interpreter():
    """The inner tests below, in a fresh process under Triton's CPU interpreter."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "QUANTA_FUSED_INNER": "1", "OMP_NUM_THREADS": "1"}
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join([str(root / "src")] + [p for p in [env.get("PYTHONPATH")] if p])
    r = subprocess.run([sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-p", "no:cacheprovider", __file__, "-k", "inner_"],
                       env=env, cwd=root, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0 and "5 passed" in r.stdout, r.stdout[-4000:] + r.stderr[-2000:]


@inner
def test_inner_fused_training_equals_plain_training():
    """30 AdamW steps of a 16-member sweep: the same weights and test losses as the plain path, to ~1e-6."""
    plain = SweepTrainer(preset_config("cpu-tiny", OVER))
    fused = SweepTrainer(preset_config("cpu-tiny", {**OVER, "kernel": "triton"}))
    assert fused._fused is not None and plain._fused is None
    for _ in range(30):
        plain.train_step()
        fused.train_step()
    for (name, p), q in zip(plain.model.named_parameters(), fused.model.parameters()):
        assert torch.allclose(p, q, rtol=0, atol=2e-5), (name, (p - q).abs().max().item())
    assert bool((plain.model.w_out != 0).sum() == (fused.model.w_out != 0).sum())  # off-block entries stay zero
    ep, ef = plain.evaluate(), fused.evaluate()
    assert torch.allclose(ep["loss"], ef["loss"], rtol=0, atol=1e-5)
    assert float(ep["mean_loss"].min()) < 0.69  # it did learn something, so the comparison is not vacuous


@inner
@pytest.mark.parametrize("split,ctrl", [(1, "segments"), (3, "segments"), (1, "rows"), (3, "rows")])
def test_inner_fused_gradients_equal_autograd(split, ctrl):
    """One step's loss and gradients, with frozen members, several batch tiles, (split=3) atomic partial sums, and
    ∂W_ctrl added per run of equal tasks in a tile (segments, on the batch sorted by task) or per row."""
    from quanta.parity.fused import FusedStep

    tr = SweepTrainer(preset_config("cpu-tiny", OVER))
    for _ in range(3):
        tr.train_step()
    task, bits, y = tr._batch()
    live = torch.ones(tr.G, tr.M)
    live[0, 1] = live[3, 0] = 0  # frozen members get no gradient
    losses = tr.member_losses(task, bits, y)
    tr.opt.zero_grad(set_to_none=True)
    (losses * live).sum().backward()
    want = {k: p.grad.clone() for k, p in tr.model.named_parameters()}
    tr.opt.zero_grad(set_to_none=True)
    got_losses = FusedStep(tr.model, block_b=64, block_h=32, split=split, ctrl=ctrl)(task, bits, y, tr.row_weight,
                                                                                    live)
    assert torch.allclose(got_losses, losses.detach(), rtol=0, atol=1e-6)
    for k, p in tr.model.named_parameters():
        assert torch.allclose(p.grad, want[k], rtol=1e-5, atol=1e-7), (k, (p.grad - want[k]).abs().max().item())


def test_triton_and_numpy_versions_refused_in_one_line(monkeypatch):
    """triton < 3.4 cannot run the kernels; the interpreter of triton < 3.7 cannot under numpy >= 2.4 (seen with
    triton 3.6 and numpy 2.4.6); each is one QuantaError that names the version to install."""
    import numpy

    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setattr(fused, "triton_version", lambda: (3, 3))
    with pytest.raises(QuantaError, match=r"triton >= 3\.4; triton is 3\.3"):
        resolve_kernel("triton", "cpu")
    assert resolve_kernel("auto", "cuda") == "torch"
    monkeypatch.setattr(fused, "triton_version", lambda: None)
    with pytest.raises(QuantaError, match="not installed"):
        resolve_kernel("triton", "cpu")
    monkeypatch.setattr(fused, "triton_version", lambda: (3, 6))
    monkeypatch.setattr(numpy, "__version__", "2.4.6")
    with pytest.raises(QuantaError, match=r"numpy 2\.4\.6") as err:
        resolve_kernel("triton", "cpu")
    assert "triton>=3.7" in err.value.hint
    monkeypatch.setattr(numpy, "__version__", "2.3.5")
    assert fused.interpreter_problem() is None
    monkeypatch.setattr(fused, "triton_version", lambda: (3, 7))
    monkeypatch.setattr(numpy, "__version__", "2.5.2")
    assert fused.interpreter_problem() is None


def test_auto_picks_the_fused_step_only_where_its_tiles_fit_and_it_was_measured_faster(monkeypatch):
    monkeypatch.setattr(fused, "triton_available", lambda: True)
    monkeypatch.setattr(fused, "shared_optin", lambda device: 227 * 1024)  # H100, H200
    monkeypatch.setattr(fused, "device_arch", lambda device: 90)
    # as measured on an H200 (2026-12-04): slower than the plain step, so auto keeps the plain one
    assert fused.MEASURED_SPEEDUP[90] < 1 and resolve_kernel("auto", "cuda", n=100) == "torch"
    monkeypatch.setattr(fused, "device_arch", lambda device: 100)  # never measured: the plain step too
    assert resolve_kernel("auto", "cuda", n=100) == "torch"
    monkeypatch.setattr(fused, "MEASURED_SPEEDUP", {100: 1.5})  # a GPU where it was measured faster
    assert resolve_kernel("auto", "cuda", n=100) == "triton"
    assert resolve_kernel("auto", "cuda", n=fused.AUTO_MAX_N + 1) == "torch"
    assert resolve_kernel("auto", "cuda", n=100, bf16=True) == "torch"
    monkeypatch.setattr(fused, "shared_optin", lambda device: 99 * 1024)  # sm_86 / sm_89: the tiles do not fit
    assert resolve_kernel("auto", "cuda", n=100) == "torch"


@needs_triton
def test_launch_signature_is_tritons_own_specialisation():
    """compile_ahead compiles the variant a CUDA launch would: checked against triton's own specialiser."""
    from quanta.parity import fused_kernels as fk
    from quanta.parity.fused import launch_signature

    try:
        from triton.backends.compiler import BaseBackend
        from triton.runtime.jit import native_specialize_impl
    except ImportError:
        pytest.skip("this triton has no native_specialize_impl to compare with")
    sizes = {"B": 20000, "H": 3893, "N": 100, "T": 500, "M": 1}
    signature, ones, attrs = launch_signature(fk._bwd, sizes)
    tensors = {"task_ptr": torch.int64, "bits_ptr": torch.uint8, "member_ptr": torch.int32, "y_ptr": torch.int64}
    for i, name in enumerate(signature):
        if signature[name] == "constexpr" and name not in ones:
            continue
        arg = sizes[name] if name in sizes else torch.empty(4, dtype=tensors.get(name, torch.float32))
        kind, spec = native_specialize_impl(BaseBackend, arg, False, True, True)[:2]
        assert kind == signature[name], name
        if kind == "constexpr":
            assert ones[name] == spec == 1
        else:
            assert ((i,) in attrs) == (spec == "D"), name


@needs_triton
def test_compile_ahead_for_hopper_and_a_gpu_too_small(monkeypatch):
    """The paper's Fig. 2 shape compiles for sm_90 on the CPU and fits its 227 KB of shared memory per block; the
    same forward kernel does not fit an sm_86 card's 99 KB, and the check says so (not a test that cannot fail).
    FMA contraction is quanta's choice (FP_FUSION), not triton's default, which 3.10 turns off: set that default
    off here and the kernels still compile with it."""
    from quanta.parity.fused import compile_ahead

    monkeypatch.setenv("TRITON_DEFAULT_FP_FUSION", "0")
    cfg = preset_config("paper-fig2-params", {"tf32": True})
    rows = compile_ahead(cfg, arch=90)
    assert all(r["fp_fusion"] is fused.FP_FUSION is True for r in rows), rows
    assert [(r["kernel"], r["split"]) for r in rows] == [("fwd_loss", None), ("bwd", 1), ("bwd", 2)]
    assert all(r["fits"] and 0 < r["shared_bytes"] <= 227 * 1024 for r in rows), rows
    assert {r["n_pad"] for r in rows} == {128} and rows[0]["m_pad"] == 32 and rows[0]["prec"] == "tf32"
    assert {r["ctrl"] for r in rows} == {"segments"}  # the default; fused_aot.py --fused-ctrls compiles both
    # the forward kernel's shared memory as the page and resolve_kernel's docstring quote it
    kb = round(rows[0]["shared_bytes"] / 1024)
    page = " ".join((Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md").read_text().split())
    assert f"the forward kernel's {kb} KB of shared memory allows one block per multiprocessor" in page
    assert f"the forward kernel takes about {kb} KB at n = 100" in " ".join(fused.resolve_kernel.__doc__.split())
    small = compile_ahead(cfg, arch=86, splits=())
    assert not small[0]["fits"] and small[0]["shared_limit"] == 99 * 1024
    with pytest.raises(QuantaError, match="arch must be one of"):
        compile_ahead(cfg, arch=75)


def test_fused_aot_refuses_bad_input_in_one_line(capsys):
    from conftest import load_benchmark

    aot = load_benchmark("fused_aot")
    for argv in (["--preset", "nope"], ["--preset", "cpu-tiny", "--set", "foo"],
                 ["--preset", "cpu-tiny", "--fused-ctrls", "atomic"]):
        assert aot.main(argv) == 2
        assert len(capsys.readouterr().out.strip().splitlines()) == 1
