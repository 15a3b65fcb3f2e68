"""The fitted laws as records: :class:`PowerLawFit`, :class:`ZipfFit` and the :class:`RankEnvelope` array,
each with ``to_dict`` for JSON (non-finite floats become None).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class PowerLawFit:
    """A fitted scaling law ``L = L_inf + A * x**(-alpha)`` (``offset=False``: ``L_inf = 0``).

    Attributes
    ----------
    alpha : float
        The exponent.
    alpha_ci : (float, float)
        Percentile bootstrap interval of ``alpha`` at level ``ci_level`` (NaNs when ``n_boot=0``).
    A : float
        The amplitude, in the units of ``y`` at ``x = 1``.
    L_inf : float
        The offset (irreducible loss); 0 when ``offset`` is False.
    offset : bool
        Whether ``L_inf`` was fitted.
    n_points : int
        Number of points used (after ``x_range``).
    x_min, x_max : float
        The range of ``x`` actually fitted.
    r2 : float
        Coefficient of determination of ``log y`` (log-space residuals).
    ci_level : float
        Level of the interval, e.g. 0.9.
    L_inf_ci : (float, float)
        Percentile bootstrap interval of ``L_inf``.
    n_boot : int
        Number of bootstrap replicates behind the intervals.
    """

    alpha: float
    alpha_ci: tuple[float, float]
    A: float
    L_inf: float
    offset: bool
    n_points: int
    x_min: float
    x_max: float
    r2: float
    ci_level: float
    L_inf_ci: tuple[float, float] = (math.nan, math.nan)
    n_boot: int = 0

    def predict(self, x) -> np.ndarray:
        """The fitted law at ``x`` (array-like of positive numbers), as a float array of the same shape."""
        x = np.asarray(x, dtype=float)
        return self.L_inf + self.A * np.power(x, -self.alpha)

    def to_dict(self) -> dict:
        """The fit as plain JSON-able values (tuples become lists, non-finite floats become None)."""
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class ZipfFit:
    """A fitted Zipf (discrete power) law ``p(k) ∝ k**(-exponent)`` on ``x_min <= k <= x_max``.

    Under the quanta hypothesis ``exponent = alpha + 1`` (see :attr:`alpha`).

    Attributes
    ----------
    exponent : float
    exponent_ci : (float, float)
        Percentile bootstrap interval at level ``ci_level`` (NaNs when ``n_boot=0``).
    x_min : int
        Smallest value (or rank) in the fit.
    x_max : int or None
        Largest value (or rank) in the fit; None means an untruncated law.
    n : int
        Number of samples in the fit (``mle``, ``sizes``) or number of ranks (``rank_slope``, ``envelope``).
    method : str
        ``"mle"`` (:func:`fit_zipf_mle`), ``"sizes"`` (:func:`fit_zipf_from_sizes`), ``"rank_slope"`` or
        ``"envelope"`` (:func:`fit_rank_frequency`).
    ci_level : float
    ks : float
        Kolmogorov-Smirnov distance between the data and the fitted law (MLE methods; NaN for slopes).
    n_boot : int
    bias : float
        ``sizes`` only: the estimator's bias measured by its parametric bootstrap (median of the replicates minus
        the estimate); NaN otherwise. :attr:`exponent_corrected` subtracts it.
    se : float
        Standard deviation of the bootstrap replicates (NaN without a bootstrap).
    """

    exponent: float
    exponent_ci: tuple[float, float]
    x_min: int
    x_max: int | None
    n: int
    method: str
    ci_level: float
    ks: float = math.nan
    n_boot: int = 0
    bias: float = math.nan
    se: float = math.nan

    @property
    def exponent_corrected(self) -> float:
        """``exponent - bias`` where a bootstrap measured the bias (:func:`fit_zipf_from_sizes`), else ``exponent``."""
        return self.exponent - self.bias if math.isfinite(self.bias) else self.exponent

    @property
    def alpha(self) -> float:
        """The scaling exponent the quanta hypothesis pairs with this law: ``exponent_corrected - 1`` (the
        bias-corrected exponent, on which the interval of a sizes fit is centred; ``exponent - 1`` otherwise)."""
        return self.exponent_corrected - 1.0

    def to_dict(self) -> dict:
        """The fit as plain JSON-able values, with ``alpha`` (= exponent - 1) added."""
        d = asdict(self)
        d["alpha"] = self.alpha
        return _jsonable(d)


class RankEnvelope(np.ndarray):
    """A 1-d float array returned by :func:`rank_frequency_envelope`; :func:`fit_rank_frequency` labels fits
    of it ``method="envelope"``. It behaves as a plain ndarray otherwise."""


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj
