"""Is a rank-frequency law a power law at all? (docs/science.md §6; Clauset, Shalizi & Newman 2009)

The parts of a decomposition have sizes ``c_1 >= c_2 >= ... >= c_m``. Read every member of part r as one sample
of the rank r; under the quanta hypothesis the ranks follow a power law truncated at the number of parts,
``p(r) ∝ r**-s`` on ``1..m`` (the same model :func:`quanta.fit.fit_zipf_from_sizes` fits). Before its exponent
is compared with a scaling law, :func:`power_law_check` asks whether that model describes the sizes:

* **goodness of fit** (CSN's semi-parametric test, with the ranks' lower cut fixed at 1): the KS distance between
  the members' rank distribution and the fitted law, against its distribution over data sets drawn from the
  fitted law *and sorted by size as the data were* (the ranks of real parts are only known through their sizes).
  The power law is *plausible* when ``p > 0.1``, CSN's convention.
* **likelihood ratios** against two alternatives on the same ranks, each fitted by maximum likelihood:
  a discrete exponential ``p(r) ∝ exp(-λ r)`` and a discrete lognormal ``p(r) ∝ exp(-(ln r - μ)² / 2σ²) / r``.
  ``R = Σ_i [ln p_PL(r_i) - ln p_alt(r_i)]`` (positive favours the power law) with Vuong's normalised test of
  ``R = 0`` (two-sided p-value). A small p with ``R < 0`` means the alternative describes the data better.

**The head** (:func:`plausible_head`). A finite model learns the most frequent quanta whole and the next ones in
part, and a decomposition of its well-predicted samples also holds a tail of small parts made of stray samples of
quanta it has not learned. Under the quanta hypothesis only the head, the ranks ``1..r`` of whole quanta, follows
the law; the tail bends it down. The head is chosen without labels, as CSN choose the lower cut of a tail but from
the other end: the largest ``r >= MIN_HEAD_RANKS`` whose ranks ``1..r`` are a plausible power law.

The same statistics as the ``powerlaw`` package (Alstott et al.) computes for its ``Fit.distribution_compare``,
written here for laws truncated at ``m``, which that package does not normalise for discrete data.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from quanta.errors import QuantaError

__all__ = ["PowerLawCheck", "power_law_check", "PLAUSIBLE_P", "HeadChoice", "plausible_head", "MIN_HEAD_RANKS",
           "head_law"]

#: CSN's threshold: the power law is ruled out when its goodness-of-fit p-value is at or below this.
PLAUSIBLE_P = 0.1

#: The fewest ranks over which :func:`plausible_head` checks a power law. Ranks 1..5 span 0.7 decades; over fewer,
#: a one-parameter law on a handful of sizes cannot be told from another curve. Fixed from that argument before any
#: calibration; no other value was tried.
MIN_HEAD_RANKS = 5


@dataclass(frozen=True)
class PowerLawCheck:
    """The answer of :func:`power_law_check`.

    Attributes
    ----------
    exponent : float
        Maximum-likelihood exponent of the truncated power law on ranks ``1..m``.
    ks : float
        KS distance between the members' ranks and the fitted law.
    gof_p : float
        Share of bootstrap data sets (drawn from the fitted law, sorted, refitted) whose KS distance is at least
        ``ks``.
    plausible : bool
        ``gof_p > 0.1``.
    lr_exponential, p_exponential : float
        Log-likelihood ratio (power law minus exponential) and Vuong's two-sided p-value.
    lr_lognormal, p_lognormal : float
        The same against the discrete lognormal.
    preferred : str
        ``power_law`` unless an alternative has a significantly (p < 0.1) higher likelihood, then its name.
    n, m, n_boot : int
        Members, parts and bootstrap replicates.
    """

    exponent: float
    ks: float
    gof_p: float
    plausible: bool
    lr_exponential: float
    p_exponential: float
    lr_lognormal: float
    p_lognormal: float
    preferred: str
    n: int
    m: int
    n_boot: int

    def to_dict(self) -> dict:
        return asdict(self)


def _ranks_counts(sizes) -> np.ndarray:
    c = np.sort(np.asarray(sizes, dtype=float))[::-1]
    if c.ndim != 1 or c.size < 3 or not np.isfinite(c).all() or (c < 0).any() or (c != np.round(c)).any():
        raise QuantaError(f"sizes must be at least 3 whole, non-negative counts, got {np.asarray(sizes)!r}"[:200],
                          "pass the sizes of the parts of one decomposition")
    c = c[c > 0]
    if c.size < 3 or c.sum() < 10:
        raise QuantaError(f"too few parts or members for a power-law check: {c.size} non-empty parts, "
                          f"{int(c.sum())} members", "decompose more samples into at least 3 parts")
    return c


def _pl_fit(mean_logs: np.ndarray, m: int) -> np.ndarray:
    from quanta.fit import _mle_exponents

    return _mle_exponents(mean_logs, 1, m)


def _log_pmf_pl(s: float, m: int) -> np.ndarray:
    r = np.arange(1, m + 1, dtype=float)
    lp = -s * np.log(r)
    return lp - np.logaddexp.reduce(lp)


def _log_pmf_exp(lam: float, m: int) -> np.ndarray:
    r = np.arange(1, m + 1, dtype=float)
    lp = -lam * r
    return lp - np.logaddexp.reduce(lp)


def _fit_exponential(c: np.ndarray) -> float:
    """MLE of λ for ``p(r) ∝ exp(-λ r)`` on ``1..m``: the model's mean rank equals the data's (λ >= 0)."""
    from scipy.optimize import brentq

    m = c.size
    r = np.arange(1, m + 1, dtype=float)
    target = float((c * r).sum() / c.sum())

    def mean_rank(lam):
        return float(np.exp(_log_pmf_exp(lam, m)) @ r) - target

    if mean_rank(0.0) <= 0:  # flatter than uniform: the constrained MLE is λ = 0
        return 0.0
    hi = 1.0
    while mean_rank(hi) > 0 and hi < 1e3:
        hi *= 2
    return float(brentq(mean_rank, 0.0, hi, xtol=1e-10))


def _log_pmf_lognormal(mu: float, sigma: float, m: int) -> np.ndarray:
    lr = np.log(np.arange(1, m + 1, dtype=float))
    lp = -((lr - mu) ** 2) / (2 * sigma ** 2) - lr
    return lp - np.logaddexp.reduce(lp)


def _fit_lognormal(c: np.ndarray) -> tuple[float, float]:
    from scipy.optimize import minimize

    m = c.size
    lr = np.log(np.arange(1, m + 1, dtype=float))
    w = c / c.sum()

    def nll(theta):
        mu, log_sigma = theta
        return -float(w @ _log_pmf_lognormal(mu, math.exp(log_sigma), m))

    mu0 = float(w @ lr)
    sd0 = max(math.sqrt(max(float(w @ (lr - mu0) ** 2), 1e-6)), 0.1)
    best = None
    for mu_init in (mu0, mu0 - 2 * sd0, -1.0):
        res = minimize(nll, x0=[mu_init, math.log(sd0)], method="Nelder-Mead",
                       options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 2000})
        if best is None or res.fun < best.fun:
            best = res
    return float(best.x[0]), float(math.exp(best.x[1]))


def _vuong(c: np.ndarray, lp_a: np.ndarray, lp_b: np.ndarray) -> tuple[float, float]:
    """Log-likelihood ratio of A over B on the members (counts ``c`` per rank) and Vuong's two-sided p-value."""
    from scipy.stats import norm

    d = lp_a - lp_b
    n = c.sum()
    R = float(c @ d)
    mean = R / n
    var = float(c @ (d - mean) ** 2) / n
    if var <= 0:
        return R, 1.0
    z = R / math.sqrt(n * var)
    return R, float(2 * norm.sf(abs(z)))


def _ks_sorted(counts: np.ndarray, s: np.ndarray) -> np.ndarray:
    """KS distance of each row of ``counts`` (sorted sizes) from the law ``r**-s`` of its row, vectorised."""
    m = counts.shape[1]
    r = np.arange(1, m + 1, dtype=float)
    lp = -np.outer(s, np.log(r))
    pmf = np.exp(lp - np.logaddexp.reduce(lp, axis=1, keepdims=True))
    emp = np.cumsum(counts, axis=1) / counts.sum(axis=1, keepdims=True)
    return np.abs(emp - np.cumsum(pmf, axis=1)).max(axis=1)


def power_law_check(sizes, *, n_boot: int = 500, seed: int | None = 0) -> PowerLawCheck:
    """Goodness of fit of the truncated power law to part sizes, and likelihood ratios against alternatives.

    Parameters
    ----------
    sizes : array-like of int, shape (m,)
        Members per part (any order; empty parts are dropped). At least 3 non-empty parts and 10 members.
    n_boot : int, default 500
        Replicates of the goodness-of-fit bootstrap (its p-value has a resolution of 1/n_boot).
    seed : int or None, default 0

    Returns
    -------
    PowerLawCheck

    Examples
    --------
    >>> zipf = np.round(3000 * np.arange(1, 21) ** -1.4)
    >>> power_law_check(zipf, n_boot=200).plausible
    True
    >>> geometric = np.round(3000 * 0.6 ** np.arange(20)) + 1
    >>> chk = power_law_check(geometric, n_boot=200)
    >>> chk.plausible, chk.preferred
    (False, 'exponential')
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
        raise QuantaError(f"n_boot must be an integer >= 2, got {n_boot!r}", "use e.g. n_boot=500")
    from quanta.fit import sample_sorted_sizes
    from quanta.fit._shared import _check_boot_memory

    c = _ranks_counts(sizes)
    m, n = c.size, int(c.sum())
    _check_boot_memory(int(n_boot), m, "power_law_check")
    lr = np.log(np.arange(1, m + 1, dtype=float))
    s = float(_pl_fit(np.array([c @ lr / n]), m)[0])
    ks = float(_ks_sorted(c[None, :], np.array([s]))[0])
    rng = np.random.default_rng(seed)
    boot = sample_sorted_sizes(s, 1, m, n, int(n_boot), rng).astype(float)  # (B, m)
    s_b = _pl_fit(boot @ lr / n, m)
    gof_p = float((_ks_sorted(boot, s_b) >= ks - 1e-12).mean())
    lp_pl = _log_pmf_pl(s, m)
    lam = _fit_exponential(c)
    R_exp, p_exp = _vuong(c, lp_pl, _log_pmf_exp(lam, m))
    mu, sigma = _fit_lognormal(c)
    R_ln, p_ln = _vuong(c, lp_pl, _log_pmf_lognormal(mu, sigma, m))
    preferred = "power_law"
    worse = [(R, name) for R, p, name in ((R_exp, p_exp, "exponential"), (R_ln, p_ln, "lognormal"))
             if R < 0 and p < PLAUSIBLE_P]
    if worse:
        preferred = min(worse)[1]
    return PowerLawCheck(exponent=s, ks=ks, gof_p=gof_p, plausible=bool(gof_p > PLAUSIBLE_P),
                         lr_exponential=R_exp, p_exponential=p_exp, lr_lognormal=R_ln, p_lognormal=p_ln,
                         preferred=preferred, n=n, m=m, n_boot=int(n_boot))


@dataclass(frozen=True)
class HeadChoice:
    """The answer of :func:`plausible_head`.

    Attributes
    ----------
    r_max : int or None
        The chosen head: ranks ``1..r_max``. None when no head of at least ``min_ranks`` ranks is a plausible
        power law (or there are fewer parts than that).
    m : int
        Non-empty parts.
    check : PowerLawCheck or None
        The check of the chosen head; when there is none, the check of all ``m`` ranks (None below 3 parts).
    scanned : tuple of (int, float)
        ``(r, gof_p)`` of every head tried, largest first.
    """

    r_max: int | None
    m: int
    check: PowerLawCheck | None
    scanned: tuple

    @property
    def plausible(self) -> bool:
        return self.r_max is not None

    def to_dict(self) -> dict:
        return {"r_max": self.r_max, "m": self.m, "plausible": self.plausible,
                "check": self.check.to_dict() if self.check else None, "scanned": [list(x) for x in self.scanned]}


def plausible_head(sizes, *, min_ranks: int = MIN_HEAD_RANKS, n_boot: int = 500, seed: int | None = 0,
                   max_tries: int = 24) -> HeadChoice:
    """The largest head ``1..r`` of a rank-frequency law that is a plausible power law (label-free).

    Heads are tried from all ``m`` ranks down to ``min_ranks`` (at most ``max_tries`` of them, spaced evenly in
    log r); the first whose :func:`power_law_check` gives ``gof_p > PLAUSIBLE_P`` is the head. Its p-value is
    therefore selected (it exceeds 0.1 by construction): how often a law that is not a power law still yields a
    plausible head is measured by the calibration's non-power-law worlds (docs/calibration.md), not assumed.

    Parameters
    ----------
    sizes : array-like of int, shape (m,)
        Members per part, any order.
    min_ranks : int, default MIN_HEAD_RANKS (5)
    n_boot : int, default 500
    seed : int or None, default 0
    max_tries : int, default 24

    Returns
    -------
    HeadChoice

    Examples
    --------
    >>> head = np.round(3000 * np.arange(1, 13) ** -1.5)
    >>> sizes = np.concatenate([head, np.ones(25)])  # twelve whole quanta, then a tail of stray samples
    >>> power_law_check(sizes, n_boot=200).plausible
    False
    >>> choice = plausible_head(sizes, n_boot=200)
    >>> choice.r_max >= 10, round(choice.check.exponent, 1)
    (True, 1.5)
    """
    if isinstance(min_ranks, bool) or not isinstance(min_ranks, (int, np.integer)) or min_ranks < 3:
        raise QuantaError(f"min_ranks must be an integer >= 3, got {min_ranks!r}", "use e.g. min_ranks=5")
    _check_counts(sizes)
    c = np.sort(np.asarray(sizes, dtype=float))[::-1]
    c = c[c > 0]
    m = int(c.size)
    # before the heads are tried: each try's QuantaError below means "not this head", never "out of memory"
    if isinstance(n_boot, (int, np.integer)) and not isinstance(n_boot, bool):
        from quanta.fit._shared import _check_boot_memory

        _check_boot_memory(int(n_boot), m, "power_law_check")
    if m < min_ranks:
        try:
            chk = power_law_check(c, n_boot=n_boot, seed=seed)
        except QuantaError:
            chk = None
        return HeadChoice(r_max=None, m=m, check=chk, scanned=())
    cand = np.unique(np.round(np.geomspace(min_ranks, m, max(2, int(max_tries)))).astype(int))[::-1]
    scanned, first = [], None
    for r in cand:
        try:
            chk = power_law_check(c[:r], n_boot=n_boot, seed=seed)
        except QuantaError:  # e.g. fewer than 10 members in the head
            continue
        if first is None:
            first = chk
        scanned.append((int(r), float(chk.gof_p)))
        if chk.plausible:
            return HeadChoice(r_max=int(r), m=m, check=chk, scanned=tuple(scanned))
    return HeadChoice(r_max=None, m=m, check=first, scanned=tuple(scanned))


def _check_counts(sizes) -> None:
    a = np.asarray(sizes, dtype=float)
    if a.ndim != 1 or not np.isfinite(a).all() or (a < 0).any() or (a != np.round(a)).any():
        raise QuantaError(f"sizes must be whole, non-negative counts, got {np.asarray(sizes)!r}"[:200],
                          "pass the sizes of the parts of one decomposition")


def head_law(sizes, *, n_boot: int = 200, seed: int | None = 0, ci: float = 0.9) -> dict:
    """The parts' law as the closing test reads it: the plausible head and the Zipf exponent fitted on it.

    Returns a dict with ``exponent`` (bias-corrected MLE over ranks ``1..head``, :func:`quanta.fit.fit_zipf_from_sizes`),
    ``exponent_se``, ``exponent_raw``, ``exponent_ci``, ``head`` (``r_max``, None when no head is plausible),
    ``n_parts``, ``preferred`` (:class:`PowerLawCheck`'s, of the head or of all ranks), ``gof_p`` (of the head; 0 when there is none, NaN below 3 parts) and ``plausible``. Without a
    plausible head the exponent is fitted on all ranks, so that it can still be shown, and ``plausible`` is False.
    """
    from quanta.fit import fit_zipf_from_sizes

    _check_counts(sizes)
    choice = plausible_head(sizes, n_boot=n_boot, seed=seed)
    out = dict(exponent=math.nan, exponent_se=math.nan, exponent_raw=math.nan, exponent_ci=(math.nan, math.nan),
               head=choice.r_max, n_parts=choice.m, plausible=choice.plausible,
               gof_p=(choice.check.gof_p if choice.plausible else (0.0 if choice.check else math.nan)),
               preferred=choice.check.preferred if choice.check else None)
    hi = choice.r_max or choice.m
    try:
        fit = fit_zipf_from_sizes(np.sort(np.asarray(sizes, dtype=float))[::-1][:choice.m], rank_range=(1, hi),
                                  n_boot=n_boot, seed=seed, ci=ci)
    except QuantaError:  # fewer than 2 parts, or no law fits at all
        return out
    out.update(exponent=fit.exponent_corrected, exponent_se=fit.se, exponent_raw=fit.exponent,
               exponent_ci=tuple(fit.exponent_ci))
    return out
