"""Analysis of a ``quanta parity run`` directory: scaling fits, emergence, learning order, theory.

The analysis reads only the tables of a run directory (``tasks``, ``models``, ``eval``,
``eval_mean``; see docs/tables.md) and never the engine's code or weights, so a run trained
on a GPU elsewhere and copied back analyses the same way.

What it measures, for each α in the run:

* **L(N)**: final test loss of the online (``D = 0``) models against parameters;
* **L(D)**: best test loss of the data-sweep models (``D > 0``, the width with most D values)
  against D;
* **L(S)**: test loss against step of the widest online model;
* **emergence**: for every task, the step, width and D at which its loss first falls below a
  threshold (0.1 bits by default), and the number of tasks learned, n, against N and D;
* **learning order**: Spearman correlation of learn step with frequency rank, and the law
  learn_step ∝ p_k^-β;
* **emergence prediction**: from the models of width <= W alone, the width at which each
  task not yet learned will be learned, checked against the wider models of the same run.

Each power law with an offset is fitted with :func:`quanta.fit.fit_power_law_profile` (profile-likelihood
interval; at least 3 degrees of freedom) over a range chosen by the label-free rule in :func:`auto_fit_range` (L(S): :func:`steps_fit_range`,
plus a finite-K tail-corrected fit, :func:`finite_tasks_offset`) or a user override,
and the range used is recorded in ``fits.parquet``.

Typical use::

    from quanta.parity.analyze import AnalyzeConfig, analyze_parity, run_parity_analysis
    result = analyze_parity("runs/parity", AnalyzeConfig(threshold_bits=0.1))
    result.summary["alpha_N"], result.fits
    run_parity_analysis("runs/parity", "runs/parity-analysis")   # writes tables and figures
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from quanta.errors import QuantaError, check
from quanta.store import Run
from quanta.theory import frequency_exponent, growth_exponent, predicted_measurements

log = logging.getLogger(__name__)

LN2 = math.log(2.0)

#: Columns each table of a parity run must have (docs/tables.md, ``quanta parity run``).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "tasks": ("alpha", "task", "p"),
    "models": ("model", "width", "n_params", "seed", "D", "alpha", "final_loss", "best_loss", "best_step",
               "steps"),
    "eval": ("model", "step", "task", "loss"),
    "eval_mean": ("model", "step", "loss"),
}

#: The fits this module makes: name -> (x column, y quantity, theory key).
FIT_NAMES = ("L_N", "L_D", "L_S", "n_N", "n_D", "learn_step_p")

_AXES = ("N", "D", "S")


# ---------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class AnalyzeConfig:
    """Settings of ``quanta parity analyze``.

    Parameters
    ----------
    threshold_bits : float, default 0.1
        A task counts as learned once its test loss is below this many bits
        (``threshold_bits * ln 2`` nats). Must be > 0.
    emergence_width : float, optional
        W for the emergence prediction: models of width <= W are used to predict when the
        others learn each task. Default: the median width of the parameter sweep (the largest
        width not above it).
    range_N, range_D, range_S : (lo, hi), optional
        Override the automatic fit range of L(N) (in parameters), L(D) (in samples) or L(S)
        (in steps). Either bound may be None (open). Unset: the rule of :func:`auto_fit_range`.
    n_boot : int, default 200
        Bootstrap resamples for each fit's interval (0 disables the interval).
    ci : float, default 0.9
        Level of the bootstrap intervals, in (0, 1).
    seed : int, default 0
        Seed of the bootstrap.
    figures : bool, default True
        Draw the figures (``run_parity_analysis`` only).
    """

    threshold_bits: float = 0.1
    emergence_width: float | None = None
    range_N: tuple[float | None, float | None] | None = None
    range_D: tuple[float | None, float | None] | None = None
    range_S: tuple[float | None, float | None] | None = None
    n_boot: int = 200
    ci: float = 0.9
    seed: int = 0
    figures: bool = True

    def __post_init__(self):
        t = self.threshold_bits
        check(isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t > 0,
              f"threshold_bits must be a number > 0, got {t!r}", "use e.g. threshold_bits=0.1")
        if self.emergence_width is not None:
            w = self.emergence_width
            check(isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) and w > 0,
                  f"emergence_width must be a width > 0, got {w!r}", "use e.g. emergence_width=100")
        for axis in _AXES:
            rng = getattr(self, f"range_{axis}")
            if rng is None:
                continue
            ok = isinstance(rng, (tuple, list)) and len(rng) == 2 and all(
                v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0)
                for v in rng)
            check(ok, f"range_{axis} must be (lo, hi) with positive numbers or None, got {rng!r}",
                  f"write e.g. --fit-range {axis}=1e3:1e5 (either side may be empty)")
            lo, hi = rng
            check(lo is None or hi is None or lo < hi, f"range_{axis}: lo must be below hi, got {rng!r}",
                  f"write e.g. --fit-range {axis}=1e3:1e5")
            object.__setattr__(self, f"range_{axis}", (None if lo is None else float(lo),
                                                        None if hi is None else float(hi)))
        check(isinstance(self.n_boot, int) and not isinstance(self.n_boot, bool) and self.n_boot >= 0,
              f"n_boot must be an integer >= 0, got {self.n_boot!r}", "use e.g. n_boot=200")
        check(isinstance(self.ci, (int, float)) and 0 < self.ci < 1, f"ci must be in (0, 1), got {self.ci!r}",
              "use e.g. ci=0.9")
        check(isinstance(self.seed, int) and not isinstance(self.seed, bool),
              f"seed must be an integer, got {self.seed!r}", "use e.g. seed=0")

    @property
    def threshold_nats(self) -> float:
        """The learning threshold in nats (the tables' unit)."""
        return float(self.threshold_bits) * LN2


def parse_fit_range(text: str) -> tuple[str, tuple[float | None, float | None]]:
    """Parse ``"N=1e3:1e5"`` (either bound may be empty) into ``("N", (1000.0, 100000.0))``.

    Raises
    ------
    QuantaError
        When the text is not ``AXIS=LO:HI`` with AXIS one of N, D, S.
    """
    hint = "write AXIS=LO:HI with AXIS one of N, D, S, e.g. --fit-range N=2e3:1e5 or --fit-range S=100:"
    if "=" not in text or ":" not in text.split("=", 1)[1]:
        raise QuantaError(f"--fit-range {text!r} is not AXIS=LO:HI", hint)
    axis, bounds = text.split("=", 1)
    axis = axis.strip()
    if axis not in _AXES:
        raise QuantaError(f"--fit-range axis must be N, D or S, got {axis!r}", hint)
    lo_s, hi_s = bounds.split(":", 1)
    out = []
    for s in (lo_s.strip(), hi_s.strip()):
        if not s:
            out.append(None)
            continue
        try:
            out.append(float(s))
        except ValueError as exc:
            raise QuantaError(f"--fit-range {text!r}: {s!r} is not a number", hint) from exc
    return axis, (out[0], out[1])


# ---------------------------------------------------------------------------------------------- loading
@dataclass
class ParityTables:
    """The tables of a parity run, checked against the documented schema."""

    path: Path
    config: dict
    tasks: pd.DataFrame
    models: pd.DataFrame
    eval: pd.DataFrame
    eval_mean: pd.DataFrame


def load_parity_run(run_dir: str | os.PathLike) -> ParityTables:
    """Open a finished ``quanta parity run`` directory and read its tables.

    Raises
    ------
    QuantaError
        When ``run_dir`` is not a run directory, holds another command's run, is unfinished,
        or lacks a table or a documented column.
    """
    run = Run.open(run_dir, command="parity run")
    tables = {}
    for name, cols in REQUIRED_COLUMNS.items():
        df = run.read_table(name)
        missing = [c for c in cols if c not in df.columns]
        check(not missing, f"{run.table_path(name)} lacks the column(s) {', '.join(missing)}",
              "the run was made by an incompatible version; re-run `quanta parity run`")
        tables[name] = df
    check(len(tables["models"]) > 0 and len(tables["eval"]) > 0 and len(tables["tasks"]) > 0,
          f"{run.path} holds empty tables (models: {len(tables['models'])}, eval: {len(tables['eval'])}, "
          f"tasks: {len(tables['tasks'])} rows)", "re-run `quanta parity run`")
    return ParityTables(path=run.path, config=run.config, **tables)


# ---------------------------------------------------------------------------------------------- fit ranges
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


def _upto_lowest_loss(x: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Points whose budget is not beyond that of the lowest finite loss (rule 4 of both range rules)."""
    finite = np.isfinite(loss) & (x > 0)
    return x <= x[finite][np.argmin(loss[finite])]


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
       task or two (task 1 alone carries 20-90% of the loss for α in 0.1-0.8);
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
        ok &= _upto_lowest_loss(x, loss)
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


# ---------------------------------------------------------------------------------------------- result
@dataclass
class ParityAnalysis:
    """What :func:`analyze_parity` returns: tidy tables and the summary.

    Attributes
    ----------
    summary : dict
        The headline figures (the content of ``summary.json``; see docs/parity-analyze.md).
    fits : DataFrame
        One row per (alpha, fit): ``alpha, fit, x_name, y_name, exponent, ci_lo, ci_hi, predicted, A, L_inf,
        offset, r2, n_points, x_min, x_max, range_rule, ci_level``.
    exponents : DataFrame
        One row per (alpha, quantity): ``alpha, quantity, measured, ci_lo, ci_hi, predicted``.
    emergence : DataFrame
        One row per (alpha, axis, model or seed, task): when the task's loss first fell below the
        threshold. ``axis`` is ``step`` (``at`` = step, one row per model), ``width`` (``at`` = width of
        the parameter sweep, one row per seed) or ``D`` (``at`` = D of the data sweep, one row per seed).
        ``at`` is NaN when never learned.
    learned_counts : DataFrame
        One row per point of each sweep: ``alpha, axis (N, D, S), model, width, seed, D, x, loss, n_learned``.
    curves : DataFrame
        Per-task loss of the three sweeps, for the figures: ``alpha, axis, seed, x, task, rank, p, loss``.
    emergence_prediction : DataFrame
        One row per (alpha, seed, task not learned at width <= W): ``predicted_n_params, predicted_width,
        actual_width, actual_n_params, log10_error, in_grid_interval``.
    """

    summary: dict
    fits: pd.DataFrame
    exponents: pd.DataFrame
    emergence: pd.DataFrame
    learned_counts: pd.DataFrame
    curves: pd.DataFrame
    emergence_prediction: pd.DataFrame
    notes: list = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- helpers
def _fit(x, y, *, offset, cfg: AnalyzeConfig, notes: list, label: str):
    """fit_power_law, or None (with a note) when the data cannot support a fit."""
    from quanta.fit import fit_power_law

    from dataclasses import replace

    from quanta.fit import fit_power_law_profile

    x = np.asarray(x, float)
    y = np.asarray(y, float)
    try:
        if not offset:
            return fit_power_law(x, y, offset=offset, n_boot=cfg.n_boot, ci=cfg.ci, seed=cfg.seed)
        # the exponent and its interval from the profile likelihood (valid where L_inf sits on its bound of 0,
        # where a percentile bootstrap is one-sided); fits with fewer than 3 degrees of freedom are refused
        prof = fit_power_law_profile(x, y, ci=cfg.ci)
        fit = fit_power_law(x, y, offset=True, n_boot=0, ci=cfg.ci, seed=cfg.seed)
        return replace(fit, alpha=prof.alpha, alpha_ci=prof.alpha_ci, A=prof.A, L_inf=prof.L_inf,
                       L_inf_ci=(np.nan, np.nan))
    except QuantaError as exc:
        notes.append(f"{label}: no fit ({exc.one_line()})")
        log.info("%s: no fit (%s)", label, exc)
        return None


def _fit_row(alpha, name, x_name, y_name, fit, predicted, rule, finite=None) -> dict:
    lo, hi = (fit.alpha_ci if fit.alpha_ci is not None else (np.nan, np.nan))
    return {"alpha": float(alpha), "fit": name, "x_name": x_name, "y_name": y_name,
            "exponent": float(fit.alpha), "ci_lo": _f(lo), "ci_hi": _f(hi), "predicted": float(predicted),
            "predicted_finite": _f(finite),
            "A": _f(fit.A), "L_inf": _f(fit.L_inf), "offset": bool(fit.offset), "r2": _f(fit.r2),
            "n_points": int(fit.n_points), "x_min": _f(fit.x_min), "x_max": _f(fit.x_max), "range_rule": rule,
            "ci_level": _f(getattr(fit, "ci_level", np.nan))}


def _f(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _first_below(df: pd.DataFrame, keys: list[str], xcol: str, thr: float) -> pd.Series:
    """For each group of ``keys``, the smallest ``xcol`` whose loss is below ``thr`` (NaN if none)."""
    below = df[df["loss"] < thr]
    first = below.groupby(keys)[xcol].min()
    allkeys = df[keys].drop_duplicates().set_index(keys).index
    return first.reindex(allkeys)


def _loglog_interp(x, xp, fp) -> np.ndarray:
    """Interpolate f(x) from points (xp, fp) linearly in log-log space, extrapolating the end segments."""
    x = np.log(np.asarray(x, float))  # (may hold inf: the result is then inf too)
    xp = np.log(np.asarray(xp, float))
    fp = np.log(np.asarray(fp, float))
    order = np.argsort(xp)
    xp, fp = xp[order], fp[order]
    xp, idx = np.unique(xp, return_index=True)
    fp = fp[idx]
    if len(xp) == 1:
        return np.exp(np.full_like(x, fp[0]))
    y = np.interp(x, xp, fp)
    lo, hi = x < xp[0], x > xp[-1]
    y[lo] = fp[0] + (x[lo] - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0])
    y[hi] = fp[-1] + (x[hi] - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    return np.exp(y)


def _end_points(models: pd.DataFrame, ev: pd.DataFrame) -> pd.DataFrame:
    """The per-task loss of each model at its end point.

    Online models (``D = 0``): the last evaluated step (the end of training). Data models: the
    evaluated step nearest ``best_step`` (the early-stopping point of best test loss).
    """
    steps = ev[["model", "step"]].drop_duplicates()
    m = models[["model", "D", "best_step"]].merge(steps, on="model")
    last = m.groupby("model")["step"].transform("max")
    dist = (m["step"] - m["best_step"]).abs()
    m = m.assign(_key=np.where(m["D"] > 0, dist, (last - m["step"]).abs()))
    end = m.sort_values(["model", "_key", "step"]).groupby("model", as_index=False).first()[["model", "step"]]
    return ev.merge(end, on=["model", "step"])


# ---------------------------------------------------------------------------------------------- analysis
def analyze_parity(run_dir: str | os.PathLike, config: AnalyzeConfig | None = None) -> ParityAnalysis:
    """Analyze a finished ``quanta parity run`` directory (reads its tables only; writes nothing).

    Parameters
    ----------
    run_dir : path
        The ``--out`` directory of ``quanta parity run``.
    config : AnalyzeConfig, optional
        Defaults to ``AnalyzeConfig()``.

    Returns
    -------
    ParityAnalysis
        Tables and summary; see its docstring and docs/parity-analyze.md.

    Raises
    ------
    QuantaError
        Bad input: not a (finished) parity run, a table or column missing, an emergence width
        outside the parameter sweep.
    """
    cfg = config if config is not None else AnalyzeConfig()
    tabs = load_parity_run(run_dir)
    thr = cfg.threshold_nats
    alphas = sorted(float(a) for a in tabs.models["alpha"].unique())
    parts = {k: [] for k in ("fits", "exponents", "emergence", "learned_counts", "curves", "prediction")}
    per_alpha, notes = [], []
    for alpha in alphas:
        res = _analyze_alpha(alpha, tabs, cfg, thr, notes)
        per_alpha.append(res.pop("summary"))
        for k, v in res.items():
            parts[k].append(v)

    def cat(name, columns):
        frames = [f for f in parts[name] if f is not None and len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    fits = cat("fits", ["alpha", "fit", "x_name", "y_name", "exponent", "ci_lo", "ci_hi", "predicted",
                        "predicted_finite", "A", "L_inf",
                        "offset", "r2", "n_points", "x_min", "x_max", "range_rule", "ci_level"])
    exponents = cat("exponents", ["alpha", "quantity", "measured", "ci_lo", "ci_hi", "predicted",
                                  "predicted_finite"])
    emergence = cat("emergence", ["alpha", "axis", "seed", "model", "width", "n_params", "D", "task", "rank", "p",
                                  "at"])
    counts = cat("learned_counts", ["alpha", "axis", "model", "width", "seed", "D", "x", "loss", "n_learned"])
    curves = cat("curves", ["alpha", "axis", "seed", "x", "task", "rank", "p", "loss"])
    prediction = cat("prediction", ["alpha", "seed", "task", "rank", "p", "W", "predicted_n_params",
                                    "predicted_width", "actual_width", "actual_n_params", "log10_error",
                                    "in_grid_interval"])

    summary: dict = {"run_dir": str(tabs.path), "threshold_bits": float(cfg.threshold_bits),
                     "threshold_nats": thr}
    if len(per_alpha) == 1:
        summary.update(per_alpha[0])
    else:
        summary["alpha"] = alphas
    summary["per_alpha"] = per_alpha
    summary["notes"] = notes
    return ParityAnalysis(summary=summary, fits=fits, exponents=exponents, emergence=emergence,
                          learned_counts=counts, curves=curves, emergence_prediction=prediction, notes=notes)


def _analyze_alpha(alpha: float, tabs: ParityTables, cfg: AnalyzeConfig, thr: float, all_notes: list) -> dict:
    notes: list[str] = []
    tag = f"alpha={alpha:g}"
    tasks = tabs.tasks[np.isclose(tabs.tasks["alpha"].astype(float), alpha)][["task", "p"]].copy()
    check(len(tasks) > 0, f"{tabs.path}: tasks.parquet has no tasks for alpha {alpha:g}",
          "the run's tables disagree; re-run `quanta parity run`")
    tasks = tasks.drop_duplicates("task").sort_values("task")
    tasks["rank"] = tasks["task"].astype(int) + 1
    n_tasks = int(len(tasks))
    p_ranked = tasks.sort_values("rank")["p"].to_numpy(float)
    models = tabs.models[np.isclose(tabs.models["alpha"].astype(float), alpha)].copy()
    ids = set(models["model"])
    ev = tabs.eval[tabs.eval["model"].isin(ids)][["model", "step", "task", "loss"]]
    evm = tabs.eval_mean[tabs.eval_mean["model"].isin(ids)][["model", "step", "loss"]]
    meta = models[["model", "width", "n_params", "seed", "D"]]
    ev = ev.merge(meta, on="model").merge(tasks, on="task")
    evm = evm.merge(meta, on="model")
    pred = predicted_measurements(alpha)
    summary: dict = {"alpha": alpha, "n_tasks": n_tasks}
    fits, exps = [], []

    def record(key, fit, fit_name, x_name, y_name, rule, finite=None):
        fits.append(_fit_row(alpha, fit_name, x_name, y_name, fit, pred[key], rule, finite))
        ci = fit.alpha_ci if fit.alpha_ci is not None else (np.nan, np.nan)
        summary[key] = float(fit.alpha)
        summary[f"{key}_ci"] = [_f(ci[0]), _f(ci[1])]
        summary[f"{key}_predicted"] = pred[key]
        if finite is not None:
            summary[f"{key}_predicted_finite"] = finite
        exps.append({"alpha": alpha, "quantity": key, "measured": float(fit.alpha), "ci_lo": _f(ci[0]),
                     "ci_hi": _f(ci[1]), "predicted": pred[key], "predicted_finite": _f(finite)})

    # ----- end points: per-task loss and tasks learned at the end of each model
    end = _end_points(models, ev)
    n_end = end.assign(below=end["loss"] < thr).groupby("model")["below"].sum().rename("n_learned")
    # (the engine may store its own n_learned; ours follows this analysis's threshold)
    models = models.drop(columns=[c for c in ("n_learned", "end_loss") if c in models.columns])
    models = models.merge(n_end, left_on="model", right_index=True, how="left").fillna({"n_learned": 0})
    models["end_loss"] = np.where(models["D"] > 0, models["best_loss"], models["final_loss"])

    emergence, counts, curves = [], [], []
    # per-model learn steps (every model)
    steps = _first_below(ev, ["model", "task"], "step", thr).rename("at").reset_index()
    steps = steps.merge(meta, on="model").merge(tasks, on="task")
    steps["axis"] = "step"
    emergence.append(steps)

    # ----- L(N): online models, final loss against parameters
    online = models[models["D"] == 0]
    n_sweep = online.groupby("width").agg(x=("n_params", "mean"), loss=("end_loss", "mean"),
                                          n=("n_learned", "mean")).reset_index().sort_values("x")
    if len(n_sweep) >= 2:
        counts.append(online.assign(axis="N", x=online["n_params"].astype(float), loss=online["end_loss"]))
        _sweep_fit("N", n_sweep, n_tasks, cfg, cfg.range_N, "L_N", "n_params", "final_loss", "alpha_N",
                   record, summary, notes, tag, p_ranked, growth_exponent(alpha, "params"))
        _count_fit("n_vs_N_exponent", "n_N", "n_params", n_sweep, n_tasks, cfg, record, notes, tag)
        e_end = end[end["model"].isin(online["model"])]
        first_w = _first_below(e_end, ["seed", "task"], "width", thr).rename("at").reset_index()
        wmap = online.groupby(["seed", "width"])[["model", "n_params"]].first().reset_index()
        wmap["width"] = wmap["width"].astype(float)
        first_w["at"] = first_w["at"].astype(float)
        first_w = first_w.merge(wmap.rename(columns={"width": "at"}), on=["seed", "at"], how="left")
        first_w = first_w.merge(tasks, on="task").assign(axis="width", D=0, width=first_w["at"])
        emergence.append(first_w)
        curves.append(e_end.assign(axis="N", x=e_end["n_params"].astype(float)))
    else:
        notes.append(f"{tag}: no parameter sweep (online models of >= 2 widths); L(N) skipped")

    # ----- L(D): data models at the width with most D values (ties: the widest), best loss against D
    data = models[models["D"] > 0]
    if len(data):
        nd = data.groupby("width")["D"].nunique()
        w_data = max(nd.index[nd == nd.max()])
        data = data[data["width"] == w_data]
    d_sweep = data.groupby("D").agg(x=("D", "mean"), loss=("end_loss", "mean"),
                                    n=("n_learned", "mean")).reset_index(drop=True).sort_values("x")
    if len(d_sweep) >= 2:
        summary["data_sweep_width"] = float(w_data)
        counts.append(data.assign(axis="D", x=data["D"].astype(float), loss=data["end_loss"]))
        _sweep_fit("D", d_sweep, n_tasks, cfg, cfg.range_D, "L_D", "D", "best_loss", "alpha_D", record, summary,
                   notes, tag, p_ranked, growth_exponent(alpha, "data"))
        _count_fit("n_vs_D_exponent", "n_D", "D", d_sweep, n_tasks, cfg, record, notes, tag)
        e_end = end[end["model"].isin(data["model"])]
        first_d = _first_below(e_end, ["seed", "task"], "D", thr).rename("at").reset_index()
        dmap = data.groupby(["seed", "D"])[["model", "n_params", "width"]].first().reset_index()
        dmap["D"] = dmap["D"].astype(float)
        first_d["at"] = first_d["at"].astype(float)
        first_d = first_d.merge(dmap.rename(columns={"D": "at"}), on=["seed", "at"], how="left")
        first_d = first_d.merge(tasks, on="task").assign(axis="D", D=first_d["at"])
        emergence.append(first_d)
        curves.append(e_end.assign(axis="D", x=e_end["D"].astype(float)))
    else:
        notes.append(f"{tag}: no data sweep (D > 0 models at >= 2 values of D); L(D) skipped")

    # ----- L(S) and learning order: the widest online model (every seed); else the largest-D data model
    if len(online):
        order_models = online[online["width"] == online["width"].max()]
        s_source = "widest online model"
    elif len(data):
        order_models = data[data["D"] == data["D"].max()]
        s_source = "largest-D data model"
    else:  # pragma: no cover - models is non-empty, so one of the two holds
        order_models = models.iloc[:0]
        s_source = ""
    if len(order_models):
        summary["order_model_width"] = float(order_models["width"].iloc[0])
        om = set(order_models["model"])
        e_s = ev[ev["model"].isin(om)]
        n_step = e_s.assign(below=e_s["loss"] < thr).groupby(["model", "step"])["below"].sum().rename("n_learned")
        m_step = evm[evm["model"].isin(om)].merge(n_step.reset_index(), on=["model", "step"], how="left")
        m_step["n_learned"] = m_step["n_learned"].fillna(0)
        counts.append(m_step.assign(axis="S", x=m_step["step"].astype(float)))
        curves.append(e_s.assign(axis="S", x=e_s["step"].astype(float)))
        if len(online):
            s_sweep = m_step.groupby("step").agg(x=("step", "mean"), loss=("loss", "mean"),
                                                 n=("n_learned", "mean")).reset_index(drop=True).sort_values("x")
            _steps_fit(alpha, s_sweep, online, order_models, evm, n_tasks, cfg, record, summary, notes, tag,
                       p_ranked)
        else:
            notes.append(f"{tag}: no online models; L(S) skipped (the theory's α_S is for single-epoch training)")
        ls = steps[steps["model"].isin(om)]
        learned = ls[np.isfinite(ls["at"]) & (ls["at"] > 0)]
        summary["order_n_learned"] = int(learned["task"].nunique())
        summary["order_source"] = s_source
        if learned["task"].nunique() >= 3:
            from scipy.stats import spearmanr

            rho = spearmanr(learned["rank"], learned["at"]).statistic
            summary["order_spearman"] = _f(rho)
            summary["order_spearman_predicted"] = 1.0
            exps.append({"alpha": alpha, "quantity": "order_spearman", "measured": _f(rho), "ci_lo": np.nan,
                         "ci_hi": np.nan, "predicted": 1.0, "predicted_finite": np.nan})
            fit = _fit(learned["p"], learned["at"], offset=False, cfg=cfg, notes=notes,
                       label=f"{tag} learn step vs p")
            if fit is not None:
                record("convergence_exponent", fit, "learn_step_p", "p", "learn_step", "learned tasks")
        else:
            notes.append(f"{tag}: fewer than 3 tasks learned by the {s_source}; learning order skipped")

    # ----- emergence prediction from the models of width <= W
    prediction = None
    if len(online) and online["width"].nunique() >= 3:
        prediction = _predict_emergence(alpha, online, end, tasks, n_tasks, cfg, thr, summary, notes, tag)
    elif cfg.emergence_width is not None:
        raise QuantaError(f"emergence_width={cfg.emergence_width:g} was given, but the run has no parameter sweep "
                          f"(online models of >= 3 widths) for alpha {alpha:g}",
                          "leave --emergence-width out for this run")

    all_notes.extend(notes)
    col = ["alpha", "axis", "seed", "model", "width", "n_params", "D", "task", "rank", "p", "at"]
    em = pd.concat(emergence, ignore_index=True).assign(alpha=alpha)
    em = em.reindex(columns=col)
    ccol = ["alpha", "axis", "model", "width", "seed", "D", "x", "loss", "n_learned"]
    cnt = pd.concat(counts, ignore_index=True).assign(alpha=alpha).reindex(columns=ccol) if counts else None
    cv = None
    if curves:
        cv = pd.concat(curves, ignore_index=True).assign(alpha=alpha)
        cv = cv.reindex(columns=["alpha", "axis", "seed", "x", "task", "rank", "p", "loss"])
    return {"summary": summary, "fits": pd.DataFrame(fits) if fits else None,
            "exponents": pd.DataFrame(exps) if exps else None, "emergence": em, "learned_counts": cnt,
            "curves": cv, "prediction": prediction}


def _sweep_fit(axis, sweep, n_tasks, cfg, rng, fit_name, x_name, y_name, key, record, summary, notes, tag,
               p_ranked=None, n_exponent=None):
    """Fit L against the budget of one sweep (seed means) over the rule's or the user's range.

    With ``p_ranked`` and ``n_exponent`` it also records ``<key>_predicted_finite``: the exponent the
    same fit gives for the quantization model's loss on this run's finite task set over the same
    budgets (:func:`finite_tasks_exponent`).
    """
    x, loss, n = sweep["x"].to_numpy(float), sweep["loss"].to_numpy(float), sweep["n"].to_numpy(float)
    if rng is not None:
        mask, rule = _range_mask(x, rng), "override"
    else:
        mask, rule = auto_fit_range(x, loss), "auto"
    _fit_over(axis, x, loss, n, mask, rule, cfg, fit_name, x_name, y_name, key, record, summary, notes, tag,
              p_ranked, n_exponent)


def _fit_over(axis, x, loss, n, mask, rule, cfg, fit_name, x_name, y_name, key, record, summary, notes, tag,
              p_ranked=None, n_exponent=None):
    """Fit L over the points of ``mask``, record it (with the finite-K prediction when ``p_ranked`` is given)
    and its range; returns the fit, or None (with a note) when there is none."""
    summary[f"{key}_n_points"] = int(mask.sum())
    if mask.sum() == 0:
        notes.append(f"{tag} L({axis}): no point inside the fit range ({rule}); no fit")
        return None
    fit = _fit(x[mask], loss[mask], offset=True, cfg=cfg, notes=notes, label=f"{tag} L({axis})")
    if fit is not None:
        finite = None
        if p_ranked is not None:
            finite = finite_tasks_exponent(x[mask], n[mask], p_ranked, n_exponent)
        record(key, fit, fit_name, x_name, y_name, rule, finite)
        summary[f"{key}_fit_range"] = [float(x[mask].min()), float(x[mask].max())]
    return fit


def _steps_fit(alpha, s_sweep, online, order_models, evm, n_tasks, cfg, record, summary, notes, tag, p_ranked):
    """L(S) of the widest online model over the rule of :func:`steps_fit_range` (or the user's range).

    Records ``alpha_S`` (the fit of L(S) itself, with its finite-K prediction) and
    ``alpha_S_tail_corrected`` (the same fit of L(S) + :func:`finite_tasks_offset`, which the
    asymptotic theory's α/(α+1) describes).
    """
    x, loss, n = s_sweep["x"].to_numpy(float), s_sweep["loss"].to_numpy(float), s_sweep["n"].to_numpy(float)
    key = "alpha_S"
    if cfg.range_S is not None:
        mask, rule = _range_mask(x, cfg.range_S), "override"
    else:
        rule = "auto"
        n_w = float(order_models["n_params"].mean())
        narrower = online[online["n_params"] <= n_w / STEPS_LAG_PARAMS]
        loss_narrow = None
        if len(narrower):
            w_c = narrower["width"].max()
            ids = set(narrower.loc[narrower["width"] == w_c, "model"])
            lc = evm[evm["model"].isin(ids)].groupby("step")["loss"].mean()
            loss_narrow = lc.reindex(x).to_numpy(float)
            summary[f"{key}_comparison_width"] = float(w_c)
        else:
            notes.append(f"{tag} L(S): no online model with <= 1/{STEPS_LAG_PARAMS:g} of the widest model's "
                         "parameters; the range cannot check that the widest model is limited by steps")
        mask = steps_fit_range(x, loss, n, n_tasks, loss_narrower=loss_narrow)
        if loss_narrow is not None:
            free = steps_fit_range(x, loss, n, n_tasks)
            cut = free & ~mask
            if cut.any():
                summary[f"{key}_steps_limited_until"] = float(x[mask].max()) if mask.any() else None
            if mask.sum() < 4 <= free.sum():
                notes.append(f"{tag} L(S): the widest model is limited by steps over only {int(mask.sum())} "
                             f"evaluated step(s) (a model of width {summary[f'{key}_comparison_width']:g} keeps up "
                             "with it only that long); the fit goes on past that point, where the width limits "
                             "the widest model too, so alpha_S is biased upward")
                mask, rule = free, "auto (not steps-limited)"
    fit = _fit_over("S", x, loss, n, mask, rule, cfg, "L_S", "step", "test_loss", key, record, summary, notes, tag,
                    p_ranked, growth_exponent(alpha, "steps"))
    if fit is None:
        return
    delta = finite_tasks_offset(alpha, n_tasks)
    fit_c = _fit(x[mask], loss[mask] + delta, offset=True, cfg=cfg, notes=notes, label=f"{tag} L(S) tail-corrected")
    if fit_c is not None:
        record("alpha_S_tail_corrected", fit_c, "L_S_tail_corrected", "step", "test_loss + tail_offset", rule)
        summary["alpha_S_tail_offset"] = delta


def finite_tasks_exponent(x, n_learned, p, n_exponent: float) -> float | None:
    """The loss exponent the quantization model predicts for a finite task set, over given budgets.

    The asymptotic predictions (α_N = α, ...) hold for infinitely many quanta. With K tasks the
    model's loss is ``L(x) = ln 2 · Σ_{k > n(x)} p_k``, which bends down as n(x) nears K (the sum
    behaves as n^-α − K^-α), so a power-law fit over the same budgets gives a larger exponent.
    This function makes that prediction: n(x) = c·x^n_exponent (the theory's law, 1 for N and
    1/(α+1) for D and S), with c the geometric mean of n_learned / x^n_exponent over the points
    with n_learned >= 1; the model's loss at the budgets is fitted as the data are
    (``fit_power_law``, offset, no bootstrap).

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
    from quanta.fit import fit_power_law

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
        return float(fit_power_law(x[keep], LN2 * tail[keep], offset=True, n_boot=0).alpha)
    except QuantaError:
        return None


def _count_fit(key, fit_name, x_name, sweep, n_tasks, cfg, record, notes, tag):
    """n ∝ x^e over the points with 1 <= n <= n_tasks - 1 (seed means), fitted as 1/n = A·x^-e."""
    x, n = sweep["x"].to_numpy(float), sweep["n"].to_numpy(float)
    ok = (x > 0) & (n >= 1) & (n <= n_tasks - 1)
    if ok.sum() == 0:
        notes.append(f"{tag} {key}: no point with 1 <= n_learned <= n_tasks-1; no fit")
        return
    fit = _fit(x[ok], 1.0 / n[ok], offset=False, cfg=cfg, notes=notes, label=f"{tag} {key}")
    if fit is not None:
        record(key, fit, fit_name, x_name, "1/n_learned", "1 <= n_learned <= n_tasks-1")


def default_emergence_width(widths, n_learned=None, n_tasks: int | None = None) -> float:
    """The default W of the emergence prediction.

    The largest width of the sweep not above its median width. With ``n_learned`` (tasks learned
    per width, aligned with ``widths``) and ``n_tasks``: if fewer than 3 widths up to that W have
    1 <= n_learned <= n_tasks - 1 (too few to fit n(N)), the smallest width below the widest that
    has 3 such widths at or below it, when there is one.
    """
    w = np.asarray(widths, float)
    order = np.argsort(w)
    w = w[order]
    W = float(w[w <= np.median(w)].max())
    if n_learned is None or n_tasks is None:
        return W
    n = np.asarray(n_learned, float)[order]
    usable = np.cumsum((n >= 1) & (n <= n_tasks - 1))
    if usable[w <= W][-1] >= 3:
        return W
    ok = (usable >= 3) & (w < w[-1])
    return float(w[ok][0]) if ok.any() else W


def _predict_emergence(alpha, online, end, tasks, n_tasks, cfg, thr, summary, notes, tag):
    """From the models of width <= W, predict the width at which each task not yet learned is learned.

    The learned-count law n(N) = N^x / A is fitted (as 1/n = A·N^-x) on the models of width <= W
    with 1 <= n <= n_tasks - 1 (seed means). Assuming tasks are learned in frequency order, the task
    of rank r is learned once n(N) >= r, at N_r = (A·r)^(1/x); N_r is turned into a width by
    log-log interpolation of the run's (n_params, width) pairs. The prediction is checked against
    the first wider model (same seed) in which the task's loss is below the threshold.
    """
    widths = np.sort(online["width"].unique().astype(float))
    if cfg.emergence_width is not None:
        W = float(cfg.emergence_width)
        check(widths[0] <= W < widths[-1],
              f"emergence_width must lie in [{widths[0]:g}, {widths[-1]:g}) (the parameter sweep's widths, "
              f"below the widest so wider models can check the prediction), got {W:g}",
              f"pass --emergence-width between {widths[0]:g} and {widths[-2]:g}")
    else:
        per_width = online.groupby("width")["n_learned"].mean()
        W = default_emergence_width(per_width.index.to_numpy(float), per_width.to_numpy(float), n_tasks)
    summary["emergence_W"] = W
    small = online[online["width"] <= W]
    sw = small.groupby("width").agg(x=("n_params", "mean"), n=("n_learned", "mean")).reset_index()
    x, n = sw["x"].to_numpy(float), sw["n"].to_numpy(float)
    ok = (n >= 1) & (n <= n_tasks - 1)
    if ok.sum() < 3:
        notes.append(f"{tag} emergence prediction: fewer than 3 widths <= {W:g} have "
                     f"1 <= n_learned <= n_tasks-1; no prediction")
        return None
    fit = _fit(x[ok], 1.0 / n[ok], offset=False, cfg=cfg, notes=notes, label=f"{tag} n(N) for width <= {W:g}")
    if fit is None:
        return None
    e_end = end[end["model"].isin(online["model"])]
    learned_small = e_end[(e_end["width"] <= W) & (e_end["loss"] < thr)][["seed", "task"]].drop_duplicates()
    grid = online.groupby("width")["n_params"].mean()
    rows = []
    for seed in sorted(online["seed"].unique()):
        done = set(learned_small.loc[learned_small["seed"] == seed, "task"])
        todo = tasks[~tasks["task"].isin(done)]
        if not len(todo):
            continue
        wide = e_end[(e_end["seed"] == seed) & (e_end["width"] > W) & (e_end["loss"] < thr)]
        first = wide.groupby("task")["width"].min()
        r = todo["rank"].to_numpy(float)
        with np.errstate(over="ignore"):  # a flat n(N) puts rare tasks at infinite width
            n_pred = np.exp(np.log(fit.A * r) / fit.alpha)  # n(N) = N^x / A  =>  N_r = (A r)^(1/x)
            w_pred = _loglog_interp(np.minimum(n_pred, np.finfo(float).max), grid.to_numpy(float),
                                    grid.index.to_numpy(float))
        w_pred[~np.isfinite(n_pred)] = np.inf
        actual = first.reindex(todo["task"]).to_numpy(float)
        rows.append(pd.DataFrame({"alpha": alpha, "seed": seed, "task": todo["task"].to_numpy(),
                                  "rank": todo["rank"].to_numpy(), "p": todo["p"].to_numpy(), "W": W,
                                  "predicted_n_params": n_pred, "predicted_width": w_pred,
                                  "actual_width": actual}))
    if not rows:
        notes.append(f"{tag} emergence prediction: every task is learned at width <= {W:g}; nothing to predict")
        return None
    pr = pd.concat(rows, ignore_index=True)
    pr["actual_n_params"] = pr["actual_width"].map(grid)
    pr["log10_error"] = np.log10(pr["predicted_width"] / pr["actual_width"])
    # the actual width is only known to the grid: the task was learned in (previous width, actual width]
    prev = pd.Series(np.r_[np.nan, widths[:-1]], index=widths)
    lo = pr["actual_width"].map(prev)
    pr["in_grid_interval"] = (pr["predicted_width"] > lo) & (pr["predicted_width"] <= pr["actual_width"])
    checked = pr[np.isfinite(pr["actual_width"])]
    w_max = widths[-1]
    summary["emergence_n_predicted"] = int(len(pr))
    summary["emergence_n_checked"] = int(len(checked))
    summary["emergence_n_predicted_in_run"] = int((pr["predicted_width"] <= w_max).sum())
    summary["emergence_n_vs_N_exponent_small"] = float(fit.alpha)
    if len(checked):
        err = checked["log10_error"].to_numpy(float)
        summary["emergence_log10_error_median"] = float(np.median(err))
        summary["emergence_abs_log10_error_median"] = float(np.median(np.abs(err)))
        summary["emergence_in_grid_fraction"] = float(checked["in_grid_interval"].mean())
        summary["emergence_grid_log10_step"] = float(np.median(np.diff(np.log10(widths))))
    else:
        notes.append(f"{tag} emergence prediction: no task left at width <= {W:g} is learned by a wider model")
    return pr


# ---------------------------------------------------------------------------------------------- figures
def plot_parity_analysis(result: ParityAnalysis) -> dict:
    """Draw the figures of an analysis (paper Fig. 2 style). Returns ``{name: matplotlib Figure}``.

    * ``loss_scaling``: mean loss against N, D and S with the fitted power laws (one colour per α);
    * ``task_curves`` (``task_curves_alpha<α>`` with several α): per-task loss against S, N and D,
      coloured by frequency rank, with the learning threshold;
    * ``learning_order``: learn step against frequency rank, and against p with the fitted law;
    * ``learned_counts``: tasks learned against N and D with the fitted laws;
    * ``emergence_prediction``: predicted against actual learn width.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    figs = {}
    thr = result.summary["threshold_nats"]
    alphas = sorted(result.learned_counts["alpha"].unique()) if len(result.learned_counts) else []
    acolors = colormaps["viridis"](np.linspace(0.0, 0.85, max(len(alphas), 1)))
    fits = result.fits
    counts = result.learned_counts

    def fitline(ax, alpha, name, color):
        row = fits[(fits["alpha"] == alpha) & (fits["fit"] == name)]
        if not len(row):
            return
        r = row.iloc[0]
        xs = np.geomspace(r["x_min"], r["x_max"], 100)
        L_inf = r["L_inf"] if np.isfinite(r["L_inf"]) else 0.0
        ys = L_inf + r["A"] * xs ** (-r["exponent"])
        lab = f"fit α={r['exponent']:.3f}"
        if np.isfinite(r["ci_lo"]):
            lab += f" [{r['ci_lo']:.3f}, {r['ci_hi']:.3f}]"
        ax.plot(xs, ys, "--", color=color, lw=1.5, label=lab + f" (theory {r['predicted']:.3f})")

    # loss scaling
    fig = Figure(figsize=(15, 4.2))
    axes = fig.subplots(1, 3)
    for (axis, title, xlabel, fname), ax in zip(
            [("N", "L(N): end of training", "parameters N", "L_N"),
             ("D", "L(D): best test loss", "training samples D", "L_D"),
             ("S", "L(S): widest model", "step S", "L_S")], axes):
        for a, color in zip(alphas, acolors):
            c = counts[(counts["alpha"] == a) & (counts["axis"] == axis)]
            if not len(c):
                continue
            g = c.groupby("x")["loss"].mean()
            g = g[g.index > 0]
            ax.plot(g.index, g.values, "o-" if axis != "S" else "-", color=color, ms=4, lw=1,
                    label=f"α={a:g}")
            fitline(ax, a, fname, color)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("mean test loss (nats)")
        if ax.has_data():
            _log_axes(ax)
            ax.legend(fontsize=7)
        else:
            _mark_empty(ax)
    fig.tight_layout()
    figs["loss_scaling"] = fig

    # per-task curves
    cv = result.curves
    for a in alphas:
        fig = Figure(figsize=(15, 4.2))
        axes = fig.subplots(1, 3)
        c_a = cv[cv["alpha"] == a]
        n_tasks = int(c_a["rank"].max()) if len(c_a) else 1
        norm = LogNorm(vmin=1, vmax=max(n_tasks, 2))
        cmap = colormaps["plasma"]
        for (axis, xlabel), ax in zip([("S", "step S (widest model)"), ("N", "parameters N (end of training)"),
                                       ("D", "training samples D (best step)")], axes):
            c = c_a[(c_a["axis"] == axis) & (c_a["x"] > 0)]
            if not len(c):
                _mark_empty(ax)
                ax.set_xlabel(xlabel)
                continue
            g = c.groupby(["rank", "x"])["loss"].mean().reset_index()
            ranks = np.unique(g["rank"])
            if len(ranks) > 60:  # draw at most 60 tasks, spread evenly in log rank
                keep = np.unique(np.round(np.geomspace(1, ranks.max(), 60)).astype(int))
                ranks = ranks[np.isin(ranks, keep)]
            for r in ranks:
                gr = g[g["rank"] == r]
                ax.plot(gr["x"], gr["loss"] / LN2, color=cmap(norm(r)), lw=0.8, alpha=0.8)
            ax.axhline(thr / LN2, color="k", ls=":", lw=1, label=f"threshold {thr / LN2:g} bits")
            _log_axes(ax, y=False)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("task test loss (bits)")
            ax.legend(fontsize=7, loc="lower left")
        sm = ScalarMappable(norm=norm, cmap=cmap)
        fig.colorbar(sm, ax=axes, label="frequency rank")
        fig.suptitle(f"per-task loss, α={a:g}")
        figs["task_curves" if len(alphas) == 1 else f"task_curves_alpha{a:g}"] = fig

    # learning order
    em = result.emergence
    fig = Figure(figsize=(10, 4.2))
    axes = fig.subplots(1, 2)
    for a, color in zip(alphas, acolors):
        summ = _alpha_summary(result.summary, a)
        width = summ.get("order_model_width")
        e = em[(em["alpha"] == a) & (em["axis"] == "step") & (em["width"] == width) & np.isfinite(em["at"])
               & (em["at"] > 0)]
        if width is None or not len(e):
            continue
        rho = summ.get("order_spearman")
        lab = f"α={a:g}" + (f", Spearman {rho:.2f}" if rho is not None else "")
        axes[0].scatter(e["rank"], e["at"], s=8, color=color, label=lab)
        axes[1].scatter(e["p"], e["at"], s=8, color=color, label=f"α={a:g}")
        fitline(axes[1], a, "learn_step_p", color)
    for ax, xl in zip(axes, ["frequency rank", "task probability p_k"]):
        ax.set_xlabel(xl)
        ax.set_ylabel(f"learn step (loss < {thr / LN2:g} bits)")
        if ax.has_data():
            _log_axes(ax)
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "fewer than 3 tasks learned", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0].set_title("learning order against frequency rank")
    axes[1].set_title("convergence time against p_k")
    fig.tight_layout()
    figs["learning_order"] = fig

    # learned counts
    fig = Figure(figsize=(10, 4.2))
    axes = fig.subplots(1, 2)
    for (axis, fname, xl), ax in zip([("N", "n_N", "parameters N"), ("D", "n_D", "training samples D")], axes):
        for a, color in zip(alphas, acolors):
            c = counts[(counts["alpha"] == a) & (counts["axis"] == axis)]
            if not len(c):
                continue
            g = c.groupby("x")["n_learned"].mean()
            ax.plot(g.index, g.values, "o-", color=color, ms=4, lw=1, label=f"α={a:g}")
            row = fits[(fits["alpha"] == a) & (fits["fit"] == fname)]
            if len(row):
                r = row.iloc[0]
                xs = np.geomspace(r["x_min"], r["x_max"], 50)
                ax.plot(xs, xs ** r["exponent"] / r["A"], "--", color=color,
                        label=f"n ∝ {axis}^{r['exponent']:.3f} (theory {r['predicted']:.3f})")
        ax.set_xlabel(xl)
        ax.set_ylabel("tasks learned n")
        g_pos = counts[(counts["axis"] == axis) & (counts["n_learned"] > 0)]
        if ax.has_data():
            _log_axes(ax, y=bool(len(g_pos)))
            ax.legend(fontsize=7)
        else:
            _mark_empty(ax)
    fig.tight_layout()
    figs["learned_counts"] = fig

    # emergence prediction
    pr = result.emergence_prediction
    if len(pr):
        fig = Figure(figsize=(5.2, 4.6))
        ax = fig.subplots()
        ok = pr[np.isfinite(pr["actual_width"])]
        for a, color in zip(alphas, acolors):
            o = ok[ok["alpha"] == a]
            if len(o):
                W = o["W"].iloc[0]
                ax.scatter(o["actual_width"], o["predicted_width"], s=10, color=color,
                           label=f"α={a:g}, from widths <= {W:g}")
        if len(ok):
            lim = [min(ok["actual_width"].min(), ok["predicted_width"].min()),
                   max(ok["actual_width"].max(), ok["predicted_width"].max())]
            ax.plot(lim, lim, "k:", lw=1, label="prediction = actual")
            ax.legend(fontsize=7)
        _log_axes(ax)
        ax.set_xlabel("actual learn width")
        ax.set_ylabel("predicted learn width")
        ax.set_title("emergence predicted from the small models")
        fig.tight_layout()
        figs["emergence_prediction"] = fig
    return figs


def _mark_empty(ax) -> None:
    """Say on a panel that the run has no sweep along its axis, without ticks."""
    ax.text(0.5, 0.5, "no such sweep in this run", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _log_axes(ax, x: bool = True, y: bool = True) -> None:
    """Log scales whose minor ticks are labelled only at 2 and 5 (the default labels overlap on short ranges)."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    for flag, axis, set_scale in ((x, ax.xaxis, ax.set_xscale), (y, ax.yaxis, ax.set_yscale)):
        if flag:
            set_scale("log")
            lo, hi = (ax.get_xlim() if axis is ax.xaxis else ax.get_ylim())
            if hi / lo < 300:  # less than ~2.5 decades: label 2 and 5 between the decades too
                axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
                axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            else:
                axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _alpha_summary(summary: dict, alpha: float) -> dict:
    for s in summary.get("per_alpha", []):
        if np.isclose(s.get("alpha", np.nan), alpha):
            return s
    return {}


# ---------------------------------------------------------------------------------------------- run directory
def run_parity_analysis(run_dir: str | os.PathLike, out: str | os.PathLike, config: AnalyzeConfig | None = None,
                        *, force: bool = False, argv: list[str] | None = None) -> dict:
    """Analyze a parity run and write the results as a run directory at ``out``.

    Writes ``fits``, ``exponents``, ``emergence``, ``learned_counts``, ``emergence_prediction``
    (tables), the figures of :func:`plot_parity_analysis` and ``summary.json``.

    Returns
    -------
    dict
        The summary as written.

    Raises
    ------
    QuantaError
        Bad input (see :func:`analyze_parity`), or ``out`` is the run directory itself.
    """
    cfg = config if config is not None else AnalyzeConfig()
    src, dst = Path(run_dir), Path(out)
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise QuantaError(f"out={dst} is the run directory being analyzed", "pass another directory as out=DIR")
    conf = {"run_dir": str(src.resolve()) if src.exists() else str(src), **asdict(cfg)}
    if not force and dst.is_dir() and any(not p.name.startswith(".") for p in dst.iterdir()):
        # --out holds something: Run.create refuses it without writing; say so before the analysis runs
        Run.create(dst, command="parity analyze", config=conf, seed=cfg.seed, device="cpu", argv=argv)
    # analyze first: bad input raises before anything is created at --out
    t0 = time.perf_counter()
    result = analyze_parity(src, cfg)
    t_analyze = time.perf_counter() - t0
    with Run.create(dst, command="parity analyze", config=conf, seed=cfg.seed, device="cpu", argv=argv,
                    force=force) as run:
        run.update_manifest(analyze_s=round(t_analyze, 3))  # the analysis ran before the run directory existed
        run.write_table("fits", result.fits)
        run.write_table("exponents", result.exponents)
        run.write_table("emergence", result.emergence)
        run.write_table("learned_counts", result.learned_counts)
        run.write_table("emergence_prediction", result.emergence_prediction)
        if cfg.figures:
            with run.timer("figures"):
                for name, fig in plot_parity_analysis(result).items():
                    run.save_figure(fig, name)
        return run.finish(result.summary)
