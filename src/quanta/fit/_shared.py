"""Input checks and percentile intervals that every fit in :mod:`quanta.fit` shares."""

from __future__ import annotations

import math

import numpy as np

from quanta.errors import QuantaError
from quanta.validation import Interval, validate_params


_COMMON = {
    "n_boot": [Interval(int, 0, None)],
    "ci": [Interval(float, 0, 1, closed="neither")],
    "seed": [Interval(int, None, None), None],
}


def _check_common(n_boot, ci, seed, where: str = "fit"):
    """The bootstrap options every fit takes: ``n_boot >= 0``, a level ``ci`` in (0, 1), an integer ``seed``."""
    validate_params({"n_boot": n_boot, "ci": ci, "seed": seed}, _COMMON, where,
                    examples={"n_boot": 200, "ci": 0.9, "seed": 0})


def _as_1d_float(values, name) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise QuantaError(f"{name} must be a 1-d array of numbers", f"could not convert it: {exc}") from exc
    if arr.ndim != 1:
        raise QuantaError(f"{name} must be 1-d, got shape {arr.shape}", "pass a flat array")
    return arr


def _percentile_ci(values: np.ndarray, ci: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size < 2:
        return (math.nan, math.nan)
    lo, hi = np.quantile(values, [(1 - ci) / 2, (1 + ci) / 2])
    return (float(lo), float(hi))


def _check_boot_memory(n_boot: int, width: int, where: str) -> None:
    """Refuse ``n_boot`` replicates whose working arrays (about three of ``n_boot x width`` float64 / int64) exceed
    this machine's memory, as one :class:`QuantaError` rather than a MemoryError."""
    from quanta.utils import check_memory

    check_memory(24.0 * n_boot * max(int(width), 1), f"{where}: n_boot={n_boot} bootstrap replicates",
                 "lower n_boot (a few hundred give a 90% interval)")
