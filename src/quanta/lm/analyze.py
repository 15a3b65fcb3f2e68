"""Analysis of per-token losses of a language-model suite (docs/science.md §3).

Reads only the tables of a ``quanta lm losses`` run directory (docs/tables.md):
``losses/part-*.parquet`` (doc, pos, token_id, model, loss), ``models.parquet`` (model,
n_params, n_params_nonembed, step, order), ``docs.parquet`` and ``tokenizer/``, and writes

* the loss distribution of every model on log-spaced bins, with the share of tokens below a
  threshold and the loss-weighted density L·p(L) (``distribution.parquet``, ``models_summary.parquet``);
* the mean loss against non-embedding parameters fitted as ``L∞ + A·N^-α_N`` with a bootstrap
  interval, and the Zipf exponent of the quanta it implies, ``α_N + 1`` (``summary.json``);
* per-token scaling curves: a line and a reverse sigmoid in log N fitted to every token's
  losses, a label (monogenic, polygenic, neither) and a learning size (``tokens.parquet``,
  ``learning_sizes.parquet``);
* the most striking monogenic and polygenic tokens with their document context
  (``examples.parquet``, ``examples.json``);
* for a losses run over checkpoints of one model (dynamics), the same with the training step in
  place of N, and the fitted ``α_S``.

The per-token fits are vectorised: the line fit is closed form, and the sigmoid
``y = lo + (hi - lo)·σ(-k(x - x0))`` is linear in ``(lo, hi)`` once ``(x0, k)`` is fixed, so it is
solved exactly for every token on a grid of transition points and widths with one matrix product
per chunk of tokens. The criteria are documented in docs/lm-analyze.md.

This module holds the settings (:class:`AnalyzeConfig`) and the analysis that chains the steps
(:func:`analyze_losses`); each step is its own module, whose public names are re-exported here:
:mod:`quanta.lm.loss_matrix` (reading the run), :mod:`quanta.lm.distributions`, :mod:`quanta.lm.token_curves`
(per-token fits and labels), :mod:`quanta.lm.contexts` (examples in their documents) and :mod:`quanta.lm.figures`.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from quanta.errors import QuantaError, check
from quanta.lm.contexts import load_tokenizer, pick_examples, token_contexts
from quanta.lm.distributions import loss_bins, loss_distribution, summarize_models
from quanta.lm.figures import save_figures
from quanta.lm.loss_matrix import LossMatrix, detect_mode, load_loss_matrix, loss_shards, read_models
from quanta.lm.token_curves import (LABELS, TokenFits, classification_nulls, classify_tokens, fit_token_curves,
                                    learning_size_distribution, learning_sizes, model_gap, sigmoid_grid)
from quanta.theory import alpha_from_scaling, frequency_exponent_from_scaling
from quanta.validation import Interval, Options, validate_config

__all__ = [
    "AnalyzeConfig", "analyze_losses",
    # re-exported from the modules of each step
    "LossMatrix", "loss_shards", "load_loss_matrix", "read_models", "detect_mode",
    "loss_bins", "loss_distribution", "summarize_models",
    "LABELS", "TokenFits", "model_gap", "sigmoid_grid", "fit_token_curves", "classify_tokens", "classification_nulls",
    "learning_sizes", "learning_size_distribution",
    "load_tokenizer", "token_contexts", "pick_examples", "clean_steps",
]

log = logging.getLogger(__name__)


_MODES = ("auto", "suite", "dynamics")


_CRITERIA = ("sigmoid", "reference")


@dataclass(frozen=True)
class AnalyzeConfig:
    """Settings of ``quanta lm analyze``. Widths and slopes are in decades of x (log10 N or log10 step).

    Parameters
    ----------
    mode : {"auto", "suite", "dynamics"}
        ``suite``: models of different sizes, x = non-embedding parameters. ``dynamics``: checkpoints
        of one model, x = training step (checkpoints with step <= 0 stay in the distributions but
        not in the fits). ``auto`` picks dynamics when every model has the same non-embedding size
        and a distinct step >= 0.
    n_bins : int
        Log-spaced loss bins between ``loss_floor`` and the largest loss; one more bin [0, loss_floor).
    loss_floor : float
        Lower edge (nats) of the log-spaced bins.
    low_loss : float
        Threshold (nats) of the share of tokens "below" (0.1 nats in the paper's figures).
    criteria : {"sigmoid", "reference"}
        ``sigmoid``: the fitted-curve criteria below. ``reference``: the heuristics of the paper's
        code (loss above ``ref_high`` for every model below some size and below ``ref_low`` from
        that size on; polygenic when the line has slope < ``ref_slope`` and R² > ``ref_r2``).
    min_drop : float
        Monogenic: the sigmoid's drop hi - lo must be at least this many nats.
    min_r2_sigmoid : float
        Monogenic: R² of the sigmoid fit at least this.
    max_sse_ratio : float
        Monogenic: the sigmoid's residual sum of squares at most this fraction of the line's.
    max_width : float
        Monogenic: the 10–90 % transition width of the sigmoid at most this many model gaps
        (a gap is the median spacing of adjacent models in log10 x).
    min_side : int
        Monogenic: at least this many models on each side of the transition point.
    max_slope : float
        Polygenic: slope of the line (nats per decade of x) at most this (a decline).
    min_r2_line : float
        Polygenic: R² of the line at least this.
    ref_high, ref_low, ref_slope, ref_r2 : float
        The reference heuristics (docs/science.md §3): 5 nats, 0.3 nats, -0.3 nats per decade, 0.98.
    n_x0, n_width : int
        Grid of the sigmoid fit: transition points (plus the midpoints between adjacent models)
        and log-spaced transition widths from 0.05 gap to twice the span of x.
    fit_offset : bool
        Fit the mean loss with an offset L∞ (else a pure power law).
    n_boot, ci : int, float
        Bootstrap resamples and level of the interval of α.
    n_examples : int
        Examples per label (distinct token ids) in examples.parquet/json and the figure.
    context_before, context_after : int
        Tokens of context shown before and after an example token.
    figures : bool
        Draw the figures (the tables and summary do not depend on them).
    chunk_elements : int
        Size of the per-chunk work arrays of the sigmoid fit (tokens × grid points); bounds memory.
    seed : int
        Seed of the bootstrap and of the sampled curves in the figures.
    """

    mode: str = "auto"
    n_bins: int = 60
    loss_floor: float = 1e-4
    low_loss: float = 0.1
    criteria: str = "sigmoid"
    min_drop: float = 1.0
    min_r2_sigmoid: float = 0.9
    max_sse_ratio: float = 0.25
    max_width: float = 1.0
    min_side: int = 1
    max_slope: float = -0.3
    min_r2_line: float = 0.9
    ref_high: float = 5.0
    ref_low: float = 0.3
    ref_slope: float = -0.3
    ref_r2: float = 0.98
    n_x0: int = 32
    n_width: int = 12
    fit_offset: bool = True
    n_boot: int = 200
    ci: float = 0.9
    n_examples: int = 6
    context_before: int = 40
    context_after: int = 8
    figures: bool = True
    chunk_elements: int = 4_000_000
    seed: int = 0

    def __post_init__(self):
        validate_config(self, _CONSTRAINTS)
        check(self.ref_low < self.ref_high, f"AnalyzeConfig: ref_low must be below ref_high={self.ref_high}, "
              f"got {self.ref_low!r}", "lower ref_low or raise ref_high")


_CONSTRAINTS = {
    "mode": [Options(_MODES)],
    "criteria": [Options(_CRITERIA)],
    **{name: [Interval(int, 2, None)] for name in ("n_bins", "n_x0", "n_width", "n_boot", "chunk_elements")},
    **{name: [Interval(int, 0, None)] for name in ("n_examples", "context_before", "context_after", "min_side",
                                                     "seed")},
    **{name: [Interval(float, 0, None, closed="neither")] for name in ("loss_floor", "low_loss", "max_width",
                                                                         "ref_high")},
    **{name: [Interval(float, 0, None)] for name in ("min_drop", "ref_low", "max_sse_ratio")},
    **{name: [Interval(float, None, 1)] for name in ("min_r2_sigmoid", "min_r2_line", "ref_r2")},
    **{name: [Interval(float, None, None)] for name in ("max_slope", "ref_slope")},
    "ci": [Interval(float, 0, 1, closed="neither")],
    "fit_offset": ["boolean"],
    "figures": ["boolean"],
}


def analyze_losses(losses_dir, out, cfg: AnalyzeConfig | None = None, *, force: bool = False,
                   argv: list[str] | None = None) -> dict:
    """Run the whole analysis of a ``quanta lm losses`` directory into the run directory ``out``.

    Parameters
    ----------
    losses_dir : path
        A finished ``quanta lm losses`` run.
    out : path
        The run directory to write (see the module docstring for its tables and figures).
    cfg : AnalyzeConfig, optional
    force : bool
        Overwrite a run in ``out``.
    argv : list of str, optional
        The command line, for the manifest.

    Returns
    -------
    dict
        The summary as written to ``summary.json``.
    """
    from quanta.store import Run

    cfg = cfg or AnalyzeConfig()
    Run.open(losses_dir, command="lm losses")  # a finished losses run, or a one-line error
    models = read_models(losses_dir)
    if not cfg.fit_offset:  # the mean-loss fit over the models is bootstrapped (the offset law's is profiled)
        from quanta.fit._shared import check_bootstrap_memory

        check_bootstrap_memory(cfg.n_boot, len(models), ("fit_power_law",), "lm analyze")
    config = dict(dataclasses.asdict(cfg), losses_dir=str(Path(losses_dir).resolve()))
    with Run.create(out, command="lm analyze", config=config, seed=cfg.seed, device="cpu", argv=argv,
                    force=force, inputs=[losses_dir]) as run:
        with run.timer("load"):
            lm = load_loss_matrix(losses_dir, models)
        summary = _analyze(run, lm, cfg, losses_dir)
        return run.finish(summary)


def _latest_checkpoints(models: pd.DataFrame, cols: np.ndarray) -> tuple[np.ndarray, str | None]:
    """One point per model of a suite: its latest checkpoint.

    A losses run of a suite at ``--revision all`` holds several checkpoints of each size; fitting the size law over
    all of them would count early checkpoints as models of their final size. Models are told apart by ``family``
    (their name without the revision), or by their size in runs that predate that column; a model whose step is
    unknown (-1, a hub model at ``main``) is its family's latest.
    """
    key = (models["family"] if "family" in models.columns else models["n_params_nonembed"]).astype(str).to_numpy()
    # an unknown step (-1: a hub model at its main revision) is the final model, later than any numbered checkpoint
    step = np.where(models["step"].to_numpy() < 0, np.inf, models["step"].to_numpy().astype(float))
    cols = np.asarray(cols)
    latest = {}
    for c in cols:
        k = key[c]
        if k not in latest or step[c] > step[latest[k]]:
            latest[k] = c
    keep = np.array(sorted(latest.values()), dtype=cols.dtype if cols.size else np.int64)
    if keep.size == cols.size:
        return cols, None
    note = (f"{cols.size} checkpoints of {keep.size} models: the size law and the token curves use each model's "
            f"latest checkpoint; analyse the training dynamics of one model with a losses run of its checkpoints "
            f"alone (mode dynamics)")
    return keep, note


def _analyze(run, lm: LossMatrix, cfg: AnalyzeConfig, losses_dir) -> dict:
    models = lm.models
    mode = detect_mode(models) if cfg.mode == "auto" else cfg.mode
    if mode == "dynamics" and (models["step"] < 0).all():
        raise QuantaError("mode: dynamics needs the models' training steps, but models.parquet has step = -1",
                          "use mode=suite, or compute losses of checkpoints with known steps")
    xname = "step" if mode == "dynamics" else "n_params_nonembed"
    complete = np.all(np.isfinite(lm.loss), axis=1)
    n_dropped = int((~complete).sum())
    if not complete.any():
        raise QuantaError(f"{losses_dir}: no token has a finite loss under every model",
                          "the losses run is empty or its models cover different documents")
    if n_dropped:
        log.warning("%d of %d tokens lack a finite loss for some model and are left out", n_dropped, complete.size)
    lm = lm._replace(doc=lm.doc[complete], pos=lm.pos[complete], token_id=lm.token_id[complete],
                     loss=lm.loss[complete])
    L = lm.loss
    T, M = L.shape

    summary: dict = {"mode": mode, "n_models": M, "n_tokens": T, "n_tokens_left_out": n_dropped,
                     "n_docs": int(np.unique(lm.doc).size), "low_loss": cfg.low_loss}

    # distributions
    with run.timer("distribution"):
        dist = loss_distribution(L, models, n_bins=cfg.n_bins, loss_floor=cfg.loss_floor)
        msum = summarize_models(L, models, low_loss=cfg.low_loss)
        run.write_table("distribution", dist)
        run.write_table("models_summary", msum)
    summary["mean_loss"] = dict(zip(msum["model"], msum["mean_loss"]))
    summary["share_below"] = dict(zip(msum["model"], msum["share_below"]))

    # x of the fits: log10 N, or log10 step over checkpoints with step > 0
    xv = models[xname].to_numpy(dtype=np.float64)
    fit_cols = np.flatnonzero(xv > 0)
    if mode == "suite":
        fit_cols, note = _latest_checkpoints(models, fit_cols)
        if note:
            log.warning("%s", note)
            summary["fit_models_note"] = note
    fit_cols = fit_cols[np.argsort(xv[fit_cols], kind="stable")]  # small to large x
    summary["n_fit_models"] = int(fit_cols.size)
    xs = np.log10(xv[fit_cols]) if fit_cols.size else np.array([])

    # mean-loss scaling
    key = "alpha_S" if mode == "dynamics" else "alpha_N"
    with run.timer("scaling_fit"):
        fit, fit_error = _mean_loss_fit(xv[fit_cols], msum["mean_loss"].to_numpy()[fit_cols], cfg)
    summary[f"{key}_n_points"] = int(fit_cols.size)
    if fit is not None:
        summary[key] = fit.alpha
        summary[f"{key}_ci"] = list(fit.alpha_ci)
        summary["L_inf"] = fit.L_inf
        summary["A"] = fit.A
        summary["fit_r2"] = fit.r2
        summary["fit_offset"] = fit.offset
        summary["ci_level"] = fit.ci_level
        if mode == "dynamics":
            # α_S = α/(α+1)  =>  α = α_S/(1-α_S), Zipf exponent α+1 = 1/(1-α_S); none for α_S >= 1
            summary["alpha_implied"] = alpha_from_scaling(fit.alpha, "steps") if fit.alpha < 1 else None
            summary["zipf_pred"] = frequency_exponent_from_scaling(fit.alpha, "steps") if fit.alpha < 1 else None
            summary["zipf_pred_ci"] = [frequency_exponent_from_scaling(a, "steps") if a < 1 else None
                                       for a in fit.alpha_ci]
        else:
            summary["zipf_pred"] = frequency_exponent_from_scaling(fit.alpha, "params")
            summary["zipf_pred_ci"] = [frequency_exponent_from_scaling(a, "params") for a in fit.alpha_ci]
    else:
        summary[key] = None
        summary[f"{key}_ci"] = None
        summary["zipf_pred"] = None
        summary["fit_error"] = fit_error

    # per-token curves
    tokens_df = None
    fits = None
    labels = None
    if fit_cols.size >= 3 and np.unique(xs).size >= 3:
        with run.timer("token_fits"):
            Lf = L[:, fit_cols]
            fits = fit_token_curves(Lf, xs, n_x0=cfg.n_x0, n_width=cfg.n_width, chunk_elements=cfg.chunk_elements)
            labels = classify_tokens(fits, Lf, xs, cfg)
            sizes = learning_sizes(fits, xs, min_drop=cfg.min_drop)
            size_col = "learning_step" if mode == "dynamics" else "learning_size"
            drop = fits.hi - fits.lo
            score = np.where(labels == "monogenic", drop * np.nan_to_num(fits.r2_sigmoid),
                             np.where(labels == "polygenic", -fits.slope * np.nan_to_num(fits.r2_line), np.nan))
            with np.errstate(invalid="ignore", divide="ignore"):
                sse_ratio = np.where(fits.sse_line > 0, fits.sse_sigmoid / fits.sse_line, np.nan)
            tokens_df = pd.DataFrame({
                "doc": lm.doc, "pos": lm.pos, "token_id": lm.token_id,
                "label": pd.Categorical(labels, categories=list(LABELS)),
                size_col: sizes,
                "loss_first": Lf[:, 0], "loss_last": Lf[:, -1],
                "slope": fits.slope, "r2_line": fits.r2_line,
                "sigmoid_lo": fits.lo, "sigmoid_hi": fits.hi, "drop": drop,
                "x0_log10": fits.x0, "width_decades": fits.width,
                "r2_sigmoid": fits.r2_sigmoid, "sse_ratio": sse_ratio, "score": score,
            })
            run.write_table("tokens", tokens_df)
            lsd = learning_size_distribution(sizes, labels, xs)
            run.write_table("learning_sizes", lsd)
        counts = {lab: int((labels == lab).sum()) for lab in LABELS}
        summary.update({f"n_{lab}": counts[lab] for lab in LABELS})
        summary.update({f"share_{lab}": counts[lab] / T for lab in LABELS})
        summary["criteria"] = cfg.criteria
        with run.timer("token_nulls"):
            summary.update(classification_nulls(Lf, xs, cfg))
        summary["gap_decades"] = model_gap(xs)
        mono_sizes = sizes[labels == "monogenic"]
        mono_sizes = mono_sizes[np.isfinite(mono_sizes)]
        summary[f"{size_col}_median"] = float(np.median(mono_sizes)) if mono_sizes.size else None
        summary[f"{size_col}_quartiles"] = (np.quantile(mono_sizes, [0.25, 0.75]).tolist()
                                            if mono_sizes.size else None)
        summary[f"n_with_{size_col}"] = int(np.isfinite(sizes).sum())

        # examples
        with run.timer("examples"):
            tokenizer = load_tokenizer(losses_dir)
            summary["contexts"] = "decoded" if tokenizer is not None else "token ids (no tokenizer/ in the losses run)"
            steps = clean_steps(Lf, xs, fits.x0, cfg) & (labels == "monogenic")
            summary["n_monogenic_steps"] = int(steps.sum())
            summary["monogenic_step_rule"] = STEP_RULE.format(min_drop=cfg.min_drop, ref_low=cfg.ref_low)
            if counts["monogenic"] and not steps.any():
                summary["examples_note"] = (f"no monogenic example is shown: none of the {counts['monogenic']} "
                                            f"monogenic tokens is a clean step ({summary['monogenic_step_rule']})")
            ex_labels = np.where((labels == "monogenic") & ~steps, "neither", labels)
            ex = _examples(lm, ex_labels, score, Lf, xs, xv[fit_cols], cfg, tokenizer, losses_dir, size_col, sizes)
            run.write_table("examples", ex)
            run.write_json("examples", {"x": xname, "examples": ex.to_dict(orient="records")})
    else:
        summary["token_analysis"] = f"skipped: needs >= 3 models with distinct {xname} > 0, got {fit_cols.size}"

    if cfg.figures:
        with run.timer("figures"):
            save_figures(run, dist, msum, models, xname, fit, fit_cols, L, labels, fits, tokens_df, xs, cfg, mode)
    return summary


def _mean_loss_fit(x, y, cfg):
    """fit_power_law on the mean losses; returns (fit, None) or (None, reason)."""
    if len(x) < 3:
        return None, f"needs >= 3 models with x > 0, got {len(x)}"
    from quanta.fit import fit_loss_law, fit_power_law

    try:
        if not cfg.fit_offset:
            return fit_power_law(x, y, offset=False, n_boot=cfg.n_boot, ci=cfg.ci, seed=cfg.seed), None
        # as in parity analyze: the profile interval (valid where L_inf sits on its bound) and >= 3 degrees of
        # freedom; a suite of 5 model sizes has 2 for a 3-parameter law and gets no exponent, with the reason
        return fit_loss_law(x, y, ci=cfg.ci, seed=cfg.seed), None
    except QuantaError as exc:
        return None, exc.one_line()


#: Which monogenic tokens are shown as examples (the summary states it with the run's values).
STEP_RULE = ("every loss before the fitted transition at least min_drop = {min_drop:g} nats above every loss after "
             "it, and every loss after it below ref_low = {ref_low:g} nats")


def clean_steps(L: np.ndarray, xs: np.ndarray, x0: np.ndarray, cfg) -> np.ndarray:
    """Tokens whose loss curve is a clean step at its fitted transition ``x0`` (bool, shape (T,)).

    The sigmoid criteria of :func:`classify_tokens` accept a curve whose first model sits far above a plateau
    that never gets low (15 nats, then 7.5, 9, 9.5, 10): it is a drop, not a learned quantum. A clean step also
    reaches a low loss and stays there: every loss before ``x0`` is at least ``cfg.min_drop`` above every loss
    after it, and every loss after it is below ``cfg.ref_low`` (the paper's "low" level, docs/science.md §3).
    ``L`` has shape (T, M), ``xs`` (M,) the models' log10 sizes; tokens without a transition are False.
    """
    L = np.asarray(L, dtype=np.float64)
    xs = np.asarray(xs, dtype=np.float64)
    x0 = np.asarray(x0, dtype=np.float64)
    before = xs[None, :] < x0[:, None]                                   # (T, M)
    after = ~before
    with np.errstate(invalid="ignore"):
        lo_before = np.where(before, L, np.inf).min(axis=1)
        hi_after = np.where(after, L, -np.inf).max(axis=1)
    ok = np.isfinite(x0) & before.any(axis=1) & after.any(axis=1)
    return ok & (lo_before - hi_after >= cfg.min_drop) & (hi_after < cfg.ref_low)


def _examples(lm, labels, score, Lf, xs, xraw, cfg, tokenizer, losses_dir, size_col, sizes) -> pd.DataFrame:
    from quanta.store import Run

    docs = None
    src = Run.open(losses_dir, require_complete=False)
    window = src.manifest.get("context_length")  # an example's context stays inside its token's window
    if src.has_table("docs"):
        d = src.read_table("docs")
        if {"doc", "source"} <= set(d.columns):
            docs = dict(zip(d["doc"].to_numpy(), d["source"].astype(str)))
    parts = []
    for label in ("monogenic", "polygenic"):
        rows = pick_examples(labels, score, lm.token_id, label, cfg.n_examples)
        if rows.size == 0:
            continue
        ctx = token_contexts(lm, rows, tokenizer, before=cfg.context_before, after=cfg.context_after,
                             context_length=window)
        ctx.insert(0, "label", label)
        ctx.insert(1, "rank", np.arange(rows.size, dtype=np.int32))
        ctx.insert(2, "doc", lm.doc[rows])
        ctx.insert(3, "pos", lm.pos[rows])
        ctx.insert(4, "token_id", lm.token_id[rows])
        ctx["source"] = [docs.get(d) if docs else None for d in lm.doc[rows]]
        ctx["score"] = score[rows]
        ctx[size_col] = sizes[rows]
        ctx["x"] = [xraw.tolist()] * rows.size
        ctx["losses"] = [Lf[r].astype(float).tolist() for r in rows]
        parts.append(ctx)
    if not parts:
        return pd.DataFrame(columns=["label", "rank", "doc", "pos", "token_id", "context_before", "token_text",
                                     "context_after", "token_ids", "token_index", "source", "score", size_col,
                                     "x", "losses"])
    return pd.concat(parts, ignore_index=True)
