"""Input checks and percentile intervals that every fit in :mod:`quanta.fit` shares."""

from __future__ import annotations

import math

import numpy as np

from quanta.errors import QuantaError


def _check_common(n_boot, ci, seed):
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise QuantaError(f"n_boot must be a non-negative integer, got {n_boot!r}", "use e.g. n_boot=200")
    if not isinstance(ci, (int, float, np.floating)) or not (0.0 < float(ci) < 1.0):
        raise QuantaError(f"ci must be a level strictly between 0 and 1, got {ci!r}", "use e.g. ci=0.9")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise QuantaError(f"seed must be an integer or None, got {seed!r}", "use e.g. seed=0")


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
