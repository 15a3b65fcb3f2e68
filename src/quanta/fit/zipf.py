"""Zipf laws ``p(k) ∝ k**(-exponent)`` of discrete samples, by maximum likelihood (:func:`fit_zipf_mle`).

The normalising power sums are summed term by term up to ``_DIRECT`` and by an Euler-Maclaurin (midpoint) tail
beyond; the lower cut ``x_min`` can be chosen by the Kolmogorov-Smirnov rule of Clauset, Shalizi and Newman.
Under the quanta hypothesis the use frequencies of quanta follow ``k**-(alpha+1)``, so a Zipf exponent ``e``
corresponds to a scaling exponent ``alpha = e - 1``.
"""

from __future__ import annotations

import math

import numpy as np

from quanta.errors import QuantaError
from quanta.fit._shared import _as_1d_float, _check_boot_memory, _check_common, _percentile_ci
from quanta.fit.results import ZipfFit


_S_MAX = 8.0  # bound on fitted Zipf exponents


_DIRECT = 2_000  # terms summed one by one before the Euler-Maclaurin (midpoint) tail takes over


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
    _check_common(n_boot, ci, seed, "fit_zipf_mle")
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
        terms = _DIRECT if x_max is None else min(x_max - x_min + 1, _DIRECT)  # _power_sums' (B, terms)
        _check_boot_memory(n_boot, v.size + terms, "fit_zipf_mle")
        rng = np.random.default_rng(seed)
        boot = rng.multinomial(n, c / n, size=n_boot)  # (B, V)
        s_b = _mle_exponents(boot @ np.log(v) / n, x_min, x_max)
        s_ci = _percentile_ci(s_b, ci)
    return ZipfFit(exponent=s, exponent_ci=s_ci, x_min=int(x_min), x_max=x_max, n=n, method="mle",
                   ci_level=float(ci), ks=ks, n_boot=int(n_boot))
