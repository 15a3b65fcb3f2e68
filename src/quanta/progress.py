"""The one place progress bars come from.

Library code calls :func:`progress` instead of tqdm directly, so that bars can be
silenced in one place (``QUANTA_PROGRESS=0`` or :func:`set_enabled`).
"""

from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
_enabled: bool | None = None


def set_enabled(flag: bool | None) -> None:
    """Force progress bars on (True), off (False) or back to automatic (None)."""
    global _enabled
    _enabled = flag


def enabled() -> bool:
    if _enabled is not None:
        return _enabled
    env = os.environ.get("QUANTA_PROGRESS")
    if env is not None:
        return env not in ("0", "false", "no", "")
    return sys.stderr.isatty()


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str | None = None,
             unit: str = "it", leave: bool = False) -> tqdm:
    """A tqdm bar (disabled when progress is off). Use as an iterator or with ``update``."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, disable=not enabled(),
                dynamic_ncols=True, file=sys.stderr)
