import json
import os
import random
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["QUANTA_PROGRESS"] = "0"
# One thread: small tensors gain nothing from two, and a shared 2-core box pays dearly for oversubscription.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402


def run_cli(*args):
    """Run the real ``quanta`` entry point in-process; return (exit_code, stdout, stderr)."""
    from quanta.cli import main

    args = [str(a) for a in args]
    old = sys.argv, sys.stdout, sys.stderr
    out, err = StringIO(), StringIO()
    sys.argv, sys.stdout, sys.stderr = ["quanta", *args], out, err
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv, sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def load_benchmark(name: str):
    """The module ``benchmarks/<name>.py`` (the docs tests render and check its recorded block with it)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    if str(path.parent) not in sys.path:  # as when run as a script: its siblings (docblock) import by bare name
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def gpu_budget(**env) -> dict:
    """The limits benchmarks/gpu_run.sh would use on the GPU (off the dry run) with these environment settings, as
    it prints them under QUANTA_BUDGET_ONLY=1 (it does nothing else then): ``{"TOTAL_S": 550, ...}``, the seconds as
    ints and ``GPU_STEPS`` as its list of sections."""
    root = Path(__file__).resolve().parents[1]
    base = {k: v for k, v in os.environ.items() if not k.endswith("_S") and k not in ("GPU_STEPS", "QUANTA_DRY_RUN")}
    r = subprocess.run(["bash", str(root / "benchmarks" / "gpu_run.sh")], cwd=root, capture_output=True, text=True,
                       env={**base, "QUANTA_BUDGET_ONLY": "1", "OUT": "/nonexistent/never-made", **env}, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    head, steps = r.stdout.strip().split(" GPU_STEPS=")
    return {**{k: int(v) for k, v in (kv.split("=") for kv in head.split())}, "GPU_STEPS": steps.split()}


def kill_mid_run(argv, out: Path, events: list[str], rng: random.Random, timeout: float = 120.0) -> str:
    """Start ``quanta *argv --out out`` in a subprocess; once the seeded choice among ``events`` (globs under
    ``out``) exists, wait a seeded delay of 0-50 ms and SIGKILL it. Returns the event it was killed after."""
    event = rng.choice(events)
    delay = rng.uniform(0.0, 0.05)
    env = dict(os.environ, OMP_NUM_THREADS="1", QUANTA_PROGRESS="0", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "quanta", *map(str, argv), "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while not any(out.glob(event)):
            assert proc.poll() is None, f"finished before {event}: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, f"no {event} within {timeout} s"
            time.sleep(0.005)
        time.sleep(delay)
        assert proc.poll() is None, f"finished within {delay:.3f} s after {event}; choose an earlier event"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "summary.json").exists()
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    return event


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every test runs torch on one thread (also when OMP_NUM_THREADS was set otherwise)."""
    import torch

    prior = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prior)


@pytest.fixture
def cli_run():
    """The :func:`run_cli` helper as a fixture."""
    return run_cli
