"""The diagonal-Fisher preconditioner of QDG gradients (``precondition="diag"``).

The mechanism: a block of coordinates that every example shares (here 0/1 data inputs that every sample has about
half of on) dominates the raw gradients, so their cosines do not see the small, group-specific block (a one-hot
group input). Dividing each coordinate by its RMS over the examples gives the group block its due and the planted
groups are recovered.
"""

import numpy as np
import pytest
import torch
from torch import nn

from quanta.errors import QuantaError
from quanta.qdg import cluster as C
from quanta.qdg.grads import (GradientSketch, precondition_gradients, sample_gradients, select_gradient_blocks,
                              token_gradients)
from quanta.qdg.parity import ParityQDGConfig, score_clusters


def planted(n_groups=8, n_shared=32, n=400, seed=0):
    """A random tanh MLP on inputs [one-hot group | n_shared random 0/1 bits], random labels."""
    g = torch.Generator().manual_seed(seed)
    group = torch.arange(n) % n_groups
    x = torch.cat([nn.functional.one_hot(group, n_groups).float(),
                   torch.randint(0, 2, (n, n_shared), generator=g).float()], 1)
    y = torch.randint(0, 2, (n,), generator=g)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(n_groups + n_shared, 16), nn.Tanh(), nn.Linear(16, 2))
    return model, x, y, group.numpy()


def cluster_ari(G, truth):
    """ARI of the spectral clustering (|cos| affinity, k = number of groups) against ``truth``."""
    k = len(np.unique(truth))
    A = C.angular_affinity(C.cosine_matrix(G), similarity="abs_cosine")
    return score_clusters(C.spectral_sweep(A, [k], seed=0).labels[k], truth)["ari"]


@pytest.mark.parametrize("seed", [0, 1])
def test_diag_preconditioning_recovers_groups_hidden_by_a_shared_block(seed):
    model, x, y, group = planted(seed=seed)
    raw = sample_gradients(model, x, y)
    pre = sample_gradients(model, x, y, precondition="diag")
    ari_raw = cluster_ari(raw, group)
    ari_pre = cluster_ari(pre, group)
    assert ari_raw < 0.2  # the shared block hides the groups
    assert ari_pre > 0.95  # standardised coordinates reveal them


def test_precondition_gradients_against_reference_and_invariances():
    g = torch.Generator().manual_seed(0)
    G = torch.randn(50, 30, generator=g) * torch.logspace(-3, 3, 30)
    G[:, 7] = 0.0  # a coordinate no example touches
    P = precondition_gradients(G, "diag", damping=1e-8)
    m = (G.double() ** 2).mean(0)
    ref = (G.double() / torch.sqrt(m + 1e-8 * m.mean())).float()
    torch.testing.assert_close(P, ref, rtol=1e-5, atol=1e-7)
    assert (P[:, 7] == 0).all()
    # the relative damping only touches coordinates far below the typical scale (here the smallest columns)
    assert P[:, 0].pow(2).mean().sqrt() < 0.5 and P[:, 29].pow(2).mean().sqrt() > 0.999
    P0 = precondition_gradients(G, "diag", damping=0.0)
    assert (P0[:, 7] == 0).all() and torch.isfinite(P0).all()
    rms = P0.pow(2).mean(0).sqrt()
    torch.testing.assert_close(rms[rms > 0], torch.ones(29), rtol=1e-4, atol=0)  # unit RMS per coordinate
    scale = torch.rand(30, generator=g) * 100 + 0.01
    torch.testing.assert_close(precondition_gradients(G * scale, damping=0.0), P0, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(precondition_gradients(G, "none"), G)
    with pytest.raises(QuantaError, match="precondition"):
        precondition_gradients(G, "full")


def test_sketched_diag_is_the_sketch_of_the_preconditioned_gradients():
    model, x, y, _ = planted(n=60)
    exact = sample_gradients(model, x, y, precondition="diag", include_bias=True)
    sk = sample_gradients(model, x, y, precondition="diag", include_bias=True, project=128, seed=3, batch_size=17)
    blocks = select_gradient_blocks(model, include_bias=True)
    ref = GradientSketch(blocks, len(x), project=128, seed=3)
    for i in range(len(blocks)):
        ref.add(torch.arange(len(x)), i, exact[:, int(ref.offsets[i]):int(ref.offsets[i + 1])])
    torch.testing.assert_close(sk, ref.out, rtol=1e-4, atol=1e-6)
    # rescaling the sketch's buckets is not the same thing
    raw = sample_gradients(model, x, y, include_bias=True, project=128, seed=3)
    assert not torch.allclose(precondition_gradients(raw), sk, rtol=1e-2, atol=1e-3)


def test_token_gradients_diag_matches_exact_preconditioning():
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(0)
    model = GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=61, hidden_size=32, num_hidden_layers=1,
                                             num_attention_heads=4, intermediate_size=64,
                                             max_position_embeddings=64)).float().eval()
    g = torch.Generator().manual_seed(1)
    ctx = [torch.randint(0, 61, (24,), generator=g) for _ in range(4)]
    targets = np.array([[c, p] for c in range(4) for p in (3, 11, 23)])
    raw = token_gradients(model, ctx, targets, batch_size=2)
    pre = token_gradients(model, ctx, targets, batch_size=2, precondition="diag")
    torch.testing.assert_close(pre, precondition_gradients(raw), rtol=1e-4, atol=1e-6)
    sk = token_gradients(model, ctx, targets, batch_size=2, precondition="diag", project=256, seed=5)
    blocks = select_gradient_blocks(model)
    ref = GradientSketch(blocks, len(targets), project=256, seed=5)
    for i in range(len(blocks)):
        ref.add(torch.arange(len(targets)), i, pre[:, int(ref.offsets[i]):int(ref.offsets[i + 1])])
    torch.testing.assert_close(sk, ref.out, rtol=1e-4, atol=1e-5)


def test_configs_check_precondition():
    from quanta.qdg import QDGConfig

    assert ParityQDGConfig(run_dir="r").precondition == "none"  # diag reads the task code of the input (docs/qdg.md)
    assert QDGConfig(model="m").precondition == "none"
    with pytest.raises(QuantaError, match="precondition"):
        ParityQDGConfig(run_dir="r", precondition="kfac")
    with pytest.raises(QuantaError, match="precondition"):
        QDGConfig(model="m", precondition="Diag")
