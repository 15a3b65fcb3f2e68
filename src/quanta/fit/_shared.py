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


#: Peak bytes of one bootstrap replicate of each fit, as (bytes per fitted point, bytes per replicate): the
#: replicates are arrays of shape (n_boot, points), so a fit's peak is ``n_boot * (per_point * points + per_rep)``.
#: Measured with tracemalloc at 4 to 200 points and rounded up; tests/test_fit.py checks the figures still hold.
BOOT_BYTES = {
    "fit_power_law": (16, 96),              # offset=False: resampled log-losses (B, n) and their OLS slopes
    "fit_power_law(offset=True)": (176, 512),  # + the batched Levenberg-Marquardt's residuals and Jacobians
    "fit_zipf_from_sizes": (16, 160),       # sorted multinomial replicates (B, ranks)
    "fit_rank_frequency": (56, 96),         # resampled indices, log-ranks and log-sizes (B, ranks)
    "power_law_check": (48, 256),           # sorted multinomial replicates and their KS statistics (B, ranks)
    "fit_zipf_mle": (32, 160),  # points = distinct values + power-sum terms: replicates (B, values), sums (B, terms)
}


def bootstrap_bytes(n_boot: int, points: int, fits=tuple(BOOT_BYTES)) -> float:
    """Peak memory in bytes of ``n_boot`` bootstrap replicates over ``points`` points, for the hungriest of
    ``fits`` (names of :data:`BOOT_BYTES`)."""
    per_point, per_rep = max(BOOT_BYTES[f][0] for f in fits), max(BOOT_BYTES[f][1] for f in fits)
    return float(n_boot) * (per_point * max(int(points), 1) + per_rep)


def check_bootstrap_memory(n_boot: int, points: int, fits, where: str, *, flag: str = "n_boot") -> None:
    """Refuse ``n_boot`` replicates whose working arrays (:func:`bootstrap_bytes`) exceed this machine's memory,
    as one :class:`QuantaError` naming both figures, before anything is allocated or written.

    A command calls it before it creates its run directory, with ``points`` the most points (models, ranks, parts)
    any of its fits can see; each fit calls it again with its own.
    """
    from quanta.utils import check_memory

    if not n_boot:
        return
    check_memory(bootstrap_bytes(n_boot, points, fits),
                 f"{where}: {flag}={n_boot} (bootstrap replicates of fits over up to {int(points)} points)",
                 f"lower it, e.g. {flag}=200: a few hundred replicates give a 90% interval")


def _check_boot_memory(n_boot: int, width: int, where: str, fit: str | None = None) -> None:
    """:func:`check_bootstrap_memory` for one fit, named ``where`` (or ``fit`` where the cost differs by option)."""
    check_bootstrap_memory(n_boot, width, (fit or where,), where)
