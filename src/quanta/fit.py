"""Power laws and rank-frequency laws, with bootstrap intervals.

Two families of fits live here:

* **Scaling laws** ``L(x) = L_inf + A * x**(-alpha)`` (:func:`fit_power_law`), fitted by least squares on
  log-space residuals ``log y - log L(x)``. With ``offset=False`` the law is a straight line in log-log space
  (``L_inf = 0``) and the fit is ordinary least squares; with ``offset=True`` ``L_inf`` is constrained to
  ``[0, min(y))`` and the fit is a Levenberg-Marquardt search started from several values of ``L_inf``.
  Intervals come from a residual bootstrap (log-space residuals, inflated for the fitted degrees of freedom)
  and are percentile intervals.
* **Zipf laws** ``p(k) ∝ k**(-exponent)`` of discrete samples (:func:`fit_zipf_mle`), of cluster sizes
  (:func:`fit_zipf_from_sizes`) and of a rank-frequency curve or envelope (:func:`fit_rank_frequency`).
  Under the quanta hypothesis the use frequencies of quanta follow ``k**-(alpha+1)``, so a Zipf exponent
  ``e`` corresponds to a scaling exponent ``alpha = e - 1``.

Everything is numpy/scipy; nothing here prints. Bad input raises :class:`~quanta.errors.QuantaError`.
See ``docs/fit.md``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from quanta.errors import QuantaError

__all__ = [
    "PowerLawFit",
    "ZipfFit",
    "RankEnvelope",
    "fit_power_law",
    "fit_zipf_mle",
    "fit_zipf_from_sizes",
    "fit_rank_frequency",
    "rank_frequency_envelope",
]

_ALPHA_MAX = 20.0  # bound on fitted scaling exponents; real scaling laws are far below it
_S_MAX = 8.0  # bound on fitted Zipf exponents
_DIRECT = 2_000  # terms summed one by one before the Euler-Maclaurin (midpoint) tail takes over


# --------------------------------------------------------------------------------------------------- results
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
        """The scaling exponent the quanta hypothesis pairs with this law: ``exponent - 1``."""
        return self.exponent - 1.0

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


# --------------------------------------------------------------------------------------------------- checks
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


# --------------------------------------------------------------------------------------------------- power laws
def fit_power_law(x, y, *, offset: bool = True, n_boot: int = 200, ci: float = 0.9, seed: int | None = 0,
                  x_range: tuple[float | None, float | None] | None = None) -> PowerLawFit:
    """Fit ``y = L_inf + A * x**(-alpha)`` by least squares on log-space residuals, with a bootstrap interval.

    Parameters
    ----------
    x : array-like, shape (n,)
        Budgets (parameters, samples, steps, number of quanta); positive and finite.
    y : array-like, shape (n,)
        Losses; positive and finite, decreasing with ``x`` overall.
    offset : bool, default True
        Fit the offset ``L_inf`` in ``[0, min(y))``; with False, ``L_inf = 0`` (a straight line in log-log).
    n_boot : int, default 200
        Bootstrap replicates (residual bootstrap on ``log y``); 0 skips the interval.
    ci : float, default 0.9
        Level of the percentile interval.
    seed : int or None, default 0
        Seed of the bootstrap.
    x_range : (float or None, float or None), optional
        Keep only points with ``lo <= x <= hi`` (None: unbounded on that side).

    Returns
    -------
    PowerLawFit

    Raises
    ------
    QuantaError
        Mismatched shapes, NaN/inf, non-positive x or y, too few points (3 without offset, 4 with), too few
        distinct x, or y that does not decrease with x.

    Examples
    --------
    >>> x = np.logspace(1, 4, 20)
    >>> fit = fit_power_law(x, 0.5 + 3 * x**-0.4, n_boot=0)
    >>> round(fit.alpha, 3), round(fit.L_inf, 3)
    (0.4, 0.5)
    """
    _check_common(n_boot, ci, seed)
    x = _as_1d_float(x, "x")
    y = _as_1d_float(y, "y")
    if x.shape != y.shape:
        raise QuantaError(f"x and y must have the same length, got {x.size} and {y.size}",
                          "pass one loss per budget")
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        raise QuantaError(f"x and y must be finite, but {int(bad.sum())} of {x.size} points are NaN or inf",
                          "drop those points before fitting")
    if x_range is not None:
        try:
            lo, hi = x_range
        except (TypeError, ValueError) as exc:
            raise QuantaError(f"x_range must be a pair (lo, hi), got {x_range!r}", "use e.g. x_range=(1e3, None)") \
                from exc
        keep = np.ones(x.size, dtype=bool)
        if lo is not None:
            keep &= x >= lo
        if hi is not None:
            keep &= x <= hi
        x, y = x[keep], y[keep]
    if (x <= 0).any():
        raise QuantaError(f"x must be positive for a power law, got min(x) = {x.min():g}",
                          "drop non-positive budgets or restrict x_range")
    if (y <= 0).any():
        raise QuantaError(f"y must be positive for a power law, got min(y) = {y.min():g}",
                          "subtract nothing that makes losses non-positive; drop those points")
    n_params = 3 if offset else 2
    if x.size < n_params + 1:
        raise QuantaError(f"too few points for a power-law fit: {x.size} (offset={offset} needs at least "
                          f"{n_params + 1})", "widen x_range or add budgets")
    if np.unique(x).size < n_params:
        raise QuantaError(f"too few distinct x values ({np.unique(x).size}) for a power-law fit",
                          "use budgets that differ")
    lx, ly = np.log(x), np.log(y)
    x0 = float(np.exp(lx.mean()))
    lu = lx - math.log(x0)  # centred log budgets: better conditioned fits
    slope = np.polyfit(lu, ly, 1)[0]
    if not slope < 0:
        raise QuantaError(f"y does not decrease with x (log-log slope {slope:+.3g}), so no decaying power law fits",
                          "check the data or restrict x_range to the decreasing part")

    if offset:
        theta, cost = _fit_offset_batch(lu, ly[None, :])
        alpha, logA, c = float(theta[0, 0]), float(theta[0, 1]), float(_sigmoid(theta[0, 2]))
        L_inf = c * float(y.min())
        pred_l = np.log(L_inf + np.exp(logA - alpha * lu))
    else:
        slope, logA = np.polyfit(lu, ly, 1)
        alpha = float(-slope)
        L_inf = 0.0
        pred_l = logA - alpha * lu
    A = float(math.exp(logA) * x0 ** alpha)
    resid = ly - pred_l
    ss_tot = float(((ly - ly.mean()) ** 2).sum())
    r2 = 1.0 - float((resid ** 2).sum()) / ss_tot if ss_tot > 0 else math.nan

    alpha_ci = (math.nan, math.nan)
    linf_ci = (math.nan, math.nan) if offset else (0.0, 0.0)
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        dof = max(x.size - n_params, 1)
        r = (resid - resid.mean()) * math.sqrt(x.size / dof)
        ly_b = pred_l[None, :] + r[rng.integers(0, x.size, size=(n_boot, x.size))]
        if offset:
            theta_b, _ = _fit_offset_batch(lu, ly_b)
            a_b = theta_b[:, 0]
            linf_b = _sigmoid(theta_b[:, 2]) * np.exp(ly_b.min(axis=1))
            linf_ci = _percentile_ci(linf_b, ci)
        else:
            a_b = -_ols_slopes(lu, ly_b)
        alpha_ci = _percentile_ci(a_b, ci)
    return PowerLawFit(alpha=alpha, alpha_ci=alpha_ci, A=A, L_inf=float(L_inf), offset=bool(offset),
                       n_points=int(x.size), x_min=float(x.min()), x_max=float(x.max()), r2=r2,
                       ci_level=float(ci), L_inf_ci=linf_ci, n_boot=int(n_boot))


def _ols_slopes(u: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Least-squares slopes of each row of ``ys`` (B, n) against ``u`` (n,)."""
    uc = u - u.mean()
    return (ys - ys.mean(axis=1, keepdims=True)) @ uc / float(uc @ uc)


def _sigmoid(s):
    return 1.0 / (1.0 + np.exp(-s))


def _logit(c):
    return np.log(c) - np.log1p(-c)


def _offset_resid(lu, ly, theta):
    """Log-space residuals and Jacobian of the offset law for a batch: theta (B, 3) = (alpha, log A, logit c)."""
    alpha, logA, s = theta[:, 0:1], theta[:, 1:2], theta[:, 2:3]
    ymin = np.exp(ly.min(axis=1, keepdims=True))
    c = _sigmoid(s)
    e = np.exp(logA - alpha * lu[None, :])  # (B, n)
    pred = c * ymin + e
    r = ly - np.log(pred)
    jac = np.stack([e * lu[None, :] / pred, -e / pred, -ymin * c * (1 - c) / pred], axis=2)  # (B, n, 3)
    return r, jac


def _fit_offset_batch(lu: np.ndarray, ly: np.ndarray, n_iter: int = 100):
    """Fit the offset law to each row of ``ly`` (B, n); returns (theta (B, 3), cost (B,)).

    Starts: for L_inf/min(y) in a grid, the straight-line fit of log(y - L_inf); the best start by log-space cost
    goes into a batched Levenberg-Marquardt (Marquardt scaling), with alpha kept in (0, _ALPHA_MAX].
    """
    B, n = ly.shape
    y = np.exp(ly)
    ymin = y.min(axis=1, keepdims=True)
    best_theta = np.zeros((B, 3))
    best_cost = np.full(B, np.inf)
    for c0 in (1e-4, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99):
        z = np.log(y - c0 * ymin)
        slope = _ols_slopes(lu, z)
        alpha0 = np.clip(-slope, 1e-3, _ALPHA_MAX)
        logA0 = z.mean(axis=1) + alpha0 * lu.mean()
        theta0 = np.stack([alpha0, logA0, np.full(B, _logit(c0))], axis=1)
        r, _ = _offset_resid(lu, ly, theta0)
        cost = (r ** 2).sum(axis=1)
        better = cost < best_cost
        best_theta[better] = theta0[better]
        best_cost[better] = cost[better]
    return _lm_batch(lu, ly, best_theta, best_cost, n_iter)


def _lm_batch(lu, ly, theta, cost, n_iter):
    theta = theta.copy()
    cost = cost.copy()
    lam = np.full(theta.shape[0], 1e-3)
    eye = np.eye(3)
    active = np.ones(theta.shape[0], dtype=bool)
    for _ in range(n_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        r, jac = _offset_resid(lu, ly[idx], theta[idx])
        jtj = np.einsum("bni,bnj->bij", jac, jac)
        g = np.einsum("bni,bn->bi", jac, r)
        diag = np.einsum("bii->bi", jtj)
        h = jtj + lam[idx, None, None] * (diag[:, :, None] * eye + 1e-12 * eye)
        try:
            step = -np.linalg.solve(h, g[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = -np.stack([np.linalg.lstsq(hb, gb, rcond=None)[0] for hb, gb in zip(h, g)])
        new = theta[idx] + step
        new[:, 0] = np.clip(new[:, 0], 1e-6, _ALPHA_MAX)
        new[:, 2] = np.clip(new[:, 2], -40.0, 25.0)  # keeps L_inf strictly below min(y)
        r_new, _ = _offset_resid(lu, ly[idx], new)
        new_cost = (r_new ** 2).sum(axis=1)
        ok = np.isfinite(new_cost) & (new_cost <= cost[idx])
        rel = (cost[idx] - new_cost) / np.maximum(cost[idx], 1e-300)
        theta[idx[ok]] = new[ok]
        cost[idx[ok]] = new_cost[ok]
        lam[idx] = np.where(ok, np.maximum(lam[idx] * 0.3, 1e-12), np.minimum(lam[idx] * 10.0, 1e12))
        converged = (ok & (rel < 1e-12)) | (lam[idx] >= 1e12) | (np.abs(step).max(axis=1) < 1e-12)
        active[idx[converged]] = False
    return theta, cost


# --------------------------------------------------------------------------------------------------- Zipf sums
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(64)


def _tail_integrals(u: np.ndarray, t_lo: float, t_hi: float | None):
    """∫ exp(-u t) t**j dt for j = 0, 1, 2 over [t_lo, t_hi] (t_hi None: infinity, needs u > 0).

    ``u`` has shape (G,); returns three arrays of shape (G,). Infinite ranges use the closed forms; finite ones
    64-point Gauss-Legendre quadrature (the integrand is entire, so this is exact to rounding for the ranges
    that occur), which avoids the cancellation of the closed forms near u = 0.
    """
    u = np.asarray(u, dtype=float)
    if t_hi is None:
        e = np.exp(-u * t_lo)
        return (e / u, e * (t_lo / u + 1 / u ** 2), e * (t_lo ** 2 / u + 2 * t_lo / u ** 2 + 2 / u ** 3))
    half = 0.5 * (t_hi - t_lo)
    t = t_lo + half * (_GL_NODES + 1.0)  # (64,)
    w = half * _GL_WEIGHTS * np.exp(-np.outer(u, t))  # (G, 64)
    return (w.sum(axis=1), w @ t, w @ (t * t))


def _power_sums(s: np.ndarray, lo: int, hi: int | None):
    """Z_j(s) = Σ_{k=lo}^{hi} k**-s (log k)**j for j = 0, 1, 2; ``s`` shape (G,), hi None = infinity (s > 1).

    The first ``_DIRECT`` terms are summed exactly; the rest by the midpoint rule ∫_{K-1/2}^{hi+1/2}, whose
    relative error is below 1e-7 there.
    """
    s = np.atleast_1d(np.asarray(s, dtype=float))
    stop = hi if hi is not None and hi - lo < _DIRECT else lo + _DIRECT - 1
    k = np.arange(lo, stop + 1, dtype=float)
    lk = np.log(k)
    w = np.exp(-np.outer(s, lk))  # (G, K)
    z = [w.sum(axis=1), w @ lk, w @ (lk * lk)]
    if hi is None or stop < hi:
        t_lo = math.log(stop + 0.5)
        t_hi = None if hi is None else math.log(hi + 0.5)
        tails = _tail_integrals(s - 1.0, t_lo, t_hi)
        z = [zj + tj for zj, tj in zip(z, tails)]
    return z


def _cdf_tail(s: float, values: np.ndarray, hi: int | None, lo: int) -> np.ndarray:
    """Σ_{k=v+1}^{hi} k**-s for each v in ``values`` (ints >= lo), exact below lo + _DIRECT, midpoint rule above."""
    values = np.asarray(values, dtype=np.int64)
    out = np.empty(values.size)
    limit = lo + _DIRECT
    top = limit if hi is None else min(hi, limit)
    k = np.arange(lo, top + 1, dtype=float)
    terms = k ** -s
    csum = np.cumsum(terms[::-1])[::-1]  # csum[i] = Σ_{k=lo+i}^{top} k^-s
    if hi is None or top < hi:
        beyond = _tail_integrals(np.array([s - 1.0]), math.log(top + 0.5), None if hi is None else math.log(hi + 0.5))
        rest = float(beyond[0][0])
    else:
        rest = 0.0
    small = values < top
    idx = values[small] + 1 - lo
    out[small] = csum[idx] + rest
    big = ~small
    if big.any():
        vb = values[big].astype(float)
        if hi is None:
            out[big] = (vb + 0.5) ** (1 - s) / (s - 1)
        else:
            a = np.log(vb + 0.5)
            b = math.log(hi + 0.5)
            if s == 1.0:
                out[big] = b - a
            else:  # (e^{(1-s)b} - e^{(1-s)a}) / (1-s), without cancellation near s = 1
                out[big] = np.exp((1 - s) * a) * np.expm1((1 - s) * (b - a)) / (1 - s)
            out[big] = np.maximum(out[big], 0.0)
    return out


def _mle_exponents(mean_logs: np.ndarray, lo: int, hi: int | None) -> np.ndarray:
    """Maximum-likelihood exponents of the truncated/untruncated discrete power law on [lo, hi].

    The likelihood equation is E_s[log k] = mean(log k) of the sample; E_s[log k] decreases with s, so it is
    inverted on a grid and polished by Newton steps (d/ds E_s[log k] = -Var_s[log k]). Results are clipped to
    the searchable range [s_lo, _S_MAX] (s_lo = 1.0005 when untruncated, 0.01 otherwise).
    """
    s_lo = 1.0005 if hi is None else 0.01
    grid = np.concatenate([np.linspace(s_lo, 3.0, 100), np.linspace(3.0, _S_MAX, 40)[1:]])
    z0, z1, _ = _power_sums(grid, lo, hi)
    m = z1 / z0  # decreasing in s
    target = np.asarray(mean_logs, dtype=float)
    s = np.interp(-target, -m, grid)
    for _ in range(4):
        z0, z1, z2 = _power_sums(s, lo, hi)
        mean = z1 / z0
        var = np.maximum(z2 / z0 - mean ** 2, 1e-300)
        s = np.clip(s + (mean - target) / var, s_lo, _S_MAX)
    return s


def _check_searchable(s: float, hi: int | None) -> None:
    s_lo = 1.0005 if hi is None else 0.01
    if s <= s_lo + 1e-9:
        if hi is None:
            raise QuantaError("the samples are too heavy-tailed for an untruncated power law (the likelihood "
                              "wants an exponent <= 1, where the law cannot be normalised)",
                              "pass x_max (the number of quanta or parts) for a truncated law")
        raise QuantaError(f"the data are flatter than any power law with exponent >= {s_lo} over the range",
                          "check that the values or sizes are really Zipf-like")
    if s >= _S_MAX - 1e-9:
        raise QuantaError(f"the fitted exponent reaches the search limit {_S_MAX}: the data fall off too steeply",
                          "check the data; a law this steep has almost all mass on its first value")


def _zipf_ks(values: np.ndarray, counts: np.ndarray, s: float, lo: int, hi: int | None) -> float:
    """KS distance between the empirical CDF of (values, counts) and the fitted discrete law on [lo, hi]."""
    order = np.argsort(values)
    v, c = values[order], counts[order]
    emp = np.cumsum(c) / c.sum()
    z = float(_power_sums(np.array([s]), lo, hi)[0][0])
    model = 1.0 - _cdf_tail(s, v, hi, lo) / z
    # the empirical CDF just below each observed value is emp shifted by one
    emp_before = np.concatenate([[0.0], emp[:-1]])
    model_before = model - v.astype(float) ** -s / z
    return float(max(np.abs(emp - model).max(), np.abs(emp_before - model_before).max()))


def _int_samples(samples, name) -> np.ndarray:
    arr = _as_1d_float(samples, name)
    if not np.isfinite(arr).all():
        raise QuantaError(f"{name} must be finite; found NaN or inf", "drop those entries")
    if (arr != np.round(arr)).any():
        raise QuantaError(f"{name} must be integers (a discrete Zipf law)", "pass counts or ranks, not fractions")
    if (arr < 1).any():
        raise QuantaError(f"{name} must be >= 1, got min {arr.min():g}", "a Zipf law lives on k = 1, 2, ...")
    return arr.astype(np.int64)


def fit_zipf_mle(samples, *, x_min: int | None = None, x_max: int | None = None, n_boot: int = 200,
                 ci: float = 0.9, seed: int | None = 0) -> ZipfFit:
    """Maximum-likelihood exponent of a discrete power law ``p(k) ∝ k**(-exponent)``, ``x_min <= k <= x_max``.

    Parameters
    ----------
    samples : array-like of int, shape (n,)
        Observed values k >= 1 (e.g. the index of the quantum each sample used).
    x_min : int, optional
        Lower cut. None chooses it, as Clauset, Shalizi and Newman do, by minimising the KS distance between the
        data at or above the cut and the law fitted to them (over up to 40 candidate cuts that keep at least 50
        samples).
    x_max : int, optional
        Upper truncation (needed for a finite number of quanta or clusters). Samples above it are an error.
        None means an untruncated law (then the exponent must exceed 1).
    n_boot : int, default 200
        Bootstrap replicates (multinomial resampling of the tail at the chosen ``x_min``); 0 skips the interval.
    ci : float, default 0.9
    seed : int or None, default 0

    Returns
    -------
    ZipfFit
        ``method="mle"``; ``n`` is the number of samples at or above ``x_min``.

    Raises
    ------
    QuantaError
        Non-integer, non-finite or < 1 samples, samples above ``x_max``, bad cuts, fewer than 10 samples in the
        fit, or a single distinct value.
    """
    _check_common(n_boot, ci, seed)
    arr = _int_samples(samples, "samples")
    if x_max is not None:
        if isinstance(x_max, bool) or int(x_max) != x_max or x_max < 1:
            raise QuantaError(f"x_max must be a positive integer or None, got {x_max!r}", "use e.g. x_max=1000")
        x_max = int(x_max)
        if arr.size and arr.max() > x_max:
            raise QuantaError(f"samples exceed x_max = {x_max} (max {arr.max()})",
                              "raise x_max or drop those samples")
    if x_min is not None:
        if isinstance(x_min, bool) or int(x_min) != x_min or x_min < 1:
            raise QuantaError(f"x_min must be a positive integer or None, got {x_min!r}", "use e.g. x_min=1")
        x_min = int(x_min)
        if x_max is not None and x_min >= x_max:
            raise QuantaError(f"x_min ({x_min}) must be below x_max ({x_max})", "widen the range")
    values, counts = np.unique(arr, return_counts=True)
    if values.size < 2:
        raise QuantaError(f"samples hold {values.size} distinct value(s); a Zipf fit needs at least 2",
                          "pass more (and more varied) samples")

    def fit_at(lo):
        keep = values >= lo
        v, c = values[keep], counts[keep]
        mean_log = float((c * np.log(v)).sum() / c.sum())
        s = float(_mle_exponents(np.array([mean_log]), lo, x_max)[0])
        return s, v, c

    if x_min is None:
        tail = np.cumsum(counts[::-1])[::-1]
        cand = values[(tail >= 50)]
        if x_max is not None:
            cand = cand[cand < x_max]
        if cand.size == 0:
            cand = values[:1]
        if cand.size > 40:
            pick = np.unique(np.round(np.geomspace(1, cand.size, 40)).astype(int) - 1)
            cand = cand[pick]
        best = None
        for lo in cand:
            s, v, c = fit_at(int(lo))
            if np.unique(v).size < 2:
                continue
            ks = _zipf_ks(v, c, s, int(lo), x_max)
            if best is None or ks < best[0]:
                best = (ks, int(lo))
        if best is None:
            raise QuantaError("no lower cut leaves at least 2 distinct values", "pass more samples or x_min")
        x_min = best[1]
    s, v, c = fit_at(x_min)
    n = int(c.sum())
    if n < 10 or v.size < 2:
        raise QuantaError(f"too few samples at or above x_min = {x_min}: {n} samples, {v.size} distinct values",
                          "lower x_min or collect more samples (at least 10, of 2 or more values)")
    _check_searchable(s, x_max)
    ks = _zipf_ks(v, c, s, x_min, x_max)
    s_ci = (math.nan, math.nan)
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        boot = rng.multinomial(n, c / n, size=n_boot)  # (B, V)
        s_b = _mle_exponents(boot @ np.log(v) / n, x_min, x_max)
        s_ci = _percentile_ci(s_b, ci)
    return ZipfFit(exponent=s, exponent_ci=s_ci, x_min=int(x_min), x_max=x_max, n=n, method="mle",
                   ci_level=float(ci), ks=ks, n_boot=int(n_boot))


def _sizes_array(sizes, name="sizes") -> np.ndarray:
    arr = _as_1d_float(sizes, name)
    if arr.size == 0:
        raise QuantaError(f"{name} is empty", "pass the sizes of the parts (members per part)")
    if not np.isfinite(arr).all():
        raise QuantaError(f"{name} must be finite; found NaN or inf", "drop those entries")
    if (arr < 0).any():
        raise QuantaError(f"{name} must be non-negative, got min {arr.min():g}", "sizes are counts of members")
    return arr


def _check_rank_range(rank_range, m):
    if rank_range is None:
        return 1, m
    try:
        lo, hi = rank_range
    except (TypeError, ValueError) as exc:
        raise QuantaError(f"rank_range must be a pair (lo, hi), got {rank_range!r}",
                          "use e.g. rank_range=(100, 1000)") from exc
    lo = 1 if lo is None else lo
    hi = m if hi is None else hi
    if int(lo) != lo or int(hi) != hi or lo < 1 or hi <= lo:
        raise QuantaError(f"rank_range must be integers 1 <= lo < hi, got {rank_range!r}",
                          "use e.g. rank_range=(100, 1000)")
    if lo > m:
        raise QuantaError(f"rank_range starts at rank {lo} but there are only {m} parts",
                          "lower the start of rank_range")
    return int(lo), int(min(hi, m))


def fit_zipf_from_sizes(sizes, *, rank_range: tuple[int, int] | None = None, n_boot: int = 200, ci: float = 0.9,
                        seed: int | None = 0) -> ZipfFit:
    """Zipf exponent of the rank-frequency law of cluster sizes, by maximum likelihood.

    Every member of a part is read as one sample of that part's size-rank r (1 = biggest part); the ranks then
    follow ``p(r) ∝ r**(-exponent)`` truncated at the number of parts, and the exponent is fitted by
    :func:`fit_zipf_mle`'s likelihood with ``x_min, x_max = rank_range``.

    Parameters
    ----------
    sizes : array-like, shape (m,)
        Members per part (non-negative counts, any order).
    rank_range : (int, int), optional
        Ranks ``lo..hi`` (inclusive, 1-based) to fit; default all ranks ``1..m``.
    n_boot : int, default 200
        Parametric bootstrap replicates: ``n`` members are drawn from the *fitted* truncated law over the rank
        range, the parts are sorted by size (as the data were) and the law is refitted. Sorting makes the
        estimator biased (it invents a slope among parts of near-equal size); the bootstrap measures that bias
        (``bias``) and the interval is the basic (pivotal) bootstrap interval ``[2ŝ - q_hi, 2ŝ - q_lo]``, which
        is centred on the bias-corrected exponent ``exponent - bias``, not on the raw estimate. (Resampling the
        observed sizes and re-sorting, as earlier versions did, adds the sorting bias a second time; on parts of
        equal size its interval excluded its own estimate.)
    ci : float, default 0.9
    seed : int or None, default 0

    Returns
    -------
    ZipfFit
        ``method="sizes"``; ``n`` is the number of members in the rank range, ``x_min, x_max`` the rank range;
        ``bias`` and ``se`` from the bootstrap.

    Examples
    --------
    >>> sizes = np.round(2000 * np.arange(1, 31) ** -1.4).astype(int)
    >>> fit = fit_zipf_from_sizes(sizes, n_boot=200, seed=0)
    >>> bool(abs(fit.exponent_corrected - 1.4) < 0.05), bool(fit.exponent_ci[0] < fit.exponent_corrected < fit.exponent_ci[1])
    (True, True)
    """
    _check_common(n_boot, ci, seed)
    arr = _sizes_array(sizes)
    if (arr != np.round(arr)).any():
        raise QuantaError("sizes must be whole counts of members", "pass integer sizes")
    ordered = np.sort(arr)[::-1]
    m = ordered.size
    lo, hi = _check_rank_range(rank_range, m)
    if m < 2:
        raise QuantaError(f"a rank-frequency law needs at least 2 parts, got {m}", "cluster into more parts")
    ranks = np.arange(lo, hi + 1, dtype=float)
    c = ordered[lo - 1:hi]
    n = int(c.sum())
    if n < 10 or (c > 0).sum() < 2:
        raise QuantaError(f"too few members in ranks {lo}..{hi}: {n} members in {(c > 0).sum()} non-empty parts",
                          "widen rank_range or pass bigger clusters")
    s = float(_mle_exponents(np.array([(c * np.log(ranks)).sum() / n]), lo, hi)[0])
    _check_searchable(s, hi)
    ks = _zipf_ks(ranks[c > 0].astype(np.int64), c[c > 0], s, lo, hi)
    s_ci, bias, se = (math.nan, math.nan), math.nan, math.nan
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        s_b = _mle_exponents(_sorted_zipf_mean_logs(s, lo, hi, n, n_boot, rng), lo, hi)
        bias = float(np.median(s_b) - s)
        se = float(np.std(s_b, ddof=1))
        q_lo, q_hi = _percentile_ci(s_b, ci)
        s_ci = (2 * s - q_hi, 2 * s - q_lo)
    return ZipfFit(exponent=s, exponent_ci=s_ci, x_min=lo, x_max=hi, n=n, method="sizes", ci_level=float(ci),
                   ks=ks, n_boot=int(n_boot), bias=bias, se=se)


def sample_sorted_sizes(s: float, lo: int, hi: int, n: int, n_rep: int, rng: np.random.Generator) -> np.ndarray:
    """``n_rep`` draws of ``n`` members from ``p(r) ∝ r**-s`` on ranks ``lo..hi``, each sorted largest first.

    Returns an (n_rep, hi - lo + 1) int array: what a decomposition whose parts follow the law exactly, but
    whose ranks are only known through the observed sizes, would report.
    """
    ranks = np.arange(lo, hi + 1, dtype=float)
    p = ranks ** -s
    return -np.sort(-rng.multinomial(n, p / p.sum(), size=n_rep), axis=1)


def _sorted_zipf_mean_logs(s, lo, hi, n, n_rep, rng) -> np.ndarray:
    """Mean log rank of each parametric replicate (the sufficient statistic of the truncated law's MLE)."""
    ranks = np.arange(lo, hi + 1, dtype=float)
    return sample_sorted_sizes(s, lo, hi, n, n_rep, rng) @ np.log(ranks) / n


def rank_frequency_envelope(size_lists) -> RankEnvelope:
    """The rank-frequency envelope of several clusterings.

    For each rank r, the largest r-th-biggest part size over the clusterings (as the quanta paper does over
    cluster counts). Clusterings with fewer than r parts do not take part at rank r.

    Parameters
    ----------
    size_lists : sequence of array-like
        One array of part sizes per clustering (any order, any lengths).

    Returns
    -------
    RankEnvelope (a 1-d float ndarray), shape (max number of parts,)
        Non-increasing in r.
    """
    if isinstance(size_lists, np.ndarray) and size_lists.ndim == 1 and size_lists.dtype != object:
        size_lists = [size_lists]
    try:
        lists = [np.sort(_sizes_array(s, "size_lists entries"))[::-1] for s in size_lists]
    except TypeError as exc:
        raise QuantaError("size_lists must be a sequence of arrays of part sizes", "pass e.g. [sizes_k10, sizes_k20]") \
            from exc
    if not lists:
        raise QuantaError("size_lists is empty", "pass the part sizes of at least one clustering")
    m = max(s.size for s in lists)
    env = np.zeros(m)
    for s in lists:
        env[: s.size] = np.maximum(env[: s.size], s)
    return env.view(RankEnvelope)


def fit_rank_frequency(sizes, *, rank_range: tuple[int, int] | None = None, n_boot: int = 200, ci: float = 0.9,
                       seed: int | None = 0, method: str | None = None) -> ZipfFit:
    """Slope of log size against log rank, ``size_r ∝ r**(-exponent)``, with a bootstrap interval.

    Parameters
    ----------
    sizes : array-like, shape (m,), or a sequence of arrays
        Part sizes of one clustering, or an envelope (:func:`rank_frequency_envelope`). A sequence of several
        arrays is turned into their envelope first.
    rank_range : (int, int), optional
        Ranks ``lo..hi`` (inclusive, 1-based) to fit; default all. The quanta paper fits ranks 100-1000 of the
        envelope. Parts of size 0 are left out.
    n_boot : int, default 200
        Bootstrap replicates, resampling the (rank, size) points of the range; 0 skips the interval.
    ci : float, default 0.9
    seed : int or None, default 0
    method : str, optional
        Label of the fit: default ``"envelope"`` for an envelope (or several clusterings), else ``"rank_slope"``.

    Returns
    -------
    ZipfFit
        ``exponent = -slope``; ``n`` is the number of ranks fitted.
    """
    _check_common(n_boot, ci, seed)
    is_env = isinstance(sizes, RankEnvelope)
    if not isinstance(sizes, np.ndarray) and isinstance(sizes, (list, tuple)) and sizes and \
            all(isinstance(s, (list, tuple, np.ndarray)) for s in sizes):
        sizes = rank_frequency_envelope(sizes)
        is_env = True
    if method is None:
        method = "envelope" if is_env else "rank_slope"
    arr = _sizes_array(np.asarray(sizes))
    ordered = np.sort(arr)[::-1]
    lo, hi = _check_rank_range(rank_range, ordered.size)
    ranks = np.arange(lo, hi + 1, dtype=float)
    sz = ordered[lo - 1:hi]
    keep = sz > 0
    ranks, sz = ranks[keep], sz[keep]
    if ranks.size < 3:
        raise QuantaError(f"too few non-empty ranks in {lo}..{hi} for a slope: {ranks.size}",
                          "widen rank_range (at least 3 ranks with non-zero size)")
    lr, ls = np.log(ranks), np.log(sz)
    exponent = float(-_ols_slopes(lr, ls[None, :])[0])
    s_ci = (math.nan, math.nan)
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, lr.size, size=(n_boot, lr.size))
        lr_b, ls_b = lr[idx], ls[idx]
        lrc = lr_b - lr_b.mean(axis=1, keepdims=True)
        den = (lrc ** 2).sum(axis=1)
        ok = den > 0
        slopes = (lrc[ok] * (ls_b[ok] - ls_b[ok].mean(axis=1, keepdims=True))).sum(axis=1) / den[ok]
        s_ci = _percentile_ci(-slopes, ci)
    return ZipfFit(exponent=exponent, exponent_ci=s_ci, x_min=int(ranks[0]), x_max=int(ranks[-1]),
                   n=int(ranks.size), method=method, ci_level=float(ci), n_boot=int(n_boot))


# ------------------------------------------------------------------------------------ profile interval of a law
#: fits with an offset need at least this many degrees of freedom (points minus 3 parameters)
MIN_DOF = 3


@dataclass(frozen=True)
class ProfileFit:
    """``L = L_inf + A·x**-alpha`` with a profile-likelihood interval of ``alpha`` (:func:`fit_power_law_profile`).

    Attributes
    ----------
    alpha : float
    alpha_ci : (float, float)
        The set of ``alpha`` whose profile residual sum of squares passes the F test at ``ci_level``; an end is
        NaN where the set reaches the end of the search range (the data do not bound alpha on that side).
    se : float
        Half the interval's width over the normal quantile: a standard error for pooling (inf when unbounded).
    L_inf, A : float
    at_bound : bool
        The best ``L_inf`` is 0 (its lower bound). The profile interval stays valid there; a bootstrap does not.
    n_points : int
    dof : int
    x_min, x_max : float
    ci_level : float
    """

    alpha: float
    alpha_ci: tuple
    se: float
    L_inf: float
    A: float
    at_bound: bool
    n_points: int
    dof: int
    x_min: float
    x_max: float
    ci_level: float

    def to_dict(self) -> dict:
        return _jsonable(asdict(self))


def _profile_ssr(x: np.ndarray, y: np.ndarray, alphas: np.ndarray):
    """For each alpha, min over L_inf in [0, min y) and A >= 0 of Σ ((y - L_inf - A x^-alpha) / y)²."""
    w = 1.0 / y
    yw = np.ones_like(y)  # y / y
    out = np.empty((alphas.size, 3))
    for i, a in enumerate(alphas):
        u = x ** -a
        X = np.stack([w, u * w], axis=1)  # columns: L_inf, A (relative residuals)
        coef, *_ = np.linalg.lstsq(X, yw, rcond=None)
        L, A = coef
        if L < 0 or L >= y.min():
            L = 0.0 if L < 0 else y.min() * (1 - 1e-9)
            A = float(((u * w) @ (yw - L * w)) / ((u * w) @ (u * w)))
        A = max(A, 0.0)
        r = yw - L * w - A * u * w
        out[i] = (float(r @ r), L, A)
    return out


def fit_power_law_profile(x, y, *, ci: float = 0.9, min_dof: int = MIN_DOF, alpha_max: float = 4.0) -> ProfileFit:
    """Fit ``y = L_inf + A·x**-alpha`` (``L_inf >= 0``) and give ``alpha`` a profile interval.

    Residuals are relative (``(y - fit) / y``, close to the log-space residuals of :func:`fit_power_law`). For
    every ``alpha`` on a fine grid the best ``(L_inf, A)`` is a constrained linear least-squares problem, so the
    profile is exact. The interval holds the ``alpha`` whose profile sum of squares ``S(alpha)`` satisfies
    ``S(alpha) <= S_min·(1 + F_{1,dof}(ci) / dof)``, the standard profile interval of nonlinear regression. It
    stays valid when ``L_inf`` sits on its bound of 0, where a percentile bootstrap of the fit is one-sided.

    Parameters
    ----------
    x, y : array-like, shape (n,)
        Positive budgets and losses.
    ci : float, default 0.9
    min_dof : int, default 3
        Fits with fewer degrees of freedom (points minus 3) are refused: 5 points and 3 parameters leave 2, and
        their intervals are not worth quoting.
    alpha_max : float, default 4.0
        Upper end of the grid.

    Returns
    -------
    ProfileFit

    Raises
    ------
    QuantaError
        Too few points for ``min_dof``, or non-positive or non-finite values.

    Examples
    --------
    >>> x = np.logspace(2, 5, 9)
    >>> fit = fit_power_law_profile(x, 0.05 + 4 * x ** -0.4 * (1 + 0.01 * np.sin(np.arange(9))))
    >>> bool(fit.alpha_ci[0] < 0.4 < fit.alpha_ci[1])
    True
    """
    from scipy.stats import f as f_dist
    from scipy.stats import norm

    x = _as_1d_float(x, "x")
    y = _as_1d_float(y, "y")
    if x.shape != y.shape or not (np.isfinite(x).all() and np.isfinite(y).all()) or (x <= 0).any() or (y <= 0).any():
        raise QuantaError("x and y must be positive, finite and of the same length", "drop the bad points")
    if not 0 < ci < 1:
        raise QuantaError(f"ci must be in (0, 1), got {ci!r}", "use e.g. ci=0.9")
    dof = x.size - 3
    if dof < min_dof:
        raise QuantaError(f"{x.size} points leave {dof} degree(s) of freedom for a 3-parameter law "
                          f"(L_inf, A, alpha); at least {min_dof} are needed",
                          f"fit at least {min_dof + 3} budgets (more model sizes in the sweep)")
    grid = np.concatenate([np.linspace(1e-3, 1.0, 400), np.linspace(1.0, alpha_max, 301)[1:]])
    prof = _profile_ssr(x, y, grid)
    i = int(np.argmin(prof[:, 0]))
    lo_i, hi_i = max(i - 1, 0), min(i + 1, grid.size - 1)
    fine = np.linspace(grid[lo_i], grid[hi_i], 201)
    pf = _profile_ssr(x, y, fine)
    j = int(np.argmin(pf[:, 0]))
    alpha, (s_min, L, A) = float(fine[j]), pf[j]
    thr = s_min * (1 + float(f_dist.ppf(ci, 1, dof)) / dof)
    inside = grid[prof[:, 0] <= thr]
    inside = np.union1d(inside, fine[pf[:, 0] <= thr])
    if inside.size == 0:
        inside = np.array([alpha])
    lo, hi = float(inside.min()), float(inside.max())
    # an end of the interval at the end of the search range is unbounded: the points do not bound alpha there
    lo = math.nan if lo <= grid[0] + 1e-9 else lo
    hi = math.nan if hi >= grid[-1] - 1e-9 else hi
    se = (hi - lo) / (2 * float(norm.ppf(0.5 + ci / 2))) if math.isfinite(lo) and math.isfinite(hi) else math.inf
    return ProfileFit(alpha=alpha, alpha_ci=(lo, hi), se=se, L_inf=float(L), A=float(A), at_bound=bool(L <= 0),
                      n_points=int(x.size), dof=int(dof), x_min=float(x.min()), x_max=float(x.max()),
                      ci_level=float(ci))


def plateau_fit_range(x, loss, *, chance_loss: float | None = None, plateau_fraction: float = 0.99) -> np.ndarray:
    """The fit-range rule for a loss-against-budget sweep that needs no labels, as a boolean mask.

    A point is in the range when (1) its loss is below ``plateau_fraction`` of the chance loss (the model has left
    the plateau where it has learned nothing; without ``chance_loss``, below the sweep's largest loss) and (2) its
    budget is not beyond that of the lowest loss (past it the curve is flat or rising, limited by something
    else). Both read only the mean loss a user measures, never per-quantum losses or task ids.

    Examples
    --------
    >>> plateau_fit_range([1, 2, 4, 8, 16], [0.693, 0.6, 0.4, 0.3, 0.31], chance_loss=np.log(2)).tolist()
    [False, True, True, True, False]
    """
    x, loss = np.asarray(x, float), np.asarray(loss, float)
    ok = (x > 0) & np.isfinite(loss)
    if not ok.any():
        return ok
    top = chance_loss if chance_loss is not None else float(loss[ok].max())
    ok &= loss < plateau_fraction * top
    return ok & upto_lowest_loss(x, loss) if ok.any() else ok


def upto_lowest_loss(x, loss) -> np.ndarray:
    """Points whose budget is not beyond that of the lowest finite loss (past it the curve is flat or rising)."""
    x, loss = np.asarray(x, float), np.asarray(loss, float)
    finite = np.isfinite(loss) & (x > 0)
    return x <= x[finite][np.argmin(loss[finite])]


def fit_loss_law(x, y, *, ci: float = 0.9, seed: int | None = 0) -> PowerLawFit:
    """A loss law ``L_inf + A·x**-alpha`` as a :class:`PowerLawFit` whose exponent, interval, ``A`` and ``L_inf``
    come from :func:`fit_power_law_profile` (profile interval; at least 3 degrees of freedom), and whose ``r2``
    and ranges come from :func:`fit_power_law`. The one loss-fit rule of parity analyze, LM analyze and falsify."""
    from dataclasses import replace

    prof = fit_power_law_profile(x, y, ci=ci)
    fit = fit_power_law(x, y, offset=True, n_boot=0, ci=ci, seed=seed)
    return replace(fit, alpha=prof.alpha, alpha_ci=prof.alpha_ci, A=prof.A, L_inf=prof.L_inf,
                   L_inf_ci=(math.nan, math.nan))
