"""TransformerLens's residual stream and mlp_out against Hugging Face's, with and without center_writing_weights.

``quanta parts sae --pretrained`` centres each activation row across d_model for a SAELens SAE whose model was
loaded with TransformerLens's ``center_writing_weights`` (docs/parts.md, "Published SAEs"). This script checks the
claim behind it, x_TL = x_HF - mean over d_model of x_HF, for ``hook_resid_pre``, ``hook_resid_post`` and
``hook_mlp_out`` on tiny random GPT-2 and GPT-NeoX models (d_model 32, 3 blocks; embeddings and output biases
shifted by 0.7 so that the mean over d_model is large), and that the last block's ``hook_resid_post`` is not
``hidden_states[n_layers]`` (taken after the final norm). It needs TransformerLens, which quanta does not depend
on; run it in a venv of its own (transformer-lens 4 no longer has HookedTransformer, so pin it below 3; its
``datasets`` import is stubbed below)::

    python3 -m venv /tmp/tlvenv && /tmp/tlvenv/bin/pip install torch==2.13.0 "transformer-lens<3"
    /tmp/tlvenv/bin/python benchmarks/sae_centring_check.py > docs/data/sae_centring_check.json

tests/test_docs_sae_pretrained.py checks the figures docs/parts.md quotes against the recorded JSON.
"""
import json, sys, types, torch, transformers
_ds = types.ModuleType("datasets"); _ad = types.ModuleType("datasets.arrow_dataset")
class _D: pass
_ad.Dataset = _D; _ds.arrow_dataset = _ad; _ds.Dataset = _D; _ds.load_dataset = None
_ld = types.ModuleType("datasets.load"); _ld.load_dataset = None; _ds.__path__ = []
sys.modules["datasets"] = _ds; sys.modules["datasets.arrow_dataset"] = _ad; sys.modules["datasets.load"] = _ld
pass
from transformer_lens import HookedTransformer, HookedTransformerConfig
import transformer_lens.pretrained.weight_conversions as wc

torch.manual_seed(0)
out = {}
def run(kind):
    if kind == "gpt2":
        hcfg = transformers.GPT2Config(n_embd=32, n_layer=3, n_head=4, vocab_size=97, n_positions=64)
        hf = transformers.GPT2LMHeadModel(hcfg).eval()
        cfg = HookedTransformerConfig(d_model=32, n_layers=3, n_heads=4, d_head=8, d_mlp=128, d_vocab=97, n_ctx=64,
                                      act_fn="gelu_new", normalization_type="LN", original_architecture="GPT2LMHeadModel",
                                      positional_embedding_type="standard", eps=hcfg.layer_norm_epsilon)
        sd = wc.convert_gpt2_weights(hf, cfg)
        mlps = [b.mlp for b in hf.transformer.h]
    else:
        hcfg = transformers.GPTNeoXConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=128,
                                          vocab_size=97, max_position_embeddings=64, rotary_pct=0.25, use_parallel_residual=True)
        hf = transformers.GPTNeoXForCausalLM(hcfg).eval()
        cfg = HookedTransformerConfig(d_model=32, n_layers=3, n_heads=4, d_head=8, d_mlp=128, d_vocab=97, n_ctx=64,
                                      act_fn="gelu", normalization_type="LN", original_architecture="GPTNeoXForCausalLM",
                                      positional_embedding_type="rotary", rotary_dim=2, parallel_attn_mlp=True,
                                      rotary_adjacent_pairs=False, eps=hcfg.layer_norm_eps)
        sd = wc.convert_neox_weights(hf, cfg)
        mlps = [b.mlp for b in hf.gpt_neox.layers]
    with torch.no_grad():  # a large mean across d_model, so centring shows
        for name, p in hf.named_parameters():
            if any(t in name for t in ("wte", "wpe", "embed_in", "c_proj.bias", "dense_4h_to_h.bias", "attention.dense.bias")):
                p.add_(0.7)
    sd = wc.convert_gpt2_weights(hf, cfg) if kind == "gpt2" else wc.convert_neox_weights(hf, cfg)
    res = {}
    ids = torch.randint(0, 97, (2, 20))
    mlp_hf = {}
    hs = [m.register_forward_hook(lambda mod, i, o, j=j: mlp_hf.__setitem__(j, o)) for j, m in enumerate(mlps)]
    with torch.no_grad():
        hid = hf(ids, output_hidden_states=True).hidden_states
    for h in hs: h.remove()
    for centre in (True, False):
        m = HookedTransformer(cfg)
        m.load_and_process_state_dict({k: v.clone() for k, v in sd.items()}, fold_ln=False, center_writing_weights=centre,
                                      center_unembed=False, fold_value_biases=False, refactor_factored_attn_matrices=False)
        m.eval()
        with torch.no_grad():
            logits, cache = m.run_with_cache(ids)
            hf_logits = hf(ids).logits
        c = lambda x: x - x.mean(-1, keepdim=True) if centre else x
        d = {"logits_max_diff_vs_hf_centred_over_vocab": float(((logits - logits.mean(-1, keepdim=True)) - (hf_logits - hf_logits.mean(-1, keepdim=True))).abs().max())}
        for L in range(3):
            d[f"resid_pre{L}"] = float((cache[f"blocks.{L}.hook_resid_pre"] - c(hid[L])).abs().max())
            d[f"mlp_out{L}"] = float((cache[f"blocks.{L}.hook_mlp_out"] - c(mlp_hf[L])).abs().max())
        d["resid_post1_vs_hidden2"] = float((cache["blocks.1.hook_resid_post"] - c(hid[2])).abs().max())
        d["resid_post2_vs_hidden3(after ln_f)"] = float((cache["blocks.2.hook_resid_post"] - c(hid[3])).abs().max())
        d["max_abs_mean_over_d_hidden2"] = float(hid[2].mean(-1).abs().max())
        d["mean_abs_hidden2_mean_over_d"] = float(hid[2].mean(-1).abs().mean())
        res[f"center_writing_weights={centre}"] = d
    return res
for kind in ("gpt2", "neox"):
    try:
        out[kind] = run(kind)
    except Exception as e:
        import traceback; traceback.print_exc(); out[kind] = repr(e)
import inspect
out["from_pretrained_default_center_writing_weights"] = inspect.signature(HookedTransformer.from_pretrained).parameters["center_writing_weights"].default
out["from_pretrained_no_processing_default_center_writing_weights"] = inspect.signature(HookedTransformer.from_pretrained_no_processing).parameters["center_writing_weights"].default
import transformer_lens; out["transformer_lens"] = transformer_lens.__version__ if hasattr(transformer_lens, "__version__") else "2.18.0"
out["torch"] = torch.__version__; out["transformers"] = transformers.__version__
print(json.dumps(out, indent=1))
