"""Token selection: low loss, the induction filter, deterministic subsampling; per-context losses."""

import numpy as np
import pytest
import torch

from quanta.errors import QuantaError
from quanta.qdg.select import context_losses, induction_mask, select_tokens


def test_induction_mask_flags_repeated_trigrams_only():
    ids = [5, 6, 7, 1, 5, 6, 7, 5, 6, 8, 6, 7]
    m = induction_mask(ids)
    # (5,6,7) repeats at position 6; (6,7,5)? first seen at... positions 2..: (5,6,7)@2 (6,7,1)@3 (7,1,5)@4 (1,5,6)@5
    # (5,6,7)@6 repeat, (6,7,5)@7 new, (7,5,6)@8 new, (5,6,8)@9 new, (6,8,6)@10 new, (8,6,7)@11 new
    assert np.nonzero(m)[0].tolist() == [6]
    assert not induction_mask([1, 1]).any()
    assert induction_mask([3, 3, 3, 3]).tolist() == [False, False, False, True]


def test_select_tokens_threshold_induction_and_subsample():
    ctx = [np.array([5, 6, 7, 1, 5, 6, 7, 2]), np.array([9, 9, 4, 3])]
    losses = [np.array([np.nan, 0.05, 0.5, 0.01, 0.02, 0.03, 0.04, 0.2]), np.array([np.nan, 0.002, 0.09, 0.1])]
    df = select_tokens(ctx, losses, threshold=0.1, doc_ids=[10, 11])
    assert list(zip(df["context"], df["pos"])) == [(0, 1), (0, 3), (0, 4), (0, 5), (1, 1), (1, 2)]
    assert df["doc"].tolist() == [10, 10, 10, 10, 11, 11]
    assert df["token_id"].tolist() == [6, 1, 5, 6, 9, 4]
    keep = select_tokens(ctx, losses, threshold=0.1, drop_induction=False)
    assert (0, 6) in set(zip(keep["context"], keep["pos"]))
    a = select_tokens(ctx, losses, n_tokens=3, seed=1)
    b = select_tokens(ctx, losses, n_tokens=3, seed=1)
    assert len(a) == 3 and a.equals(b)
    assert set(zip(a["context"], a["pos"])) <= set(zip(df["context"], df["pos"]))
    with pytest.raises(QuantaError):
        select_tokens(ctx, losses, threshold=0.001)
    with pytest.raises(QuantaError):
        select_tokens(ctx, losses[:1])


def test_context_losses_match_plain_cross_entropy():
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(0)
    model = GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1,
                                             num_attention_heads=2, intermediate_size=32,
                                             max_position_embeddings=64)).eval()
    ctx = [torch.randint(0, 40, (n,)) for n in (7, 12, 3)]
    got = context_losses(model, ctx, batch_size=2)
    for c, lo in zip(ctx, got):
        assert np.isnan(lo[0]) and len(lo) == len(c)
        with torch.no_grad():
            want = torch.nn.functional.cross_entropy(model(c[None]).logits[0, :-1], c[1:], reduction="none")
        np.testing.assert_allclose(lo[1:], want.numpy(), rtol=1e-5, atol=1e-6)
