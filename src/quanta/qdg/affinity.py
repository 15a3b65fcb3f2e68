"""Similarity of gradients as a graph: L2-normalised rows, cosines ``C = G·Gᵀ`` and the angular affinity
``Â = 1 - arccos(C)/π`` (or ``|cos|``, raised to a power), dense for small n or a symmetric k-nearest-neighbour graph
(sparse) beyond ``dense_max`` (docs/science.md §4, step 5)."""

from __future__ import annotations

import numpy as np
import scipy.sparse
import torch

from quanta.errors import QuantaError


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
