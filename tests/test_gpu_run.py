"""benchmarks/gpu_run.sh, the prepared GPU call, in its CPU dry run (tiny sizes, every step and the packing)."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_run_dry_run(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "QUANTA_DRY_RUN": "1", "OUT": str(out), "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    env.pop("TRITON_INTERPRET", None)
    r = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_run.sh")], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=290)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    files = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert len(files) <= 8 and all((out / f).stat().st_size <= 16 * 2 ** 20 for f in files), files
    assert {"gpu_run.log", "results.json", "parity.tar.part00"} <= set(files)
    res = json.loads((out / "results.json").read_text())
    rc = {s["step"]: s["rc"] for s in res["steps"]}
    for name in ("parity-fig2-params", "parity-fig2-data", "parity-alpha-sweep", "qdg-grads", "qdg-spectral"):
        assert rc[name] == 0, (name, rc)
    assert rc["peer"] in (0, 3)  # 3: bergson is not installed here (an optional peer)
    if rc["peer"] == 0:
        assert res["steps"][-1]["result"]["ratio_bergson_over_quanta"] > 0
    assert rc.get("kernel", 0) == 0  # absent when triton is not installed
    with tarfile.open(out / "parity.tar.part00") as tar:
        names = tar.getnames()
    for run in ("fig2-params", "fig2-data", "alpha-sweep"):
        assert f"runs/gpu/{run}/summary.json" in names
