"""The simulator of the quantization model: which quanta a budget buys, the scaling curves it gives, their fits,
figures and the ``quanta theory`` run directory.

:class:`Simulator` draws real data sets and training streams from the Zipf law of :mod:`quanta.theory` and says
which quanta a budget buys; :func:`simulate_curves` sweeps the budgets and :func:`fit_curves` fits the curves with
:func:`quanta.fit.fit_power_law` over a documented range (:func:`fit_mask`). :func:`simulate_samples` gives
per-sample curves of monogenic and polygenic samples. :func:`run_theory` writes it all to a run directory.
The formulas themselves live in :mod:`quanta.theory`, which re-exports these names. See ``docs/theory.md``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.special import zeta

from quanta.errors import QuantaError
from quanta.fit import PowerLawFit, fit_power_law
from quanta.theory import (DEFAULT_B, REGIMES, _check_ab, _check_alpha, _check_n_quanta, frequency_exponent,
                           loss_exact, predicted_exponents, tail_mass, zipf_probs)
from quanta.utils import check_memory
from quanta.validation import Interval, Satisfies, is_int, seed_range, validate_config


_TRACK_FRACTION = 0.02  # quanta expected to be seen fewer than this fraction of tau times are pooled as unlearned


@dataclass(frozen=True)
class SimulatorConfig:
    """Settings of the quanta simulator and of its budget sweeps.

    Parameters
    ----------
    alpha : float, default 0.4
        Scaling exponent (> 0); quanta are used with ``p_k ∝ k**-(alpha+1)``.
    n_quanta : int, optional
        Number of quanta. None (default): infinitely many (zeta normalisation); quanta no budget can reach are
        pooled as one unlearned remainder, which does not change the loss.
    a, b : float, default 0 and ln 2
        Loss (nats) of a sample whose quantum is learned / not learned. ln 2 is chance on a binary task.
    params_per_quantum : float, default 100
        Parameters a model spends per quantum: a model of N parameters learns the ``floor(N / params_per_quantum)``
        most frequent quanta.
    tau : int, default 10
        A quantum is learned once it has been seen ``tau`` times (in the data set, or cumulatively in training).
    batch : int, default 100
        Samples per step in the single-epoch (S) regime.
    seed : int, default 0
    n_max : int, optional
        Sweeps cover budgets from about one learned quantum to about ``n_max``. None (default) resolves to
        ``min(3000, n_quanta)``.
    n_budgets : int, default 40
        Log-spaced budgets per sweep (duplicates after rounding are dropped).
    fit_n_min : int, default 10
        Fit-range rule: fit only budgets with ``n_learned >= fit_n_min`` (the discreteness of the first quanta
        bends the curve) ...
    fit_max_fraction : float, default 0.1
        ... and, for a finite number of quanta, ``n_learned <= fit_max_fraction * n_quanta`` (the finite sum
        bends the curve as n approaches n_quanta).
    n_samples : int, default 2000
        Samples per kind in :func:`simulate_samples`.
    genes : tuple of int, default (1, 8)
        Quanta needed per sample: 1 = monogenic, more = polygenic.
    """

    alpha: float = 0.4
    n_quanta: int | None = None
    a: float = 0.0
    b: float = DEFAULT_B
    params_per_quantum: float = 100.0
    tau: int = 10
    batch: int = 100
    seed: int = 0
    n_max: int | None = None
    n_budgets: int = 40
    fit_n_min: int = 10
    fit_max_fraction: float = 0.1
    n_samples: int = 2000
    genes: tuple[int, ...] = (1, 8)

    def __post_init__(self):
        _check_alpha(self.alpha)
        _check_n_quanta(self.n_quanta)
        _check_ab(self.a, self.b)
        if self.n_max is None:
            if self.n_quanta is not None and self.n_quanta < 10:
                raise QuantaError(f"n_quanta={self.n_quanta}: the sweeps need at least 10 quanta (they cover "
                                  "budgets up to n_quanta)", "pass n_quanta=10 or more, or leave it unset")
            object.__setattr__(self, "n_max", 3000 if self.n_quanta is None else min(3000, int(self.n_quanta)))
        validate_config(self, {
            "params_per_quantum": [Interval(float, 0, None, closed="neither")],
            "tau": [Interval(int, 1, None)],
            "batch": [Interval(int, 1, None)],
            "n_max": [Interval(int, 10, None)],
            "n_budgets": [Interval(int, 5, None)],
            "fit_n_min": [Interval(int, 1, None)],
            "n_samples": [Interval(int, 1, None)],
            "seed": [seed_range()],
            "fit_max_fraction": [Interval(float, 0, 1, closed="right")],
            "genes": [Satisfies(lambda g: isinstance(g, (tuple, list)) and len(g) > 0 and all(
                is_int(v) and v >= 1 for v in g), "a non-empty list of integers >= 1")],
        }, examples={"genes": "[1,8]"})
        if self.n_quanta is not None and self.n_max > self.n_quanta:
            raise QuantaError(f"n_max ({self.n_max}) cannot exceed n_quanta ({self.n_quanta})",
                              "lower n_max or raise n_quanta")
        if self.fit_n_min * 3 > self.fit_n_max:
            raise QuantaError(f"the fit range n_learned in [{self.fit_n_min}, {self.fit_n_max}] is too narrow "
                              "(less than a factor 3)", "raise n_max or n_quanta, or lower fit_n_min")
        # the D and S sweeps need about tau / p_{n_max} samples; keep them within 64-bit counts
        s = frequency_exponent(self.alpha)
        # sum_{k <= n} k^-s = zeta(s) - zeta(s, n + 1): no array of n_quanta terms
        log_z = math.log(float(zeta(s, 1.0)) - (0.0 if self.n_quanta is None else float(zeta(s, self.n_quanta + 1))))
        log10_samples = (math.log(self.tau) + s * math.log(self.n_max) + log_z) / math.log(10)
        if log10_samples > 18.6:  # 4e18, half of the int64 range
            raise QuantaError(f"alpha={self.alpha:g} with n_max={self.n_max} needs about 1e{log10_samples:.0f} "
                              "samples to learn n_max quanta from data, beyond what the simulator can count (4e18)",
                              "lower n_max (e.g. n_max=1000) or alpha")
        # the simulator tracks about n_max * (1 / _TRACK_FRACTION)^(1/s) quanta, a few float64 arrays of them
        n_track = self.n_max * max(2.0, (1.0 / _TRACK_FRACTION) ** (1.0 / s))
        if self.n_quanta is not None:
            n_track = min(n_track, self.n_quanta)
        check_memory(n_track * 8 * 6, f"n_max={self.n_max} (about {n_track:.3g} quanta tracked)",
                     "lower n_max (e.g. n_max=3000)")
        object.__setattr__(self, "genes", tuple(int(v) for v in self.genes))
        object.__setattr__(self, "alpha", float(self.alpha))
        # sample_losses compares each sample's quanta with every budget: samples x genes x budgets booleans
        check_memory(self.n_samples * max(self.genes) * self.n_budgets * 9, f"genes={list(self.genes)} with "
                     f"n_samples={self.n_samples} and n_budgets={self.n_budgets}", "lower genes or n_samples")

    @property
    def fit_n_max(self) -> int:
        """Upper end of the fit range in learned quanta (``n_max``, capped by ``fit_max_fraction * n_quanta``)."""
        if self.n_quanta is None:
            return self.n_max
        return int(min(self.n_max, math.floor(self.fit_max_fraction * self.n_quanta)))


class Simulator:
    """Which quanta a budget buys, and the resulting loss.

    * ``N`` parameters: the ``floor(N / params_per_quantum)`` most frequent quanta (capped at ``n_quanta``).
    * ``D`` samples (multi-epoch): a fresh data set of D samples drawn from the Zipf law (multinomial counts);
      quantum k is learned iff it occurs at least ``tau`` times in it.
    * ``S`` steps (single epoch): a stream of ``batch`` fresh samples per step; quantum k is learned once its
      cumulative count reaches ``tau``. Successive budgets of one sweep continue the same stream.

    The loss is the expected test loss ``a + (b - a) * (frequency of unlearned quanta)``.

    Quanta whose expected count at the largest budget is below ``0.02 * tau`` are pooled into one
    never-learned remainder, which keeps the multinomial draws small; the chance that one of them would have
    reached ``tau`` is negligible for ``tau >= 2`` (for ``tau = 1`` it shifts the loss by at most 2%).
    """

    def __init__(self, config: SimulatorConfig):
        if not isinstance(config, SimulatorConfig):
            raise QuantaError(f"expected a SimulatorConfig, got {type(config).__name__}", "build one first")
        self.config = config

    # ---------------------------------------------------------------- helpers
    def _tracked(self, max_samples: float) -> tuple[np.ndarray, float]:
        """Probabilities of the quanta worth tracking for up to ``max_samples`` samples, and the pooled rest."""
        cfg = self.config
        s = frequency_exponent(cfg.alpha)
        z = float(zeta(s, 1.0)) - (0.0 if cfg.n_quanta is None else float(zeta(s, cfg.n_quanta + 1)))
        # smallest k with max_samples * p_k < _TRACK_FRACTION * tau
        k_need = math.ceil((max_samples / (_TRACK_FRACTION * cfg.tau * z)) ** (1.0 / s)) + 1
        k_track = max(k_need, 2 * cfg.n_max)
        if cfg.n_quanta is not None:
            k_track = min(k_track, cfg.n_quanta)
        p = zipf_probs(cfg.alpha, cfg.n_quanta, k=np.arange(1, k_track + 1))
        rest = float(tail_mass(k_track, cfg.alpha, cfg.n_quanta))
        return p, max(rest, 0.0)

    def _loss(self, unlearned_mass) -> np.ndarray:
        cfg = self.config
        return cfg.a + (cfg.b - cfg.a) * np.asarray(unlearned_mass, dtype=float)

    @staticmethod
    def _budgets(values, name) -> np.ndarray:
        arr = np.asarray(values, dtype=float).ravel()
        if arr.size == 0 or not np.isfinite(arr).all() or (arr < 0).any():
            raise QuantaError(f"{name} budgets must be finite and >= 0", f"pass e.g. {name}=[1e3, 1e4, 1e5]")
        return arr

    # ---------------------------------------------------------------- regimes
    def learn_params(self, N) -> tuple[np.ndarray, np.ndarray]:
        """Learned quanta and loss for parameter budgets ``N``; returns (n_learned, loss) arrays."""
        cfg = self.config
        N = self._budgets(N, "N")
        n = np.floor(N / cfg.params_per_quantum + 1e-9).astype(np.int64)
        if cfg.n_quanta is not None:
            n = np.minimum(n, cfg.n_quanta)
        return n, loss_exact(n, cfg.alpha, n_quanta=cfg.n_quanta, a=cfg.a, b=cfg.b)

    def learn_data(self, D, *, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Learned quanta and loss for data-set sizes ``D`` (each budget an independent data set)."""
        D = np.round(self._budgets(D, "D")).astype(np.int64)
        rng = np.random.default_rng(self.config.seed) if rng is None else rng
        p, rest = self._tracked(float(D.max()))
        probs = np.append(p, rest)
        probs = probs / probs.sum()
        n_learned = np.empty(D.size, dtype=np.int64)
        unlearned = np.empty(D.size)
        for i, d in enumerate(D):
            counts = rng.multinomial(int(d), probs)[:-1]
            learned = counts >= self.config.tau
            n_learned[i] = int(learned.sum())
            unlearned[i] = float(p[~learned].sum()) + rest
        return n_learned, self._loss(unlearned)

    def learn_steps(self, S, *, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Learned quanta and loss after ``S`` single-epoch steps of ``batch`` samples (one continued stream)."""
        cfg = self.config
        S = np.round(self._budgets(S, "S")).astype(np.int64)
        rng = np.random.default_rng(cfg.seed) if rng is None else rng
        order = np.argsort(S, kind="stable")
        p, rest = self._tracked(float(S.max()) * cfg.batch)
        probs = np.append(p, rest)
        probs = probs / probs.sum()
        counts = np.zeros(p.size, dtype=np.int64)
        done = 0
        n_learned = np.empty(S.size, dtype=np.int64)
        unlearned = np.empty(S.size)
        for i in order:
            new = int(S[i] - done) * cfg.batch
            if new > 0:
                counts += rng.multinomial(new, probs)[:-1]
                done = int(S[i])
            learned = counts >= cfg.tau
            n_learned[i] = int(learned.sum())
            unlearned[i] = float(p[~learned].sum()) + rest
        return n_learned, self._loss(unlearned)

    # ---------------------------------------------------------------- sweeps
    def default_budgets(self, regime: str) -> np.ndarray:
        """Log-spaced budgets from about 1 to about ``n_max`` learned quanta (by the model's own rule)."""
        cfg = self.config
        if regime not in REGIMES:
            raise QuantaError(f"regime must be one of {', '.join(REGIMES)}, got {regime!r}", "use n, N, D or S")
        k = cfg.n_budgets
        if regime == "n":
            return np.unique(np.round(np.geomspace(1, cfg.n_max, k)))
        if regime == "N":
            return np.unique(np.round(np.geomspace(cfg.params_per_quantum, cfg.params_per_quantum * cfg.n_max, k)))
        p_first, p_last = zipf_probs(cfg.alpha, cfg.n_quanta, k=np.array([1, cfg.n_max]))
        lo, hi = cfg.tau / p_first, cfg.tau / p_last  # samples at which quantum 1 / n_max is expected tau times
        if regime == "D":
            return np.unique(np.round(np.geomspace(lo, hi, k)))
        return np.unique(np.maximum(np.round(np.geomspace(lo / cfg.batch, hi / cfg.batch, k)), 1))

    def sweep(self, regime: str, budgets=None) -> pd.DataFrame:
        """One loss curve: a tidy DataFrame with columns ``regime, x, loss, n_learned, alpha``.

        The random regimes use a generator seeded by ``(seed, regime)``, so each curve is reproducible alone.
        """
        cfg = self.config
        if regime not in REGIMES:
            raise QuantaError(f"regime must be one of {', '.join(REGIMES)}, got {regime!r}", "use n, N, D or S")
        x = self.default_budgets(regime) if budgets is None else self._budgets(budgets, regime)
        rng = np.random.default_rng([cfg.seed, REGIMES.index(regime)])
        if regime == "n":
            n = np.asarray(x, dtype=np.int64)
            if cfg.n_quanta is not None:
                n = np.minimum(n, cfg.n_quanta)
            loss = loss_exact(n, cfg.alpha, n_quanta=cfg.n_quanta, a=cfg.a, b=cfg.b)
        elif regime == "N":
            n, loss = self.learn_params(x)
        elif regime == "D":
            n, loss = self.learn_data(x, rng=rng)
        else:
            n, loss = self.learn_steps(x, rng=rng)
        return pd.DataFrame({"regime": regime, "x": np.asarray(x, dtype=float), "loss": np.asarray(loss, float),
                             "n_learned": np.asarray(n, dtype=np.int64), "alpha": cfg.alpha})


def simulate_curves(config: SimulatorConfig, regimes=REGIMES) -> pd.DataFrame:
    """Loss curves of every regime: a tidy DataFrame ``regime, x, loss, n_learned, alpha`` (see docs/tables.md).

    Examples
    --------
    >>> curves = simulate_curves(SimulatorConfig(alpha=0.4, n_max=300, n_budgets=12))
    >>> sorted(curves["regime"].unique())
    ['D', 'N', 'S', 'n']
    """
    sim = Simulator(config)
    return pd.concat([sim.sweep(r) for r in regimes], ignore_index=True)


def fit_mask(curve: pd.DataFrame, config: SimulatorConfig) -> np.ndarray:
    """The fit-range rule: budgets with ``fit_n_min <= n_learned <= config.fit_n_max`` and loss above ``a``.

    The same rule for every alpha and regime: below ``fit_n_min`` learned quanta the curve is a staircase of
    the first few quanta; near ``n_quanta`` the finite sum bends it (see :attr:`SimulatorConfig.fit_n_max`).
    """
    n = curve["n_learned"].to_numpy()
    return (n >= config.fit_n_min) & (n <= config.fit_n_max) & (curve["loss"].to_numpy() > config.a)


def fit_curves(curves: pd.DataFrame, config: SimulatorConfig, *, n_boot: int = 200, ci: float = 0.9) -> dict:
    """Fit ``loss - a = A * x**-alpha`` to each regime's curve within :func:`fit_mask`.

    The simulator knows its irreducible loss ``a``, so the fit has no free offset (``offset=False``).

    Returns
    -------
    dict
        regime -> :class:`~quanta.fit.PowerLawFit` (a PowerLawFit of ``loss - a``; add ``a`` to predict loss),
        plus ``"n_D"``: the fit of ``n_learned ∝ D**n_D`` over the same range.
    """
    fits: dict[str, PowerLawFit] = {}
    for regime in curves["regime"].unique():
        curve = curves[curves["regime"] == regime]
        mask = fit_mask(curve, config)
        if mask.sum() < 3:
            raise QuantaError(f"regime {regime}: only {int(mask.sum())} budgets fall in the fit range "
                              f"n_learned in [{config.fit_n_min}, {config.fit_n_max}]",
                              "raise n_max or n_budgets, or lower fit_n_min")
        x = curve["x"].to_numpy()[mask]
        fits[str(regime)] = fit_power_law(x, curve["loss"].to_numpy()[mask] - config.a, offset=False,
                                          n_boot=n_boot, ci=ci, seed=config.seed)
        if regime == "D":
            n = curve["n_learned"].to_numpy()[mask].astype(float)
            # n grows with D: fit 1/n, whose exponent is n_D
            fits["n_D"] = fit_power_law(x, 1.0 / n, offset=False, n_boot=n_boot, ci=ci, seed=config.seed)
    return fits


def simulate_samples(config: SimulatorConfig, *, n_values=None) -> pd.DataFrame:
    """Per-sample loss curves of samples that need a set of quanta, as the number of learned quanta n grows.

    Each sample draws ``g`` quanta (with replacement) from the Zipf law, for each ``g`` in ``config.genes``
    (``g = 1``: monogenic; ``g > 1``: polygenic). With the n most frequent quanta learned, its loss is
    ``a + (b - a) * (share of its quanta not yet learned)``: a single step for a monogenic sample, a ramp of
    ``g`` smaller steps for a polygenic one. Averaged over samples, both give ``L_n``.

    Parameters
    ----------
    config : SimulatorConfig
        Uses alpha, n_quanta, a, b, seed, n_max, n_budgets, n_samples and genes.
    n_values : array-like of int, optional
        Numbers of learned quanta; default ``Simulator.default_budgets("n")``.

    Returns
    -------
    DataFrame with columns ``sample`` (id, unique over kinds), ``genes``, ``kind`` (``monogenic``/``polygenic``),
    ``n`` (learned quanta), ``loss``.
    """
    cfg = config
    n_values = Simulator(cfg).default_budgets("n") if n_values is None else np.asarray(n_values)
    n_values = np.asarray(n_values, dtype=np.int64)
    rng = np.random.default_rng([cfg.seed, 99])
    rows = []
    offset = 0
    s = frequency_exponent(cfg.alpha)
    for g in cfg.genes:
        if cfg.n_quanta is None:
            k = rng.zipf(s, size=(cfg.n_samples, g))
        else:
            k = rng.choice(np.arange(1, cfg.n_quanta + 1), p=zipf_probs(cfg.alpha, cfg.n_quanta),
                           size=(cfg.n_samples, g))
        unlearned = (k[:, :, None] > n_values[None, None, :]).mean(axis=1)  # (samples, n_values)
        loss = cfg.a + (cfg.b - cfg.a) * unlearned
        ids = np.arange(offset, offset + cfg.n_samples)
        offset += cfg.n_samples
        rows.append(pd.DataFrame({
            "sample": np.repeat(ids, n_values.size),
            "genes": g,
            "kind": "monogenic" if g == 1 else "polygenic",
            "n": np.tile(n_values, cfg.n_samples),
            "loss": loss.ravel(),
        }))
    return pd.concat(rows, ignore_index=True)


_XLABEL = {"n": "learned quanta n", "N": "parameters N", "D": "data set size D (samples)",
           "S": "single-epoch steps S"}


def plot_curves(curves: pd.DataFrame, fits: dict, config: SimulatorConfig):
    """Loss against n, N, D and S (log-log, one panel each): the simulated loss minus ``a``, the fitted line
    over its fit range (:func:`fit_mask`), and the predicted exponent. Returns a matplotlib Figure."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    pred = predicted_exponents(config.alpha)
    pred_by_regime = {"n": config.alpha, "N": pred["alpha_N"], "D": pred["alpha_D"], "S": pred["alpha_S"]}
    regimes = [r for r in REGIMES if r in set(curves["regime"])]
    ncol = 2 if len(regimes) > 1 else 1
    nrow = math.ceil(len(regimes) / ncol)
    fig = Figure(figsize=(5.0 * ncol, 3.7 * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for ax in axes.ravel()[len(regimes):]:
        ax.set_visible(False)
    for ax, regime in zip(axes.ravel(), regimes):
        curve = curves[curves["regime"] == regime]
        mask = fit_mask(curve, config)
        x, y = curve["x"].to_numpy(), curve["loss"].to_numpy() - config.a
        pos = y > 0
        ax.loglog(x[pos & ~mask], y[pos & ~mask], "o", color="0.65", ms=3.5, label="simulated, outside fit range")
        ax.loglog(x[mask], y[mask], "o", color="C0", ms=3.5, label="simulated, fit range")
        fit = fits.get(str(regime))
        if fit is not None:
            xx = np.geomspace(fit.x_min, fit.x_max, 50)
            ax.loglog(xx, fit.predict(xx), "-", color="C3",
                      label=f"fit {fit.alpha:.3f} [{fit.alpha_ci[0]:.3f}, {fit.alpha_ci[1]:.3f}]")
        ax.set_title(f"{regime}: predicted exponent {pred_by_regime[regime]:.3f}", fontsize=9)
        ax.set_xlabel(_XLABEL[str(regime)], fontsize=8)
        ax.set_ylabel("loss - a (nats)", fontsize=8)
        ax.yaxis.set_minor_formatter(NullFormatter())  # minor labels: clutter, and slow to render
        ax.legend(fontsize=7)
    fig.suptitle(f"quantization model, alpha = {config.alpha:g}", fontsize=10)
    fig.subplots_adjust(hspace=0.45, wspace=0.3)
    return fig


def plot_samples(samples: pd.DataFrame, config: SimulatorConfig, *, n_show: int = 8):
    """Per-sample curves (a few samples per kind) and the mean over all samples against the exact ``L_n``."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    kinds = list(dict.fromkeys(samples["kind"]))
    fig = Figure(figsize=(4.2 * (len(kinds) + 1), 3.6))
    axes = fig.subplots(1, len(kinds) + 1)
    for ax, kind in zip(axes, kinds):
        sub = samples[samples["kind"] == kind]
        for i, (sid, one) in enumerate(sub.groupby("sample", sort=True)):
            if i >= n_show:
                break
            ax.semilogx(one["n"], one["loss"], drawstyle="steps-post", lw=1.2, alpha=0.8)
        genes = sorted(sub["genes"].unique())
        ax.set_title(f"{kind} samples (quanta per sample: {', '.join(map(str, genes))})", fontsize=9)
        ax.set_xlabel("learned quanta n")
        ax.set_ylabel("per-sample loss (nats)")
    ax = axes[-1]
    for kind in kinds:
        mean = samples[samples["kind"] == kind].groupby("n")["loss"].mean()
        y = mean.to_numpy() - config.a
        ok = y > 0
        ax.loglog(mean.index.to_numpy()[ok], y[ok], "o", ms=3, label=f"mean, {kind}")
    n = np.unique(samples["n"].to_numpy())
    ax.loglog(n, loss_exact(n, config.alpha, n_quanta=config.n_quanta, a=config.a, b=config.b) - config.a, "k-",
              lw=1, label="exact L_n - a")
    ax.set_title("the mean is a power law", fontsize=9)
    ax.set_xlabel("learned quanta n")
    ax.set_ylabel("mean loss - a (nats)")
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=7)
    fig.subplots_adjust(wspace=0.35)
    return fig


def theory_summary(config: SimulatorConfig, curves: pd.DataFrame, fits: dict) -> dict:
    """Headline figures: predicted and simulated exponents (with intervals) and how they were measured."""
    pred = predicted_exponents(config.alpha)
    out = {"alpha": config.alpha, "alpha_N_pred": pred["alpha_N"], "alpha_D_pred": pred["alpha_D"],
           "alpha_S_pred": pred["alpha_S"]}
    for regime in ("N", "D", "S"):
        fit = fits.get(regime)
        if fit is not None:
            out[f"alpha_{regime}_sim"] = fit.alpha
            out[f"alpha_{regime}_sim_ci"] = list(fit.alpha_ci)
    if "n_D" in fits:
        out["n_D_pred"] = pred["n_D"]
        out["n_D_sim"] = fits["n_D"].alpha
        out["n_D_sim_ci"] = list(fits["n_D"].alpha_ci)
    out["L_inf"] = config.a
    out["ci_level"] = next(iter(fits.values())).ci_level if fits else None
    out["fit_rule"] = (f"fit loss - a = A x^-alpha (no offset) over budgets with {config.fit_n_min} <= n_learned "
                       f"<= {config.fit_n_max}; residual bootstrap percentile interval")
    out["fits"] = {k: v.to_dict() for k, v in fits.items()}
    return out


def run_theory(config: SimulatorConfig, out, *, force: bool = False, argv: list[str] | None = None) -> dict:
    """Simulate every regime, fit the curves, and write a run directory.

    Writes ``curves.parquet`` (regime, x, loss, n_learned, alpha), ``samples.parquet`` (sample, genes, kind, n,
    loss), figures ``loss_curves.png`` (loss against n, N, D and S) and ``samples.png``, and ``summary.json`` (see
    :func:`theory_summary`). Returns the summary as written.
    """
    from quanta.store import Run

    if not isinstance(config, SimulatorConfig):
        raise QuantaError(f"expected a SimulatorConfig, got {type(config).__name__}", "build one first")
    with Run.create(out, command="theory", config=asdict(config), seed=config.seed, device="cpu", argv=argv,
                    force=force) as run:
        with run.timer("simulate"):
            curves = simulate_curves(config)
            samples = simulate_samples(config)
        with run.timer("fit"):
            fits = fit_curves(curves, config)
        run.write_table("curves", curves)
        run.write_table("samples", samples)
        with run.timer("figures"):
            run.save_figure(plot_curves(curves, fits, config), "loss_curves")
            run.save_figure(plot_samples(samples, config), "samples")
        return run.finish(theory_summary(config, curves, fits))
