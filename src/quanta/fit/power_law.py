"""Scaling laws ``L(x) = L_inf + A * x**(-alpha)`` by least squares, with a residual-bootstrap interval.

The fit is on log-space residuals ``log y - log L(x)``. With ``offset=False`` the law is a straight line in log-log
space (``L_inf = 0``) and the fit is ordinary least squares; with ``offset=True`` ``L_inf`` is constrained to
``[0, min(y))`` and the fit is a Levenberg-Marquardt search, batched over bootstrap replicates, started from
several values of ``L_inf``. Intervals come from a residual bootstrap (log-space residuals, inflated for the fitted
degrees of freedom) and are percentile intervals.
"""

from __future__ import annotations

import math

import numpy as np

from quanta.errors import QuantaError
from quanta.fit._shared import _as_1d_float, _check_boot_memory, _check_common, _percentile_ci
from quanta.fit.results import PowerLawFit


_ALPHA_MAX = 20.0  # bound on fitted scaling exponents; real scaling laws are far below it


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
    _check_common(n_boot, ci, seed, "fit_power_law")
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
        _check_boot_memory(n_boot, x.size, "fit_power_law", "fit_power_law(offset=True)" if offset else None)
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
