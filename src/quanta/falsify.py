"""The closing test (docs/science.md §5, §6): the Zipf law of the discovered parts against the scaling law.

The quantization model ties two measurements together. A mean-loss scaling law ``L = L∞ + A·N^-α_N`` implies
that the quanta are used with frequencies ``p_k ∝ k^-(α_N+1)``; so if a decomposition finds the real parts, the
sizes of its parts follow a rank-frequency law with exponent ``α_N + 1``. This module measures both sides with
every source of variance it can reach, checks that the parts follow a power law at all
(:mod:`quanta.plausibility`), and decides by a test (:mod:`quanta.verdict`): ``consistent``, ``inconsistent``
or ``undetermined``, with a p-value and the gap in standard errors.

Two entry points:

* :func:`falsify_parity_run` (``quanta falsify RUN``), end to end on a parity run. Every training seed of the run
  is a replicate of both sides: α_N is fitted per seed (profile interval, label-free fit range), and QDG runs
  label-free on each seed's widest model for ``n_draws`` sample draws, each with its own count by the count rule.
  No task id enters either side; they are read afterwards for diagnostics (ARI, the planted exponent).
* :func:`falsify` (``quanta falsify --scaling S --parts P``), from two finished runs (parity or LM). One model and
  one draw: the parts' interval then holds the fit's noise only, which the summary says (``n_train_seeds = 1``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from quanta.errors import QuantaError
from quanta.validation import MAX_SEED

log = logging.getLogger(__name__)

__all__ = ["FalsifyConfig", "ScalingSide", "scaling_from_models", "pool_scaling", "parts_replicates", "verdict_from_estimates", "verdict_from_replicates",
           "falsify", "falsify_parity_run", "plot_verdict", "falsify_side_by_side", "plot_side_by_side"]


@dataclass(frozen=True)
class FalsifyConfig:
    """Settings of :func:`falsify` and :func:`falsify_parity_run`.

    Parameters
    ----------
    level : float, default 0.05
        Level of both tests against ``margin`` (:func:`quanta.verdict.decide`): the minimal-effect test that calls
        ``inconsistent`` and the equivalence test that calls ``consistent``; the p-value of
        ``measured - predicted = 0`` is reported beside them.
    margin : float, default 0.15
        The smallest exponent gap worth calling (:mod:`quanta.verdict`).
    n_draws : int, default 3
        Sample draws per training seed (end-to-end mode).
    n_samples : int, default 2000
        Low-loss samples clustered per draw (end-to-end mode).
    n_clusters : int or str, optional
        The parts' count rule in the end-to-end mode (default that of :class:`quanta.qdg.parity.ParityQDGConfig`,
        ``stability``), or in two-run mode a count the parts run swept (default: its own).
    rank_range : (int, int), optional
        Ranks of the envelope fit; default ``1 .. the rule's count``. The paper used 100–1000.
    n_boot : int, default 500
        Bootstrap replicates of each parts fit and of the goodness-of-fit test.
    ci : float, default 0.9
        Level of the printed intervals.
    seed : int, default 0
    """

    level: float = 0.05
    margin: float = 0.15
    n_draws: int = 3
    n_samples: int = 2000
    n_clusters: int | str | None = None
    rank_range: tuple[int, int] | None = None
    n_boot: int = 500
    ci: float = 0.9
    seed: int = 0

    def __post_init__(self):
        from quanta.qdg.count import _check_rule
        from quanta.validation import Interval, Satisfies, is_int, seed_range, validate_config

        if isinstance(self.n_clusters, str) and self.n_clusters.isdigit():
            object.__setattr__(self, "n_clusters", int(self.n_clusters))
        if self.rank_range is not None and isinstance(self.rank_range, list):
            object.__setattr__(self, "rank_range", tuple(self.rank_range))
        validate_config(self, {
            "n_draws": [Interval(int, 1, None)], "n_samples": [Interval(int, 20, None)],
            "n_boot": [Interval(int, 2, None)], "ci": [Interval(float, 0, 1, closed="neither")],
            "level": [Interval(float, 0, 0.5, closed="neither")],
            "margin": [Interval(float, 0, None, closed="neither")], "seed": [seed_range()],
            "rank_range": [None, Satisfies(lambda v: isinstance(v, tuple) and len(v) == 2 and all(is_int(x) for x in v)
                                           and 1 <= v[0] < v[1], "two integers 1 <= lo < hi")],
        }, examples={"rank_range": "(1, 50)"})
        if self.n_clusters is not None:
            _check_rule(self.n_clusters)


# ------------------------------------------------------------------------------------------------ the scaling side
@dataclass(frozen=True)
class ScalingSide:
    """α_N per training seed and pooled (:func:`scaling_from_models`)."""

    per_seed: pd.DataFrame  # seed, alpha_N, ci_lo, ci_hi, se, L_inf, at_bound, n_points, x_min, x_max
    estimate: object  # quanta.verdict.Estimate of alpha_N
    fit_range_rule: str


def scaling_from_models(models: pd.DataFrame, *, chance_loss: float = math.log(2), ci: float = 0.9) -> ScalingSide:
    """α_N of every training seed from a parity run's ``models`` table (online models), pooled over seeds.

    Each seed's final losses against parameters are fitted by :func:`quanta.fit.fit_power_law_profile` over the
    label-free range :func:`quanta.fit.plateau_fit_range` (below 99% of the chance loss, up to the lowest loss);
    the fit is refused with fewer than 3 degrees of freedom. The pooled estimate
    (:func:`quanta.verdict.pool_replicates`) carries the spread between seeds and each fit's profile interval.
    """
    from quanta.fit import fit_power_law_profile, plateau_fit_range

    online = models[models["D"] == 0] if "D" in models.columns else models
    rows, errors = [], []
    for seed, g in online.groupby("seed"):
        g = g.sort_values("n_params")
        x, y = g["n_params"].to_numpy(float), g["final_loss"].to_numpy(float)
        mask = plateau_fit_range(x, y, chance_loss=chance_loss)
        try:
            f = fit_power_law_profile(x[mask], y[mask], ci=ci)
        except QuantaError as exc:
            errors.append(f"seed {seed}: {exc.message}")
            continue
        rows.append(dict(seed=int(seed), alpha_N=f.alpha, ci_lo=f.alpha_ci[0], ci_hi=f.alpha_ci[1], se=f.se,
                         L_inf=f.L_inf, at_bound=f.at_bound, n_points=f.n_points, x_min=f.x_min, x_max=f.x_max))
    if not rows:
        raise QuantaError("no training seed gives a scaling fit: " + "; ".join(errors),
                          "sweep more widths that leave the loss plateau (at least 6 per seed)")
    per_seed = pd.DataFrame(rows)
    return ScalingSide(per_seed=per_seed, estimate=pool_scaling(per_seed),
                       fit_range_rule="loss below 99% of chance (ln 2), up to the lowest loss; >= 3 dof")


def pool_scaling(per_seed: pd.DataFrame):
    """α_N pooled over training seeds (an Estimate) from :func:`scaling_from_models`'s ``per_seed`` rows."""
    from quanta.verdict import pool_replicates

    return pool_replicates(per_seed["alpha_N"], units=per_seed["seed"], within_var=per_seed["se"] ** 2,
                           sources=("training seed", "fit (profile interval)"))


# -------------------------------------------------------------------------------------------------- the parts side
def parts_replicates(run_dir, *, config: FalsifyConfig, device=None, qdg_config=None, progress=None) -> pd.DataFrame:
    """Label-free QDG on the widest model of every training seed of a parity run, ``n_draws`` draws each.

    Returns one row per (seed, draw): ``seed``, ``draw``, ``model``, ``n_clusters`` (by the rule), ``exponent``
    (bias-corrected MLE over the plausible head, :func:`quanta.plausibility.head_law`), ``exponent_se``,
    ``exponent_raw``, ``head`` (its last rank; None when no head of 5 or more ranks is plausible),
    ``exponent_all_ranks`` (QDG's own fit over every rank), ``envelope_exponent``, ``envelope_lo``, ``envelope_hi``
    (the envelope's rank range), ``gof_p``, ``plausible``, ``preferred``, ``n_samples``, ``n_dropped``, and the
    label-based diagnostics ``ari`` and ``n_tasks_in_samples`` (read after the decomposition, never used by it).
    A replicate whose decomposition fails (e.g. a seed's model learned too few tasks to draw samples from) is kept
    with no exponent and the reason in ``error``: it counts as not plausible, and the others still decide.
    """
    from quanta.parity import ParityTasks, load_member
    from quanta.plausibility import head_law
    from quanta.qdg.parity import ParityQDGConfig, decompose_parity, replicate_seed, score_clusters, widest_models
    from quanta.store import Run
    from quanta.utils import resolve_device

    dev = resolve_device(device)
    src = Run.open(run_dir, command="parity run")
    models = src.read_table("models")
    qcfg = qdg_config or ParityQDGConfig(run_dir=str(run_dir), n_samples=config.n_samples, n_boot=config.n_boot,
                                         seed=config.seed, null_control=False,
                                         **({"n_clusters": config.n_clusters} if config.n_clusters else {}))
    rows = []
    jobs = [(s, m, d) for s, m in sorted(widest_models(models).items()) for d in range(config.n_draws)]
    for seed, mid, d in (progress(jobs) if progress else jobs):
        row = models[models["model"] == mid].iloc[0]
        model = load_member(run_dir, mid, device=dev)
        tasks = ParityTasks.from_config(src.config, alpha=float(row["alpha"]), device="cpu")
        draw_seed = replicate_seed(config.seed, seed, d, float(row["alpha"]))
        try:
            parts = decompose_parity(model, tasks, qcfg, train_seed=seed, model_id=mid, draw_seed=draw_seed,
                                     device=dev)
        except QuantaError as exc:  # e.g. a seed whose model learned too little: a replicate without parts
            log.warning("training seed %s, draw %s: QDG found no parts (%s)", seed, d, exc.message)
            rows.append(dict(seed=seed, draw=d, model=mid, n_clusters=0, count_rule=None, exponent=math.nan,
                             exponent_se=math.nan, exponent_raw=math.nan, head=None, exponent_all_ranks=math.nan,
                             envelope_exponent=math.nan, envelope_lo=None, envelope_hi=None, gof_p=math.nan,
                             plausible=False, preferred=None, n_samples=0, n_dropped=0, ari=math.nan,
                             n_tasks_in_samples=0, error=exc.message))
            continue
        law = head_law(parts.sizes, n_boot=config.n_boot, seed=draw_seed)
        env = parts.envelope
        if config.rank_range is not None:  # the user's ranks (e.g. the paper's 100-1000) instead of 1 .. the count
            from quanta.fit import fit_rank_frequency, rank_frequency_envelope

            try:
                env = fit_rank_frequency(rank_frequency_envelope([np.bincount(v) for v in parts.labels.values()]),
                                         rank_range=config.rank_range, n_boot=0)
            except QuantaError as exc:
                log.warning("envelope over ranks %s skipped: %s", config.rank_range, exc.message)
                env = None
        rows.append(dict(seed=seed, draw=d, model=mid, n_clusters=parts.n_clusters, count_rule=parts.count_rule,
                         exponent=law["exponent"], exponent_se=law["exponent_se"], exponent_raw=law["exponent_raw"],
                         head=law["head"], exponent_all_ranks=parts.exponent,
                         envelope_exponent=env.exponent if env else math.nan,
                         envelope_lo=env.x_min if env else None, envelope_hi=env.x_max if env else None,
                         gof_p=law["gof_p"], plausible=law["plausible"], preferred=law["preferred"],
                         n_samples=len(parts.task), n_dropped=int(sum(parts.n_dropped_by_task.values())),
                         ari=score_clusters(parts.labels[parts.n_clusters], parts.task)["ari"],
                         n_tasks_in_samples=int(np.unique(parts.task).size), error=None))
    return pd.DataFrame(rows)


#: How the ranks of the parts' law are chosen, as the summaries state it.
HEAD_RULE = ("the largest head 1..r (r >= 5) of the parts' rank-frequency law that is a plausible power law "
             "(goodness-of-fit p > 0.1; quanta.plausibility.plausible_head); no labels")


# ------------------------------------------------------------------------------------------------------ decision
def verdict_from_estimates(alpha_N, parts, *, plausible: bool | None, config: FalsifyConfig) -> dict:
    """The decision and the summary fields from the pooled α_N and the pooled parts exponent (Estimates)."""
    from quanta.theory import frequency_exponent
    from quanta.verdict import decide

    pred = replace(alpha_N, value=frequency_exponent(alpha_N.value))  # α_N + 1, with α_N's error
    dec = decide(pred, parts, level=config.level, margin=config.margin)
    verdict, reason = dec.verdict, dec.reason
    if plausible is False:
        verdict = "not a power law"
        reason = ("the parts' sizes are not a plausible power law (goodness-of-fit p <= 0.1 in most replicates), "
                  "so their exponent cannot be compared; " + dec.reason)
    return {
        "verdict": verdict,
        "verdict_reason": reason,
        "test": dec.to_dict(),
        "p_value": dec.p_value,
        "gap_se": dec.z,
        "difference": dec.difference,
        "level": config.level,
        "margin": config.margin,
        "alpha_N": alpha_N.value,
        "alpha_N_se": alpha_N.se,
        "alpha_N_ci": list(alpha_N.ci(config.ci)),
        "zipf_pred": pred.value,
        "zipf_pred_se": pred.se,
        "zipf_pred_ci": list(pred.ci(config.ci)),
        "zipf_measured": parts.value,
        "zipf_measured_se": parts.se,
        "zipf_measured_ci": list(parts.ci(config.ci)),
        "parts_estimate": parts.to_dict(),
        "scaling_estimate": alpha_N.to_dict(),
        "power_law_plausible": plausible,
    }


def verdict_from_replicates(alpha_N, replicates: pd.DataFrame, *, config: FalsifyConfig) -> dict:
    """The decision from the pooled α_N (an Estimate) and the parts' replicates (one row per seed × draw).

    The parts' exponent is pooled over training seeds (:func:`quanta.verdict.pool_replicates`, the bootstrap
    standard error of each fit as its within-variance). A replicate whose sizes no power law fits (no exponent,
    or a goodness-of-fit p at most :data:`quanta.plausibility.PLAUSIBLE_P`) counts as not plausible; the parts are
    ``not a power law`` when that holds for most replicates. :func:`falsify_parity_run` and the calibration
    (:mod:`quanta.calibrate`) decide with this one function, so the calibration measures the test users run.

    ``replicates`` needs the columns ``seed``, ``exponent``, ``exponent_se`` and ``gof_p``.
    """
    from quanta.plausibility import PLAUSIBLE_P
    from quanta.verdict import pool_replicates

    ok = replicates["exponent"].notna()
    if not ok.any():
        raise QuantaError("no replicate gave a parts exponent", "cluster more samples (n_samples)")
    parts = pool_replicates(replicates.loc[ok, "exponent"], units=replicates.loc[ok, "seed"],
                            within_var=replicates.loc[ok, "exponent_se"] ** 2,
                            sources=("training seed", "sample draw", "cluster count rule", "fit"))
    # a replicate without an exponent, or whose law could not be checked (fewer than 3 parts), is not plausible
    gof = replicates["gof_p"].where(ok, 0.0).fillna(0.0)
    plausible = bool((gof > PLAUSIBLE_P).mean() >= 0.5) if len(gof) else None
    return verdict_from_estimates(alpha_N, parts, plausible=plausible, config=config)


def plot_verdict(summary: dict, replicates: pd.DataFrame | None = None, per_seed: pd.DataFrame | None = None):
    """Predicted and measured Zipf exponents with their intervals, the replicates as dots, the truth if known."""
    from matplotlib.figure import Figure

    from quanta.theory import frequency_exponent

    fig = Figure(figsize=(6.4, 3.0))
    ax = fig.subplots()
    lo, hi = summary["zipf_pred_ci"]
    ax.axvspan(lo, hi, color="tab:blue", alpha=0.15, label=f"predicted {summary.get('ci_level', 0.9):.0%} interval")
    rows = [("predicted (α_N + 1)", summary["zipf_pred"], summary["zipf_pred_ci"], "tab:blue"),
            ("parts (MLE)", summary["zipf_measured"], summary["zipf_measured_ci"], "tab:red")]
    for y, (name, v, ci, color) in enumerate(rows[::-1]):
        ax.errorbar(v, y, xerr=[[v - ci[0]], [ci[1] - v]], fmt="o", color=color, capsize=4)
    jitter = np.random.default_rng(0)
    if replicates is not None and len(replicates):
        v = replicates["exponent"].to_numpy(float)
        ax.scatter(v, np.full(v.size, 0.0) + jitter.uniform(-0.15, 0.15, v.size), s=10, color="tab:red",
                   alpha=0.5, label="parts, each seed × draw")
    if per_seed is not None and len(per_seed):
        v = np.array([frequency_exponent(a) for a in per_seed["alpha_N"]])
        ax.scatter(v, np.full(v.size, 1.0) + jitter.uniform(-0.15, 0.15, v.size), s=10, color="tab:blue",
                   alpha=0.5, label="α_N + 1, each seed")
    if summary.get("zipf_true") is not None:
        ax.axvline(summary["zipf_true"], color="black", ls="--", lw=1, label="planted α + 1")
    ax.set_yticks([0, 1], ["parts", "scaling law"])
    ax.set_ylim(-0.6, 1.6)
    ax.set_xlabel("Zipf exponent of quanta frequencies (α + 1)")
    p = summary.get("p_value")
    ax.set_title(f"verdict: {summary['verdict']}" + (f" (p = {p:.2g})" if p is not None and np.isfinite(p) else ""))
    ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    return fig


def _verdict_table(summary: dict) -> pd.DataFrame:
    rows = [dict(quantity="predicted (α_N + 1)", method="scaling fit", exponent=summary["zipf_pred"],
                 se=summary["zipf_pred_se"], ci_lo=summary["zipf_pred_ci"][0], ci_hi=summary["zipf_pred_ci"][1]),
            dict(quantity="measured (parts)", method="mle", exponent=summary["zipf_measured"],
                 se=summary["zipf_measured_se"], ci_lo=summary["zipf_measured_ci"][0],
                 ci_hi=summary["zipf_measured_ci"][1])]
    if summary.get("zipf_envelope") is not None:
        ci = summary.get("zipf_envelope_ci") or [math.nan, math.nan]
        rows.append(dict(quantity="measured (parts)", method="envelope", exponent=summary["zipf_envelope"],
                         se=math.nan, ci_lo=ci[0], ci_hi=ci[1]))
    if summary.get("zipf_true") is not None:
        t = summary["zipf_true"]
        rows.append(dict(quantity="planted truth (α + 1)", method="config", exponent=t, se=0.0, ci_lo=t, ci_hi=t))
    table = pd.DataFrame(rows)
    truth = summary.get("zipf_true")
    table["contains_truth"] = None if truth is None else [bool(a <= truth <= b) for a, b in
                                                          zip(table["ci_lo"], table["ci_hi"])]
    return table


def _replicate_ranks(lo: pd.Series, hi: pd.Series, symbol: str, what: str, *, mean: bool = False) -> str | None:
    """The ranks per-replicate fits were made over, as one line (``1–k (the rule's count k: 12–53) in each of 9
    replicates``)."""
    ok = lo.notna() & hi.notna()
    if not ok.any():
        return None
    lo, hi = lo[ok].astype(int), hi[ok].astype(int)
    first = f"{lo.min()}" if lo.min() == lo.max() else f"{lo.min()}..{lo.max()}"
    span = (f"{first}\u2013{hi.min()}" if hi.min() == hi.max() else
            f"{first}\u2013{symbol} ({what} {symbol}: {hi.min()}\u2013{hi.max()})")
    return f"{span} in each of {int(ok.sum())} replicates" + (", their mean" if mean else "")


def _calibration(domain: str = "parity", *, two_runs: bool = False, parts_command: str = "qdg parity") -> str:
    """The test's error rates measured on planted worlds (:mod:`quanta.calibrate`), as one sentence, with what they
    were measured for where this verdict differs: the parity rates are for the end-to-end test with QDG parts of
    several training seeds pooled; the planted-language rates for two runs with ``quanta qdg`` parts. A verdict of
    another mode, domain or decomposition (:func:`_calibration_applies`) is said to have no measured error rate."""
    from quanta.calibrate.shipped import calibration_sentence, lm_calibration_sentence

    text = calibration_sentence() + ("; " + lm_calibration_sentence() if domain == "lm" else "")
    if _calibration_applies(domain, two_runs, parts_command):
        return text
    if domain == "lm":
        return text + (f"; both were measured with QDG parts, so this verdict on parts from `quanta {parts_command}` "
                       "has no measured error rate")
    text += ("; those rates are for the end-to-end test (QDG parts of several training seeds, pooled), so this "
             "verdict from one scaling run and one parts run has no measured error rate")
    return text + ("" if parts_command.startswith("qdg") else f", nor do parts from `quanta {parts_command}`")


def _calibration_applies(domain: str, two_runs: bool, parts_command: str) -> bool:
    """Whether the shipped rates were measured for this kind of verdict: for an LM, two runs with ``quanta qdg``
    parts; for parity, the end-to-end test."""
    return parts_command == "qdg" if domain == "lm" else not two_runs


# ----------------------------------------------------------------------------------------------- run directories
def _scaling_run(run):
    cmd = run.command
    if cmd not in ("parity analyze", "lm analyze"):
        raise QuantaError(f"{run.path} is a {cmd!r} run, but the scaling exponent comes from `quanta parity analyze` "
                          "or `quanta lm analyze`", "pass the --out directory of one of those as --scaling")
    return run.summary


def _parts_run(run):
    if not (run.command.startswith("qdg") or run.command.startswith("parts")):
        raise QuantaError(f"{run.path} is a {run.command!r} run, but the parts come from `quanta qdg` or "
                          "`quanta parts`",
                          "pass the --out directory of a `quanta qdg`, `quanta qdg parity` or `quanta parts` run "
                          "as --parts")
    return run.summary


def _parts_alpha(summary: dict) -> float | None:
    """The α of the parity model a parts run decomposed: its summary's, or its model's row in the parity run."""
    if summary.get("alpha") is not None:
        return float(summary["alpha"])
    if summary.get("run_dir") and summary.get("model_id") is not None:
        from quanta.store import Run

        try:
            models = Run.open(summary["run_dir"], command="parity run").read_table("models")
        except QuantaError:
            return None
        row = models[models["model"] == int(summary["model_id"])]
        return float(row["alpha"].iloc[0]) if len(row) else None
    return None


def _scaling_at_parts_alpha(srun, s: dict, p: dict) -> dict:
    """A parity analysis of several α keeps one α_N per α (``per_alpha``): the one at the parts model's α."""
    per = s.get("per_alpha") or []
    if srun.command != "parity analyze" or len(per) <= 1:
        return s
    alphas = [float(e["alpha"]) for e in per]
    a = _parts_alpha(p)
    listed = ", ".join(f"{x:g}" for x in alphas)
    if a is None:
        raise QuantaError(f"{srun.path} analyzes several α ({listed}) and the parts run does not say which α its "
                          "model was trained at", "pass a parts run of one model of that parity run")
    match = [e for e, x in zip(per, alphas) if math.isclose(x, a, rel_tol=0, abs_tol=1e-9)]
    if not match:
        raise QuantaError(f"{srun.path} analyzes α {listed}, but the parts come from a model at α {a:g}",
                          "decompose a model of one of those α, or pass the analysis of its own run")
    return {**s, **match[0]}


def _parts_sizes(run, summary: dict, n_clusters) -> tuple[dict, int]:
    """The parts' sizes by count (``{k: sizes}``) and the count to read.

    A ``quanta qdg`` run swept several counts (``sizes.parquet``); a ``quanta parts`` run has one set of parts,
    whose live parts' use counts (``parts.parquet``: neither dead nor dense) are the sizes (docs/parts.md).
    """
    if run.command.startswith("parts"):
        t = run.read_table("parts")
        live = np.sort(t.loc[t["live"], "count"].to_numpy())[::-1]
        k = int(live.size)
        if isinstance(n_clusters, int) and n_clusters != k:
            raise QuantaError(f"n_clusters {n_clusters} does not apply to a `quanta parts` run: it has one set of "
                              f"{k} live parts", "drop --n-clusters")
        return {k: live}, k
    sizes_t = run.read_table("sizes")
    by_k = {int(k): g.sort_values("rank")["size"].to_numpy() for k, g in sizes_t.groupby("n_clusters")}
    k = n_clusters if isinstance(n_clusters, int) else int(summary.get("n_clusters") or max(by_k))
    if k not in by_k:
        raise QuantaError(f"n_clusters {k} was not swept by the parts run (it has {sorted(by_k)})",
                          "pick one of those counts")
    return by_k, k


def _same_world(scaling, parts, allow_mismatch: bool) -> None:
    """Refuse a scaling run and a parts run from different worlds (parity against LM, or different runs)."""
    if allow_mismatch:
        return
    s_dom = "parity" if scaling.command == "parity analyze" else "lm"
    p_dom = "parity" if parts.command == "qdg parity" or (parts.command.startswith("parts")
                                                          and parts.summary.get("run_dir")) else "lm"
    if s_dom != p_dom:
        raise QuantaError(f"the scaling run is a {s_dom} analysis but the parts come from a {p_dom} model",
                          "compare runs of the same model family, or pass allow_mismatch (--allow-mismatch)")
    if s_dom == "lm":
        from quanta.world import check_same_lm_world, lm_world

        check_same_lm_world({**parts.config, **parts.summary}, lm_world(scaling), parts_dir=parts.path,
                            other_dir=scaling.path, what="the scaling law")
    if s_dom == "parity":
        a, b = scaling.summary.get("run_dir"), parts.summary.get("run_dir")
        if a and b and str(a) != str(b):
            from pathlib import Path

            if Path(a).resolve() != Path(b).resolve():
                raise QuantaError(f"the scaling run analyzes {a} but the parts come from {b}",
                                  "use runs of the same parity run, or pass --allow-mismatch")


def parts_estimate(law: dict):
    """One decomposition's exponent as an Estimate: the plausible head's MLE (:func:`quanta.plausibility.head_law`)
    with its parametric-bootstrap standard error (one model, one decomposition)."""
    from quanta.verdict import Estimate

    return Estimate(law["exponent"], law["exponent_se"], 1, 1, math.nan, law["exponent_se"],
                    ("fit (parametric bootstrap)",))


def scaling_estimate(alpha_N: float, se: float):
    """One scaling fit's α_N as an Estimate (its fit's standard error; one training seed)."""
    from quanta.verdict import Estimate

    return Estimate(float(alpha_N), float(se), 1, 1, math.nan, float(se), ("fit",))


def verdict_of_sizes(sizes, alpha_N: float, alpha_N_se: float, config: FalsifyConfig) -> dict:
    """The two-run test's decision (:func:`falsify`) for parts given only by their sizes, against α_N ± se.

    The same head rule, fit and decision as :func:`falsify`, without run directories: what the test says of any
    partition, e.g. the planted quanta themselves as parts (:mod:`quanta.parts.bench`'s reference row).
    """
    from quanta.plausibility import head_law

    law = head_law(np.asarray(sizes), n_boot=config.n_boot, seed=config.seed, ci=config.ci)
    if not math.isfinite(law["exponent"]):
        return {"verdict": None, "zipf_measured": None, "power_law_plausible": law["plausible"]}
    return verdict_from_estimates(scaling_estimate(alpha_N, alpha_N_se), parts_estimate(law),
                                  plausible=law["plausible"], config=config)


def falsify(scaling_dir, parts_dir, out, config: FalsifyConfig | None = None, *, force: bool = False,
            argv: list[str] | None = None, allow_mismatch: bool = False,
            dynamics_dir=None) -> tuple[dict, pd.DataFrame]:
    """Compare the scaling exponent of ``scaling_dir`` with the Zipf law of the parts in ``parts_dir``.

    One model and one decomposition: the prediction's standard error is the scaling run's (its ``alpha_N_se``, or
    its interval's half-width over the normal quantile), the parts' is their fit's parametric bootstrap. Neither
    carries training seeds (``n_train_seeds = 1``); :func:`falsify_parity_run` does.

    With ``dynamics_dir`` (a ``quanta lm analyze`` run over checkpoints of the decomposed model), the two formation
    tests of :mod:`quanta.formation` run as a second, independent test: are the parts' tokens learned together, and
    in order of frequency? Their rows go to the table ``formation`` and their answers to the summary
    (``formation_learned_together``, ``formation_frequency_order``, with statistics and p-values).

    Returns
    -------
    summary : dict
        ``verdict``, ``p_value``, ``gap_se``, ``zipf_pred``, ``zipf_pred_ci``, ``zipf_measured``,
        ``zipf_measured_ci``, ``power_law_plausible``, ``n_train_seeds``, ``cluster_count_rule``, ...
    table : DataFrame
        The exponents with their intervals.
    """
    cfg = config or FalsifyConfig()
    return _write_two_runs(_two_runs(scaling_dir, parts_dir, cfg, allow_mismatch, dynamics_dir), out, cfg,
                           force=force, argv=argv)


@dataclass(frozen=True)
class _TwoRuns:
    """What :func:`falsify` reads and computes before its run directory exists."""

    scaling_dir: object
    parts_dir: object
    dynamics_dir: object
    srun: object
    prun: object
    s: dict
    p: dict
    k: int
    law: dict
    formation: object
    formation_rows: object


def _two_runs(scaling_dir, parts_dir, cfg: FalsifyConfig, allow_mismatch: bool, dynamics_dir) -> _TwoRuns:
    """Every check and computation of :func:`falsify` that can fail, with nothing written."""
    from quanta.plausibility import head_law
    from quanta.store import Run

    srun, prun = Run.open(scaling_dir), Run.open(parts_dir)
    s, p = _scaling_run(srun), _parts_run(prun)
    _same_world(srun, prun, allow_mismatch)
    s = _scaling_at_parts_alpha(srun, s, p)
    by_k, k = _parts_sizes(prun, p, cfg.n_clusters)
    if cfg.rank_range is not None:
        raise QuantaError("rank_range applies to the end-to-end mode (RUN_DIR), whose replicates each give an envelope",
                          "drop --rank-range, or falsify the parity run end to end")
    # everything that can fail is computed before the run directory is created
    law = head_law(by_k[k], n_boot=cfg.n_boot, seed=cfg.seed, ci=cfg.ci)
    if not math.isfinite(law["exponent"]):
        raise QuantaError(f"no Zipf law fits the {law['n_parts']} parts at n_clusters {k} of {parts_dir}",
                          "pick a count with more parts (--n-clusters) or decompose more samples")
    formation = formation_rows = None
    if dynamics_dir is not None:
        from quanta.formation import formation_answers, formation_inputs, part_formation

        members, learning, _ = formation_inputs(parts_dir, dynamics_dir, n_clusters=k,
                                                allow_mismatch=allow_mismatch)
        formation = part_formation(members, learning, seed=cfg.seed)
        formation_rows = pd.DataFrame(formation_answers(formation, level=cfg.level))
    return _TwoRuns(scaling_dir, parts_dir, dynamics_dir, srun, prun, s, p, k, law, formation, formation_rows)


def _write_two_runs(t: _TwoRuns, out, cfg: FalsifyConfig, *, force: bool, argv) -> tuple[dict, pd.DataFrame]:
    """The run directory of :func:`falsify` from its checked inputs."""
    from scipy.stats import norm

    from quanta.fit import MIN_DOF
    from quanta.store import Run

    scaling_dir, parts_dir, dynamics_dir = t.scaling_dir, t.parts_dir, t.dynamics_dir
    srun, prun, s, p, k, law = t.srun, t.prun, t.s, t.p, t.k, t.law
    formation, formation_rows = t.formation, t.formation_rows
    parts = parts_estimate(law)
    extra = {"dynamics": str(dynamics_dir)} if dynamics_dir is not None else {}
    with Run.create(out, command="falsify", config={**asdict(cfg), "scaling": str(scaling_dir),
                                                    "parts": str(parts_dir), **extra},
                    seed=cfg.seed, argv=argv, force=force, inputs=[scaling_dir, parts_dir, dynamics_dir]) as run:
        summary = {"mode": "two runs", "scaling_run": str(scaling_dir), "parts_run": str(parts_dir),
                   "n_train_seeds": 1, "n_draws": 1,
                   "cluster_count_rule": p.get("cluster_count_rule",
                                               "live parts" if prun.command.startswith("parts") else "fixed"),
                   "n_clusters": k, "ci_level": cfg.ci}
        a, ci = s.get("alpha_N"), s.get("alpha_N_ci")
        n_pts = s.get("alpha_N_n_points")
        summary.update({"power_law_gof_p": law["gof_p"], "power_law_preferred": law["preferred"],
                        "parts_head": law["head"], "parts_head_rule": HEAD_RULE,
                        "zipf_measured_ranks": (f"1\u2013{int(law['head'])} (the plausible head at k={k})"
                                                if law["head"] else
                                                f"1\u2013{law['n_parts']} (all parts at k={k}: no head is plausible)")})
        reason = None
        if n_pts is not None and int(n_pts) - 3 < MIN_DOF:
            reason = (f"alpha_N of {scaling_dir} comes from {n_pts} points and 3 parameters ({int(n_pts) - 3} "
                      f"degree(s) of freedom; at least {MIN_DOF} are needed): sweep more model sizes")
        elif a is None or ci is None or None in ci:
            reason = f"{scaling_dir} has no alpha_N with an interval (its fit failed or was refused)"
        if reason is not None:
            summary.update({"verdict": "undetermined", "verdict_reason": reason, "p_value": None, "gap_se": None,
                            "alpha_N": a, "alpha_N_ci": ci, "zipf_pred": None, "zipf_pred_ci": None,
                            "zipf_measured": parts.value, "zipf_measured_ci": list(parts.ci(cfg.ci)),
                            "power_law_plausible": law["plausible"]})
            table = pd.DataFrame([dict(quantity="measured (parts)", method="mle", exponent=parts.value, se=parts.se,
                                       ci_lo=parts.ci(cfg.ci)[0], ci_hi=parts.ci(cfg.ci)[1], contains_truth=None)])
        else:
            se = s.get("alpha_N_se")
            if se is None:  # from the interval, at the level the scaling run used
                level = float(s.get("ci_level") or srun.config.get("ci") or 0.9)
                se = (float(ci[1]) - float(ci[0])) / (2 * float(norm.ppf(0.5 + level / 2)))
            alpha = scaling_estimate(float(a), float(se))
            summary.update(verdict_from_estimates(alpha, parts, plausible=law["plausible"], config=cfg))
            if s.get("alpha") is not None and srun.command == "parity analyze":
                summary["alpha_planted"] = s["alpha"]
                summary["zipf_true"] = float(s["alpha"]) + 1.0
            table = _verdict_table(summary)
        summary.update({f"parts_{key}": p[key] for key in ("ari", "purity", "n_learned", "model_id") if key in p})
        domain = "lm" if srun.command == "lm analyze" else "parity"
        summary["calibration"] = _calibration(domain, two_runs=True, parts_command=prun.command)
        summary["calibration_applies"] = _calibration_applies(domain, True, prun.command)
        run.write_table("verdict", table)
        if formation is not None:
            fs = formation.summary()
            summary.update({"formation_learned_together": formation_rows.loc[0, "answer"],
                            "formation_frequency_order": formation_rows.loc[1, "answer"],
                            **{f"formation_{key}": fs[key] for key in (
                                "spread", "spread_null_median", "spread_ratio", "spread_p", "rho",
                                "rho_null_median", "rho_p", "n_learned", "n_parts_tested", "n_perm", "x_name")},
                            "dynamics_run": str(dynamics_dir)})
            run.write_table("formation", formation_rows)
        if summary.get("zipf_pred") is not None:
            run.save_figure(plot_verdict(summary), "verdict")
        return run.finish(summary), table


def nested_commands(run_dir, out, qdg_config, *, device=None) -> dict[str, list[str]]:
    """The ``quanta`` command lines that reproduce the runs :func:`falsify_parity_run` keeps inside ``OUT``.

    ``scaling``: ``quanta parity analyze RUN_DIR`` with its defaults; ``parts``: ``quanta qdg parity RUN_DIR`` with
    ``qdg_config``'s model, samples, count rule, bootstrap and seed (its other fields are the command's defaults).
    Each nested manifest records its own line, not the ``quanta falsify`` (or ``quanta demo``) that ran it.
    """
    from pathlib import Path

    out, q = Path(out), qdg_config
    dev = ["--device", str(device)] if device else []
    return {"scaling": ["quanta", "parity", "analyze", str(run_dir), "--out", str(out / "scaling")],
            "parts": ["quanta", "qdg", "parity", str(run_dir), "--out", str(out / "parts"), "--model-id",
                      str(q.model_id), "--n-samples", str(q.n_samples), "--n-clusters", str(q.n_clusters),
                      "--n-boot", str(q.n_boot), "--seed", str(q.seed), *dev]}


def falsify_parity_run(run_dir, out, config: FalsifyConfig | None = None, *, force: bool = False,
                       resume: bool = False, device=None, argv: list[str] | None = None) -> tuple[dict, pd.DataFrame]:
    """End to end on a ``quanta parity run`` directory, label-free, every training seed a replicate.

    Writes into ``OUT``: ``scaling/`` (``quanta parity analyze`` of the run, for the report and its diagnostics),
    ``parts/`` (``quanta qdg parity`` on the first seed's widest model, first draw, for the report's browser),
    ``scaling_fits.parquet`` (α_N per seed), ``replicates.parquet`` (the parts per seed × draw), ``verdict.parquet``,
    ``figures/verdict.png`` and ``summary.json``. With ``resume``, finished steps are kept.
    """
    from pathlib import Path

    from quanta.parity.analyze import run_parity_analysis
    from quanta.plausibility import PLAUSIBLE_P
    from quanta.progress import progress
    from quanta.qdg.parity import ParityQDGConfig, default_k_max, run_qdg_parity, widest_models
    from quanta.store import Run

    cfg = config or FalsifyConfig()
    # the options first (no work, nothing read), then the run, then the scaling side, all before anything is written
    k_max = default_k_max(cfg.n_samples)
    if cfg.rank_range is not None and cfg.rank_range[1] > k_max:
        raise QuantaError(f"rank_range {cfg.rank_range} reaches beyond the {k_max} parts the sweep has at most with "
                          f"n_samples={cfg.n_samples} (counts up to min(60, n_samples/20))",
                          "use a range within it; the paper's 100-1000 needs a sweep of 1000 counts (GPU scale)")
    # the count against the samples (ParityQDGConfig's check), before the run is read
    qdg_check = ParityQDGConfig(run_dir=str(run_dir), n_samples=cfg.n_samples, n_boot=cfg.n_boot,
                                **({"n_clusters": cfg.n_clusters} if cfg.n_clusters else {}))
    source = Run.open(run_dir, command="parity run")
    if len(source.config.get("alphas") or []) > 1:
        raise QuantaError(f"{run_dir} sweeps several alpha values", "falsify one alpha at a time")
    from quanta.qdg.parity import check_decompose_memory, check_parts_boot_memory
    from quanta.utils import resolve_device

    check_decompose_memory(qdg_check,
                           int(source.config.get("n_tasks", 0)) + int(source.config.get("n", 0)),
                           resolve_device(device))
    # the replicates' laws (head_law) and the nested qdg parity's Zipf fits
    check_parts_boot_memory(qdg_check, int(source.config.get("n_tasks", 0)), where="falsify",
                            fits=("fit_zipf_from_sizes", "fit_rank_frequency", "power_law_check"))
    models = source.read_table("models")
    scaling = scaling_from_models(models, ci=cfg.ci)  # checked before anything is written
    out = Path(out)
    rule = cfg.n_clusters or ParityQDGConfig.__dataclass_fields__["n_clusters"].default
    with Run.create(out, command="falsify", config={**asdict(cfg), "run": str(run_dir)}, seed=cfg.seed, argv=argv,
                    force=force, resume=resume, inputs=[run_dir]) as run:
        steps = {"scaling": out / "scaling", "parts": out / "parts"}

        def done(p: Path) -> bool:
            return (p / "manifest.json").exists() and Run.open(p, require_complete=False).manifest.get(
                "status") == "complete"

        with run.timer("replicates"):
            reps = parts_replicates(run_dir, config=cfg, device=device,
                                    progress=lambda jobs: progress(jobs, desc="falsify: seeds × draws"))
        # the nested qdg parity run (the report's view of the parts) decomposes the first seed whose replicates all
        # found parts, so that one seed that learned too little does not stop the test of the others
        failed = set(reps.loc[reps["error"].notna(), "seed"])
        candidates = sorted(widest_models(models).items())
        candidates = [c for c in candidates if c[0] not in failed] + [c for c in candidates if c[0] in failed]

        def qdg_config(model_id):
            return ParityQDGConfig(run_dir=str(run_dir), model_id=model_id, n_samples=cfg.n_samples,
                                   n_boot=cfg.n_boot, seed=(1000 * cfg.seed + 7) % (MAX_SEED + 1), n_clusters=rule)

        with run.timer("scaling"):
            if not done(steps["scaling"]):
                redo = steps["scaling"].exists()
                argv_scaling = nested_commands(run_dir, out, qdg_config(candidates[0][1]), device=device)["scaling"]
                run_parity_analysis(run_dir, steps["scaling"], force=redo,
                                    argv=argv_scaling + (["--force"] if redo else []))
        with run.timer("parts"):
            for i, (seed, model_id) in enumerate([] if done(steps["parts"]) else candidates):
                qcfg, redo = qdg_config(model_id), steps["parts"].exists()
                try:
                    run_qdg_parity(qcfg, steps["parts"], device=device, force=redo,
                                   argv=nested_commands(run_dir, out, qcfg, device=device)["parts"]
                                   + (["--force"] if redo else []))
                    break
                except QuantaError as exc:
                    if i == len(candidates) - 1:
                        raise
                    log.warning("qdg parity on training seed %s found no parts (%s); trying the next seed", seed,
                                exc.message)
        run.write_table("scaling_fits", scaling.per_seed)
        run.write_table("replicates", reps)
        summary = {"mode": "end to end", "run_dir": str(run_dir), "ci_level": cfg.ci,
                   **verdict_from_replicates(scaling.estimate, reps, config=cfg)}
        ok = reps["exponent"].notna()
        gof = reps["gof_p"].where(ok, 0.0).fillna(0.0)
        env = reps["envelope_exponent"].dropna()
        a_sc = Run.open(steps["scaling"]).summary
        lo_q, hi_q = (1 - cfg.ci) / 2, (1 + cfg.ci) / 2
        summary.update({
            "n_train_seeds": int(reps["seed"].nunique()),
            "n_draws": cfg.n_draws,
            "n_replicates": int(ok.sum()),
            "n_replicates_without_fit": int((~ok).sum()),
            "cluster_count_rule": str(rule),
            "n_clusters_by_replicate": reps["n_clusters"].astype(int).tolist(),
            "n_clusters": int(np.median(reps.loc[ok, "n_clusters"])) if ok.any() else 0,
            "power_law_gof_p_median": float(gof.median()) if len(gof) else None,
            "power_law_share_plausible": float((gof > PLAUSIBLE_P).mean()) if len(gof) else None,
            "power_law_preferred": (reps["preferred"].dropna().mode().iloc[0] if reps["preferred"].notna().any()
                                    else None),
            "parts_head_by_replicate": [None if pd.isna(h) else int(h) for h in reps["head"]],
            "parts_head_rule": HEAD_RULE,
            "zipf_envelope": float(env.mean()) if len(env) else None,
            "zipf_envelope_ci": [float(env.quantile(lo_q)), float(env.quantile(hi_q))] if len(env) >= 3 else None,
            "envelope_rank_range": (list(cfg.rank_range) if cfg.rank_range else "1 .. the rule's count, per replicate"),
            "zipf_envelope_ranks": _replicate_ranks(reps["envelope_lo"], reps["envelope_hi"], "k", "the rule's count",
                                                    mean=True),
            # without a plausible head a replicate's exponent is fitted on all its parts (head_law)
            "zipf_measured_ranks": _replicate_ranks(pd.Series(1, index=reps.index).where(reps["exponent"].notna()),
                                                    reps["head"].fillna(reps["n_clusters"]), "r",
                                                    "the plausible head, or all parts where none is,"),
            "alpha_N_per_seed": scaling.per_seed["alpha_N"].tolist(),
            "alpha_N_at_bound": int(scaling.per_seed["at_bound"].sum()),
            "alpha_N_fit_range_rule": scaling.fit_range_rule,
            "n_dropped": int(reps["n_dropped"].sum()),
            # diagnostics that read the planted truth, after the verdict is made
            "alpha_N_predicted_finite": a_sc.get("alpha_N_predicted_finite"),
            "alpha_planted": float(models["alpha"].iloc[0]),
            "zipf_true": float(models["alpha"].iloc[0]) + 1.0,
            "parts_ari": float(reps["ari"].mean()),
            "parts_ari_range": [float(reps["ari"].min()), float(reps["ari"].max())],
            "scaling_run": str(steps["scaling"]), "parts_run": str(steps["parts"]),
        })
        summary["calibration"] = _calibration()
        summary["calibration_applies"] = True
        table = _verdict_table(summary)
        run.write_table("verdict", table)
        run.save_figure(plot_verdict(summary, reps, scaling.per_seed), "verdict")
        return run.finish(summary), table


def falsify_side_by_side(scaling_dir, parts_dirs, out, config: FalsifyConfig | None = None, *, force: bool = False,
                         argv: list[str] | None = None, allow_mismatch: bool = False) -> tuple[dict, pd.DataFrame]:
    """Several decompositions of one model against one scaling exponent: one verdict per parts run, one table.

    Each parts run (``quanta qdg``, ``quanta parts sae``, ``quanta parts acts`` ...) is decided exactly as
    :func:`falsify` decides it, into ``out/parts-<i>/`` (a complete falsify run each); ``out`` holds the table
    ``verdicts`` (one row per parts run: its method, count, exponent with interval, the difference from α_N + 1,
    the p-value of d = 0 and the verdict) and the figure ``side_by_side``. Every input is checked before anything is
    written.
    """
    from pathlib import Path

    from quanta.store import Run

    cfg = config or FalsifyConfig()
    parts_dirs = [str(p) for p in parts_dirs]
    if len(parts_dirs) < 2:
        raise QuantaError("side by side needs at least two parts runs", "pass --parts twice or more")
    if len({str(Path(p).resolve()) for p in parts_dirs}) < len(parts_dirs):
        raise QuantaError("the same parts run is given twice", "pass each parts run once")
    from quanta.fit._shared import check_bootstrap_memory

    _scaling_run(Run.open(scaling_dir))
    for p in parts_dirs:  # refused without work first: the fits below are the slow part
        prun = Run.open(p)
        by_k, k = _parts_sizes(prun, _parts_run(prun), cfg.n_clusters)
        check_bootstrap_memory(cfg.n_boot, len(by_k[k]), ("fit_zipf_from_sizes", "power_law_check"), "falsify")
    checked = [_two_runs(scaling_dir, p, cfg, allow_mismatch, None) for p in parts_dirs]  # all, before out exists
    config_d = {**asdict(cfg), "scaling": str(scaling_dir), "parts": parts_dirs}
    with Run.create(out, command="falsify", config=config_d, seed=cfg.seed, argv=argv, force=force,
                    inputs=[scaling_dir, *parts_dirs]) as run:
        rows, summaries = [], []
        for i, (p, t) in enumerate(zip(parts_dirs, checked)):
            s, _ = _write_two_runs(t, run.path / f"parts-{i}", cfg, force=True, argv=None)
            method = t.prun.command
            ci = s.get("zipf_measured_ci") or [math.nan, math.nan]
            rows.append(dict(parts_run=p, method=method, n_parts=s.get("n_clusters"),
                             zipf_measured=s.get("zipf_measured"), ci_lo=ci[0], ci_hi=ci[1],
                             parts_ranks=s.get("zipf_measured_ranks"), zipf_pred=s.get("zipf_pred"),
                             difference=s.get("difference"), p_value=s.get("p_value"),
                             power_law_plausible=s.get("power_law_plausible"), verdict=s["verdict"]))
            summaries.append(s)
        table = pd.DataFrame(rows)
        first = summaries[0]
        summary = {"mode": "side by side", "scaling_run": str(scaling_dir), "parts_runs": parts_dirs,
                   "alpha_N": first.get("alpha_N"), "alpha_N_ci": first.get("alpha_N_ci"),
                   "zipf_pred": first.get("zipf_pred"), "zipf_pred_ci": first.get("zipf_pred_ci"),
                   "verdicts": [{"parts_run": r["parts_run"], "method": r["method"], "verdict": r["verdict"],
                                 "zipf_measured": r["zipf_measured"], "p_value": r["p_value"]} for r in rows],
                   "verdict": "; ".join(f"{r['method']}: {r['verdict']}" for r in rows),
                   "verdict_reason": "one verdict per parts run (see verdicts.parquet and parts-<i>/)",
                   "calibration": first.get("calibration"), "n_train_seeds": 1, "n_draws": 1,
                   "cluster_count_rule": "per parts run", "ci_level": cfg.ci}
        run.write_table("verdicts", table)
        run.save_figure(plot_side_by_side(summary, table), "side_by_side")
        return run.finish(summary), table


def plot_side_by_side(summary: dict, table: pd.DataFrame):
    """Each decomposition's exponent with its interval, against the band of α_N + 1."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 1.2 + 0.6 * len(table)), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(table))
    pred, pci = summary.get("zipf_pred"), summary.get("zipf_pred_ci")
    if pred is not None and pci:
        ax.axvspan(pci[0], pci[1], color="C0", alpha=0.15, label=f"α_N + 1 = {pred:.2f} [{pci[0]:.2f}, {pci[1]:.2f}]")
        ax.axvline(pred, color="C0")
    m = table["zipf_measured"].to_numpy(float)
    ax.errorbar(m, y, xerr=[m - table["ci_lo"].to_numpy(float), table["ci_hi"].to_numpy(float) - m], fmt="o",
                color="C3", capsize=3, label="parts' exponent (interval)")
    ax.set_yticks(y, [f"{r.method} ({r.verdict})" for r in table.itertuples()])
    ax.set_xlabel("Zipf exponent of the parts' use frequencies")
    ax.legend(fontsize=8, loc="best")
    return fig
