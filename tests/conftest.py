import os
import sys
from io import StringIO

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
