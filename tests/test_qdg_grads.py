"""Per-token gradients against a plain one-token-at-a-time autograd computation; the seeded sketch."""

import numpy as np
import pytest
import torch
from torch import nn

from quanta.errors import QuantaError
from quanta.qdg.grads import sample_gradients, select_gradient_blocks, token_gradients


def tiny_neox(seed=0, vocab=61):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(seed)
    cfg = GPTNeoXConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=128)
    return GPTNeoXForCausalLM(cfg).float().eval()


def contexts_and_targets(seed=0, vocab=61):
    g = torch.Generator().manual_seed(seed)
    ctx = [torch.randint(0, vocab, (n,), generator=g) for n in (20, 33, 15, 9)]
    targets = np.array([[0, 3], [0, 19], [1, 5], [1, 6], [1, 32], [2, 14], [0, 10], [3, 1], [1, 7]])
    return ctx, targets


def reference_gradients(model, ctx, targets, names):
    params = dict(model.named_parameters())
    rows = []
    for c, p in targets:
        model.zero_grad()
        logits = model(ctx[c][:p].unsqueeze(0)).logits[0, -1]
        nn.functional.cross_entropy(logits[None], ctx[c][p:p + 1]).backward()
        rows.append(torch.cat([params[n].grad.flatten() for n in names]))
    return torch.stack(rows)


@pytest.mark.parametrize("batch_size,rounds", [(1, 1), (2, 2), (4, 16)])
def test_token_gradients_equal_one_token_at_a_time(batch_size, rounds):
    model = tiny_neox()
    before = model.config._attn_implementation
    ctx, targets = contexts_and_targets()
    G, losses = token_gradients(model, ctx, targets, batch_size=batch_size, rounds_per_pass=rounds,
                                return_losses=True)
    names = [b.name for b in select_gradient_blocks(model)]
    ref = reference_gradients(model, ctx, targets, names)
    assert G.shape == ref.shape
    torch.testing.assert_close(G, ref, rtol=1e-4, atol=1e-6)
    # the model's attention setting is restored and the losses are the targets' cross-entropies
    assert model.config._attn_implementation == before
    with torch.no_grad():
        c, p = targets[1]
        want = nn.functional.cross_entropy(model(ctx[c][:p][None]).logits[0, -1][None], ctx[c][p:p + 1]).item()
    assert losses[1] == pytest.approx(want, rel=1e-5)


def test_soft_capped_logits_are_the_models_own():
    """Gemma 2 soft-caps its logits after the head: the gradients and losses are those of the capped logits, the
    model's own (they were taken through the head alone, off by up to 200 nats here)."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(0)
    cfg = Gemma2Config(vocab_size=61, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=8, intermediate_size=64, max_position_embeddings=64,
                       final_logit_softcapping=30.0)
    model = Gemma2ForCausalLM(cfg).float().eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(300)  # logits far beyond the cap
    ctx, targets = contexts_and_targets()
    G, losses = token_gradients(model, ctx, targets, batch_size=2, return_losses=True)
    names = [b.name for b in select_gradient_blocks(model)]
    torch.testing.assert_close(G, reference_gradients(model, ctx, targets, names), rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        want = [nn.functional.cross_entropy(model(ctx[c][:p][None]).logits[0, -1][None], ctx[c][p:p + 1]).item()
                for c, p in targets]
    np.testing.assert_allclose(losses, want, rtol=1e-5, atol=1e-5)
    assert max(want) < 70  # the cap bounds them: the head's raw logits would give hundreds of nats


def test_a_model_whose_logits_are_not_its_heads_is_refused():
    """A family that transforms its logits in a way final_logits does not know is refused on the first batch, not
    decomposed with gradients of losses that are not the model's."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    class Scaled(GPTNeoXForCausalLM):
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            out.logits = out.logits * 2.0
            return out

    torch.manual_seed(0)
    model = Scaled(GPTNeoXConfig(vocab_size=61, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                 intermediate_size=64, max_position_embeddings=128)).float().eval()
    ctx, targets = contexts_and_targets()
    with pytest.raises(QuantaError, match="logits are not its output head's"):
        token_gradients(model, ctx, targets)
    from quanta.qdg.grads import final_logits
    from transformers import Cohere2Config, GraniteMoeConfig

    z = torch.ones(2, 3)
    assert torch.allclose(final_logits(Cohere2Config(logit_scale=0.25))(z), z * 0.25)
    assert torch.allclose(final_logits(GraniteMoeConfig(logits_scaling=4.0))(z), z / 4)


def test_default_blocks_are_attention_and_mlp_weights_only():
    model = tiny_neox()
    names = [b.name for b in select_gradient_blocks(model)]
    assert names and all(n.endswith(".weight") for n in names)
    assert all((".attention." in n) or (".mlp." in n) for n in names)
    assert len(names) == 2 * 4  # 2 layers x (qkv, dense, h_to_4h, 4h_to_h)
    with_bias = select_gradient_blocks(model, include_bias=True)
    assert len(with_bias) == 16
    mlp = select_gradient_blocks(model, ["*.mlp.*.weight"])
    assert [b.name for b in mlp] == [n for n in names if ".mlp." in n]
    with pytest.raises(QuantaError, match="LayerNorm|linear"):
        select_gradient_blocks(model, ["*layernorm*"])
    with pytest.raises(QuantaError):
        select_gradient_blocks(model, ["nothing.matches"])


def test_subset_and_bias_gradients_match_reference():
    model = tiny_neox(1)
    ctx, targets = contexts_and_targets(1)
    pats = ["*.layers.1.mlp.*", "*.attention.dense.bias"]
    G = token_gradients(model, ctx, targets, params=pats, batch_size=3)
    names = [b.name for b in select_gradient_blocks(model, pats)]
    assert any(n.endswith("bias") for n in names)
    torch.testing.assert_close(G, reference_gradients(model, ctx, targets, names), rtol=1e-4, atol=1e-6)


def test_bad_targets_raise():
    model = tiny_neox()
    ctx, _ = contexts_and_targets()
    with pytest.raises(QuantaError):
        token_gradients(model, ctx, np.array([[0, 0]]))
    with pytest.raises(QuantaError):
        token_gradients(model, ctx, np.array([[9, 1]]))
    with pytest.raises(QuantaError):
        token_gradients(model, ctx, np.array([[2, 15]]))


def _cos(G):
    X = G / G.norm(dim=1, keepdim=True)
    C = X @ X.T
    iu = torch.triu_indices(len(C), len(C), 1)
    return C[iu[0], iu[1]]


def test_projection_is_seeded_and_its_cosine_error_shrinks_with_k():
    model = tiny_neox(2)
    g = torch.Generator().manual_seed(3)
    ctx = [torch.randint(0, 61, (40,), generator=g) for _ in range(6)]
    targets = np.array([[c, p] for c in range(6) for p in (5, 17, 29, 39)])
    exact = _cos(token_gradients(model, ctx, targets, batch_size=6))
    a = token_gradients(model, ctx, targets, project=512, seed=7, batch_size=6)
    b = token_gradients(model, ctx, targets, project=512, seed=7, batch_size=2, rounds_per_pass=1)
    c = token_gradients(model, ctx, targets, project=512, seed=8, batch_size=6)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)  # same seed: same sketch, whatever the batching
    assert not torch.allclose(a, c)
    errs = []
    for k in (64, 512, 4096):
        e = [(_cos(token_gradients(model, ctx, targets, project=k, seed=s, batch_size=6)) - exact).abs().mean()
             for s in range(3)]
        errs.append(float(np.mean(e)))
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.03


def test_sample_gradients_equal_per_sample_autograd():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 2))
    x = torch.randn(10, 12)
    y = torch.randint(0, 2, (10,))
    G = sample_gradients(model, x, y, include_bias=True, batch_size=4)
    ref = []
    for i in range(10):
        model.zero_grad()
        nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        ref.append(torch.cat([p.grad.flatten() for _, p in model.named_parameters()]))
    torch.testing.assert_close(G, torch.stack(ref), rtol=1e-5, atol=1e-7)
