"""The quantization model of neural scaling: Zipf quanta, the loss L_n and the regime exponents.

The model (Michaud et al. 2023): quanta k = 1, 2, ... are used with frequencies ``p_k ∝ k**-(alpha+1)``. A
sample that needs quantum k has loss ``b`` until k is learned and ``a`` afterwards, so a model that knows the n
most frequent quanta has expected loss::

    L_n = a * Σ_{k<=n} p_k + b * Σ_{k>n} p_k  ≈  a + (b - a) / (alpha * zeta(alpha+1)) * n**-alpha

(the approximation for infinitely many quanta and large n). How n grows with the budget sets the exponent:
parameters ``N`` (n ∝ N) give ``alpha_N = alpha``; a data set of ``D`` samples in which a quantum must be seen
``tau`` times (n ∝ D**(1/(alpha+1))) gives ``alpha_D = alpha/(alpha+1)``; single-epoch steps ``S`` give
``alpha_S = alpha/(alpha+1)``.

This module is the one home of the model's formulas. The simulator (:class:`~quanta.simulator.Simulator`,
:func:`~quanta.simulator.simulate_curves`, :func:`~quanta.simulator.fit_curves`,
:func:`~quanta.simulator.run_theory`, ...) lives in :mod:`quanta.simulator`, which builds on these formulas;
its names are also reachable here (``quanta.theory.SimulatorConfig``) and load on first use.
See ``docs/theory.md``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy.special import zeta

from quanta._lazy import lazy_exports
from quanta.errors import QuantaError

# the simulator imports these formulas; its names are here too, loaded from quanta.simulator on first use
_EXPORTS = {
    "SimulatorConfig": "quanta.simulator",
    "Simulator": "quanta.simulator",
    "simulate_curves": "quanta.simulator",
    "fit_mask": "quanta.simulator",
    "fit_curves": "quanta.simulator",
    "simulate_samples": "quanta.simulator",
    "plot_curves": "quanta.simulator",
    "plot_samples": "quanta.simulator",
    "theory_summary": "quanta.simulator",
    "run_theory": "quanta.simulator",
}
__getattr__, __dir__, _lazy_names = lazy_exports(__name__, _EXPORTS, globals())
__all__ = [
    "DEFAULT_B",
    "REGIMES",
    "SCALING_REGIMES",
    "zipf_probs",
    "tail_mass",
    "loss_exact",
    "loss_asymptotic",
    "frequency_exponent",
    "scaling_exponent",
    "growth_exponent",
    "alpha_from_scaling",
    "frequency_exponent_from_scaling",
    "predicted_exponents",
    "predicted_measurements",
    *_lazy_names,
]
del _lazy_names


DEFAULT_B = math.log(2.0)
"""Default loss of a sample whose quantum is not learned: ln 2 nats, a coin flip on a binary task."""


REGIMES = ("n", "N", "D", "S")
SCALING_REGIMES = ("params", "data", "steps")
"""What limits the model in the exponent relations: parameters N, a data set of D samples (multi-epoch), or
single-epoch steps S."""


def _check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not math.isfinite(float(alpha)) \
            or float(alpha) <= 0:
        raise QuantaError(f"alpha must be a finite number > 0, got {alpha!r}",
                          "quanta frequencies are p_k ∝ k^-(alpha+1) with alpha > 0; use e.g. alpha=0.4")
    return float(alpha)


def _check_n_quanta(n_quanta, low: int = 2) -> int | None:
    if n_quanta is None:
        return None
    if isinstance(n_quanta, bool) or not isinstance(n_quanta, numbers.Integral) or n_quanta < low:
        raise QuantaError(f"n_quanta must be an integer >= {low} or None (infinitely many), got {n_quanta!r}",
                          "use e.g. n_quanta=100000, or leave it unset")
    return int(n_quanta)


def _check_real(value, name: str) -> float:
    """A measured exponent: any real number (NaN passes through, as a missing interval end)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise QuantaError(f"{name} must be a number, got {value!r}", "pass a float")
    return float(value)


def _check_regime(regime) -> str:
    if regime not in SCALING_REGIMES:
        raise QuantaError(f"regime must be one of {', '.join(SCALING_REGIMES)}, got {regime!r}",
                          "params: limited by parameters N; data: by D samples (multi-epoch); steps: by "
                          "single-epoch steps S")
    return regime


def _check_ab(a, b) -> tuple[float, float]:
    for name, v in (("a", a), ("b", b)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)) or v < 0:
            raise QuantaError(f"{name} must be a finite loss >= 0 (nats), got {v!r}",
                              "a is the loss of a learned quantum, b of an unlearned one; e.g. a=0, b=ln 2")
    if not a < b:
        raise QuantaError(f"a must be below b (a learned quantum lowers the loss), got a={a!r}, b={b!r}",
                          "use e.g. a=0, b=0.693")
    return float(a), float(b)


def zipf_probs(alpha: float, n_quanta: int | None = None, *, k=None) -> np.ndarray:
    """Use frequencies ``p_k = k**-(alpha+1) / Z`` of quanta.

    Parameters
    ----------
    alpha : float
        Scaling exponent (> 0); the Zipf exponent is ``alpha + 1``.
    n_quanta : int, optional
        Number of quanta (>= 1); ``Z = Σ_{k<=n_quanta} k**-(alpha+1)``. None: infinitely many,
        ``Z = zeta(alpha+1)``.
    k : array-like of int, optional
        Which quanta (1-based). Default ``1..n_quanta``; required when ``n_quanta`` is None.

    Returns
    -------
    ndarray of float64, the shape of ``k`` (0 for k > n_quanta). With ``n_quanta`` and no ``k`` it sums to 1.

    Examples
    --------
    The task frequencies of multitask sparse parity with 5 tasks and α = 0.4 (Zipf exponent 1.4):

    >>> zipf_probs(0.4, 5).round(3)
    array([0.543, 0.206, 0.117, 0.078, 0.057])
    """
    alpha = _check_alpha(alpha)
    n_quanta = _check_n_quanta(n_quanta, low=1)
    if k is None:
        if n_quanta is None:
            raise QuantaError("zipf_probs needs k when n_quanta is None (infinitely many quanta)",
                              "pass k, e.g. k=np.arange(1, 1001)")
        k = np.arange(1, n_quanta + 1)
    k = np.asarray(k, dtype=float)
    if (k < 1).any():
        raise QuantaError("quanta are numbered k = 1, 2, ...; got k < 1", "pass k >= 1")
    s = frequency_exponent(alpha)
    z = float(zeta(s, 1)) if n_quanta is None else float(np.sum(np.arange(1, n_quanta + 1, dtype=float) ** -s))
    p = k ** -s / z
    if n_quanta is not None:
        p = np.where(k <= n_quanta, p, 0.0)
    return p


def tail_mass(n, alpha: float, n_quanta: int | None = None) -> np.ndarray:
    """``Σ_{k>n} p_k``: the frequency of samples whose quantum is beyond the n most frequent.

    Exact: Hurwitz zeta ``zeta(alpha+1, n+1) / zeta(alpha+1)`` for infinitely many quanta, finite sums otherwise.
    ``n`` is an integer or an array of integers >= 0.
    """
    alpha = _check_alpha(alpha)
    n_quanta = _check_n_quanta(n_quanta, low=1)
    n = np.asarray(n)
    if (n < 0).any() or (np.asarray(n, dtype=float) != np.floor(np.asarray(n, dtype=float))).any():
        raise QuantaError("n (number of learned quanta) must be whole and >= 0", "pass integers")
    s = frequency_exponent(alpha)
    if n_quanta is None:
        return zeta(s, np.asarray(n, dtype=float) + 1.0) / zeta(s, 1.0)
    p = zipf_probs(alpha, n_quanta)
    tail = np.concatenate([np.cumsum(p[::-1])[::-1], [0.0]])  # tail[j] = Σ_{k>j} p_k, j = 0..n_quanta
    return tail[np.minimum(n.astype(np.int64), n_quanta)]


def loss_exact(n, alpha: float, *, n_quanta: int | None = None, a: float = 0.0, b: float = DEFAULT_B) -> np.ndarray:
    """Expected loss ``L_n = a Σ_{k<=n} p_k + b Σ_{k>n} p_k`` of a model that has learned the n most frequent quanta.

    Parameters
    ----------
    n : int or array of int (>= 0)
    alpha : float
    n_quanta : int, optional
        None: infinitely many quanta (zeta normalisation).
    a, b : float
        Loss (nats) of a sample whose quantum is learned / not learned. Defaults 0 and ln 2.
    """
    a, b = _check_ab(a, b)
    return a + (b - a) * tail_mass(n, alpha, n_quanta)


def loss_asymptotic(n, alpha: float, *, a: float = 0.0, b: float = DEFAULT_B) -> np.ndarray:
    """Large-n form for infinitely many quanta: ``a + (b - a) / (alpha * zeta(alpha+1)) * n**-alpha``."""
    alpha = _check_alpha(alpha)
    a, b = _check_ab(a, b)
    n = np.asarray(n, dtype=float)
    return a + (b - a) / (alpha * zeta(frequency_exponent(alpha), 1.0)) * n ** -alpha


def frequency_exponent(alpha: float) -> float:
    """The Zipf exponent ``alpha + 1`` of quanta use frequencies, ``p_k ∝ k**-(alpha+1)``.

    Parameters
    ----------
    alpha : float
        The scaling exponent α. A measured value is accepted as it is (≤ 0 too, and NaN gives NaN), although
        the Zipf law is normalisable only for α > 0.

    Returns
    -------
    float
        ``alpha + 1``.

    Examples
    --------
    The paper's Pythia fit α_N = 0.083 predicts quanta frequencies with Zipf exponent 1.083:

    >>> round(frequency_exponent(0.083), 3)
    1.083
    """
    return _check_real(alpha, "alpha") + 1.0


def scaling_exponent(alpha: float, regime: str) -> float:
    """The exponent of the mean-loss scaling law ``L - L∞ ∝ x**-exponent`` that the model predicts.

    Parameters
    ----------
    alpha : float
        The scaling exponent α (> 0); quanta frequencies ``p_k ∝ k**-(alpha+1)``.
    regime : {"params", "data", "steps"}
        ``params``: limited by parameters N, ``alpha_N = alpha``. ``data`` (D samples, multi-epoch) and
        ``steps`` (single epoch): ``alpha_D = alpha_S = alpha/(alpha+1)``.

    Returns
    -------
    float

    Examples
    --------
    >>> scaling_exponent(0.4, "params"), round(scaling_exponent(0.4, "steps"), 4)
    (0.4, 0.2857)
    """
    alpha = _check_alpha(alpha)
    if _check_regime(regime) == "params":
        return alpha
    return alpha / frequency_exponent(alpha)


def growth_exponent(alpha: float, regime: str) -> float:
    """How the number n of learned quanta grows with the budget x, ``n ∝ x**exponent``.

    Parameters
    ----------
    alpha : float
        The scaling exponent α (> 0).
    regime : {"params", "data", "steps"}
        ``params``: a fixed number of parameters per quantum, so 1. ``data`` and ``steps``: the last learned
        quantum has been seen a fixed number of times, ``x·p_n ∝ 1``, so ``1/(alpha+1)``.

    Returns
    -------
    float
    """
    alpha = _check_alpha(alpha)
    if _check_regime(regime) == "params":
        return 1.0
    return 1.0 / frequency_exponent(alpha)


def alpha_from_scaling(exponent: float, regime: str) -> float:
    """The α that a measured scaling exponent implies: the inverse of :func:`scaling_exponent`.

    Parameters
    ----------
    exponent : float
        The measured exponent of ``L - L∞ ∝ x**-exponent`` (NaN gives NaN).
    regime : {"params", "data", "steps"}
        ``params``: ``alpha = alpha_N``. ``data`` and ``steps``: ``alpha_x = alpha/(alpha+1)``, so
        ``alpha = exponent/(1 - exponent)``.

    Returns
    -------
    float

    Raises
    ------
    QuantaError
        For ``data`` and ``steps`` when ``exponent >= 1``: no α > 0 gives it (α/(α+1) < 1 always).

    Examples
    --------
    >>> round(alpha_from_scaling(0.4 / 1.4, "data"), 12)
    0.4
    """
    exponent = _check_real(exponent, "exponent")
    if _check_regime(regime) == "params":
        return exponent
    _check_below_one(exponent, regime)
    return exponent / (1.0 - exponent)


def frequency_exponent_from_scaling(exponent: float, regime: str) -> float:
    """The Zipf exponent α+1 of quanta frequencies that a measured scaling exponent implies.

    ``frequency_exponent(alpha_from_scaling(exponent, regime))``, in closed form: ``exponent + 1`` for
    ``params`` and ``1/(1 - exponent)`` for ``data`` and ``steps``.

    Parameters
    ----------
    exponent : float
        The measured exponent (NaN gives NaN).
    regime : {"params", "data", "steps"}

    Returns
    -------
    float

    Raises
    ------
    QuantaError
        For ``data`` and ``steps`` when ``exponent >= 1``.
    """
    exponent = _check_real(exponent, "exponent")
    if _check_regime(regime) == "params":
        return frequency_exponent(exponent)
    _check_below_one(exponent, regime)
    return 1.0 / (1.0 - exponent)


def _check_below_one(exponent: float, regime: str) -> None:
    if exponent >= 1:
        raise QuantaError(f"a {regime}-limited scaling exponent must be below 1 (it is alpha/(alpha+1)), "
                          f"got {exponent!r}",
                          "an exponent >= 1 implies no alpha > 0; check the fit, or use regime 'params'")


def predicted_exponents(alpha: float) -> dict[str, float]:
    """The exponents the model predicts: ``alpha_N = alpha``, ``alpha_D = alpha_S = alpha/(alpha+1)``, and the
    growth ``n ∝ D**n_D`` of learned quanta with data, ``n_D = 1/(alpha+1)``."""
    alpha = _check_alpha(alpha)
    return {"alpha_N": scaling_exponent(alpha, "params"), "alpha_D": scaling_exponent(alpha, "data"),
            "alpha_S": scaling_exponent(alpha, "steps"), "n_D": growth_exponent(alpha, "data")}


def predicted_measurements(alpha: float) -> dict[str, float]:
    """What the model predicts for every quantity an analysis of planted quanta measures (``quanta parity
    analyze``), under the analysis's names.

    Parameters
    ----------
    alpha : float
        The scaling exponent α (> 0).

    Returns
    -------
    dict
        ``alpha_N``, ``alpha_D``, ``alpha_S``: the loss exponents (:func:`scaling_exponent`);
        ``alpha_S_tail_corrected``: α_S again (the fit after the finite-task correction);
        ``n_vs_N_exponent``, ``n_vs_D_exponent``: the growth of learned quanta (:func:`growth_exponent`);
        ``convergence_exponent``: 1, since the steps to learn quantum k scale as ``p_k**-1``;
        ``order_spearman``: 1, since quanta are learned in order of frequency.
    """
    alpha = _check_alpha(alpha)
    return {"alpha_N": scaling_exponent(alpha, "params"), "alpha_D": scaling_exponent(alpha, "data"),
            "alpha_S": scaling_exponent(alpha, "steps"), "alpha_S_tail_corrected": scaling_exponent(alpha, "steps"),
            "n_vs_N_exponent": growth_exponent(alpha, "params"), "n_vs_D_exponent": growth_exponent(alpha, "data"),
            "convergence_exponent": 1.0, "order_spearman": 1.0}
