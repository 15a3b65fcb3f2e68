"""Spectral clustering over a sweep of cluster counts, and cluster-size statistics.

Pipeline (docs/science.md §4, steps 5–7)::

    G (n, D) --L2 normalise--> cosines C = G·Gᵀ --> angular affinity Â = 1 - arccos(C)/π
        dense (n <= dense_max) or a symmetric k-nearest-neighbour graph (sparse)
    --> the leading K eigenvectors of the normalised graph Laplacian, computed once
    --> labels for every cluster count k <= K from the first k eigenvectors (cluster_qr, or k-means)
    --> cluster sizes --> rank-frequency envelope and a Zipf MLE (quanta.fit)

The spectral embedding is the one scikit-learn's ``SpectralClustering(affinity="precomputed")`` uses
(eigenvectors of ``D^-1/2 A D^-1/2`` divided by ``sqrt(degree)``, diagonal of A ignored), so the labels for a count
k agree with it; the difference is that the eigenvectors are computed once for the whole sweep.

This module holds the sweep, the count rules it serves, the size statistics and their figures. The graph is
:mod:`quanta.qdg.affinity` and the eigensolvers and labels are :mod:`quanta.qdg.spectral`; their names are
re-exported here (``quanta.qdg.cluster.affinity_graph`` is the one the pipelines call).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse

from quanta.errors import QuantaError
from quanta.qdg.affinity import (SIMILARITIES, _check_power, _check_similarity, affinity_graph,  # noqa: F401
                                 angular_affinity, cosine_matrix, knn_affinity, normalize_rows)
from quanta.qdg.spectral import (SOLVERS, _check_solver, canonical_labels, chebyshev_top_eigs,  # noqa: F401
                                 cluster_qr, resolve_solver, spectral_embedding)


log = logging.getLogger(__name__)


__all__ = [
    "normalize_rows",
    "cosine_matrix",
    "angular_affinity",
    "knn_affinity",
    "affinity_graph",
    "spectral_embedding",
    "cluster_qr",
    "canonical_labels",
    "SpectralSweep",
    "spectral_sweep",
    "eigengap_count",
    "cluster_sizes",
    "sort_by_cluster",
    "SIMILARITIES",
    "SOLVERS",
    "resolve_solver",
    "chebyshev_top_eigs",
]


@dataclass
class SpectralSweep:
    """Labels for every cluster count, from one spectral embedding.

    Attributes
    ----------
    labels : dict int -> ndarray (n,)
        Canonical labels (0 = largest cluster) for each count.
    embedding : ndarray (n, K)
    eigenvalues : ndarray (K,)
        Laplacian eigenvalues, increasing.
    """

    labels: dict = field(default_factory=dict)
    embedding: np.ndarray | None = None
    eigenvalues: np.ndarray | None = None

    def sizes(self) -> dict:
        """Cluster sizes, largest first, for each count."""
        return {k: cluster_sizes(v) for k, v in self.labels.items()}


def spectral_sweep(A, counts, *, assign: str = "cluster_qr", seed: int = 0, n_init: int = 10,
                   solver: str = "auto", device=None, embedding=None) -> SpectralSweep:
    """Spectral clustering of the affinity ``A`` for every count in ``counts``, sharing one eigendecomposition.

    Parameters
    ----------
    A : (n, n) array or sparse matrix
    counts : iterable of int
        Cluster counts, each in 2..n-1.
    assign : {"cluster_qr", "kmeans"}, default "cluster_qr"
        ``cluster_qr`` is deterministic and has no tuning; ``kmeans`` runs k-means (``n_init`` starts, ``seed``) on
        the rows of the first k eigenvectors, as scikit-learn's default does.
    seed, solver, device
        See :func:`spectral_embedding`.
    embedding : tuple (embedding, eigenvalues), optional
        Reuse a precomputed embedding with at least ``max(counts)`` columns.

    The decomposition computes ``max(counts) + 1`` eigenvectors where the graph has that many, so that the
    eigengap after the largest count is defined and :func:`eigengap_count` can choose it.

    Returns
    -------
    SpectralSweep
    """
    counts = sorted({int(k) for k in counts})
    n = A.shape[0]
    if not counts or counts[0] < 2 or counts[-1] >= n:
        raise QuantaError(f"cluster counts: each must be in 2..{n - 1} for {n} points, got {counts}",
                          "choose fewer clusters or select more tokens")
    if assign not in ("cluster_qr", "kmeans"):
        raise QuantaError(f"assign: must be cluster_qr or kmeans, got {assign!r}", "pick one of those")
    if embedding is None:
        emb, lam = spectral_embedding(A, min(counts[-1] + 1, n - 1), seed=seed, solver=solver, device=device)
    else:
        emb, lam = embedding
    out = SpectralSweep(embedding=emb, eigenvalues=lam)
    for k in counts:
        if assign == "cluster_qr":
            lab = cluster_qr(emb[:, :k])
        else:
            from sklearn.cluster import KMeans

            lab = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(emb[:, :k]).labels_
        out.labels[k] = canonical_labels(lab)
    return out


def eigengap_count(eigenvalues, *, k_min: int = 2, k_max: int | None = None) -> int:
    """The cluster count k in [k_min, k_max] after which the spectrum drops most, on a log scale.

    With ``μ = 1 - λ`` the eigenvalues of ``D^-1/2 A D^-1/2`` (largest first), k maximises ``μ_k / μ_{k+1}``
    (``μ`` clipped below at the magnitude of its most negative value, or 1e-9: eigenvalues below that level are
    numerical noise). A ratio rather than the plain gap ``λ_{k+1} - λ_k``: in a dense angular affinity
    every pair has affinity near 1/2, all ``μ_k`` beyond the first are small, and the plain gap is useless there,
    while the ratio finds the planted block count both there and in kNN graphs.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    k_max = len(lam) - 1 if k_max is None else min(k_max, len(lam) - 1)
    if k_max < k_min:
        raise QuantaError(f"eigengap: need at least {k_min + 1} eigenvalues, got {len(lam)}",
                          "compute more eigenvectors")
    ratio = log_eigengaps(lam)[k_min - 1:k_max]  # k = k_min..k_max
    return int(k_min + np.argmax(ratio))


def log_eigengaps(eigenvalues) -> np.ndarray:
    """``log μ_k - log μ_{k+1}`` for k = 1 .. len - 1 (entry k - 1), with ``μ = 1 - λ`` clipped below at the
    magnitude of its most negative value, or 1e-9 (eigenvalues below that level are numerical noise)."""
    mu = 1.0 - np.asarray(eigenvalues, dtype=np.float64)
    floor = max(1e-9, float(-mu.min()) if mu.min() < 0 else 0.0)
    mu = np.log(np.clip(mu, floor, None))
    return mu[:-1] - mu[1:]


def cluster_sizes(labels) -> np.ndarray:
    """Sizes of the clusters of ``labels``, largest first."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    return np.sort(counts)[::-1].copy()


def sort_by_cluster(labels) -> np.ndarray:
    """A permutation that groups points by cluster (canonical order: biggest cluster first), stable within."""
    return np.argsort(canonical_labels(labels), kind="stable")


def default_counts(n: int, *, k_min: int | None = None, k_max: int | None = None, n_counts: int = 12) -> list[int]:
    """A geometric sweep of cluster counts for ``n`` points.

    The paper swept 10..1500 for 10,000 tokens; the default scales that down for fewer tokens:
    ``k_min = min(10, n // 20)`` (at least 2), ``k_max = min(0.15 n, 1500)``, ``n_counts`` distinct integers in
    between. (Every count up to ``k_max`` needs its eigenvector: for 100k tokens pass fewer, e.g. up to 300.)
    """
    k_min = max(2, min(10, n // 20)) if k_min is None else int(k_min)
    k_max = max(k_min + 1, min(int(0.15 * n), 1500)) if k_max is None else int(k_max)
    k_max = min(k_max, n - 1)
    if k_min < 2 or k_max < k_min:
        raise QuantaError(f"cluster counts: need 2 <= k_min <= k_max < n = {n}, got {k_min}..{k_max}",
                          "select more tokens or lower the counts")
    return sorted({int(round(v)) for v in np.geomspace(k_min, k_max, n_counts)})


def member_centrality(A, labels) -> np.ndarray:
    """Mean affinity of each point to the other members of its cluster (dense or sparse ``A``), shape (n,)."""
    labels = np.asarray(labels)
    n = len(labels)
    onehot = scipy.sparse.csr_matrix((np.ones(n), (np.arange(n), labels)), shape=(n, labels.max() + 1))
    within = np.asarray((A @ onehot).multiply(onehot).sum(axis=1)).ravel() if scipy.sparse.issparse(A) else \
        np.asarray((np.asarray(A, dtype=np.float64) @ onehot.toarray()) * onehot.toarray()).sum(axis=1)
    diag = A.diagonal() if scipy.sparse.issparse(A) else np.diag(A)
    size = np.bincount(labels)[labels]
    return (within - diag) / np.maximum(size - 1, 1)


def plot_rank_frequency(sizes: dict, envelope=None, *, fit=None, fit_label: str = "", title: str = ""):
    """Cluster size against rank for every count (thin), the envelope (thick) and a fitted law (dashed).

    With one count and no ``envelope``, the one curve is drawn and named by its count (an envelope of one
    clustering is that clustering: drawn over it, it would hide it). More than 8 counts are keyed by a colourbar
    instead of legend entries. The fit's label names the ranks it was fitted over.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    cmap = colormaps["viridis"]
    ks = sorted(sizes)
    norm = Normalize(vmin=min(ks), vmax=max(max(ks), min(ks) + 1))
    for k in ks:
        s = np.asarray(sizes[k])
        ax.loglog(np.arange(1, len(s) + 1), s, color=cmap(norm(k)) if len(ks) > 1 else "C0",
                  lw=0.8 if envelope is not None else 1.5, alpha=0.7 if envelope is not None else 1.0,
                  marker=None if envelope is not None else "o", ms=3, label=f"k={k}" if len(ks) <= 8 else None)
    if len(ks) > 8:
        fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="cluster count k")
    env = np.asarray(sizes[ks[-1]] if envelope is None else envelope)
    if envelope is not None:
        ax.loglog(np.arange(1, len(env) + 1), env, color="k", lw=2, label="envelope")
    if fit is not None and np.isfinite(fit.exponent):
        r = np.arange(fit.x_min, (fit.x_max or len(env)) + 1)
        y = env[r - 1]
        ok = y > 0
        # the least-squares intercept of log size at the fitted slope, over the fitted ranks
        c = np.mean(np.log(y[ok]) + fit.exponent * np.log(r[ok]))
        ax.loglog(r, np.exp(c) * r ** (-fit.exponent), "r--", lw=1.5,
                  label=fit_label or f"slope -{fit.exponent:.2f} (ranks {r[0]}\u2013{r[-1]})")
    ax.set_xlabel("rank")
    ax.set_ylabel("cluster size")
    ax.set_title(title or "Rank-frequency of cluster sizes")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


AFFINITY_LABELS = {"angular": "1 - arccos(cos)/π", "abs_angular": "1 - arccos(|cos|)/π", "abs_cosine": "|cos|"}


def plot_sorted_similarity(A, labels, *, max_points: int = 2000, seed: int = 0, title: str = "",
                           similarity: str = "angular"):
    """The affinity matrix with points grouped by cluster (biggest first); subsampled to ``max_points``."""
    from matplotlib.figure import Figure

    labels = canonical_labels(labels)
    n = len(labels)
    idx = np.arange(n)
    if n > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    idx = idx[np.argsort(labels[idx], kind="stable")]
    sub = A[idx][:, idx]
    sub = sub.toarray() if scipy.sparse.issparse(sub) else np.asarray(sub)
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    off = sub[~np.eye(len(sub), dtype=bool)]
    lo, hi = (np.percentile(off, 1), np.percentile(off, 99.5)) if off.size else (0, 1)
    im = ax.imshow(sub, cmap="magma", vmin=lo, vmax=hi, interpolation="nearest")
    bounds = np.nonzero(np.diff(labels[idx]))[0] + 0.5
    if len(bounds) <= 60:
        for b in bounds:
            ax.axhline(b, color="w", lw=0.3)
            ax.axvline(b, color="w", lw=0.3)
    ax.set_title(title or f"Affinity sorted by cluster ({labels.max() + 1} clusters)")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, fraction=0.046, label=AFFINITY_LABELS.get(similarity, similarity))
    return fig


def sweep_tables(sweep: SpectralSweep):
    """Tidy tables of a sweep: ``clusters`` (token, n_clusters, cluster), ``sizes`` (n_clusters, rank, size),
    ``eigenvalues`` (index, eigenvalue)."""
    import pandas as pd

    n = len(next(iter(sweep.labels.values())))
    clusters = pd.concat([pd.DataFrame({"token": np.arange(n, dtype=np.int64), "n_clusters": np.int32(k),
                                        "cluster": lab.astype(np.int32)}) for k, lab in sweep.labels.items()],
                         ignore_index=True)
    sizes = pd.concat([pd.DataFrame({"n_clusters": np.int32(k), "rank": np.arange(1, len(s) + 1, dtype=np.int32),
                                     "size": s.astype(np.int64)}) for k, s in sweep.sizes().items()],
                      ignore_index=True)
    eig = pd.DataFrame({"index": np.arange(len(sweep.eigenvalues), dtype=np.int32),
                        "eigenvalue": np.asarray(sweep.eigenvalues, dtype=np.float64)})
    return clusters, sizes, eig


def zipf_fits(sweep: SpectralSweep, count: int, *, rank_range=None, n_boot: int = 200, seed: int = 0) -> dict:
    """The Zipf exponent of the cluster sizes, two ways, as summary fields.

    ``envelope_*``: the paper's method, the slope of the rank-frequency envelope over the sweep (``rank_range``).
    ``mle_*``: a maximum-likelihood Zipf fit (:func:`quanta.fit.fit_zipf_from_sizes`) of the sizes at ``count``.
    """
    from quanta.fit import fit_rank_frequency, fit_zipf_from_sizes, rank_frequency_envelope

    sizes = sweep.sizes()
    env = rank_frequency_envelope([sizes[k] for k in sorted(sizes)])
    out: dict = {"envelope": env}
    try:
        fe = fit_rank_frequency(env, rank_range=rank_range, n_boot=n_boot, seed=seed)
        out["envelope_fit"] = fe
    except QuantaError as exc:
        log.warning("envelope fit skipped: %s", exc)
        out["envelope_fit"] = None
    try:
        out["mle_fit"] = fit_zipf_from_sizes(sizes[count], n_boot=n_boot, seed=seed)
    except QuantaError as exc:
        log.warning("Zipf MLE skipped: %s", exc)
        out["mle_fit"] = None
    return out
