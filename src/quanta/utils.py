"""Small helpers shared by the engines: device resolution, seeding, versions."""

from __future__ import annotations

import platform
import random

import numpy as np

from quanta.errors import QuantaError


def resolve_device(device: str | None = None):
    """Return a ``torch.device`` for ``device`` ('cpu', 'cuda', 'cuda:1', or None for the best available).

    Raises QuantaError when CUDA is asked for but not available.
    """
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise QuantaError(f"device: unknown device {device!r}", "use cpu, cuda or cuda:N") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise QuantaError(f"device: {device!r} was asked for but CUDA is not available here",
                          "pass device=cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise QuantaError(f"device: unsupported device type {dev.type!r}", "use cpu or cuda")
    return dev


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes (None where it cannot be read)."""
    import os

    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    """``1.5 GiB``-style size."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} PiB"


def check_memory(nbytes: float, what: str, hint: str, *, available: int | None = None, where: str = "memory",
                 fraction: float = 0.8) -> None:
    """Refuse a request that needs more than ``fraction`` of ``available`` bytes (default: this machine's
    memory) before anything is allocated or written: a :class:`QuantaError` naming both figures."""
    total = memory_bytes() if available is None else available
    if total and nbytes > fraction * total:
        raise QuantaError(f"{what} needs about {format_bytes(nbytes)} of {where}, more than the "
                          f"{format_bytes(total)} here", hint)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def device_description(device=None) -> str:
    """A human-readable name of the device, for manifests."""
    import torch

    dev = resolve_device(device) if not hasattr(device, "type") else device
    if dev.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(dev)}"
    return f"cpu:{platform.processor() or platform.machine()}"


def package_versions() -> dict:
    """Versions of the packages that shape the numbers."""
    import importlib.metadata as md

    import quanta

    # the running source's own version: right also when quanta runs from a checkout that is not installed
    out = {"python": platform.python_version(), "quanta": quanta.__version__}
    for name in ("torch", "numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "transformers",
                 "tokenizers", "matplotlib"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out
