"""The measurements every verdict of the calibration is pooled from: one row per training seed.

For each (α, training seed) of a training world:

* the scaling side: α_N of that seed's sweep (:func:`quanta.falsify.scaling_from_models`, the same fit and
  label-free fit range as ``quanta falsify``);
* the parts side, by decomposition ``method`` (``n_draws`` sample draws each):

  ``qdg``
      label-free QDG on the seed's widest model (:func:`quanta.qdg.parity.decompose_parity`), as ``quanta falsify``
      runs it.
  ``untrained``
      the same samples and the same pipeline, with the gradients of the network the seed *started* from.
  ``random``
      the same samples split into as many parts as QDG's count, each sample to a part drawn uniformly: a partition
      that ignores the network (parts of equal size in expectation).
  ``oracle``
      the same samples grouped by their true task: what a perfect decomposition would find. It reads the labels,
      so it is a reference only: it separates what QDG gets wrong from what the selection of learned samples and
      the test itself get wrong.
  ``raw_inputs``
      the same pipeline on the raw inputs instead of gradients. Parity's inputs carry the task code, so this can
      find the tasks without any network: it probes whether the test can tell a network's parts from the
      structure of its data, which (3) ``untrained`` does not.

Task ids are read only for the diagnostics (ARI), after each decomposition.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pandas as pd

from quanta.errors import QuantaError

log = logging.getLogger(__name__)

__all__ = ["METHODS", "scaling_units", "parts_units"]

METHODS = ("qdg", "oracle", "untrained", "random", "raw_inputs")


def scaling_units(models: pd.DataFrame, *, ci: float = 0.9) -> pd.DataFrame:
    """α_N of every (α, training seed) of a run's ``models`` table; a seed whose fit is refused is left out."""
    from quanta.falsify import scaling_from_models

    rows = []
    for alpha, g in models.groupby("alpha"):
        try:
            side = scaling_from_models(g, ci=ci)
        except QuantaError as exc:
            log.warning("alpha %s: no scaling fit (%s)", alpha, exc.message)
            continue
        rows.append(side.per_seed.assign(alpha=float(alpha)))
    cols = ["alpha", "seed", "alpha_N", "se", "ci_lo", "ci_hi", "n_points", "at_bound"]
    return pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)


def _row(sizes, *, n_boot: int, seed: int) -> dict:
    """The parts' law as ``quanta falsify`` reads it (:func:`quanta.plausibility.head_law`)."""
    from quanta.plausibility import head_law

    sizes = np.asarray(sizes)
    law = head_law(sizes[sizes > 0], n_boot=n_boot, seed=seed)
    return dict(n_clusters=int(law["n_parts"]), exponent=law["exponent"], exponent_se=law["exponent_se"],
                gof_p=law["gof_p"], head=law["head"])


def parts_units(run_dir, *, n_samples: int, n_draws: int, n_boot: int, control_alphas=(), seed: int = 0,
                device="cpu", progress=None) -> pd.DataFrame:
    """The parts side of every (α, training seed, draw, method) of a finished parity run.

    Returns one row per unit: ``alpha``, ``seed``, ``draw``, ``method``, ``n_clusters``, ``exponent``
    (bias-corrected MLE over the plausible head), ``exponent_se``, ``gof_p``, ``head``, ``ari`` (diagnostic),
    ``seconds``. ``qdg`` and ``oracle`` run at every α; the controls only at ``control_alphas``.
    """
    import torch

    from quanta.parity import ParityTasks, load_member
    from quanta.qdg.parity import (ParityQDGConfig, decompose_parity, margin_gradients, replicate_seed,
                                   score_clusters, untrained_twin, widest_models)
    from quanta.store import Run

    src = Run.open(run_dir, command="parity run")
    models = src.read_table("models")
    qcfg = ParityQDGConfig(run_dir=str(run_dir), n_samples=n_samples, n_boot=n_boot, seed=seed, null_control=False)
    controls = {round(float(a), 6) for a in control_alphas}
    jobs = []
    for alpha, g in models.groupby("alpha"):
        for s, mid in sorted(widest_models(g).items()):
            jobs += [(float(alpha), int(s), int(mid), d) for d in range(n_draws)]
    rows = []
    for alpha, s, mid, d in (progress(jobs) if progress else jobs):
        model = load_member(run_dir, mid, device=device)
        tasks = ParityTasks.from_config(src.config, alpha=alpha, device="cpu")
        draw_seed = replicate_seed(seed, s, d, alpha)
        t0 = time.perf_counter()
        try:
            parts = decompose_parity(model, tasks, qcfg, train_seed=s, model_id=mid, draw_seed=draw_seed,
                                     device=device)
        except QuantaError as exc:  # e.g. too few low-loss samples: this unit has no parts
            log.warning("alpha %s seed %s: QDG failed (%s)", alpha, s, exc.message)
            rows.append(dict(alpha=alpha, seed=s, draw=d, method="qdg", n_clusters=0, exponent=math.nan,
                             exponent_se=math.nan, gof_p=math.nan, head=None, ari=math.nan,
                             seconds=time.perf_counter() - t0))
            continue
        base = dict(alpha=alpha, seed=s, draw=d)
        rows.append(dict(base, method="qdg", **_row(parts.sizes, n_boot=n_boot, seed=draw_seed),
                         ari=score_clusters(parts.labels[parts.n_clusters], parts.task)["ari"],
                         seconds=time.perf_counter() - t0))
        rows.append(dict(base, method="oracle", **_row(np.bincount(parts.task), n_boot=n_boot, seed=draw_seed),
                         ari=1.0, seconds=0.0))
        if round(alpha, 6) not in controls:
            continue
        twin = untrained_twin(model, s)
        for method, rows_of in (("untrained", lambda x, y: margin_gradients(twin, x, y, qcfg, draw_seed, device)),
                                ("raw_inputs", lambda x, y: x.to(torch.float32))):
            t0 = time.perf_counter()
            try:
                p = decompose_parity(model, tasks, qcfg, train_seed=s, model_id=mid, draw_seed=draw_seed,
                                     device=device, gradients_of=rows_of)
                rows.append(dict(base, method=method, **_row(p.sizes, n_boot=n_boot, seed=draw_seed),
                                 ari=score_clusters(p.labels[p.n_clusters], p.task)["ari"],
                                 seconds=time.perf_counter() - t0))
            except QuantaError as exc:  # e.g. every untrained gradient is zero: no parts at all
                log.warning("alpha %s seed %s: %s decomposition failed (%s)", alpha, s, method, exc.message)
                rows.append(dict(base, method=method, n_clusters=0, exponent=math.nan, exponent_se=math.nan,
                                 gof_p=math.nan, head=None, ari=math.nan, seconds=time.perf_counter() - t0))
        t0 = time.perf_counter()
        rng = np.random.default_rng([seed, s, d, 11])
        labels = rng.integers(parts.n_clusters, size=len(parts.task))
        rows.append(dict(base, method="random", **_row(np.bincount(labels, minlength=parts.n_clusters),
                                                        n_boot=n_boot, seed=draw_seed),
                         ari=score_clusters(labels, parts.task)["ari"], seconds=time.perf_counter() - t0))
    return pd.DataFrame(rows)
