"""QDG on a trained sparse parity model, label-free, with the planted tasks kept for scoring only.

The planted quanta of multitask sparse parity are its tasks. QDG runs on per-sample gradients of one model of a
``quanta parity run`` (default: the widest), exactly as it would on a model without planted truth:

1. **Samples by the model's own loss.** Test inputs are drawn from the task distribution; those whose loss is
   below ``threshold`` nats (the paper's 0.1) are kept, whatever their task.
2. **Gradients that keep their direction.** The gradient of the classification margin (the cross-entropy is
   softplus of it) has the loss gradient's direction without its vanishing factor, so a confidently right
   sample's gradient neither underflows nor bends (:func:`quanta.qdg.grads.sample_gradients`). A row is left
   out only when it is exactly zero; every such row is counted per task (``n_dropped_by_task``).
3. **The count by a label-free rule** (:mod:`quanta.qdg.count`): by default the eigengap among the counts that
   are stable under subsampling.

Task ids enter only afterwards, to score the clusters (``ari``, ``purity``) and as named diagnostics: ``*_oracle``
fields use the true number of learned tasks, which a real model does not have. Inputs drawn from the Zipf task
distribution make the true part sizes follow the Zipf law with exponent α+1; ``zipf_exponent_tasks`` fits the true
task sizes of the same samples, so sampling noise and clustering error can be told apart.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from quanta.errors import QuantaError

log = logging.getLogger(__name__)

__all__ = ["ParityQDGConfig", "ParityParts", "score_clusters", "learned_tasks", "default_model_id",
           "widest_models", "select_low_loss", "decompose_parity", "run_qdg_parity", "untrained_twin",
           "margin_gradients", "replicate_seed"]

LN2 = math.log(2.0)


@dataclass(frozen=True)
class ParityQDGConfig:
    """Settings of ``quanta qdg parity``.

    Attributes
    ----------
    run_dir : str
        A finished ``quanta parity run`` directory.
    model_id : int, optional
        The model (``models.parquet``'s ``model``); default the widest (lowest final loss among the widest).
    n_samples : int, default 2000
        Samples drawn from the task distribution whose loss is below ``threshold`` (the ones clustered).
    threshold : float, default 0.1
        Per-sample loss in nats below which a sample is clustered (the paper's QDG threshold). No task id is used.
    n_clusters : int or str, default "stability"
        The count rule (:mod:`quanta.qdg.count`): ``stable_eigengap``, ``stability``, ``eigengap``, or a fixed count.
    k_max : int, optional
        The largest count of the sweep (and of the rule's search); default ``min(60, n // 20)``.
    counts : tuple of int, optional
        Counts of the sweep (for the envelope); default every count from 2 to ``k_max``.
    project : int, optional
        CountSketch dimension; None (default) keeps exact gradients (the MLPs are small).
    include_bias : bool, default False
    params : tuple of str, optional
        Glob patterns of the parameters whose gradients are clustered (:func:`quanta.qdg.grads.select_gradient_blocks`);
        default every linear weight.
    n_neighbors : int, optional
        Cluster a symmetric kNN graph with this many neighbours; None (default) uses the dense affinity.
    similarity : str, default "abs_cosine"
        ``angular`` (the paper's affinity), ``abs_angular`` or ``abs_cosine`` (|cos|); see docs/qdg.md.
    affinity_power : int, default 1
        The affinity raised to this power. Similarity, power and count rule were chosen on the tuning
        configurations of docs/qdg.md ("Defaults and how they were chosen"), never on the ones reported.
    precondition : str, default "none"
        ``none`` or ``diag`` (which reads the task code of the input; docs/qdg.md).
    learned_bits : float, default 0.1
        Diagnostics only: a task counts as learned (for the ``*_oracle`` fields) below this final test loss in bits.
    null_control : bool, default True
        Also run the same pipeline on the same samples with the model's initial weights and report ``ari_null``.
    n_boot : int, default 200
    seed : int, default 0
        Seed of the sample draw, the subsets of the stability rule and the bootstraps.
    """

    run_dir: str
    model_id: int | None = None
    n_samples: int = 2000
    threshold: float = 0.1
    n_clusters: int | str = "stability"
    k_max: int | None = None
    counts: tuple | None = None
    project: int | None = None
    include_bias: bool = False
    params: tuple | None = None
    n_neighbors: int | None = None
    similarity: str = "abs_cosine"
    affinity_power: int = 1
    precondition: str = "none"
    learned_bits: float = 0.1
    null_control: bool = True
    n_boot: int = 200
    seed: int = 0

    def __post_init__(self):
        from quanta.qdg.cluster import _check_power, _check_similarity
        from quanta.qdg.count import _check_rule
        from quanta.qdg.grads import check_precondition
        from quanta.validation import Interval, Satisfies, is_int, seed_range, validate_config

        _check_similarity(self.similarity)
        _check_power(self.affinity_power)
        check_precondition(self.precondition)
        if self.params is not None:
            params = (self.params,) if isinstance(self.params, str) else tuple(self.params)
            object.__setattr__(self, "params", params)
        if self.counts is not None:
            object.__setattr__(self, "counts", tuple(self.counts))
        k = self.n_clusters
        if isinstance(k, str) and k.isdigit():
            object.__setattr__(self, "n_clusters", int(k))
        validate_config(self, {
            "params": [None, Satisfies(lambda v: bool(v) and all(isinstance(p, str) and p for p in v),
                                       "non-empty glob patterns")],
            "null_control": ["boolean"],
            "n_neighbors": [None, Interval(int, 1, None)], "model_id": [None, Interval(int, 0, None)],
            "k_max": [None, Interval(int, 2, None)], "n_samples": [Interval(int, 20, None)],
            "threshold": [Interval(float, 0, None, closed="neither")],
            "learned_bits": [Interval(float, 0, None, closed="neither")],
            "project": [None, Interval(int, 0, None)],
            "counts": [None, Satisfies(lambda v: bool(v) and all(is_int(c) and c >= 2 for c in v),
                                       "integers >= 2")],
            "n_boot": [Interval(int, 0, None)], "seed": [seed_range()],
        }, examples={"params": "('layers.0.bias',)", "counts": "(5, 10, 20)", "n_neighbors": 30, "k_max": 60,
                     "model_id": 0, "project": 0})
        _check_rule(self.n_clusters)
        most = max([self.n_clusters if isinstance(self.n_clusters, int) else 0, *(self.counts or ())])
        if most >= self.n_samples - 1:
            raise QuantaError(f"n_clusters/counts: a count of {most} needs more than the n_samples={self.n_samples} "
                              "samples clustered", f"pass counts below {self.n_samples - 1}, or raise n_samples")


def score_clusters(labels, truth) -> dict:
    """Agreement of a clustering with the true groups.

    Returns
    -------
    dict with ``ari`` (adjusted Rand index), ``purity`` (Σ over clusters of the majority group's count / n) and
    ``inverse_purity`` (Σ over groups of the largest share one cluster holds / n).
    """
    from sklearn.metrics import adjusted_rand_score

    labels, truth = np.asarray(labels), np.asarray(truth)
    if labels.shape != truth.shape or labels.size == 0:
        raise QuantaError(f"labels and truth must have the same non-zero length, got {labels.size} and {truth.size}",
                          "pass one label per sample")
    table = pd.crosstab(labels, truth).to_numpy()
    return {"ari": float(adjusted_rand_score(truth, labels)), "purity": float(table.max(axis=1).sum() / labels.size),
            "inverse_purity": float(table.max(axis=0).sum() / labels.size)}


def default_model_id(models: pd.DataFrame) -> int:
    """The widest model of a run (ties: lowest final loss, then lowest id)."""
    w = models["width"].max()
    cand = models[models["width"] == w].sort_values(["final_loss", "model"])
    return int(cand["model"].iloc[0])


def learned_tasks(eval_df: pd.DataFrame, model_id: int, *, learned_bits: float = 0.1) -> np.ndarray:
    """Tasks whose test loss at the model's last evaluation is below ``learned_bits`` bits, sorted."""
    ev = eval_df[eval_df["model"] == model_id]
    if ev.empty:
        raise QuantaError(f"eval.parquet has no rows for model {model_id}", "check model_id")
    last = ev[ev["step"] == ev["step"].max()]
    return np.sort(last.loc[last["loss"] < learned_bits * LN2, "task"].to_numpy(np.int64))


def widest_models(models: pd.DataFrame) -> dict[int, int]:
    """The widest online model of every training seed: ``{seed: model id}`` (ties: lowest final loss)."""
    online = models[models["D"] == 0] if "D" in models.columns else models
    if online.empty:
        online = models
    out = {}
    for seed, g in online.groupby("seed"):
        out[int(seed)] = default_model_id(g)
    return out


def select_low_loss(model, tasks, n_samples: int, *, threshold: float = 0.1, seed: int = 0, device="cpu",
                    max_draws: int = 200):
    """Draw inputs from the task distribution and keep those whose loss is below ``threshold`` nats.

    The choice uses the model's own per-sample loss only, as QDG does on a language model; the task ids come back
    for scoring, never for selecting.

    Returns
    -------
    x (n, n_tasks + n_bits) float32, y (n,) int64, task (n,) int64, loss (n,) float32; and the number drawn.
    """
    import torch

    from quanta.qdg.grads import classification_margin

    g = torch.Generator(device=tasks.device).manual_seed(seed)
    xs, ys, ts, ls, have, drawn = [], [], [], [], 0, 0
    batch = max(4 * n_samples, 1024)
    for _ in range(max_draws):
        x, y, t = tasks.sample(batch, generator=g)
        drawn += len(y)
        with torch.no_grad():
            loss = torch.nn.functional.softplus(classification_margin(model(x.to(device)).float(), y.to(device)))
        ok = (loss < threshold).cpu().to(x.device)
        xs.append(x[ok])
        ys.append(y[ok])
        ts.append(t[ok])
        ls.append(loss.cpu()[ok.cpu()])
        have += int(ok.sum())
        if have >= n_samples:
            break
    if have < n_samples:
        raise QuantaError(f"only {have} of {drawn} drawn samples have a loss below {threshold} nats",
                          "lower n_samples, raise threshold, or pick a model that has learned more")
    cut = slice(0, n_samples)
    return (torch.cat(xs)[cut], torch.cat(ys)[cut], torch.cat(ts)[cut], torch.cat(ls)[cut].numpy(),
            int(drawn * n_samples / have))


def clusterable_rows(G) -> np.ndarray:
    """Rows of ``G`` that have a direction: finite and with a non-zero entry (a max-abs test, which cannot
    underflow as a squared norm can). A boolean numpy array."""
    import torch

    G = torch.as_tensor(G)
    return (torch.isfinite(G).all(dim=1) & (G.abs().amax(dim=1) > 0)).cpu().numpy()


@dataclass(frozen=True)
class ParityParts:
    """One label-free decomposition of one parity model (:func:`decompose_parity`).

    Attributes
    ----------
    model_id, train_seed : int
    draw_seed : int
        Seed of the sample draw (and of the count rule's subsets).
    n_clusters : int
        The count chosen by ``count_rule``.
    count_rule : str
    labels : dict int -> ndarray
        Cluster labels of the kept samples at every count of the sweep.
    eigenvalues : ndarray
    stability : dict int -> float
        The stability curve (empty unless the rule is ``stability``).
    fit : ZipfFit or None
        The sizes' Zipf MLE at ``n_clusters`` (parametric bootstrap; None if it cannot be fitted).
    envelope : ZipfFit or None
        The envelope slope over the sweep, ranks ``1..n_clusters`` (no interval: replicates give it).
    x, y, task, loss : arrays
        The kept samples (``task`` for scoring only).
    n_drawn : int
        Samples drawn to find them.
    n_dropped_by_task : dict int -> int
        Selected samples left out because their gradient is exactly zero, by task.
    n_isolated : int
        Samples left out because their affinity to every other sample is zero.
    affinity, embedding : the graph and its spectral vectors (for writers; not part of equality).
    """

    model_id: int
    train_seed: int
    draw_seed: int
    n_clusters: int
    count_rule: str
    labels: dict
    eigenvalues: np.ndarray
    stability: dict
    fit: object
    envelope: object
    x: object
    y: object
    task: np.ndarray
    loss: np.ndarray
    n_drawn: int
    n_dropped_by_task: dict
    n_isolated: int = 0
    affinity: object = None
    embedding: object = None

    @property
    def sizes(self) -> np.ndarray:
        """Part sizes at the chosen count, largest first."""
        return np.sort(np.bincount(self.labels[self.n_clusters]))[::-1]

    @property
    def exponent(self) -> float:
        """The bias-corrected Zipf exponent of the parts (NaN when it could not be fitted)."""
        return float(self.fit.exponent_corrected) if self.fit is not None else math.nan


def check_decompose_memory(cfg: ParityQDGConfig, n_inputs: int, device, *, flag: str = "--n-samples") -> None:
    """Refuse ``cfg.n_samples`` when a decomposition would need more memory than the device has, before anything
    is drawn or written: the candidate draws (``max(4 n, 1024)`` rows of ``n_inputs`` floats) and, with the dense
    graph (the default), the ``n x n`` affinity with one working copy."""
    import torch

    from quanta.utils import check_memory

    n = int(cfg.n_samples)
    need = max(4 * n, 1024) * (n_inputs + 3) * 4 + (8 * n * n if cfg.n_neighbors is None else 0)
    dev = torch.device(device)
    total, where = (torch.cuda.get_device_properties(dev).total_memory, f"memory on {dev}") if dev.type == "cuda" \
        else (None, "memory")
    check_memory(need, f"{flag} {n} ({'dense' if cfg.n_neighbors is None else 'kNN'} affinity of {n} samples)",
                 f"lower {flag}", available=total, where=where)


def parts_points(cfg: ParityQDGConfig, n_tasks: int) -> int:
    """The most ranks a Zipf fit of a parity decomposition can see: the largest count of the sweep (or the
    fixed ``n_clusters``), or the run's ``n_tasks`` (the true tasks' law)."""
    k = max(cfg.counts) if cfg.counts is not None else (cfg.k_max or default_k_max(int(cfg.n_samples)))
    return max(int(k), cfg.n_clusters if isinstance(cfg.n_clusters, int) else 0, int(n_tasks))


def check_parts_boot_memory(cfg: ParityQDGConfig, n_tasks: int, *, where: str = "qdg parity",
                            fits=("fit_zipf_from_sizes", "fit_rank_frequency")) -> None:
    """Refuse ``cfg.n_boot`` before anything is written when the Zipf fits' bootstraps over the parts
    (:func:`parts_points`) cannot fit in memory."""
    from quanta.fit._shared import check_bootstrap_memory

    check_bootstrap_memory(cfg.n_boot, parts_points(cfg, n_tasks), fits, where)


def default_k_max(n: int) -> int:
    """The largest count of the label-free sweep for ``n`` samples: ``min(60, n // 20)``, at least 3."""
    return max(3, min(60, n // 20))


def replicate_seed(seed: int, train_seed: int, draw: int, alpha: float) -> int:
    """The seed of one replicate's sample draw (and count rule and bootstrap), from every key that tells it apart.

    The closing test pools replicates over training seeds and counts the draw among the sources of their spread
    (docs/falsify.md), so each (training seed, draw, α) draws its own samples: a draw shared by every seed's model
    would leave its effect out of the spread between seeds and make the standard error too small.

    >>> replicate_seed(0, 0, 0, 0.4) == replicate_seed(0, 1, 0, 0.4)
    False
    """
    key = [int(seed), int(train_seed), int(draw), int(round(float(alpha) * 1_000_000))]
    return int(np.random.SeedSequence(key).generate_state(1, dtype=np.uint32)[0] >> 1)


def decompose_parity(model, tasks, cfg: ParityQDGConfig, *, train_seed: int = 0, model_id: int = 0,
                     draw_seed: int | None = None, device="cpu", gradients_of=None) -> ParityParts:
    """QDG on one parity model, without labels: low-loss samples, margin gradients, a count by rule.

    Parameters
    ----------
    model : nn.Module
        The trained MLP.
    tasks : quanta.parity.data.ParityTasks
    cfg : ParityQDGConfig
    train_seed, model_id : int
        Recorded in the result.
    draw_seed : int, optional
        Seed of the draw and of the count rule; default ``cfg.seed``.
    gradients_of : callable, optional
        ``f(x, y) -> G``: the rows to cluster for the selected samples, instead of ``model``'s margin gradients.
        The calibration (:mod:`quanta.calibrate`) uses it to decompose the same samples with an untrained network's
        gradients, or with the raw inputs; the samples are still the ones ``model`` has learned.
    """
    import torch

    from quanta.fit import fit_rank_frequency, fit_zipf_from_sizes, rank_frequency_envelope
    from quanta.qdg import cluster as C
    from quanta.qdg.count import _isolated, choose_count

    seed = cfg.seed if draw_seed is None else int(draw_seed)
    x, y, task, loss, n_drawn = select_low_loss(model, tasks, cfg.n_samples, threshold=cfg.threshold, seed=seed,
                                                device=device)
    G = gradients_of(x, y) if gradients_of is not None else _gradients(model, x, y, cfg, seed, device)
    ok = clusterable_rows(G)
    task_np = task.numpy()
    dropped = {int(t): int(c) for t, c in zip(*np.unique(task_np[~ok], return_counts=True))}
    if not ok.all():
        keep = torch.as_tensor(np.nonzero(ok)[0])
        G, x, y, task_np, loss = G[keep], x[keep], y[keep], task_np[ok], loss[ok]
    n = len(task_np)
    k_max = min(cfg.k_max or default_k_max(n), n - 2)
    counts = sorted(set(cfg.counts) if cfg.counts is not None else set(range(2, k_max + 1)))
    if isinstance(cfg.n_clusters, int):
        counts = sorted(set(counts) | {cfg.n_clusters})
    if max(counts) >= n - 1:
        raise QuantaError(f"cluster counts up to {max(counts)} need more than {n} samples",
                          "raise n_samples or lower k_max")
    A = C.affinity_graph(G, similarity=cfg.similarity, device=device, power=cfg.affinity_power,
                         **_graph_args(cfg, n))
    isolated = _isolated(A)
    if isolated.any():  # a sample with no affinity to any other (a high power can zero them) has no place
        keep = np.nonzero(~isolated)[0]
        A = A[keep][:, keep]
        x, y, task_np, loss = x[torch.as_tensor(keep)], y[torch.as_tensor(keep)], task_np[keep], loss[keep]
        n = len(task_np)
    emb, lam = C.spectral_embedding(A, max(counts) + 1, seed=seed, device=device)
    k, info = choose_count(cfg.n_clusters, A=A, eigenvalues=lam, counts=counts, seed=seed, device=device)
    labels = {c: C.canonical_labels(C.cluster_qr(emb[:, :c])) for c in counts}
    try:
        fit = fit_zipf_from_sizes(np.bincount(labels[k]), n_boot=cfg.n_boot, seed=seed)
    except QuantaError as exc:
        log.warning("Zipf MLE skipped: %s", exc)
        fit = None
    env_fit = None
    try:
        env = rank_frequency_envelope([np.bincount(labels[c]) for c in counts])
        env_fit = fit_rank_frequency(env, rank_range=(1, max(k, 3)), n_boot=0)
    except QuantaError as exc:
        log.warning("envelope fit skipped: %s", exc)
    return ParityParts(model_id=int(model_id), train_seed=int(train_seed), draw_seed=seed, n_clusters=int(k),
                       count_rule=str(cfg.n_clusters) if isinstance(cfg.n_clusters, str) else "fixed",
                       labels=labels, eigenvalues=np.asarray(lam), stability=info.get("stability", {}),
                       fit=fit, envelope=env_fit, x=x, y=y, task=task_np, loss=np.asarray(loss), n_drawn=n_drawn,
                       n_dropped_by_task=dropped, n_isolated=int(isolated.sum()), affinity=A,
                       embedding=(emb, lam))


def _gradients(net, x, y, cfg: ParityQDGConfig, seed: int, device):
    from quanta.qdg.grads import sample_gradients, select_gradient_blocks

    D = sum(b.numel for b in select_gradient_blocks(net, cfg.params, include_bias=cfg.include_bias))
    project = cfg.project if cfg.project and cfg.project < D else None
    return sample_gradients(net, x, y, params=cfg.params, include_bias=cfg.include_bias, project=project,
                            seed=seed, device=device, precondition=cfg.precondition, target="margin")


def _graph_args(cfg: "ParityQDGConfig", n: int) -> dict:
    """``dense_max`` and ``n_neighbors`` of the affinity graph of ``n`` samples: dense unless ``cfg.n_neighbors``."""
    return {"dense_max": n if cfg.n_neighbors is None else 0, "n_neighbors": min(n - 1, cfg.n_neighbors or 30)}


def untrained_twin(model, seed: int):
    """The network ``model`` started from: same shape, the initial weights of training seed ``seed``."""
    from quanta.parity.ensemble import ParityMLP, init_member

    net = ParityMLP(model.n_in, model.width, model.depth)
    net.load_state_dict(init_member(model.n_in, model.width, model.depth, int(seed)))
    return net.to(next(model.parameters()).device)


def margin_gradients(net, x, y, cfg: "ParityQDGConfig", seed: int, device="cpu"):
    """The rows QDG clusters for samples ``(x, y)``: ``net``'s per-sample margin gradients (as configured)."""
    return _gradients(net, x, y, cfg, seed, device)


def _null_control_ari(model, row, parts: ParityParts, cfg, device):
    """ARI of the same pipeline on the same samples, with the model's initial weights instead of its trained ones.

    The initial weights are those the run started from (:func:`quanta.parity.ensemble.init_member` with the
    model's width, depth and init seed), at the trained model's count. Samples whose gradient is zero there are
    left out of the score.
    """
    import torch

    from quanta.qdg import cluster as C

    net = untrained_twin(model, int(row["seed"]))
    G0 = _gradients(net, parts.x, parts.y, cfg, parts.draw_seed, device)
    ok = clusterable_rows(G0)
    k = parts.n_clusters
    if ok.sum() <= k + 1:
        return None
    A0 = C.affinity_graph(G0[torch.as_tensor(ok)], similarity=cfg.similarity, power=cfg.affinity_power,
                          device=device, **_graph_args(cfg, int(ok.sum())))
    emb, _ = C.spectral_embedding(A0, k, seed=parts.draw_seed, device=device)
    return score_clusters(C.cluster_qr(emb), parts.task[ok])["ari"]


def _check_model(models: pd.DataFrame, model_id, run_dir) -> int:
    model_id = default_model_id(models) if model_id is None else model_id
    if model_id not in set(models["model"].tolist()):
        raise QuantaError(f"model_id {model_id} is not in {run_dir}/models.parquet "
                          f"(ids {int(models['model'].min())}..{int(models['model'].max())})",
                          "pick a model id from models.parquet")
    return int(model_id)


def parity_model(run_dir, model_id=None):
    """The finished parity run at ``run_dir``, one of its models (default the widest) and that model's row:
    ``(run, model_id, row)``. Refuses a run that is not a finished ``quanta parity run``, or an unknown model id."""
    from quanta.store import Run

    src = Run.open(run_dir, command="parity run")
    models = src.read_table("models")
    model_id = _check_model(models, model_id, run_dir)
    return src, model_id, models[models["model"] == model_id].iloc[0]


def run_qdg_parity(cfg: ParityQDGConfig, out, *, device=None, force: bool = False, argv=None) -> dict:
    """QDG on one model of a parity run (:func:`decompose_parity`), written as a run directory; returns its summary.

    Writes ``samples.parquet`` (token, task, y, loss), ``clusters``/``sizes``/``envelope``/``eigenvalues`` tables,
    ``scores.parquet`` (n_clusters, ari, purity, inverse_purity for every count of the sweep), ``stability.parquet``
    (the count rule's curve), ``contexts.parquet`` (the most central samples of each cluster at the chosen count,
    for the report), figures and ``summary.json``.
    """
    from quanta.fit import fit_zipf_from_sizes
    from quanta.parity import ParityTasks, load_member
    from quanta.parts.tables import parity_sample_text, partition_contexts
    from quanta.qdg.cluster import member_centrality
    from quanta.qdg.grads import select_gradient_blocks
    from quanta.qdg.pipeline import analyze_gradients
    from quanta.store import Run
    from quanta.utils import device_description, resolve_device

    dev = resolve_device(device)
    src, model_id, row = parity_model(cfg.run_dir, cfg.model_id)
    alpha = float(row["alpha"])
    check_decompose_memory(cfg, int(src.config.get("n_tasks", 0)) + int(src.config.get("n", 0)), dev)
    check_parts_boot_memory(cfg, int(src.config.get("n_tasks", 0)))
    run = Run.create(out, command="qdg parity", config=asdict(cfg), seed=cfg.seed, device=device_description(dev),
                     force=force, argv=argv, inputs=[cfg.run_dir])
    with run:
        model = load_member(cfg.run_dir, model_id, device=dev)
        tasks = ParityTasks.from_config(src.config, alpha=alpha, device="cpu")
        with run.timer("decompose"):
            parts = decompose_parity(model, tasks, cfg, train_seed=int(row["seed"]), model_id=model_id, device=dev)
        task_np, k_head, n = parts.task, parts.n_clusters, len(parts.task)
        counts = sorted(parts.labels)
        run.write_table("samples", pd.DataFrame({"token": np.arange(n, dtype=np.int64), "task": task_np,
                                                 "y": parts.y.numpy(), "loss": parts.loss.astype(np.float32)}))
        if parts.stability:
            run.write_table("stability", pd.DataFrame({"n_clusters": list(parts.stability),
                                                       "stability": list(parts.stability.values())}))
        sweep, A, head = analyze_gradients(run, None, counts=counts, n_clusters=k_head, n_boot=cfg.n_boot,
                                           similarity=cfg.similarity, affinity_power=cfg.affinity_power,
                                           seed=cfg.seed, device=dev, title=f"parity model {model_id}: ",
                                           affinity=parts.affinity, embedding=parts.embedding,
                                           rank_range=(1, max(k_head, 3)), **_graph_args(cfg, n))
        scores = pd.DataFrame([{"n_clusters": k, **score_clusters(lab, task_np)}
                               for k, lab in sorted(sweep.labels.items())])
        run.write_table("scores", scores)
        labels = sweep.labels[k_head]
        score = score_clusters(labels, task_np)
        learned = learned_tasks(src.read_table("eval"), model_id, learned_bits=cfg.learned_bits)
        k_oracle = int(len(learned))
        from quanta.qdg.cluster import cluster_qr

        emb_vecs = parts.embedding[0]
        score_oracle = (score_clusters(cluster_qr(emb_vecs[:, :k_oracle]), task_np)
                        if 2 <= k_oracle <= emb_vecs.shape[1] else None)
        k_eig = int(head["eigengap_n_clusters"])
        score_eig = score_clusters(cluster_qr(emb_vecs[:, :k_eig]), task_np)
        ari_null = None
        if cfg.null_control:
            with run.timer("null_control"):
                ari_null = _null_control_ari(model, row, parts, cfg, dev)
        true_sizes = np.bincount(task_np)
        true_sizes = true_sizes[true_sizes > 0]
        fit_tasks = fit_zipf_from_sizes(true_sizes, n_boot=cfg.n_boot, seed=cfg.seed)
        # the most central samples of each cluster, as contexts for the report's cluster browser
        cen = member_centrality(A, labels)
        order = np.lexsort((-cen, labels))
        first = np.r_[0, np.cumsum(np.bincount(labels))[:-1]]
        rank_in = np.empty(n, dtype=np.int64)
        rank_in[order] = np.arange(n) - first[labels[order]]
        keep = np.nonzero(rank_in < 10)[0]
        keep = keep[np.lexsort((rank_in[keep], labels[keep]))]
        run.write_table("contexts", pd.concat([pd.DataFrame({
            "n_clusters": np.int32(k_head), "cluster": labels[keep].astype(np.int32),
            "member_rank": rank_in[keep].astype(np.int32), "token_index": keep.astype(np.int64),
            "task": task_np[keep],
            **parity_sample_text(task_np[keep], parts.x.numpy()[keep], parts.y.numpy()[keep], tasks.n_tasks)}),
            partition_contexts(labels, keep, cen)], axis=1))
        fit = parts.fit
        summary = {
            "run_dir": str(cfg.run_dir),
            "model_id": model_id,
            "train_seed": int(row["seed"]),
            "width": int(row["width"]),
            "alpha": alpha,
            "n_tasks": int(tasks.n_tasks),
            "selection": f"loss < {cfg.threshold} nats (the model's own; no task id)",
            "n_samples": n,
            "n_drawn": parts.n_drawn,
            "n_dropped": int(sum(parts.n_dropped_by_task.values())),
            "n_dropped_by_task": {str(t): c for t, c in sorted(parts.n_dropped_by_task.items())},
            "n_isolated": parts.n_isolated,
            "n_tasks_in_samples": int(len(true_sizes)),
            "grad_dim": int(sum(b.numel for b in select_gradient_blocks(model, cfg.params,
                                                                        include_bias=cfg.include_bias))),
            "precondition": cfg.precondition,
            "params": list(cfg.params) if cfg.params else None,
            "cluster_count_rule": parts.count_rule,
            **{k: v for k, v in head.items() if not k.startswith("zipf_exponent")},
            "zipf_exponent": fit.exponent_corrected if fit else None,
            "zipf_exponent_ci": list(fit.exponent_ci) if fit else None,
            "zipf_exponent_raw": fit.exponent if fit else None,
            "zipf_bias": fit.bias if fit else None,
            "zipf_exponent_envelope": parts.envelope.exponent if parts.envelope else None,
            "envelope_rank_range": [parts.envelope.x_min, parts.envelope.x_max] if parts.envelope else None,
            "zipf_exponent_ranks": f"1\u2013{k_head} (the parts at k={k_head})",
            "zipf_exponent_envelope_ranks": (f"{parts.envelope.x_min}\u2013{parts.envelope.x_max}" if parts.envelope
                                             else None),
            "zipf_method": f"MLE of cluster sizes at k={k_head}, bias-corrected by its parametric bootstrap",
            "ari": score["ari"],
            "purity": score["purity"],
            "inverse_purity": score["inverse_purity"],
            "eigengap_n_clusters": int(k_eig),
            "ari_eigengap": score_eig["ari"],
            "n_clusters_oracle": k_oracle,
            "ari_oracle": score_oracle["ari"] if score_oracle else None,
            "ari_null": ari_null,
            "zipf_true": alpha + 1.0,
            "zipf_exponent_tasks": fit_tasks.exponent_corrected,
            "zipf_exponent_tasks_ci": list(fit_tasks.exponent_ci),
            "zipf_error": (fit.exponent_corrected - (alpha + 1.0)) if fit else None,
            "timings_s": {k: round(v, 3) for k, v in run.manifest.get("timings_s", {}).items()},
        }
        return run.finish(summary)
