"""Similarity of gradients, spectral clustering over a sweep of cluster counts, and cluster-size statistics.

Pipeline (docs/science.md §4, steps 5–7)::

    G (n, D) --L2 normalise--> cosines C = G·Gᵀ --> angular affinity Â = 1 - arccos(C)/π
        dense (n <= dense_max) or a symmetric k-nearest-neighbour graph (sparse)
    --> the leading K eigenvectors of the normalised graph Laplacian, computed once
    --> labels for every cluster count k <= K from the first k eigenvectors (cluster_qr, or k-means)
    --> cluster sizes --> rank-frequency envelope and a Zipf MLE (quanta.fit)

The spectral embedding is the one scikit-learn's ``SpectralClustering(affinity="precomputed")`` uses
(eigenvectors of ``D^-1/2 A D^-1/2`` divided by ``sqrt(degree)``, diagonal of A ignored), so the labels for a count
k agree with it; the difference is that the eigenvectors are computed once for the whole sweep.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
import torch

from quanta.errors import QuantaError

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
]


def normalize_rows(G) -> torch.Tensor:
    """Rows of ``G`` (n, D) scaled to unit L2 norm, float32 (zero rows stay zero).

    Each row is first divided by its largest absolute entry, so that a row of tiny entries (1e-23, whose squares
    underflow float32) keeps its direction instead of becoming 0 or NaN.
    """
    G = torch.as_tensor(G, dtype=torch.float32)
    tiny = torch.finfo(torch.float32).tiny
    G = G / G.abs().amax(dim=1, keepdim=True).clamp_min(tiny)
    norms = G.norm(dim=1, keepdim=True)
    return G / norms.clamp_min(tiny)


def cosine_matrix(G, *, device=None, block: int = 4096) -> np.ndarray:
    """Dense cosine similarities of the rows of ``G`` (n, D): an (n, n) float32 array, computed in row blocks."""
    X = normalize_rows(G)
    dev = torch.device(device or "cpu")
    n = X.shape[0]
    out = np.empty((n, n), dtype=np.float32)
    Xd = X.to(dev)
    for s in range(0, n, block):
        out[s:s + block] = (Xd[s:s + block] @ Xd.T).clamp_(-1.0, 1.0).cpu().numpy()
    return out


SIMILARITIES = ("angular", "abs_angular", "abs_cosine")


def _check_similarity(similarity: str) -> None:
    if similarity not in SIMILARITIES:
        raise QuantaError(f"similarity: must be one of {', '.join(SIMILARITIES)}, got {similarity!r}",
                          "angular is the paper's; abs_angular and abs_cosine ignore the sign of the cosine")


def _check_power(power) -> None:
    if isinstance(power, bool) or not isinstance(power, int) or power < 1:
        raise QuantaError(f"affinity power: must be an integer >= 1, got {power!r}",
                          "1 keeps the affinity; e.g. 4 sharpens |cos| to |cos|^4 (see docs/qdg.md)")


def _raise(A, power: int):
    """``A`` (dense or sparse) raised elementwise to ``power`` (A itself for 1)."""
    if power == 1:
        return A
    if scipy.sparse.issparse(A):
        A = A.tocsr(copy=True)
        A.data = (A.data.astype(np.float64) ** power).astype(A.dtype)
        return A
    return (np.asarray(A, dtype=np.float64) ** power).astype(np.float32)


def angular_affinity(C, *, similarity: str = "angular", power: int = 1):
    """The affinity of cosines ``C``: by default the angular one, ``1 - arccos(C)/π`` in [0, 1] (the paper's Ĉ).

    ``similarity="abs_angular"`` uses ``|C|`` in it (range [1/2, 1]): anti-parallel gradients count as similar.
    ``similarity="abs_cosine"`` is ``|C|`` itself (range [0, 1]): sign-invariant and without the angular form's
    offset (orthogonal gradients get 0, not 1/2). The sign matters when one quantum's samples come with gradients of
    both signs, as the two labels of a parity task do (the loss gradient with respect to the logits flips sign with
    the label); the offset matters because with every pair at 1/2 or more, the normalised cut prefers splitting a
    big cluster to separating small ones (see docs/qdg.md). Works on dense arrays and on sparse matrix data.

    ``power`` raises the affinity elementwise to an integer power (default 1: unchanged). For ``abs_cosine`` and an
    even power p, ``|cos|^p = cos^p`` is the cosine of the p-fold tensor powers ``g⊗…⊗g`` (for p = 2, of the
    per-example Fisher matrices ``g gᵀ``), so the affinity stays a positive semi-definite kernel. A power shrinks
    the many small affinities between unrelated examples much more than the large ones within a group: with n
    examples, a pair affinity c_b between groups and c_w within, a group of m members keeps more weight inside
    than outside only when ``m c_w^p > (n - m) c_b^p``; with Zipf-sized groups the small ones fail this at p = 1
    (docs/qdg.md).
    """
    _check_similarity(similarity)
    _check_power(power)
    if similarity == "abs_cosine":
        if scipy.sparse.issparse(C):
            C = C.tocsr(copy=True)
            C.data = np.abs(C.data).astype(C.dtype)
            return _raise(C, power)
        return _raise(np.abs(C).astype(np.float32), power)
    f = np.abs if similarity == "abs_angular" else (lambda v: v)
    if scipy.sparse.issparse(C):
        C = C.tocsr(copy=True)
        C.data = (1.0 - np.arccos(np.clip(f(C.data), -1.0, 1.0)) / np.pi).astype(C.dtype)
        return _raise(C, power)
    return _raise((1.0 - np.arccos(np.clip(f(C), -1.0, 1.0)) / np.pi).astype(np.float32), power)


def knn_affinity(G, n_neighbors: int = 30, *, similarity: str = "angular", device=None,
                 block: int = 2048, power: int = 1) -> scipy.sparse.csr_matrix:
    """A symmetric k-nearest-neighbour graph of the rows of ``G`` with angular-affinity weights.

    Exact neighbours by cosine (by ``|cos|`` for ``similarity="abs_angular"``; blocked matrix products,
    ``torch.topk``); the graph is symmetrised with ``max(A, Aᵀ)``. No self loops. ``power`` raises the weights as in
    :func:`angular_affinity` (it does not change which neighbours are kept).

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n, n), float32.
    """
    _check_similarity(similarity)
    _check_power(power)
    X = normalize_rows(G)
    n = X.shape[0]
    if not 1 <= n_neighbors < n:
        raise QuantaError(f"n_neighbors: must be in 1..{n - 1} for {n} points, got {n_neighbors}",
                          "lower n_neighbors=... or select more tokens")
    dev = torch.device(device or "cpu")
    Xd = X.to(dev)
    rows, cols, vals = [], [], []
    for s in range(0, n, block):
        S = Xd[s:s + block] @ Xd.T  # (b, n)
        if similarity != "angular":
            S = S.abs()
        idx = torch.arange(s, min(n, s + block), device=dev)
        S[torch.arange(len(idx), device=dev), idx] = -2.0  # exclude self
        v, j = torch.topk(S, n_neighbors, dim=1)
        rows.append(idx[:, None].expand_as(j).reshape(-1).cpu().numpy())
        cols.append(j.reshape(-1).cpu().numpy())
        vals.append(v.reshape(-1).clamp(-1, 1).cpu().numpy())
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    a = v.astype(np.float32) if similarity == "abs_cosine" else \
        (1.0 - np.arccos(v.astype(np.float64)) / np.pi).astype(np.float32)
    A = scipy.sparse.csr_matrix((a, (r, c)), shape=(n, n))
    return _raise(A.maximum(A.T).tocsr(), power)


def affinity_graph(G, *, dense_max: int = 20000, n_neighbors: int = 30, similarity: str = "angular", device=None,
                   power: int = 1):
    """The angular affinity of the rows of ``G`` (to ``power``): dense when ``n <= dense_max``, else a kNN graph."""
    n = len(G)
    if n <= dense_max:
        return angular_affinity(cosine_matrix(G, device=device), similarity=similarity, power=power)
    return knn_affinity(G, n_neighbors=n_neighbors, similarity=similarity, device=device, power=power)


def _sign_flip(vecs: np.ndarray) -> np.ndarray:
    """Make the entry of largest magnitude of every column positive (deterministic signs)."""
    i = np.abs(vecs).argmax(axis=0)
    s = np.sign(vecs[i, np.arange(vecs.shape[1])])
    s[s == 0] = 1
    return vecs * s


def chebyshev_top_eigs(M, k: int, *, seed: int = 0, device=None, degree: int = 16, tol: float = 1e-6,
                       max_iter: int = 300, block: int | None = None):
    """The ``k`` largest eigenpairs of a symmetric matrix ``M`` whose spectrum lies in [-1, 1].

    Chebyshev-filtered subspace iteration (Zhou & Saad 2007): a block of ``block`` vectors (default
    ``max(k + 10, 1.2 k + 5)``) is multiplied by the degree-``degree`` Chebyshev polynomial that is bounded by 1 on
    ``[-1, a]`` and grows fast above it, with ``a`` the smallest Ritz value of the block, then orthonormalised
    (QR) and rotated onto the Ritz vectors (Rayleigh-Ritz). It stops when every one of the ``k`` residuals
    ``|M x - θ x|`` is below ``tol``. Only products of ``M`` with a block and dense block algebra are needed, so it
    runs on a GPU (``device``) as well as on the CPU, in float64.

    Parameters
    ----------
    M : scipy sparse matrix or ndarray (n, n)
    k : int
    seed : int
        Seeds the start block.

    Returns
    -------
    eigenvalues : ndarray (k,), decreasing
    vectors : ndarray (n, k), orthonormal columns
    """
    n = M.shape[0]
    dev = torch.device(device or "cpu")
    b = int(block or max(k + 10, int(1.2 * k) + 5))
    b = min(b, n)
    if not 1 <= k <= b:
        raise QuantaError(f"chebyshev solver: need 1 <= k <= {b} for {n} points, got {k}",
                          "ask for fewer eigenvectors")
    if scipy.sparse.issparse(M):
        import warnings

        M = M.tocsr()
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            Mt = torch.sparse_csr_tensor(torch.as_tensor(M.indptr, dtype=torch.int64),
                                         torch.as_tensor(M.indices, dtype=torch.int64),
                                         torch.as_tensor(M.data, dtype=torch.float64), size=M.shape,
                                         check_invariants=False).to(dev)
    else:
        Mt = torch.as_tensor(np.asarray(M, dtype=np.float64)).to(dev)
    g = torch.Generator().manual_seed(int(seed))
    X, _ = torch.linalg.qr(torch.randn(n, b, generator=g, dtype=torch.float64).to(dev))
    lo = -1.0
    for it in range(max_iter):
        MX = Mt @ X
        H = X.T @ MX
        theta, W = torch.linalg.eigh((H + H.T) / 2)
        theta, W = theta.flip(0), W.flip(1)
        X, MX = X @ W, MX @ W
        resid = float((MX[:, :k] - X[:, :k] * theta[:k]).norm(dim=0).max())
        if resid < tol or it == max_iter - 1:
            break
        a = float(theta[-1])
        c, e = (a + lo) / 2, max((a - lo) / 2, 1e-6)
        # T_j((M - c) / e) X by the three-term recurrence; the filter grows by orders of magnitude above a, so
        # columns are renormalised (the span is all that matters) to stay in range
        Y0, Y1 = X, (Mt @ X - c * X) / e
        for _ in range(2, degree + 1):
            Y0, Y1 = Y1, 2 * (Mt @ Y1 - c * Y1) / e - Y0
            s = Y1.norm(dim=0).clamp_min(1e-300)
            Y0, Y1 = Y0 / s, Y1 / s
        X, _ = torch.linalg.qr(Y1)
    if resid >= tol:
        log.warning("chebyshev solver: largest residual %.1e after %d iterations (tol %.0e)", resid, max_iter, tol)
    return theta[:k].cpu().numpy(), X[:, :k].cpu().numpy()


SOLVERS = ("dense", "lanczos", "amg", "chebyshev")


def resolve_solver(solver: str, *, sparse: bool, n: int, device=None) -> str:
    """The eigensolver :func:`spectral_embedding` uses for ``solver`` (``"auto"`` resolved; see there)."""
    if solver == "auto":
        dev = torch.device(device or "cpu")
        if sparse:
            # a block method: a kNN graph of well-separated groups falls apart into components, so the eigenvalue
            # 0 of the Laplacian repeats, and single-vector Lanczos (ARPACK) finds only some of its copies
            return "chebyshev"
        return "dense" if (n <= 6000 or dev.type == "cuda") else "lanczos"
    _check_solver(solver)
    return solver


def _check_solver(solver) -> None:
    if solver != "auto" and solver not in SOLVERS:
        raise QuantaError(f"eigen_solver: must be auto or one of {', '.join(SOLVERS)}, got {solver!r}",
                          "e.g. eigen_solver=auto (Chebyshev for a kNN graph)")


def spectral_embedding(A, n_components: int, *, seed: int = 0, solver: str = "auto", device=None):
    """The leading ``n_components`` eigenvectors of the normalised Laplacian of the affinity ``A``.

    Parameters
    ----------
    A : (n, n) array or scipy sparse matrix
        Symmetric non-negative affinity; its diagonal is ignored.
    n_components : int
    seed : int, default 0
        Seeds the iterative solvers' start vectors.
    solver : {"auto", "dense", "lanczos", "amg", "chebyshev"}
        ``dense``: a full symmetric eigensolver (LAPACK, or ``torch.linalg.eigh`` when ``device`` is a GPU);
        ``lanczos``: ``scipy.sparse.linalg.eigsh`` for the largest eigenvalues of ``D^-1/2 A D^-1/2``;
        ``amg``: LOBPCG with an algebraic multigrid preconditioner (pyamg, through scikit-learn);
        ``chebyshev``: Chebyshev-filtered subspace iteration in torch (:func:`chebyshev_top_eigs`), on ``device``.
        ``auto``: ``dense`` for dense ``A`` up to 6000 points (any size on a GPU), ``lanczos`` for larger dense
        ``A``; ``chebyshev`` for sparse ``A``, on any device (on a 100k-point kNN graph, 300 eigenvectors, 2 CPU
        cores: chebyshev 763 s, amg unfinished after 19 min; lanczos took 340 s but, started from one vector,
        misses copies of a repeated eigenvalue, which a kNN graph with several components has; docs/qdg.md).
    device : optional
        A torch device for the dense and chebyshev solvers.

    Returns
    -------
    embedding : ndarray (n, n_components)
        Eigenvectors divided by sqrt(degree), columns in order of increasing Laplacian eigenvalue, signs fixed.
    eigenvalues : ndarray (n_components,)
        The Laplacian eigenvalues (``1 - λ`` of ``D^-1/2 A D^-1/2``), increasing.
    """
    sparse = scipy.sparse.issparse(A)
    n = A.shape[0]
    if not 1 <= n_components < n:
        raise QuantaError(f"n_components: must be in 1..{n - 1} for {n} points, got {n_components}",
                          "ask for fewer clusters or select more tokens")
    dev = torch.device(device or "cpu")
    solver = resolve_solver(solver, sparse=sparse, n=n, device=dev)
    if sparse:
        A = A.tocsr().astype(np.float64)
        A.setdiag(0)
        A.eliminate_zeros()
        deg = np.asarray(A.sum(axis=1)).ravel()
    else:
        A = np.array(A, dtype=np.float64, copy=True)
        np.fill_diagonal(A, 0.0)
        deg = A.sum(axis=1)
    if (deg <= 0).any():
        raise QuantaError(f"affinity: {int((deg <= 0).sum())} points have no neighbours (zero degree)",
                          "use a dense affinity or more neighbours")
    dd = np.sqrt(deg)
    if solver == "amg":
        from sklearn.manifold import spectral_embedding as _sk_embedding

        emb = _sk_embedding(A if sparse else scipy.sparse.csr_matrix(A), n_components=n_components,
                            eigen_solver="amg", random_state=seed, drop_first=False)
        # eigenvalues from Rayleigh quotients of the unscaled vectors
        U = emb * dd[:, None]
        U /= np.linalg.norm(U, axis=0, keepdims=True)
        MU = (A @ (U / dd[:, None])) / dd[:, None]
        lam = 1.0 - np.einsum("ij,ij->j", U, MU)
        order = np.argsort(lam, kind="stable")
        return _sign_flip(emb[:, order]), lam[order]
    if sparse:
        Dinv = scipy.sparse.diags(1.0 / dd)
        M = Dinv @ A @ Dinv
    else:
        M = A / dd[:, None] / dd[None, :]
    if solver == "chebyshev":
        w, V = chebyshev_top_eigs(M, n_components, seed=seed, device=dev)
    elif solver == "dense":
        if sparse:
            M = M.toarray()
        if dev.type == "cuda":
            w, V = torch.linalg.eigh(torch.as_tensor(M, device=dev))
            w, V = w[-n_components:].cpu().numpy(), V[:, -n_components:].cpu().numpy()
        else:
            w, V = scipy.linalg.eigh(M, subset_by_index=[n - n_components, n - 1])
    else:
        v0 = np.random.default_rng(seed).uniform(-1, 1, n)
        w, V = scipy.sparse.linalg.eigsh(M, k=n_components, which="LA", v0=v0, tol=1e-8)
    order = np.argsort(-w, kind="stable")
    w, V = w[order], V[:, order]
    return _sign_flip(V / dd[:, None]), 1.0 - w


def cluster_qr(vectors: np.ndarray) -> np.ndarray:
    """Labels from a spectral embedding by column-pivoted QR (Damle, Minden, Ying 2019); deterministic.

    Parameters
    ----------
    vectors : ndarray (n, k)
        The first k eigenvectors.

    Returns
    -------
    ndarray (n,) of int labels in 0..k-1.
    """
    k = vectors.shape[1]
    _, _, piv = scipy.linalg.qr(vectors.T, pivoting=True, mode="economic")
    u, _, vt = np.linalg.svd(vectors[piv[:k]].T)
    return np.abs(vectors @ (u @ vt)).argmax(axis=1)


def canonical_labels(labels) -> np.ndarray:
    """Relabel clusters 0, 1, ... by decreasing size (ties: the cluster whose first member comes first)."""
    labels = np.asarray(labels)
    uniq, first, counts = np.unique(labels, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))
    mapping = np.empty(len(uniq), dtype=np.int64)
    mapping[order] = np.arange(len(uniq))
    return mapping[np.searchsorted(uniq, labels)]


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
        emb, lam = spectral_embedding(A, counts[-1], seed=seed, solver=solver, device=device)
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


# ---------------------------------------------------------------------------------------------- sweep analysis
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


def plot_rank_frequency(sizes: dict, envelope, *, fit=None, fit_label: str = "", title: str = ""):
    """Cluster size against rank for every count (thin), the envelope (thick) and a fitted law (dashed)."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.2))
    ax = fig.subplots()
    cmap = colormaps["viridis"]
    ks = sorted(sizes)
    for i, k in enumerate(ks):
        s = np.asarray(sizes[k])
        ax.loglog(np.arange(1, len(s) + 1), s, color=cmap(i / max(1, len(ks) - 1)), lw=0.8, alpha=0.7,
                  label=f"k={k}" if len(ks) <= 8 or i in (0, len(ks) - 1) else None)
    env = np.asarray(envelope)
    ax.loglog(np.arange(1, len(env) + 1), env, color="k", lw=2, label="envelope")
    if fit is not None and np.isfinite(fit.exponent):
        r = np.arange(fit.x_min, (fit.x_max or len(env)) + 1)
        y = env[r - 1]
        ok = y > 0
        # the least-squares intercept of log size at the fitted slope, over the fitted ranks
        c = np.mean(np.log(y[ok]) + fit.exponent * np.log(r[ok]))
        ax.loglog(r, np.exp(c) * r ** (-fit.exponent), "r--", lw=1.5,
                  label=fit_label or f"slope -{fit.exponent:.2f}")
    ax.set_xlabel("rank")
    ax.set_ylabel("cluster size")
    ax.set_title(title or "Rank-frequency of cluster sizes")
    ax.legend(fontsize=7, loc="upper right")
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
