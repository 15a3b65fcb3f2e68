"""The closing test (SCIENCE.md §5): the Zipf law of the discovered parts against the scaling law.

The quantization model ties two measurements together. A mean-loss scaling law
``L = L∞ + A·N^-α_N`` implies that the quanta are used with frequencies
``p_k ∝ k^-(α_N+1)``; so if a decomposition (QDG) finds the real parts, the sizes
of its parts must follow a rank-frequency law with exponent ``α_N + 1``.

:func:`compare_exponents` puts the predicted exponent (with its interval, from the
interval of α_N) beside every measured one (with theirs) and says whether the
intervals overlap. :func:`falsify` does it from run directories:

* the *scaling* run: ``quanta parity analyze`` or ``quanta lm analyze`` (its
  ``summary.json`` holds ``alpha_N`` and ``alpha_N_ci``);
* the *parts* run: ``quanta qdg`` or ``quanta qdg parity`` (its cluster table
  gives the part sizes for every cluster count).

Two measured exponents come from the parts: the maximum-likelihood exponent of the
part sizes at the run's chosen cluster count (:func:`quanta.fit.fit_zipf_from_sizes`)
and the paper's envelope over all cluster counts (:func:`quanta.fit.fit_rank_frequency`).
For parity runs the planted truth α+1 stands beside them.

The verdict follows the MLE exponent (the envelope is reported beside it, since the
paper used it): ``consistent`` when its interval overlaps the predicted one,
``inconsistent`` otherwise. Overlap of 90% intervals is a lenient test; the table
also gives the gap in units of the combined interval half-widths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quanta.errors import QuantaError


@dataclass(frozen=True)
class FalsifyConfig:
    """Settings of :func:`falsify`.

    Parameters
    ----------
    n_clusters : int, optional
        Cluster count whose part sizes give the MLE exponent; default the parts run's own choice
        (``n_clusters`` in its summary), else the largest count swept.
    rank_range : (int, int), optional
        Ranks fitted by the envelope; default ranks 1 .. (number of parts at the chosen count).
    min_size : int, default 1
        Parts smaller than this are left out of the MLE (singletons are often noise).
    n_boot : int, default 1000
        Bootstrap replicates for the exponents of the parts.
    ci : float, default 0.9
    seed : int, default 0
    """

    n_clusters: int | None = None
    rank_range: tuple[int, int] | None = None
    min_size: int = 1
    n_boot: int = 1000
    ci: float = 0.9
    seed: int = 0

    def __post_init__(self):
        if self.n_clusters is not None and (not isinstance(self.n_clusters, int) or self.n_clusters < 2):
            raise QuantaError(f"n_clusters must be an integer >= 2, got {self.n_clusters!r}",
                              "pass a cluster count that the parts run swept")
        if not isinstance(self.min_size, int) or self.min_size < 1:
            raise QuantaError(f"min_size must be an integer >= 1, got {self.min_size!r}", "use e.g. --min-size 2")
        if not isinstance(self.n_boot, int) or self.n_boot < 0:
            raise QuantaError(f"n_boot must be an integer >= 0, got {self.n_boot!r}", "use e.g. --n-boot 1000")
        if not (isinstance(self.ci, (int, float)) and 0 < self.ci < 1):
            raise QuantaError(f"ci must be in (0, 1), got {self.ci!r}", "use e.g. --ci 0.9")
        if self.rank_range is not None:
            lo, hi = self.rank_range
            if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo < hi):
                raise QuantaError(f"rank_range must be integers 1 <= lo < hi, got {self.rank_range!r}",
                                  "use e.g. --rank-range 1 50")


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool | None:
    if any(not math.isfinite(v) for v in (*a, *b)):
        return None
    return bool(a[0] <= b[1] and b[0] <= a[1])


def _gap_sigma(v1: float, ci1, v2: float, ci2) -> float:
    """|v1 - v2| over the root-sum-square of the interval half-widths (a rough z-like distance)."""
    h1 = (ci1[1] - ci1[0]) / 2
    h2 = (ci2[1] - ci2[0]) / 2
    den = math.hypot(h1, h2)
    if not math.isfinite(den) or den <= 0:
        return math.nan
    return abs(v1 - v2) / den


def compare_exponents(alpha_N: float, alpha_N_ci: tuple[float, float], measured: dict, *,
                      zipf_true: float | None = None, primary: str | None = None) -> tuple[pd.DataFrame, dict]:
    """The verdict table: predicted Zipf exponent α_N+1 against measured ones.

    Parameters
    ----------
    alpha_N : float
        The scaling exponent of mean loss against parameters.
    alpha_N_ci : (float, float)
        Its interval.
    measured : dict of str -> ZipfFit
        Measured Zipf exponents of the parts, by method name (e.g. ``{"mle": ..., "envelope": ...}``).
    zipf_true : float, optional
        The planted exponent (parity: α+1).
    primary : str, optional
        Which measured exponent decides the verdict; default the first of ``measured``.

    Returns
    -------
    table : DataFrame
        One row per quantity: ``quantity``, ``method``, ``exponent``, ``ci_lo``, ``ci_hi``, ``overlaps_pred``,
        ``gap_sigma`` (distance to the prediction in combined half-widths), ``contains_truth``.
    verdict : dict
        ``zipf_pred``, ``zipf_pred_ci``, ``zipf_measured``, ``zipf_measured_ci``, ``method``, ``overlap``,
        ``verdict`` ('consistent' or 'inconsistent'), ``zipf_true`` when given.
    """
    if not measured:
        raise QuantaError("no measured exponent to compare", "the parts run gave no cluster sizes")
    if not (math.isfinite(alpha_N) and len(alpha_N_ci) == 2):
        raise QuantaError(f"alpha_N must be a finite number with a 2-value interval, got {alpha_N!r}, {alpha_N_ci!r}",
                          "re-run the scaling analysis")
    pred = alpha_N + 1.0
    pred_ci = (float(alpha_N_ci[0]) + 1.0, float(alpha_N_ci[1]) + 1.0)
    rows = [dict(quantity="predicted (α_N + 1)", method="scaling fit", exponent=pred, ci_lo=pred_ci[0],
                 ci_hi=pred_ci[1], overlaps_pred=None, gap_sigma=None,
                 contains_truth=None if zipf_true is None else bool(pred_ci[0] <= zipf_true <= pred_ci[1]))]
    for name, fit in measured.items():
        ci = tuple(float(v) for v in fit.exponent_ci)
        rows.append(dict(quantity="measured (parts)", method=name, exponent=float(fit.exponent), ci_lo=ci[0],
                         ci_hi=ci[1], overlaps_pred=_overlap(pred_ci, ci),
                         gap_sigma=_gap_sigma(pred, pred_ci, float(fit.exponent), ci),
                         contains_truth=None if zipf_true is None else bool(ci[0] <= zipf_true <= ci[1])))
    if zipf_true is not None:
        rows.append(dict(quantity="planted truth (α + 1)", method="config", exponent=float(zipf_true),
                         ci_lo=float(zipf_true), ci_hi=float(zipf_true),
                         overlaps_pred=bool(pred_ci[0] <= zipf_true <= pred_ci[1]),
                         gap_sigma=None, contains_truth=True))
    table = pd.DataFrame(rows)
    primary = primary or next(iter(measured))
    if primary not in measured:
        raise QuantaError(f"primary method {primary!r} is not among {sorted(measured)}", "pick one of them")
    fit = measured[primary]
    ci = tuple(float(v) for v in fit.exponent_ci)
    overlap = _overlap(pred_ci, ci)
    verdict = {
        "zipf_pred": pred, "zipf_pred_ci": list(pred_ci),
        "zipf_measured": float(fit.exponent), "zipf_measured_ci": list(ci), "method": primary,
        "overlap": overlap,
        "verdict": "undetermined" if overlap is None else ("consistent" if overlap else "inconsistent"),
    }
    if zipf_true is not None:
        verdict["zipf_true"] = float(zipf_true)
    return table, verdict


# ----------------------------------------------------------------------------------------------- run directories
def scaling_exponent(run) -> tuple[float, tuple[float, float], dict]:
    """``alpha_N`` and its interval from a ``parity analyze`` or ``lm analyze`` run, with context fields."""
    cmd = run.command
    if cmd not in ("parity analyze", "lm analyze"):
        raise QuantaError(f"{run.path} is a {cmd!r} run, but the scaling exponent comes from `quanta parity analyze` "
                          "or `quanta lm analyze`", "pass the --out directory of one of those as --scaling")
    s = run.summary
    a, ci = s.get("alpha_N"), s.get("alpha_N_ci")
    if a is None or ci is None or None in ci:
        raise QuantaError(f"{run.path} has no alpha_N with an interval in summary.json (the run has no parameter "
                          "sweep, or its fit failed)", "analyze a run with a width or model-size sweep")
    info = {"alpha": s.get("alpha")}
    return float(a), (float(ci[0]), float(ci[1])), info


def part_sizes(run) -> tuple[dict[int, np.ndarray], int, dict]:
    """Cluster sizes for every cluster count of a QDG run, its headline count, and context fields."""
    if not run.command.startswith("qdg"):
        raise QuantaError(f"{run.path} is a {run.command!r} run, but the parts come from `quanta qdg`",
                          "pass the --out directory of a `quanta qdg` or `quanta qdg parity` run as --parts")
    sizes = run.read_table("sizes")
    by_k = {int(k): g.sort_values("rank")["size"].to_numpy() for k, g in sizes.groupby("n_clusters")}
    s = run.summary
    k = s.get("n_clusters")
    info = {key: s[key] for key in ("zipf_true", "ari", "purity", "n_learned", "model_id") if key in s}
    return by_k, (int(k) if k is not None else max(by_k)), info


def measure_parts(by_k: dict[int, np.ndarray], n_clusters: int, cfg: FalsifyConfig) -> dict:
    """The measured Zipf exponents of the parts: MLE at ``n_clusters`` and the envelope over all counts."""
    from quanta.fit import fit_rank_frequency, fit_zipf_from_sizes, rank_frequency_envelope

    if n_clusters not in by_k:
        raise QuantaError(f"n_clusters {n_clusters} was not swept by the parts run (it has {sorted(by_k)})",
                          "pick one of those counts")
    sizes = by_k[n_clusters]
    sizes = sizes[sizes >= cfg.min_size]
    measured = {"mle": fit_zipf_from_sizes(sizes, n_boot=cfg.n_boot, ci=cfg.ci, seed=cfg.seed)}
    env = rank_frequency_envelope([by_k[k] for k in sorted(by_k)])
    rr = cfg.rank_range or (1, int(min(len(env), max(len(sizes), 3))))
    try:
        measured["envelope"] = fit_rank_frequency(env, rank_range=rr, n_boot=cfg.n_boot, ci=cfg.ci, seed=cfg.seed)
    except QuantaError:  # too few non-empty ranks for a slope: the MLE still stands
        pass
    return measured


def plot_verdict(table: pd.DataFrame, verdict: dict):
    """Exponents with their intervals, one row each, the prediction shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.55 * len(table)))
    ys = np.arange(len(table))[::-1]
    lo, hi = verdict["zipf_pred_ci"]
    ax.axvspan(lo, hi, color="tab:blue", alpha=0.15, label="predicted interval")
    for y, (_, r) in zip(ys, table.iterrows()):
        color = {"predicted (α_N + 1)": "tab:blue", "planted truth (α + 1)": "black"}.get(r.quantity, "tab:red")
        ax.errorbar(r.exponent, y, xerr=[[r.exponent - r.ci_lo], [r.ci_hi - r.exponent]], fmt="o", color=color,
                    capsize=3)
    ax.set_yticks(ys, [f"{q}\n{m}" for q, m in zip(table.quantity, table.method)], fontsize=8)
    ax.set_xlabel("Zipf exponent of quanta frequencies (α + 1)")
    ax.set_title(f"verdict: {verdict['verdict']}")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def _read_inputs(scaling, parts) -> tuple:
    """Everything the verdict needs from the two opened runs (raises QuantaError on the wrong kind of run)."""
    return (*scaling_exponent(scaling), *part_sizes(parts), str(scaling.path), str(parts.path))


def _verdict(run, inputs: tuple, cfg: FalsifyConfig) -> tuple[dict, pd.DataFrame]:
    """Compute the verdict from :func:`_read_inputs`' ``inputs`` into ``run`` and finish it."""
    alpha_N, alpha_N_ci, sinfo, by_k, k_default, pinfo, scaling_path, parts_path = inputs
    k = cfg.n_clusters or k_default
    measured = measure_parts(by_k, k, cfg)
    table, verdict = compare_exponents(alpha_N, alpha_N_ci, measured, zipf_true=pinfo.get("zipf_true"),
                                       primary="mle")
    run.write_table("verdict", table)
    run.save_figure(plot_verdict(table, verdict), "verdict")
    summary = {"alpha_N": alpha_N, "alpha_N_ci": list(alpha_N_ci), **verdict, "n_clusters": k,
               "scaling_run": scaling_path, "parts_run": parts_path}
    if "envelope" in measured:
        env = measured["envelope"]
        summary["zipf_envelope"] = float(env.exponent)
        summary["zipf_envelope_ci"] = list(env.exponent_ci)
        summary["overlap_envelope"] = _overlap(tuple(verdict["zipf_pred_ci"]), tuple(env.exponent_ci))
    if sinfo.get("alpha") is not None:
        summary["alpha_planted"] = sinfo["alpha"]
    summary.update({f"parts_{key}": v for key, v in pinfo.items() if key != "zipf_true"})
    return run.finish(summary), table


def falsify(scaling_dir, parts_dir, out, config: FalsifyConfig | None = None, *, force: bool = False,
            argv: list[str] | None = None) -> tuple[dict, pd.DataFrame]:
    """Compare the scaling exponent of ``scaling_dir`` with the Zipf law of the parts in ``parts_dir``.

    Parameters
    ----------
    scaling_dir : path
        A finished ``quanta parity analyze`` or ``quanta lm analyze`` run.
    parts_dir : path
        A finished ``quanta qdg`` or ``quanta qdg parity`` run.
    out : path
        The run directory to write (``verdict.parquet``, ``figures/verdict.png``, ``summary.json``).
    config : FalsifyConfig, optional
    force : bool
        Overwrite a finished run in ``out``.

    Returns
    -------
    summary : dict
        ``alpha_N``, ``alpha_N_ci``, ``zipf_pred``, ``zipf_pred_ci``, ``zipf_measured``, ``zipf_measured_ci``
        (the MLE), ``zipf_envelope``, ``zipf_envelope_ci``, ``overlap``, ``verdict``, and ``zipf_true`` for
        parity runs.
    table : DataFrame
        The verdict table (see :func:`compare_exponents`).
    """
    from dataclasses import asdict

    from quanta.store import Run

    cfg = config or FalsifyConfig()
    inputs = _read_inputs(Run.open(scaling_dir), Run.open(parts_dir))  # checked before anything is written
    with Run.create(out, command="falsify", config={**asdict(cfg), "scaling": str(scaling_dir),
                                                    "parts": str(parts_dir)},
                    seed=cfg.seed, argv=argv, force=force) as run:
        return _verdict(run, inputs, cfg)


def falsify_parity_run(run_dir, out, config: FalsifyConfig | None = None, *, force: bool = False,
                       resume: bool = False, device=None, argv: list[str] | None = None,
                       qdg_samples: int = 2000) -> tuple[dict, pd.DataFrame]:
    """End to end on a ``quanta parity run`` directory.

    Analyzes the run into ``OUT/scaling`` (:func:`quanta.parity.analyze.run_parity_analysis`), runs QDG on its
    widest model into ``OUT/parts`` (:func:`quanta.qdg.parity.run_qdg_parity`), then writes the verdict into
    ``OUT``. With ``resume``, steps that finished are kept.
    """
    from dataclasses import asdict
    from pathlib import Path

    from quanta.parity.analyze import run_parity_analysis
    from quanta.qdg.parity import ParityQDGConfig, default_model_id, learned_tasks, run_qdg_parity
    from quanta.store import Run

    cfg = config or FalsifyConfig()
    source = Run.open(run_dir, command="parity run")
    if len(source.config.get("alphas") or []) > 1:
        raise QuantaError(f"{run_dir} sweeps several alpha values", "falsify one alpha at a time")
    qcfg = ParityQDGConfig(run_dir=str(run_dir), n_samples=qdg_samples, seed=cfg.seed)
    model_id = default_model_id(source.read_table("models"))
    n_learned = len(learned_tasks(source.read_table("eval"), model_id, learned_bits=qcfg.learned_bits))
    if n_learned < 2:  # checked here so that nothing is written for a run QDG cannot use
        raise QuantaError(f"the widest model of {run_dir} (model {model_id}) has learned {n_learned} task(s); QDG "
                          "needs at least 2", "train longer or wider (e.g. --preset cpu-small), then falsify")
    out = Path(out)
    with Run.create(out, command="falsify", config={**asdict(cfg), "run": str(run_dir), "qdg_samples": qdg_samples},
                    seed=cfg.seed, argv=argv, force=force, resume=resume) as run:
        steps = {"scaling": out / "scaling", "parts": out / "parts"}

        def done(p: Path) -> bool:
            return (p / "manifest.json").exists() and Run.open(p, require_complete=False).manifest.get(
                "status") == "complete"

        with run.timer("scaling"):
            if not done(steps["scaling"]):
                run_parity_analysis(run_dir, steps["scaling"], force=steps["scaling"].exists())
        with run.timer("parts"):
            if not done(steps["parts"]):
                run_qdg_parity(qcfg, steps["parts"], device=device, force=steps["parts"].exists())
        return _verdict(run, _read_inputs(Run.open(steps["scaling"]), Run.open(steps["parts"])), cfg)
