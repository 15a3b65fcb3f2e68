"""benchmarks/fused_tiles.py: where the parity step's time goes, and the fused step over a grid of tiles. On the
CPU the timings mean nothing; what is checked is that every tile computes the plain path's gradients, that a tile
which cannot run is recorded rather than fatal, and that a call cut short keeps what it measured."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import load_benchmark
from test_parity_fused import needs_interpreter

from quanta.errors import QuantaError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiles():
    return load_benchmark("fused_tiles")


def test_tile_names_parse_and_print_back(tiles):
    got = tiles.parse_tiles("64x64x8, 128x32x4s1,")
    assert got == [{"block_b": 64, "block_h": 64, "num_warps": 8},
                   {"block_b": 128, "block_h": 32, "num_warps": 4, "num_stages": 1}]
    assert [tiles.tile_name(t) for t in got] == ["64x64x8", "128x32x4s1"]
    assert [tiles.tile_name(t) for t in tiles.parse_tiles(tiles.GRID)] == tiles.GRID.split(",")
    for bad in ("64x64", "64x64x8s", "big", ",", "24x16x4", "8x64x4", "64x64x3", "64x64x8s0"):
        with pytest.raises(QuantaError):
            tiles.parse_tiles(bad)


def test_bad_input_is_one_line(tiles, monkeypatch, capsys):
    """Each bad input is refused in one line with exit 2 (in this process, which is quick); one of them also as a
    command, to see that nothing reaches stderr as a traceback."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)  # --device cpu without the interpreter: refused
    cases = (["--tiles", "64by64"], ["--tiles", "24x16x4"], ["--preset", "no-such-preset"], ["--device", "cpu"],
             ["--steps", "0"], ["--repeats", "0"], ["--profile-steps", "0"], ["--levers", "bf16,graphs"])
    for args in cases:
        assert tiles.main(args) == 2, args
        out = capsys.readouterr().out
        assert len(out.strip().splitlines()) == 1, (args, out)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("TRITON_INTERPRET", None)
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fused_tiles.py"), "--tiles", "64by64"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stdout.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@needs_interpreter
def test_every_tile_gives_the_plain_gradients_under_the_interpreter(tmp_path):
    """Tiles larger than the model's hidden layer and batch, and one with a pipelining depth: fp32 gradients within
    1e-5 of the plain path's."""
    out = tmp_path / "tiles.json"
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fused_tiles.py"), "--device", "cpu",
                        "--preset", "cpu-tiny", "--set", "widths=[4,12]", "--set", "batch_size=64",
                        "--set", "seeds=[0,1]", "--tiles", "16x16x4,32x16x4s1,16x64x4,128x16x4",
                        "--steps", "1", "--repeats", "1", "--profile-steps", "1", "--levers", "",
                        "--json", str(out)],  # the levers: tests/test_gpu_run.py's dry run checks them
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    rec = json.loads(out.read_text())
    assert rec["preset_shape"]["hidden"] == 16 and rec["preset_shape"]["groups"] == 2 and not rec["tf32"]
    assert rec["plain"]["ms_per_step"] > 0 and rec["plain"]["top"][0]["ms"] > 0
    rows = {t["tile"]: t for t in rec["tiles"]}
    assert list(rows) == rec["grid"] == ["16x16x4", "32x16x4s1", "16x64x4", "128x16x4"]
    for name in ("16x16x4", "32x16x4s1", "16x64x4", "128x16x4"):
        gaps = rows[name]["gradient_gap"]
        assert rows[name]["fits"] and set(gaps) == {"w_ctrl", "w_bits", "b_in", "w_out", "b_out"}, gaps
        assert max(gaps.values()) < 1e-5, (name, gaps)
        assert rows[name]["ms_per_step"] > 0 and rows[name]["speedup"] > 0
    assert rows["32x16x4s1"]["num_stages"] == 1
    # the interpreter's kernels are not in the profile: their split is unknown (None), not zero
    assert rows["16x16x4"]["fwd_ms"] is None and rows["16x16x4"]["kernel_names"] == []
    assert rec["best"]["tile"] in rows and rows[rec["best"]["tile"]]["fits"]


def test_a_call_cut_short_keeps_what_it_measured(tiles, monkeypatch):
    """The record is saved after the plain step and after each tile, so gpu_run.sh's timeout leaves a partial one."""
    import torch

    from quanta.parity.presets import preset_config

    from quanta.parity import fused

    class TooBig:  # a tile over the GPU's shared memory: FusedStep raises this one line at its first launch
        def __init__(self, model, **tile):
            self.tile = tile

        def __call__(self, *batch):
            if self.tile["block_b"] == 32:  # another failure (a compile error, say): recorded, the grid goes on
                raise RuntimeError("PassManager::run failed\nmore lines")
            raise QuantaError("the fused kernels' tiles do not fit this GPU (out of resources)", "--set kernel=torch")

    monkeypatch.setattr(fused, "FusedStep", TooBig)
    saved = []
    cfg = preset_config("cpu-tiny", {"widths": [4, 12], "batch_size": 64})
    rec = tiles.run(cfg, torch.device("cpu"), tiles.parse_tiles("16x16x4,32x32x4,16x32x4"), steps=1, repeats=1,
                    profile_steps=1, top=3, save=lambda r: saved.append(json.loads(json.dumps(r))))
    assert [len(s["tiles"]) for s in saved] == [0, 1, 2, 3] and saved[-1] == json.loads(json.dumps(rec))
    assert len(rec["plain"]["top"]) == 3 and "best" not in rec and rec["grid"] == ["16x16x4", "32x32x4", "16x32x4"]
    assert [t["fits"] for t in rec["tiles"]] == [False] * 3 and "do not fit" in rec["tiles"][0]["error"]
    assert rec["tiles"][1]["error"] == "RuntimeError: PassManager::run failed"


def test_one_check_of_a_tile_for_the_script_and_the_step():
    """fused.tile_problems is what both parse_tiles and FusedStep refuse by."""
    from quanta.parity.ensemble import BatchedMLP
    from quanta.parity.fused import FusedStep, tile_problems

    assert tile_problems(64, 64, 8) == [] and tile_problems(64, 64, 8, 1) == []
    assert tile_problems(24, 8, 3, 0) == ["block_b 24", "block_h 8", "num_warps 3", "num_stages 0"]
    model = BatchedMLP(8, 8, [4, 8], 1, 1, seeds=[0])
    with pytest.raises(QuantaError, match="block_b 24, num_warps 3"):
        FusedStep(model, block_b=24, block_h=16, num_warps=3)
