"""The spectral embedding of an affinity graph and the labels it gives: the leading eigenvectors of the
normalised graph Laplacian by one of several eigensolvers, computed once, and labels for a count k from the first k
of them (``cluster_qr``), made canonical.

The embedding is the one scikit-learn's ``SpectralClustering(affinity="precomputed")`` uses (eigenvectors of
``D^-1/2 A D^-1/2`` divided by ``sqrt(degree)``, diagonal of A ignored), so the labels for a count k agree with it.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
import torch

from quanta.errors import QuantaError

log = logging.getLogger(__name__)


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
            from threadpoolctl import threadpool_limits

            # up to a few thousand points one BLAS thread: a threaded OpenBLAS beside torch's threads or other jobs
            # on a 2-core machine made this 28x slower (1500 points: 14.7 s against 0.53 s, 2026-12-02)
            with threadpool_limits(limits=1 if n <= 4000 else None, user_api="blas"):
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
    from threadpoolctl import threadpool_limits

    k = vectors.shape[1]
    # one BLAS thread: the matrices are small (k x n), and a threaded OpenBLAS beside torch's own threads on a
    # busy 2-core machine made this step about 100x slower (2026-12-02: 74 calls on 1500 points took 17 s threaded,
    # 0.15 s on one thread, while other jobs ran)
    with threadpool_limits(limits=1, user_api="blas"):
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
