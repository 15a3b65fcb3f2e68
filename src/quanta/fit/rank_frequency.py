"""Zipf laws of part sizes: the rank-frequency law of cluster sizes.

:func:`fit_zipf_from_sizes` reads every member of a part as a sample of the part's size-rank and fits the
truncated Zipf likelihood of :mod:`quanta.fit.zipf` (with a parametric bootstrap that also measures the bias);
:func:`fit_rank_frequency` fits the slope of log size against log rank of one clustering or of the
:func:`rank_frequency_envelope` of several.
"""

from __future__ import annotations

import math

import numpy as np

from quanta.errors import QuantaError
from quanta.fit._shared import _as_1d_float, _check_boot_memory, _check_common, _percentile_ci
from quanta.fit.power_law import _ols_slopes
from quanta.fit.results import RankEnvelope, ZipfFit
from quanta.fit.zipf import _check_searchable, _mle_exponents, _zipf_ks


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
    _check_common(n_boot, ci, seed, "fit_zipf_from_sizes")
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
        _check_boot_memory(n_boot, hi - lo + 1, "fit_zipf_from_sizes")
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
    _check_common(n_boot, ci, seed, "fit_rank_frequency")
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
        _check_boot_memory(n_boot, lr.size, "fit_rank_frequency")
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
