"""Verdicts in planted worlds: every answer the test gives, where the right answer is known.

From the per-seed units (:mod:`quanta.calibrate.units`) of each training world, each verdict pools
``seeds_per_verdict`` disjoint training seeds on each side and decides with
:func:`quanta.falsify.verdict_from_replicates`, the function ``quanta falsify RUN`` decides with. The worlds:

``true``
    scaling side and parts (QDG) from the same α: the model holds; the right answer is ``consistent``, and
    ``inconsistent`` is a false alarm.
``mismatch``
    the scaling side from α = a, the parts from the models trained at α = b (the same seeds, another α): the
    predicted exponent is off by |a - b|; the right answer is ``inconsistent``.
``oracle``
    as ``true``, with the parts a perfect decomposition would find (the learned samples grouped by their true task;
    a reference that reads labels): it measures the test apart from QDG's errors.
``untrained``, ``random``, ``raw_inputs``
    the parts of a decomposition that ignores the trained network (:mod:`quanta.calibrate.units`); a good test
    does not call them ``consistent``.
``not_power_law``
    task frequencies that are not a power law (exponential, broken); the right answer is ``not a power law``
    (``inconsistent`` also refuses the model).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from quanta.errors import QuantaError
from quanta.plausibility import PLAUSIBLE_P

__all__ = ["KINDS", "world_verdicts"]

KINDS = ("true", "oracle", "mismatch", "untrained", "random", "raw_inputs", "not_power_law")


def _seed_sets(seeds, per_verdict: int) -> list[list[int]]:
    seeds = sorted(int(s) for s in seeds)
    return [seeds[i:i + per_verdict] for i in range(0, len(seeds) - per_verdict + 1, per_verdict)]


def _decide(scaling: pd.DataFrame, parts: pd.DataFrame, config) -> dict:
    from quanta.falsify import pool_scaling, verdict_from_replicates

    if scaling.empty:
        return dict(verdict="undetermined", verdict_reason="no scaling fit for these seeds")
    if parts.empty or parts["exponent"].notna().sum() == 0:  # `quanta falsify` would stop with an error here
        return dict(verdict="no data", verdict_reason="no decomposition gave a parts exponent")
    try:
        s = verdict_from_replicates(pool_scaling(scaling), parts, config=config)
    except QuantaError as exc:
        return dict(verdict="undetermined", verdict_reason=exc.message)
    return dict(verdict=s["verdict"], verdict_reason=s["verdict_reason"], gap_test=s["test"]["verdict"],
                p_value=s["p_value"], gap_se=s["gap_se"], difference=s["difference"],
                zipf_pred=s["zipf_pred"], pred_lo=s["zipf_pred_ci"][0], pred_hi=s["zipf_pred_ci"][1],
                zipf_measured=s["zipf_measured"], meas_lo=s["zipf_measured_ci"][0], meas_hi=s["zipf_measured_ci"][1],
                alpha_N=s["alpha_N"])


def world_verdicts(world, scaling: pd.DataFrame, parts: pd.DataFrame, *, seeds_per_verdict: int, config,
                   control_alphas=()) -> pd.DataFrame:
    """Every verdict of one training world.

    Parameters
    ----------
    world : TrainingWorld
    scaling : DataFrame
        :func:`quanta.calibrate.units.scaling_units` of the world's run.
    parts : DataFrame
        :func:`quanta.calibrate.units.parts_units` of the world's run.
    seeds_per_verdict : int
    config : quanta.falsify.FalsifyConfig
    control_alphas : sequence of float

    Returns
    -------
    DataFrame
        One row per (kind, α of the scaling side, α of the parts, method, replicate): ``world``, ``kind``,
        ``alpha_scaling``, ``alpha_parts``, ``gap`` (|a - b|, 0 when they match), ``method``, ``replicate``,
        ``seeds``, ``verdict``, ``gap_test`` (the test of the exponents alone, before the power-law check),
        ``p_value``, ``zipf_pred`` with ``pred_lo``/``pred_hi``, ``zipf_measured`` with ``meas_lo``/``meas_hi``,
        ``zipf_true`` (the planted α + 1 of the parts' models), ``ari`` (mean over the parts), ``seconds`` (the
        decompositions' time; the training is in the manifest's ``timings_s``).
    """
    alphas = sorted(float(a) for a in world.alphas)
    all_seeds = sorted(set(int(s) for s in parts["seed"]) | set(int(s) for s in scaling["seed"]))
    sets = _seed_sets(all_seeds, seeds_per_verdict)
    controls = {round(float(a), 6) for a in control_alphas}
    jobs = []  # (kind, alpha_scaling, alpha_parts, method)
    for a in alphas:
        if not world.planted_power_law:
            jobs.append(("not_power_law", a, a, "qdg"))
            continue
        jobs.append(("true", a, a, "qdg"))
        jobs.append(("oracle", a, a, "oracle"))
        jobs += [("mismatch", a, b, "qdg") for b in alphas if b != a]
        if round(a, 6) in controls:
            jobs += [(m, a, a, m) for m in ("untrained", "random", "raw_inputs")]
    rows = []
    for kind, a, b, method in jobs:
        for r, seeds in enumerate(sets):
            sc = scaling[(np.isclose(scaling["alpha"], a)) & scaling["seed"].isin(seeds)]
            pa = parts[(np.isclose(parts["alpha"], b)) & parts["seed"].isin(seeds) & (parts["method"] == method)]
            row = dict(world=world.name, task_dist=world.task_dist, n_tasks=world.n_tasks, kind=kind,
                       alpha_scaling=a, alpha_parts=b, gap=round(abs(a - b), 6), method=method, replicate=r,
                       seeds=",".join(map(str, seeds)), verdict="undetermined", verdict_reason="", gap_test=None,
                       p_value=math.nan, gap_se=math.nan, difference=math.nan, zipf_pred=math.nan,
                       pred_lo=math.nan, pred_hi=math.nan, zipf_measured=math.nan, meas_lo=math.nan,
                       meas_hi=math.nan, alpha_N=math.nan,
                       zipf_true=(b + 1.0) if world.planted_power_law else math.nan,
                       ari=float(pa["ari"].mean()) if len(pa) else math.nan,
                       seconds=float(pa["seconds"].sum()) if len(pa) else math.nan,
                       share_plausible=float((pa["gof_p"].fillna(0.0) > PLAUSIBLE_P).mean()) if len(pa) else math.nan)
            row.update({k: v for k, v in _decide(sc, pa, config).items() if v is not None})
            rows.append(row)
    return pd.DataFrame(rows)
