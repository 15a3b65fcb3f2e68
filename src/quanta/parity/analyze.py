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

This module holds the settings and the analysis; each other idea has its own module, and its public names
are importable from here too: the tables (:mod:`quanta.parity.tables`), the fit ranges and finite-task
corrections (:mod:`quanta.parity.fit_ranges`), the fit of each law of one α (:mod:`quanta.parity.law_fits`),
the emergence prediction (:mod:`quanta.parity.emergence`) and the figures (:mod:`quanta.parity.figures`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from quanta.errors import QuantaError, check
from quanta.parity.emergence import _predict_emergence, default_emergence_width  # noqa: F401
from quanta.parity.figures import plot_parity_analysis
from quanta.parity.fit_ranges import (  # noqa: F401  (public names re-exported)
    LN2,
    STEPS_LAG_PARAMS,
    STEPS_LAG_TOL,
    STEPS_MAX_FRACTION,
    STEPS_MIN_LEARNED,
    _fit,
    _range_mask,
    auto_fit_range,
    finite_tasks_exponent,
    finite_tasks_offset,
    steps_fit_range,
)
from quanta.parity.law_fits import count_fit, fit_over, steps_fit, sweep_fit  # noqa: F401
from quanta.parity.tables import REQUIRED_COLUMNS, ParityTables, load_parity_run, parity_tables  # noqa: F401
from quanta.store import Run
from quanta.theory import growth_exponent, predicted_measurements
from quanta.validation import Interval, Satisfies, is_real, seed_range, validate_config


#: The fits this module makes: name -> (x column, y quantity, theory key).
FIT_NAMES = ("L_N", "L_D", "L_S", "n_N", "n_D", "learn_step_p")
#: Above this share of the task-weighted test inputs among a data sweep's largest training set, a note says L(D)
#: partly measures memorisation (:func:`quanta.parity.data.test_seen_in_training`).
TEST_SEEN_NOTE = 0.05

_AXES = ("N", "D", "S")


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
        validate_config(self, {
            "threshold_bits": [Interval(float, 0, None, closed="neither")],
            "emergence_width": [Interval(float, 0, None, closed="neither"), None],
            **{f"range_{axis}": [Satisfies(_is_range, "a pair (lo, hi) of positive numbers or None, lo < hi"), None]
               for axis in _AXES},
            "n_boot": [Interval(int, 0, None)],
            "ci": [Interval(float, 0, 1, closed="neither")],
            "seed": [seed_range()],
            "figures": ["boolean"],
        }, examples={"emergence_width": 100, **{f"range_{axis}": "(1e3, 1e5)" for axis in _AXES}})
        for axis in _AXES:
            rng = getattr(self, f"range_{axis}")
            if rng is not None:
                lo, hi = rng
                object.__setattr__(self, f"range_{axis}", (None if lo is None else float(lo),
                                                            None if hi is None else float(hi)))

    @property
    def threshold_nats(self) -> float:
        """The learning threshold in nats (the tables' unit)."""
        return float(self.threshold_bits) * LN2


def _is_range(rng) -> bool:
    """``(lo, hi)``: each end a positive number or None (open), ``lo < hi`` where both are set."""
    if not (isinstance(rng, (tuple, list)) and len(rng) == 2):
        return False
    lo, hi = rng
    if not all(v is None or (is_real(v) and v > 0) for v in rng):
        return False
    return lo is None or hi is None or lo < hi


def parse_fit_range(text: str) -> tuple[str, tuple[float | None, float | None]]:
    """Parse ``"N=1e3:1e5"`` (either bound may be empty) into ``("N", (1000.0, 100000.0))``.

    Raises
    ------
    QuantaError
        When the text is not ``AXIS=LO:HI`` with AXIS one of N, D, S.
    """
    hint = "write AXIS=LO:HI with AXIS one of N, D, S, e.g. N=2e3:1e5 or S=100: (either bound may be empty)"
    if "=" not in text or ":" not in text.split("=", 1)[1]:
        raise QuantaError(f"fit range {text!r} is not AXIS=LO:HI", hint)
    axis, bounds = text.split("=", 1)
    axis = axis.strip()
    if axis not in _AXES:
        raise QuantaError(f"fit range {text!r}: the axis must be N, D or S, got {axis!r}", hint)
    lo_s, hi_s = bounds.split(":", 1)
    out = []
    for s in (lo_s.strip(), hi_s.strip()):
        if not s:
            out.append(None)
            continue
        try:
            out.append(float(s))
        except ValueError as exc:
            raise QuantaError(f"fit range {text!r}: {s!r} is not a number", hint) from exc
    return axis, (out[0], out[1])


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


def analyze_parity(run_dir: str | os.PathLike | ParityTables | Mapping[str, pd.DataFrame],
                   config: AnalyzeConfig | None = None) -> ParityAnalysis:
    """Analyze a finished parity sweep: its run directory or its tables in memory (reads the tables only;
    writes nothing).

    Parameters
    ----------
    run_dir : path, ParityTables or dict of DataFrames
        The ``--out`` directory of ``quanta parity run``; or the tables of a sweep, as
        :func:`~quanta.parity.tables.load_parity_run` or :func:`~quanta.parity.tables.parity_tables` give them,
        or the dict :func:`quanta.parity.train.train_sweep` returns (passed through ``parity_tables``). The same
        tables give the same result; only ``summary["run_dir"]`` differs (None for tables held in memory).
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

    Examples
    --------
    >>> from quanta.parity import preset_config, train_sweep
    >>> tables = train_sweep(preset_config("cpu-tiny", {"steps": 60}))
    >>> result = analyze_parity(tables, AnalyzeConfig(n_boot=0))
    >>> result.summary["run_dir"] is None, result.summary["n_tasks"]
    (True, 8)
    """
    cfg = config if config is not None else AnalyzeConfig()
    if isinstance(run_dir, ParityTables):
        tabs = run_dir
    elif isinstance(run_dir, Mapping):
        tabs = parity_tables(run_dir)
    else:
        tabs = load_parity_run(run_dir)
    _check_boot_memory(tabs, cfg)
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

    summary: dict = {"run_dir": None if tabs.path is None else str(tabs.path), "threshold_bits": float(cfg.threshold_bits),
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
    check(len(tasks) > 0, f"{tabs.path or 'the in-memory tables'}: tasks.parquet has no tasks for alpha {alpha:g}",
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
        sweep_fit("N", n_sweep, n_tasks, cfg, cfg.range_N, "L_N", "n_params", "final_loss", "alpha_N",
                  record, summary, notes, tag, p_ranked, growth_exponent(alpha, "params"))
        count_fit("n_vs_N_exponent", "n_N", "n_params", n_sweep, n_tasks, cfg, record, notes, tag)
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
        sweep_fit("D", d_sweep, n_tasks, cfg, cfg.range_D, "L_D", "D", "best_loss", "alpha_D", record, summary,
                  notes, tag, p_ranked, growth_exponent(alpha, "data"))
        count_fit("n_vs_D_exponent", "n_D", "D", d_sweep, n_tasks, cfg, record, notes, tag)
        n_bits = tabs.tasks["n"].iloc[0] if "n" in tabs.tasks.columns else tabs.config.get("n")
        if n_bits:  # the test set is independent draws: with few bits a large D holds much of it
            from quanta.parity.data import test_seen_in_training

            D_max = int(d_sweep["x"].max())
            seen = test_seen_in_training(tasks["p"].to_numpy(), int(n_bits), D_max)
            summary["test_seen_in_training_max_D"] = seen
            if seen > TEST_SEEN_NOTE:
                notes.append(f"{tag}: at D = {D_max:g}, {seen:.0%} of the task-weighted test inputs are among the "
                             f"training samples (n = {int(n_bits)} bits): L(D) there partly measures "
                             "memorisation, not generalisation")
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
        summary["order_model_D"] = int(order_models["D"].iloc[0])
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
            steps_fit(alpha, s_sweep, online, order_models, evm, n_tasks, cfg, record, summary, notes, tag,
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
                          "leave emergence_width unset (None) for this run")

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


def _check_boot_memory(tabs: ParityTables, cfg: AnalyzeConfig) -> None:
    """Refuse ``cfg.n_boot`` before any fit when its replicates cannot fit in memory (a fit that fails is only a
    note, so a bootstrap beyond memory must be refused here). The bootstrapped fits (``offset=False``) are over
    models (n(N), n(D), emergence) or over the tasks learned by the widest models (learning order)."""
    from quanta.fit._shared import check_bootstrap_memory

    m = tabs.models
    order = 0  # the most models the learning order can pool: those at the largest width, or at the largest D
    for col in ("width", "D"):
        if len(m) and col in m.columns:
            top = m.groupby("alpha")[col].transform("max") == m[col]
            order = max(order, int(top.groupby(m["alpha"]).sum().max()))
    check_bootstrap_memory(cfg.n_boot, max(len(m), order * len(tabs.tasks)), ("fit_power_law",), "parity analyze")


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
        Bad input (see :func:`analyze_parity`), or ``out`` is the run directory or holds it.
    """
    cfg = config if config is not None else AnalyzeConfig()
    from quanta.store import check_out_of_inputs

    src, dst = Path(run_dir), Path(out)
    check_out_of_inputs(dst, [src])  # out may not be the run, nor hold it: force would clear it
    conf = {"run_dir": str(src.resolve()) if src.exists() else str(src), **asdict(cfg)}
    if not force and dst.is_dir() and any(not p.name.startswith(".") for p in dst.iterdir()):
        # --out holds something: Run.create refuses it without writing; say so before the analysis runs
        Run.create(dst, command="parity analyze", config=conf, seed=cfg.seed, device="cpu", argv=argv)
    # analyze first: bad input raises before anything is created at out
    t0 = time.perf_counter()
    result = analyze_parity(src, cfg)
    t_analyze = time.perf_counter() - t0
    with Run.create(dst, command="parity analyze", config=conf, seed=cfg.seed, device="cpu", argv=argv,
                    force=force, inputs=[src]) as run:
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
