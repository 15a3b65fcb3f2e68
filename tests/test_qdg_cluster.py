"""Similarity, spectral clustering over a sweep of counts, eigengap, sizes."""

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.csgraph
from sklearn.metrics import adjusted_rand_score

from quanta.errors import QuantaError
from quanta.qdg.cluster import (angular_affinity, canonical_labels, cluster_sizes, cosine_matrix, eigengap_count,
                                knn_affinity, sort_by_cluster, spectral_sweep)


def planted(sizes=(120, 80, 50, 30, 20), dim=300, noise=1.5, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(len(sizes), dim))
    X = np.concatenate([centers[i] + noise * rng.normal(size=(s, dim)) for i, s in enumerate(sizes)])
    perm = rng.permutation(len(X))
    return X[perm].astype(np.float32), np.repeat(np.arange(len(sizes)), sizes)[perm]


def test_cosines_and_angular_affinity():
    X, _ = planted()
    C = cosine_matrix(X, block=37)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(C, Xn @ Xn.T, atol=1e-5)
    A = angular_affinity(C)
    assert A.min() >= 0 and A.max() <= 1
    np.testing.assert_allclose(np.diag(A), 1.0, atol=2e-3)
    np.testing.assert_allclose(angular_affinity(np.array([0.0, -1.0])), [0.5, 0.0])


@pytest.mark.parametrize("graph", ["dense", "knn"])
def test_sweep_recovers_planted_blocks(graph):
    X, true = planted()
    A = angular_affinity(cosine_matrix(X)) if graph == "dense" else knn_affinity(X, 12)
    if graph == "knn":
        assert scipy.sparse.issparse(A) and (A != A.T).nnz == 0
    sweep = spectral_sweep(A, range(2, 9), seed=0)
    assert sorted(sweep.labels) == list(range(2, 9))
    assert adjusted_rand_score(true, sweep.labels[5]) == pytest.approx(1.0)
    assert list(sweep.sizes()[5]) == [120, 80, 50, 30, 20]
    assert eigengap_count(sweep.eigenvalues, k_max=8) == 5
    assert np.all(np.diff(sweep.eigenvalues) >= -1e-9)


def test_sweep_labels_are_deterministic_and_canonical():
    X, _ = planted(noise=3.0, seed=1)
    A = angular_affinity(cosine_matrix(X))
    a = spectral_sweep(A, [3, 6, 10])
    b = spectral_sweep(A, [10, 6, 3])
    for k in (3, 6, 10):
        np.testing.assert_array_equal(a.labels[k], b.labels[k])
        sizes = np.bincount(a.labels[k])
        assert np.all(np.diff(sizes) <= 0)  # label 0 is the biggest cluster
    km1 = spectral_sweep(A, [5], assign="kmeans", seed=3).labels[5]
    km2 = spectral_sweep(A, [5], assign="kmeans", seed=3).labels[5]
    np.testing.assert_array_equal(km1, km2)


def test_agrees_with_sklearn_spectral_clustering():
    from sklearn.cluster import SpectralClustering

    X, _ = planted(noise=2.0, seed=2)
    A = angular_affinity(cosine_matrix(X))
    ours = spectral_sweep(A, [5]).labels[5]
    theirs = SpectralClustering(5, affinity="precomputed", assign_labels="cluster_qr", random_state=0).fit(A).labels_
    assert adjusted_rand_score(ours, theirs) > 0.99


def test_dense_solvers_agree():
    X, _ = planted(seed=4)
    A = angular_affinity(cosine_matrix(X))
    a = spectral_sweep(A, [5], solver="dense")
    b = spectral_sweep(A, [5], solver="lanczos")
    np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, atol=1e-7)
    np.testing.assert_array_equal(a.labels[5], b.labels[5])


def test_lanczos_misses_repeated_eigenvalues_of_a_disconnected_knn_graph_and_chebyshev_does_not():
    # 5 well-separated groups: the kNN graph has 5 components, so the Laplacian's eigenvalue 0 has 5 copies; a
    # Krylov space grown from one start vector holds one direction of that eigenspace, so Lanczos returns other
    # eigenvectors in place of the missing copies. This is why auto uses a block method for sparse graphs.
    X, true = planted()
    A = knn_affinity(X, 12)
    n_comp = scipy.sparse.csgraph.connected_components(A)[0]
    assert n_comp == 5
    cheb = spectral_sweep(A, [5], solver="chebyshev")
    np.testing.assert_allclose(cheb.eigenvalues[:5], 0.0, atol=1e-9)
    assert adjusted_rand_score(true, cheb.labels[5]) == pytest.approx(1.0)
    lanczos = spectral_sweep(A, [5], solver="lanczos")
    assert (lanczos.eigenvalues < 1e-9).sum() < 5


def test_chebyshev_solver_matches_the_exact_eigenvectors_on_a_knn_graph():
    # the solver auto picks for sparse graphs, against LAPACK on the same graph
    X, true = planted(sizes=(150, 100, 60, 40, 25, 15), noise=2.5, seed=5)
    A = knn_affinity(X, 10)
    dense = spectral_sweep(A, [6, 12], solver="dense")
    cheb = spectral_sweep(A, [6, 12], solver="chebyshev", seed=3)
    np.testing.assert_allclose(cheb.eigenvalues, dense.eigenvalues, atol=1e-9)
    # the same invariant subspace (the eigenvalues below 12 are distinct), so the same labels
    Q1, _ = np.linalg.qr(dense.embedding[:, :12])
    Q2, _ = np.linalg.qr(cheb.embedding[:, :12])
    assert np.linalg.svd(Q1.T @ Q2, compute_uv=False).min() > 1 - 1e-8
    for k in (6, 12):
        np.testing.assert_array_equal(cheb.labels[k], dense.labels[k])
    assert adjusted_rand_score(true, cheb.labels[6]) == pytest.approx(1.0)
    with pytest.raises(QuantaError, match="solver"):
        spectral_sweep(A, [6], solver="arpack")


def test_helpers_and_errors():
    lab = np.array([3, 3, 1, 1, 1, 7])
    np.testing.assert_array_equal(canonical_labels(lab), [1, 1, 0, 0, 0, 2])
    np.testing.assert_array_equal(cluster_sizes(lab), [3, 2, 1])
    np.testing.assert_array_equal(lab[sort_by_cluster(lab)], [1, 1, 1, 3, 3, 7])
    A = np.ones((5, 5))
    with pytest.raises(QuantaError):
        spectral_sweep(A, [5])
    with pytest.raises(QuantaError):
        knn_affinity(np.eye(4), 4)


def test_sign_invariant_affinities_recover_blocks_with_random_signs():
    X, true = planted(seed=5)
    signs = np.where(np.random.default_rng(0).random(len(X)) < 0.5, -1.0, 1.0).astype(np.float32)
    C = cosine_matrix(X * signs[:, None])
    np.testing.assert_allclose(angular_affinity(C, similarity="abs_cosine"), np.abs(C))
    np.testing.assert_allclose(angular_affinity(C, similarity="abs_angular"), angular_affinity(np.abs(C)))
    lab = spectral_sweep(angular_affinity(C, similarity="abs_cosine"), [5]).labels[5]
    assert adjusted_rand_score(true, lab) == pytest.approx(1.0)
    K = knn_affinity(X * signs[:, None], 12, similarity="abs_cosine")
    assert adjusted_rand_score(true, spectral_sweep(K, [5]).labels[5]) == pytest.approx(1.0)
    with pytest.raises(QuantaError):
        angular_affinity(C, similarity="euclid")


def test_default_counts_follow_the_paper_at_10k_and_scale_down():
    from quanta.qdg import choose_counts
    from quanta.qdg.cluster import default_counts

    c = default_counts(10_000)
    assert c[0] == 10 and c[-1] == 1500 and len(c) == 12 and c == sorted(set(c))
    small = default_counts(60)
    assert small[0] == 3 and small[-1] == 9 and all(2 <= k < 60 for k in small)
    counts, k = choose_counts(10_000)
    assert k == 400 and 400 in counts
    with pytest.raises(QuantaError):
        choose_counts(50, counts=(10, 60))


def test_affinity_power_is_the_elementwise_power_dense_sparse_and_knn():
    import torch

    from quanta.qdg import cluster as C

    rng = np.random.default_rng(0)
    G = torch.tensor(rng.standard_normal((30, 12)), dtype=torch.float32)
    Cm = C.cosine_matrix(G)
    for sim in ("abs_cosine", "angular"):
        A1 = C.angular_affinity(Cm, similarity=sim)
        np.testing.assert_allclose(C.angular_affinity(Cm, similarity=sim, power=4), A1.astype(np.float64) ** 4,
                                   rtol=1e-5)
        S = C.angular_affinity(scipy.sparse.csr_matrix(Cm), similarity=sim, power=3)
        np.testing.assert_allclose(S.toarray(), A1.astype(np.float64) ** 3, rtol=1e-5, atol=1e-7)
    K1 = C.knn_affinity(G, 5, similarity="abs_cosine")
    K4 = C.knn_affinity(G, 5, similarity="abs_cosine", power=4)
    assert (K1.nonzero()[0] == K4.nonzero()[0]).all()  # same neighbours, raised weights
    np.testing.assert_allclose(K4.toarray(), K1.toarray().astype(np.float64) ** 4, rtol=1e-5)
    # |cos|^2 is the cosine of the per-example Fisher matrices g gᵀ (Frobenius inner product)
    F = torch.einsum("ni,nj->nij", G, G).reshape(len(G), -1)
    np.testing.assert_allclose(C.angular_affinity(Cm, similarity="abs_cosine", power=2), C.cosine_matrix(F),
                               atol=1e-5)
    for bad in (0, 1.5, True):
        with pytest.raises(QuantaError, match="affinity power"):
            C.angular_affinity(Cm, power=bad)


def test_affinity_power_recovers_zipf_sized_groups_that_power_one_misses():
    # 10 groups with Zipf sizes (355 down to 18 of 800), each a random direction with a random sign plus strong
    # noise: at power 1 the many small affinities to the big groups outweigh a small group's own
    import torch

    from quanta.qdg import cluster as C
    from quanta.qdg.parity import score_clusters

    rng = np.random.default_rng(0)
    k, n, D = 10, 800, 300
    p = np.arange(1, k + 1) ** -1.4
    t = np.sort(rng.choice(k, n, p=p / p.sum()))
    G = rng.standard_normal((k, D))[t] * rng.choice([-1, 1], size=(n, 1)) + 3.0 * rng.standard_normal((n, D))
    G = torch.tensor(G, dtype=torch.float32)
    Cm = C.cosine_matrix(G)
    ari = {}
    for power in (1, 4):
        emb, _ = C.spectral_embedding(C.angular_affinity(Cm, similarity="abs_cosine", power=power), k)
        ari[power] = score_clusters(C.cluster_qr(emb), t)["ari"]
    assert ari[1] < 0.6 and ari[4] > 0.85, ari


def test_eigengap_rule_picks_only_swept_counts():
    from quanta.qdg.count import choose_count

    lam = np.r_[1e-6 * np.ones(7), 0.8 * np.ones(30)]  # Laplacian eigenvalues: the gap after 7
    k, _ = choose_count("eigengap", eigenvalues=lam, counts=[2, 7, 20])
    assert k == 7
    k, _ = choose_count("eigengap", eigenvalues=lam, counts=[5, 10, 20])  # 7 not swept: a swept count comes back
    assert k in (5, 10, 20)


@pytest.mark.parametrize("solver", ["amg", "dense"])
def test_stability_curve_at_the_largest_seed(solver):
    """Subset b is embedded with seed + b, taken modulo 2**32: the largest seed a command accepts works with every
    solver (sklearn's amg takes random_state below 2**32 only), and planted blocks are most stable at their count."""
    import scipy.sparse

    from quanta.qdg.count import stability_curve
    from quanta.validation import MAX_SEED

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 30)
    A = np.where(labels[:, None] == labels[None, :], 1.0, 0.02) * rng.uniform(0.5, 1.0, (120, 120))
    A = (A + A.T) / 2
    A = scipy.sparse.csr_matrix(A) if solver == "amg" else A
    curve = stability_curve(A, [2, 4, 6], seed=MAX_SEED, solver=solver)
    assert all(np.isfinite(v) for v in curve.values())
    assert curve[4] == pytest.approx(1.0) and curve[4] > curve[6]


def test_eigengap_can_choose_the_largest_swept_count():
    """The gap after count k needs eigenvalue k + 1: the sweep computes one eigenvector more than its largest
    count, so 6 planted blocks swept over 2..6 give 6 (it gave 5 with max(counts) eigenvectors)."""
    from quanta.qdg.cluster import spectral_sweep

    rng = np.random.default_rng(0)
    lab = np.repeat(np.arange(6), 30)
    A = np.where(lab[:, None] == lab[None, :], 0.9, 0.05) + 0.01 * rng.random((180, 180))
    sweep = spectral_sweep((A + A.T) / 2, [2, 3, 4, 5, 6])
    assert len(sweep.eigenvalues) == 7 and eigengap_count(sweep.eigenvalues, k_max=6) == 6
    assert sweep.labels[6].max() == 5
