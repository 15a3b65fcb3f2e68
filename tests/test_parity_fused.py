"""The fused Triton step (quanta.parity.fused) against the plain autograd path, under Triton's CPU interpreter."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from quanta.errors import QuantaError
from quanta.parity.fused import resolve_kernel
from quanta.parity.presets import preset_config
from quanta.parity.train import SweepTrainer

HAS_TRITON = importlib.util.find_spec("triton") is not None
needs_triton = pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed (pip install triton)")
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
    with pytest.raises(QuantaError, match="kernel=triton"):
        SweepTrainer(preset_config("cpu-tiny", {"kernel": "triton"}))  # no CUDA, no interpreter (or no triton)
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    if HAS_TRITON:
        with pytest.raises(QuantaError, match="depth=1"):
            resolve_kernel("triton", "cpu", depth=2)
        with pytest.raises(QuantaError, match="bf16"):
            resolve_kernel("triton", "cpu", bf16=True)
        assert resolve_kernel("triton", "cpu") == "triton"


@needs_triton
def test_fused_under_interpreter():
    """The inner tests below, in a fresh process under Triton's CPU interpreter."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "QUANTA_FUSED_INNER": "1", "OMP_NUM_THREADS": "1"}
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join([str(root / "src")] + [p for p in [env.get("PYTHONPATH")] if p])
    r = subprocess.run([sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-p", "no:cacheprovider", __file__, "-k", "inner_"],
                       env=env, cwd=root, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0 and "3 passed" in r.stdout, r.stdout[-4000:] + r.stderr[-2000:]


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
@pytest.mark.parametrize("split", [1, 3])
def test_inner_fused_gradients_equal_autograd(split):
    """One step's loss and gradients, with frozen members, several batch tiles and (split=3) atomic partial sums."""
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
    got_losses = FusedStep(tr.model, block_b=64, block_h=32, split=split)(task, bits, y, tr.row_weight, live)
    assert torch.allclose(got_losses, losses.detach(), rtol=0, atol=1e-6)
    for k, p in tr.model.named_parameters():
        assert torch.allclose(p.grad, want[k], rtol=1e-5, atol=1e-7), (k, (p.grad - want[k]).abs().max().item())
