"""QDG on a trained sparse parity model, scored against the planted tasks.

The planted quanta of multitask sparse parity are its tasks. QDG is run on per-sample gradients of one model of
a ``quanta parity run`` (default: the widest), on test inputs drawn from the task distribution that the model gets
right, restricted to the tasks it has learned (final test loss below 0.1 bits). Inputs drawn from the Zipf task
distribution make the true cluster sizes follow the Zipf law with exponent α+1, so the sizes of the recovered
clusters can be fitted and compared with it.

Scores (``summary.json``): ``ari`` (adjusted Rand index of the clusters against the task ids), ``purity`` (share
of samples whose cluster's majority task is their own task), ``zipf_exponent`` and ``zipf_exponent_ci`` (MLE of the
recovered cluster sizes, :func:`quanta.fit.fit_zipf_from_sizes`), ``zipf_true`` (α+1) and
``zipf_exponent_tasks`` (the same fit on the true task sizes of the same samples: what a perfect clustering would
give, so sampling noise and clustering error can be told apart).

The cluster count is, by default, the number of learned tasks (``n_clusters="learned"``); ``"eigengap"`` picks it
from the spectrum (:func:`quanta.qdg.cluster.eigengap_count`) and an integer fixes it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from quanta.errors import QuantaError

log = logging.getLogger(__name__)

__all__ = ["ParityQDGConfig", "score_clusters", "learned_tasks", "default_model_id", "sample_correct",
           "run_qdg_parity"]

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
        Correctly predicted test samples of learned tasks that are clustered.
    learned_bits : float, default 0.1
        A task is learned when the model's final test loss on it is below this many bits (the paper's criterion).
    tasks : str, default "learned"
        ``learned``: only samples of learned tasks; ``all``: correct samples of every task (unlearned tasks are
        then right by chance, and scores are still computed over learned-task samples).
    n_clusters : int or str, default "learned"
        ``"learned"`` (the number of learned tasks), ``"eigengap"``, or a count.
    counts : tuple of int, optional
        Counts of the sweep (for the envelope); default a geometric grid up to twice the learned tasks.
    project : int, optional
        CountSketch dimension; None (default) keeps exact gradients (the MLPs are small).
    include_bias : bool, default False
    params : tuple of str, optional
        Glob patterns of the parameters whose gradients are clustered (:func:`quanta.qdg.grads.select_gradient_blocks`);
        default every linear weight. ``("layers.0.bias",)`` clusters the per-unit backprop signal δ of the hidden
        layer (the bias gradient is δ itself; the weight gradient is δ ⊗ x).
    n_neighbors : int, optional
        Cluster a symmetric kNN graph with this many neighbours; None (default) uses the dense affinity.
    similarity : str, default "abs_cosine"
        ``angular`` (the paper's affinity), ``abs_angular`` or ``abs_cosine`` (|cos|). The loss gradient of a
        parity sample flips sign with its label, so with ``angular`` the two labels of one task repel each other,
        and the angular form's offset of 1/2 for orthogonal gradients hides the task blocks; see docs/qdg.md.
    affinity_power : int, default 4
        The affinity raised to this power (|cos|^4, the cosine of the 4-fold tensor powers of the gradients). With
        Zipf-sized tasks, the many small affinities between tasks outweigh a small task's few large ones inside it
        at power 1; on the cpu-small models (3 training seeds × 3 sample seeds) power 4 raised the ARI from
        0.41–0.67 to 0.79–0.95 (docs/qdg.md).
    precondition : str, default "none"
        ``none``: raw gradients; ``diag``: every gradient coordinate divided by its RMS over the clustered samples
        (the diagonal empirical Fisher; :func:`quanta.qdg.grads.sample_gradients`). ``diag`` standardises the
        control-bit columns of the first layer, which hold the one-hot task code of the input, so it recovers the
        tasks from an *untrained* network (null-control ARI 1.0 at power >= 2, 0.25–0.30 at power 1): it reads
        the input, not the mechanism, and is no longer the default (docs/qdg.md).
    null_control : bool, default True
        Also run the same pipeline on the same samples with the model's initial weights (same width, depth and
        init seed as the run) and report its ARI as ``ari_null``: an ARI well above 0 there means the gradients
        carry the task through the input, not through what the network learned.
    n_boot : int, default 200
    seed : int, default 0
    """

    run_dir: str
    model_id: int | None = None
    n_samples: int = 2000
    learned_bits: float = 0.1
    tasks: str = "learned"
    n_clusters: int | str = "learned"
    counts: tuple | None = None
    project: int | None = None
    include_bias: bool = False
    params: tuple | None = None
    n_neighbors: int | None = None
    similarity: str = "abs_cosine"
    affinity_power: int = 4
    precondition: str = "none"
    null_control: bool = True
    n_boot: int = 200
    seed: int = 0

    def __post_init__(self):
        from quanta.qdg.cluster import _check_power, _check_similarity
        from quanta.qdg.grads import check_precondition

        _check_similarity(self.similarity)
        _check_power(self.affinity_power)
        check_precondition(self.precondition)
        if self.params is not None:
            params = (self.params,) if isinstance(self.params, str) else tuple(self.params)
            if not params or not all(isinstance(v, str) and v for v in params):
                raise QuantaError(f"params: must be non-empty glob patterns, got {self.params!r}",
                                  "e.g. --params 'layers.0.bias' (the hidden units' backprop signal)")
            object.__setattr__(self, "params", params)
        if not isinstance(self.null_control, bool):
            raise QuantaError(f"null_control: must be True or False, got {self.null_control!r}",
                              "--null-control / --no-null-control")
        if self.n_neighbors is not None and (isinstance(self.n_neighbors, bool) or not isinstance(self.n_neighbors, int)
                                             or self.n_neighbors < 1):
            raise QuantaError(f"n_neighbors: must be an integer >= 1 or None, got {self.n_neighbors!r}",
                              "e.g. --n-neighbors 20, or leave it unset for the dense affinity")
        if self.model_id is not None and (isinstance(self.model_id, bool) or not isinstance(self.model_id, int)
                                          or self.model_id < 0):
            raise QuantaError(f"model_id: must be a model id >= 0, got {self.model_id!r}",
                              "see the run's models.parquet")
        if isinstance(self.n_samples, bool) or not isinstance(self.n_samples, int) or self.n_samples < 20:
            raise QuantaError(f"n_samples: must be an integer >= 20, got {self.n_samples!r}", "e.g. --n-samples 2000")
        if not (isinstance(self.learned_bits, (int, float)) and self.learned_bits > 0):
            raise QuantaError(f"learned_bits: must be > 0, got {self.learned_bits!r}", "the paper uses 0.1 bits")
        if self.tasks not in ("learned", "all"):
            raise QuantaError(f"tasks: must be learned or all, got {self.tasks!r}", "pick one of those")
        k = self.n_clusters
        if isinstance(k, str) and k.isdigit():
            object.__setattr__(self, "n_clusters", int(k))
        elif not (k in ("learned", "eigengap") or (isinstance(k, int) and not isinstance(k, bool) and k >= 2)):
            raise QuantaError(f"n_clusters: must be learned, eigengap or an integer >= 2, got {k!r}",
                              "e.g. --n-clusters learned")
        if self.project is not None and (not isinstance(self.project, int) or self.project < 0):
            raise QuantaError(f"project: must be an integer >= 0 or None, got {self.project!r}",
                              "0 or unset keeps exact gradients")
        if self.counts is not None:
            counts = tuple(self.counts)
            if not counts or any(isinstance(c, bool) or not isinstance(c, int) or c < 2 for c in counts):
                raise QuantaError(f"counts: must be integers >= 2, got {self.counts!r}", "e.g. --counts 5,10,20")
            object.__setattr__(self, "counts", counts)


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
        raise QuantaError(f"eval.parquet has no rows for model {model_id}", "check --model-id")
    last = ev[ev["step"] == ev["step"].max()]
    return np.sort(last.loc[last["loss"] < learned_bits * LN2, "task"].to_numpy(np.int64))


def sample_correct(model, tasks, n_samples: int, *, keep_tasks=None, seed: int = 0, device="cpu",
                   max_draws: int = 200):
    """Draw test inputs from the task distribution; keep those the model predicts right (and of ``keep_tasks``).

    Parameters
    ----------
    model : nn.Module
        Maps (B, n_tasks + n) inputs to (B, 2) logits.
    tasks : quanta.parity.data.ParityTasks
    n_samples : int
    keep_tasks : array of int, optional
        Keep only samples of these tasks (None: all tasks).
    seed : int
    max_draws : int
        Batches drawn at most before giving up.

    Returns
    -------
    x (n, n_tasks + n) float32, y (n,) int64, task (n,) int64, in draw order.
    """
    import torch

    g = torch.Generator(device=tasks.device).manual_seed(seed)
    keep = None if keep_tasks is None else torch.as_tensor(np.asarray(keep_tasks, dtype=np.int64),
                                                          device=tasks.device)
    xs, ys, ts, have = [], [], [], 0
    batch = max(4 * n_samples, 1024)
    for _ in range(max_draws):
        x, y, t = tasks.sample(batch, generator=g)
        with torch.no_grad():
            ok = model(x.to(device)).argmax(-1).cpu() == y.cpu()
        if keep is not None:
            ok &= torch.isin(t, keep).cpu()
        ok = ok.to(x.device)
        xs.append(x[ok])
        ys.append(y[ok])
        ts.append(t[ok])
        have += int(ok.sum())
        if have >= n_samples:
            break
    if have < n_samples:
        raise QuantaError(f"only {have} correctly predicted samples of the kept tasks in {max_draws} batches",
                          "lower --n-samples, or pick a model that has learned more tasks")
    return torch.cat(xs)[:n_samples], torch.cat(ys)[:n_samples], torch.cat(ts)[:n_samples]


def _has_direction(G):
    """Rows of ``G`` that can be clustered: finite and not all zero (a confidently right sample's gradient can
    underflow to exactly zero and then has no direction). A boolean CPU tensor."""
    norms = G.norm(dim=1)
    return (norms.isfinite() & (norms > 0)).cpu()


def _graph_args(cfg: "ParityQDGConfig", n: int) -> dict:
    """``dense_max`` and ``n_neighbors`` of the affinity graph of ``n`` samples: dense unless ``cfg.n_neighbors``."""
    return {"dense_max": n if cfg.n_neighbors is None else 0, "n_neighbors": min(n - 1, cfg.n_neighbors or 30)}


def _null_control_ari(model, row, gradients, n_clusters, on_learned, task, cfg, device):
    """ARI of the same pipeline on the same samples, with the model's initial weights instead of its trained ones.

    The initial weights are those the run started from (:func:`quanta.parity.ensemble.init_member` with the
    model's width, depth and init seed). Samples whose gradient is zero there are left out of the score.
    """
    import torch

    from quanta.parity.ensemble import ParityMLP, init_member
    from quanta.qdg import cluster as C

    net = ParityMLP(model.n_in, model.width, model.depth)
    net.load_state_dict(init_member(model.n_in, model.width, model.depth, int(row["seed"])))
    G0, _ = gradients(net)
    ok = _has_direction(G0).numpy()
    if ok.sum() <= n_clusters + 1:
        return None
    A0 = C.affinity_graph(G0[torch.as_tensor(ok)], similarity=cfg.similarity, power=cfg.affinity_power,
                          device=device, **_graph_args(cfg, int(ok.sum())))
    emb, _ = C.spectral_embedding(A0, n_clusters, seed=cfg.seed, device=device)
    labels = C.cluster_qr(emb)
    keep = on_learned[ok]
    return score_clusters(labels[keep], task[ok][keep])["ari"]


def run_qdg_parity(cfg: ParityQDGConfig, out, *, device=None, force: bool = False, argv=None) -> dict:
    """QDG on one model of a parity run, scored against the true tasks. Returns the summary.

    Writes ``samples.parquet`` (token, task, y, loss), ``clusters``/``sizes``/``envelope``/``eigenvalues`` tables,
    ``scores.parquet`` (n_clusters, ari, purity, inverse_purity for every count of the sweep), ``contexts.parquet``
    (the most central samples of each cluster at the chosen count, for the report), figures and ``summary.json``.
    """
    import torch

    from quanta.fit import fit_zipf_from_sizes
    from quanta.parity import ParityTasks, load_member
    from quanta.qdg.pipeline import analyze_gradients
    from quanta.qdg.cluster import cluster_qr, default_counts, eigengap_count, member_centrality
    from quanta.qdg.grads import select_gradient_blocks, sample_gradients
    from quanta.store import Run
    from quanta.utils import device_description, resolve_device, seed_everything

    dev = resolve_device(device)
    src = Run.open(cfg.run_dir, command="parity run")
    models = src.read_table("models")
    model_id = default_model_id(models) if cfg.model_id is None else cfg.model_id
    if model_id not in set(models["model"].tolist()):
        raise QuantaError(f"--model-id {model_id} is not in {cfg.run_dir}/models.parquet "
                          f"(ids {int(models['model'].min())}..{int(models['model'].max())})",
                          "pick a model id from models.parquet")
    row = models[models["model"] == model_id].iloc[0]
    alpha = float(row["alpha"])
    learned = learned_tasks(src.read_table("eval"), model_id, learned_bits=cfg.learned_bits)
    if len(learned) < 2:
        raise QuantaError(f"model {model_id} has learned {len(learned)} task(s) (loss < {cfg.learned_bits} bits); "
                          "QDG needs at least 2", "pick a wider or longer-trained model with --model-id")
    seed_everything(cfg.seed)
    run = Run.create(out, command="qdg parity", config=asdict(cfg), seed=cfg.seed, device=device_description(dev),
                     force=force, argv=argv)
    with run:
        model = load_member(cfg.run_dir, model_id, device=dev)
        tasks = ParityTasks.from_config(src.config, alpha=alpha, device="cpu")
        with run.timer("sample"):
            x, y, task = sample_correct(model, tasks, cfg.n_samples,
                                        keep_tasks=learned if cfg.tasks == "learned" else None,
                                        seed=cfg.seed, device=dev)
        blocks = select_gradient_blocks(model, cfg.params, include_bias=cfg.include_bias)
        D = sum(b.numel for b in blocks)
        project = cfg.project if cfg.project and cfg.project < D else None

        def gradients(net):
            return sample_gradients(net, x, y, params=cfg.params, include_bias=cfg.include_bias, project=project,
                                    seed=cfg.seed, device=dev, return_losses=True, precondition=cfg.precondition)

        with run.timer("gradients"):
            G, losses = gradients(model)
        # a confidently right sample can have a loss (and so a gradient) that underflows to exactly zero: it has
        # no direction, so it cannot be clustered; leave it out and say how many
        has_dir = _has_direction(G)
        n_zero_grad = int((~has_dir).sum())
        if n_zero_grad:
            keep_rows = has_dir.nonzero().squeeze(1)
            G, x, y, task = G[keep_rows.to(G.device)], x[keep_rows], y[keep_rows], task[keep_rows]
            losses = np.asarray(losses)[keep_rows.numpy()]
        task_np = task.numpy()
        n = len(task_np)
        n_learned = int(len(learned))
        if isinstance(cfg.n_clusters, int):
            k_head = cfg.n_clusters
        else:
            k_head = n_learned
        counts = list(cfg.counts) if cfg.counts is not None else default_counts(
            n, k_min=max(2, n_learned // 4), k_max=min(n - 1, max(2 * n_learned, n_learned + 2)), n_counts=10)
        prebuilt = {}
        if cfg.n_clusters == "eigengap":
            # the count comes from the spectrum, so build the graph and its embedding once, here, and hand both on
            from quanta.qdg import cluster as C

            with run.timer("similarity"):
                A0 = C.affinity_graph(G, similarity=cfg.similarity, device=dev, power=cfg.affinity_power,
                                      **_graph_args(cfg, n))
            with run.timer("spectral"):
                emb = C.spectral_embedding(A0, min(n - 1, max(counts) + 1), seed=cfg.seed, device=dev)
            k_head = eigengap_count(emb[1], k_max=max(counts))
            prebuilt = {"affinity": A0, "embedding": emb}
        counts = sorted(set(counts) | {k_head})
        run.write_table("samples", pd.DataFrame({"token": np.arange(n, dtype=np.int64), "task": task_np,
                                                 "y": y.numpy(), "loss": losses.astype(np.float32),
                                                 "learned": np.isin(task_np, learned)}))
        sweep, A, head = analyze_gradients(run, G, counts=counts, n_clusters=k_head, n_boot=cfg.n_boot,
                                           similarity=cfg.similarity, affinity_power=cfg.affinity_power,
                                           seed=cfg.seed, device=dev, title=f"parity model {model_id}: ",
                                           **_graph_args(cfg, n), **prebuilt)
        on_learned = np.isin(task_np, learned)
        scores = pd.DataFrame([{"n_clusters": k, **score_clusters(lab[on_learned], task_np[on_learned])}
                               for k, lab in sorted(sweep.labels.items())])
        run.write_table("scores", scores)
        labels = sweep.labels[k_head]
        score = score_clusters(labels[on_learned], task_np[on_learned])
        score_all = score_clusters(labels, task_np)
        k_eig = int(head["eigengap_n_clusters"])
        score_eig = score_clusters(cluster_qr(sweep.embedding[:, :k_eig])[on_learned], task_np[on_learned])
        ari_null = None
        if cfg.null_control:
            with run.timer("null_control"):
                ari_null = _null_control_ari(model, row, gradients, k_head, on_learned, task_np, cfg, dev)
        true_sizes = np.bincount(task_np[on_learned])
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
        bits = x[:, tasks.n_tasks:].numpy().astype(np.int8)
        run.write_table("contexts", pd.DataFrame({
            "n_clusters": np.int32(k_head), "cluster": labels[keep].astype(np.int32),
            "member_rank": rank_in[keep].astype(np.int32), "token_index": keep.astype(np.int64),
            "task": task_np[keep],
            "context_before": [f"task {task_np[i]} | bits {''.join(map(str, bits[i]))} | label " for i in keep],
            "token": [str(int(y[i])) for i in keep], "context_after": ["" for _ in keep]}))
        fm = head
        summary = {
            "run_dir": str(cfg.run_dir),
            "model_id": model_id,
            "width": int(row["width"]),
            "alpha": alpha,
            "n_tasks": int(tasks.n_tasks),
            "n_learned": n_learned,
            "n_zero_gradient": n_zero_grad,
            "n_samples": n,
            "grad_dim": int(D),
            "project": project,
            "precondition": cfg.precondition,
            "params": list(cfg.params) if cfg.params else None,
            "cluster_count_rule": cfg.n_clusters if isinstance(cfg.n_clusters, str) else "fixed",
            **{k: v for k, v in fm.items()},
            "ari": score["ari"],
            "purity": score["purity"],
            "inverse_purity": score["inverse_purity"],
            "ari_all_samples": score_all["ari"],
            "ari_eigengap": score_eig["ari"],
            "purity_eigengap": score_eig["purity"],
            "ari_null": ari_null,
            "zipf_true": alpha + 1.0,
            "zipf_exponent_tasks": fit_tasks.exponent,
            "zipf_exponent_tasks_ci": list(fit_tasks.exponent_ci),
            "zipf_error": (fm["zipf_exponent"] - (alpha + 1.0)) if fm.get("zipf_exponent") is not None else None,
            "timings_s": {k: round(v, 3) for k, v in run.manifest.get("timings_s", {}).items()},
        }
        return run.finish(summary)
