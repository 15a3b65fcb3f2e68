"""Which points each power law of ``quanta parity analyze`` is fitted over, and what a finite task set changes.

* :func:`auto_fit_range`: the label-free range rule of L(N) and L(D);
* :func:`steps_fit_range`: the range rule of L(S) (docs/parity-analyze.md, "The L(S) fit range");
* :func:`finite_tasks_offset`, :func:`finite_tasks_exponent`: the finite task set's corrections to the
  asymptotic theory;
* ``_fit``: one fit of the analysis (profile-likelihood interval with an offset), or None with a note.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from quanta.errors import QuantaError
from quanta.fit import upto_lowest_loss
from quanta.theory import frequency_exponent

log = logging.getLogger(__name__)

LN2 = math.log(2.0)


def auto_fit_range(x, loss, *, chance_loss: float = float(np.log(2))) -> np.ndarray:
    """The fit-range rule of L(N) and L(D), as a boolean mask: :func:`quanta.fit.plateau_fit_range`.

    A point (budget ``x``, mean loss) is inside the range when its loss is below 99% of the chance loss (ln 2
    for parity: the model has left the plateau where it has learned nothing) and its budget is not beyond that
    of the lowest loss (past it the curve is flat or rising, limited by something other than the budget). The
    rule reads only the mean loss, no per-task loss and no task count, so it is the same one `quanta falsify`
    applies to each training seed.
    """
    from quanta.fit import plateau_fit_range

    return plateau_fit_range(x, loss, chance_loss=chance_loss)


#: The L(S) fit-range rule (:func:`steps_fit_range`; docs/parity-analyze.md, "The L(S) fit range").
STEPS_MIN_LEARNED = 3       # start once this many tasks are learned: L(S) is then a sum of several drops
STEPS_MAX_FRACTION = 0.5    # stop once this fraction of the tasks is learned: the last drops are the finite set's
STEPS_LAG_PARAMS = 1.5      # the comparison model has at most 1/1.5 of the widest model's parameters ...
STEPS_LAG_TOL = 0.1         # ... and the range stops where its loss exceeds the widest model's by more than 10%


def steps_fit_range(x, loss, n_learned, n_tasks: int, *, loss_narrower=None,
                    min_learned: int = STEPS_MIN_LEARNED, max_fraction: float = STEPS_MAX_FRACTION,
                    lag_tol: float = STEPS_LAG_TOL) -> np.ndarray:
    """The fit-range rule of L(S) (mean test loss of the widest model against step), as a boolean mask.

    A point (step ``x``, loss, tasks learned n) is inside the range when

    1. ``x > 0`` and the loss is finite;
    2. ``n >= min_learned``: the curve is a sum of several drops, not the reverse S of the first
       task or two (with 500 tasks, task 1 alone carries 19-53% of the loss for α in 0.1-0.8);
    3. ``n <= max_fraction * n_tasks`` (and ``n <= n_tasks - 1``): the few drops left near the
       end of a finite task set no longer sum to a power law;
    4. ``x`` is not beyond the step of the lowest loss;
    5. with ``loss_narrower`` (the loss at the same steps of a model with at most 1/1.5 of the
       widest model's parameters): ``x`` is before the first step, with n >= 1, at which the
       narrower model's loss exceeds the widest model's by more than ``lag_tol``. Up to there the
       widest model is limited by steps, not by its width (a narrower model learns as fast);
       past it the curve flattens toward a capacity limit and a power law with offset fits an
       exponent that is too large.

    Parameters
    ----------
    x, loss, n_learned : array-like, shape (P,)
        Steps, mean losses and tasks learned of the widest model (means over seeds allowed).
    n_tasks : int
    loss_narrower : array-like, shape (P,), optional
        The comparison model's loss at the same steps (NaN where unknown).
    min_learned : int, default 3
    max_fraction : float, default 0.5
    lag_tol : float, default 0.1

    Returns
    -------
    numpy.ndarray of bool, shape (P,)
    """
    x, loss, n = (np.asarray(v, float) for v in (x, loss, n_learned))
    ok = (x > 0) & np.isfinite(loss) & (n >= min_learned) & (n <= min(n_tasks - 1, max_fraction * n_tasks))
    if ok.any():
        ok &= upto_lowest_loss(x, loss)
    if loss_narrower is not None:
        ln = np.asarray(loss_narrower, float)
        lag = np.isfinite(ln) & (x > 0) & (n >= 1) & (ln > (1.0 + lag_tol) * loss)
        if lag.any():
            ok &= x < x[lag].min()
    return ok


def finite_tasks_offset(alpha: float, n_tasks: int) -> float:
    """The loss a finite task set lacks against an unbounded Zipf law, in nats: ``ln 2 · Σ_{k>K} k^-s / Σ_{k<=K} k^-s``.

    With K tasks of frequencies ``p_k ∝ k^-s`` (s = α+1), a model that has learned the n most frequent
    has loss ``ln 2 · Σ_{n<k<=K} p_k``, which is ``(Z_∞ / Z_K) · (T_∞(n) - T_∞(K))`` with
    ``T_∞(n) = ln 2 · Σ_{k>n} k^-s / Z_∞`` the loss with infinitely many tasks. Adding this offset to the
    loss therefore gives ``(Z_∞ / Z_K) · T_∞(n)``: the infinite-task loss up to a constant factor, whose
    exponent is the asymptotic theory's. Put differently, the finite set's L∞ is this much *below*
    the loss of the learned tasks.
    """
    from scipy.special import zeta

    s = frequency_exponent(alpha)
    z_k = float(np.sum(np.arange(1, int(n_tasks) + 1, dtype=float) ** -s))
    return LN2 * float(zeta(s, int(n_tasks) + 1.0)) / z_k


def _range_mask(x, rng) -> np.ndarray:
    x = np.asarray(x, float)
    lo, hi = rng
    ok = x > 0
    if lo is not None:
        ok &= x >= lo
    if hi is not None:
        ok &= x <= hi
    return ok


def finite_tasks_exponent(x, n_learned, p, n_exponent: float) -> float | None:
    """The loss exponent the quantization model predicts for a finite task set, over given budgets.

    The asymptotic predictions (α_N = α, ...) hold for infinitely many quanta. With K tasks the
    model's loss is ``L(x) = ln 2 · Σ_{k > n(x)} p_k``, which bends down as n(x) nears K (the sum
    behaves as n^-α − K^-α), so a power-law fit over the same budgets gives a larger exponent.
    This function makes that prediction: n(x) = c·x^n_exponent (the theory's law, 1 for N and
    1/(α+1) for D and S), with c the geometric mean of n_learned / x^n_exponent over the points
    with n_learned >= 1; the model's loss at the budgets is fitted as the data are (``fit_loss_law``, the
    profile fit the measured exponent comes from: the same estimator, so that its own bias cancels; the log-space
    least squares of ``fit_power_law`` gave 0.003-0.014 less on the theory's exact curve).

    Parameters
    ----------
    x, n_learned : array-like, shape (P,)
        The fitted budgets and the tasks learned there.
    p : array-like, shape (K,)
        Task probabilities in frequency order (rank 1 first).
    n_exponent : float

    Returns
    -------
    float or None
        None when the model's loss cannot be fitted (too few points with n(x) < K).
    """
    from quanta.fit import fit_loss_law

    x = np.asarray(x, float)
    n = np.asarray(n_learned, float)
    p = np.asarray(p, float)
    ok = (x > 0) & (n >= 1)
    if ok.sum() < 1:
        return None
    log_c = float(np.mean(np.log(n[ok]) - n_exponent * np.log(x[ok])))
    n_model = np.exp(log_c) * x ** n_exponent
    cum = np.r_[0.0, np.cumsum(p) / p.sum()]          # cum[m] = mass of the m most frequent tasks
    tail = 1.0 - np.interp(n_model, np.arange(len(cum)), cum)
    keep = tail > 1e-12
    try:
        return float(fit_loss_law(x[keep], LN2 * tail[keep]).alpha)
    except QuantaError:
        return None


def _fit(x, y, *, offset, cfg, notes: list, label: str):
    """fit_power_law, or None (with a note) when the data cannot support a fit.

    ``cfg`` is the analysis's :class:`~quanta.parity.analyze.AnalyzeConfig` (its ``n_boot``, ``ci`` and ``seed``).
    """
    from quanta.fit import fit_loss_law, fit_power_law

    x = np.asarray(x, float)
    y = np.asarray(y, float)
    try:
        if not offset:
            return fit_power_law(x, y, offset=offset, n_boot=cfg.n_boot, ci=cfg.ci, seed=cfg.seed)
        # the exponent and its interval from the profile likelihood (valid where L_inf sits on its bound of 0,
        # where a percentile bootstrap is one-sided); fits with fewer than 3 degrees of freedom are refused
        return fit_loss_law(x, y, ci=cfg.ci, seed=cfg.seed)
    except QuantaError as exc:
        notes.append(f"{label}: no fit ({exc.one_line()})")
        log.info("%s: no fit (%s)", label, exc)
        return None
