"""How many parts? Label-free rules for the cluster count (docs/qdg.md, "The cluster count").

A real model comes with no task ids and no true number of parts, so the count that the verdict uses must come
from the data alone. Two rules:

* ``eigengap`` (:func:`quanta.qdg.cluster.eigengap_count`): where the spectrum of the normalised affinity drops
  most, on a log scale;
* ``stability``: cluster ``n_subsamples`` random subsets of the points (each ``fraction`` of them) from their own
  spectral embeddings; the stability of a count k is the mean adjusted Rand index between the subsets'
  clusterings on the points they share. Real parts come back whatever the subset; splits of a real part, or
  merges of noise, do not. The rule takes the largest k whose stability is at least ``threshold``.
* ``stable_eigengap``: the eigengap among the counts that are stable (stability at least ``threshold``). Stability
  alone cannot tell a real part from a reproducible split of one (a task's two labels, say), and the eigengap
  alone is drawn to counts whose clusterings do not come back on other subsets.

The default of QDG parity, ``stability`` at 0.9 (with ``abs_cosine`` to the power 1), was chosen on parity
configurations that the validation never uses (docs/qdg.md names both sets, and ``benchmarks/qdg_tuning.py`` records
the evidence): of the rules that leave at least 5 parts in every tuning decomposition, it put the parts' exponent
closest to that of the true task sizes of the same samples.
"""

from __future__ import annotations

import numpy as np

from quanta.errors import QuantaError

__all__ = ["COUNT_RULES", "stability_curve", "stability_count", "choose_count", "STABILITY_THRESHOLD"]

COUNT_RULES = ("stable_eigengap", "stability", "eigengap")
#: the stability a count needs (mean pairwise ARI between subsample clusterings); chosen on the tuning set
STABILITY_THRESHOLD = 0.9


def _check_rule(rule) -> None:
    if rule not in COUNT_RULES and not (isinstance(rule, int) and not isinstance(rule, bool) and rule >= 2):
        raise QuantaError(f"n_clusters: must be one of {', '.join(COUNT_RULES)} or an integer >= 2, got {rule!r}",
                          "e.g. n_clusters='stability' (QDG parity's default)")


def stability_curve(A, counts, *, n_subsamples: int = 4, fraction: float = 0.8, seed: int = 0, device=None,
                    solver: str = "auto") -> dict:
    """Stability of each count in ``counts``: mean pairwise ARI of clusterings of random subsets of the points.

    Parameters
    ----------
    A : (n, n) array or scipy sparse matrix
        The affinity of all points; a subset's affinity is its submatrix (nothing is recomputed).
    counts : sequence of int
    n_subsamples : int, default 4
    fraction : float, default 0.8
    seed : int, default 0

    Returns
    -------
    dict int -> float
    """
    from sklearn.metrics import adjusted_rand_score

    from quanta.qdg.cluster import cluster_qr, spectral_embedding

    counts = sorted({int(k) for k in counts})
    n = A.shape[0]
    m = int(round(fraction * n))
    if n_subsamples < 2 or not 0 < fraction <= 1 or m <= max(counts) + 1:
        raise QuantaError(f"stability: {n_subsamples} subsets of {m} of {n} points cannot be clustered into up to "
                          f"{max(counts)} parts", "use more points, a larger fraction or fewer counts")
    rng = np.random.default_rng(seed)
    subsets, labels = [], []
    for b in range(n_subsamples):
        idx = np.sort(rng.choice(n, m, replace=False))
        sub = A[idx][:, idx]
        alone = _isolated(sub)
        if alone.any():  # points whose every neighbour fell outside the subset have no place in its graph
            idx = idx[~alone]
            sub = A[idx][:, idx]
        emb, _ = spectral_embedding(sub, max(counts) + 1, seed=(seed + b) % 2**32, device=device, solver=solver)
        subsets.append(idx)
        labels.append({k: cluster_qr(emb[:, :k]) for k in counts})
    out = {}
    for k in counts:
        scores = []
        for i in range(n_subsamples):
            for j in range(i + 1, n_subsamples):
                _, ia, ja = np.intersect1d(subsets[i], subsets[j], return_indices=True)
                scores.append(adjusted_rand_score(labels[i][k][ia], labels[j][k][ja]))
        out[k] = float(np.mean(scores))
    return out


def _isolated(A) -> np.ndarray:
    """Points whose affinity to every other point is zero (dense array or scipy sparse matrix)."""
    import scipy.sparse

    if scipy.sparse.issparse(A):
        deg = np.asarray(A.sum(axis=1)).ravel() - A.diagonal()
    else:
        A = np.asarray(A)
        deg = A.sum(axis=1) - np.diag(A)
    return deg <= 0


def stability_count(curve: dict, *, threshold: float = STABILITY_THRESHOLD) -> int:
    """The largest count whose stability is at least ``threshold`` (the smallest count when none is)."""
    ks = sorted(curve)
    good = [k for k in ks if curve[k] >= threshold]
    return int(max(good)) if good else int(ks[0])


def eigengap_ratios(eigenvalues, counts) -> dict:
    """``log μ_k - log μ_{k+1}`` for each k in ``counts`` (:func:`quanta.qdg.cluster.log_eigengaps`)."""
    from quanta.qdg.cluster import log_eigengaps

    gaps = log_eigengaps(eigenvalues)
    return {int(k): float(gaps[k - 1]) for k in counts if k <= len(gaps)}


def stable_eigengap_count(curve: dict, eigenvalues, *, threshold: float = STABILITY_THRESHOLD) -> int:
    """The count with the largest eigengap ratio among those whose stability is at least ``threshold``."""
    ratios = eigengap_ratios(eigenvalues, sorted(curve))
    good = [k for k in sorted(curve) if curve[k] >= threshold and k in ratios]
    if not good:
        return int(min(curve))
    return int(max(good, key=lambda k: ratios[k]))


def choose_count(rule, *, A=None, eigenvalues=None, counts=None, seed: int = 0, device=None,
                 threshold: float = STABILITY_THRESHOLD) -> tuple[int, dict]:
    """The cluster count by ``rule`` (``stability``, ``eigengap`` or a fixed integer), with the rule's evidence.

    Returns
    -------
    (k, info) : info holds ``stability`` (count -> stability) for that rule.
    """
    from quanta.qdg.cluster import eigengap_count

    _check_rule(rule)
    if isinstance(rule, int):
        return rule, {}
    counts = sorted(counts)
    if rule == "eigengap":  # among the swept counts (a sweep may skip some)
        ratios = eigengap_ratios(eigenvalues, counts)
        return (max(ratios, key=ratios.get) if ratios else eigengap_count(eigenvalues, k_min=min(counts),
                                                                           k_max=max(counts))), {}
    curve = stability_curve(A, counts, seed=seed, device=device)
    if rule == "stable_eigengap":
        return stable_eigengap_count(curve, eigenvalues, threshold=threshold), {"stability": curve}
    return stability_count(curve, threshold=threshold), {"stability": curve}
