"""quanta's reader of published SAELens SAEs against the library itself: save with SAELens, load with quanta.

    # in a venv that has sae-lens (not a dependency of quanta), with quanta taken from this checkout
    python3 -m venv /tmp/slvenv && /tmp/slvenv/bin/pip install torch==2.13.0 sae-lens
    PYTHONPATH=src /tmp/slvenv/bin/python benchmarks/sae_saelens_check.py

For each architecture quanta reads (``standard``: ReLU, ``topk``, ``jumprelu``, and ``standard`` with
``apply_b_dec_to_input`` off) an SAE is built from the library's own inference classes and configs
(``StandardSAE``/``StandardSAEConfig``, ``TopKSAE``/``TopKSAEConfig``, ``JumpReLUSAE``/``JumpReLUSAEConfig``), with
the hook name ``blocks.2.hook_resid_post`` in its metadata. Every parameter gets random values (``b_enc``,
``b_dec`` and the jumprelu thresholds nonzero, so that their use is checked), the SAE is written with the
library's own ``save_model``, read back by ``quanta.parts.pretrained.load_pretrained_sae(folder)``, and both encode
the same random rows. Measured: the largest absolute difference of the dense codes, the share of rows whose
active (nonzero) latents are the same set, the largest absolute difference of the reconstructions (SAELens
``decode`` against quanta's ``decode``), what quanta's loader reports (format, activation, k, hookpoint) and what
:func:`quanta.parts.pretrained.spec_hookpoint` reads from the folder alone.

Two TopK cases use ``rescale_acts_by_decoder_norm``: a ``TopKSAE`` with it on (``save_model``), and a
``TopKTrainingSAE`` with its default config (the setting on by default) written with ``save_inference_model`` and
compared with the inference SAE the library loads back (``SAE.load_from_disk``). A setting the library can save but
quanta refuses (``normalize_activations="expected_average_only_in"``) is saved the same way and its one-line
refusal recorded.

Writes docs/data/sae_saelens_check.json and its paragraph into docs/parts.md (tests/test_docs_sae_saelens.py checks
both without importing sae_lens).
"""

from __future__ import annotations

import json
import platform
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from docblock import checkout_quanta, write_block

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "sae_saelens_check.json"
DOC = ROOT / "docs" / "parts.md"
START, END = "<!-- sae-saelens:start -->", "<!-- sae-saelens:end -->"

D_IN, D_SAE, K = 128, 1024, 16
N_ROWS = 2000
HOOK_NAME = "blocks.2.hook_resid_post"
#: (name, architecture, extra config settings, seed, training class saved with save_inference_model): compared
#: with the library (a training SAE is compared with the inference SAE the library loads back from its folder)
CASES = (("standard", "standard", {}, 0, False),
         ("topk", "topk", {"k": K}, 1, False),
         ("jumprelu", "jumprelu", {}, 2, False),
         ("standard, apply_b_dec_to_input off", "standard", {"apply_b_dec_to_input": False}, 3, False),
         ("topk, rescale_acts_by_decoder_norm on", "topk", {"k": K, "rescale_acts_by_decoder_norm": True}, 5, False),
         ("TopKTrainingSAE, default settings", "topk", {"k": K}, 6, True))
#: (name, architecture, extra config settings, seed, training): refused
REFUSED = (("standard, normalize_activations expected_average_only_in", "standard",
            {"normalize_activations": "expected_average_only_in"}, 4, False),)


def build(arch: str, extra: dict, seed: int, training: bool = False):
    """An SAELens SAE of ``arch`` with every parameter random (thresholds positive)."""
    import torch
    from sae_lens import (JumpReLUSAE, JumpReLUSAEConfig, StandardSAE, StandardSAEConfig, TopKSAE, TopKSAEConfig,
                          TopKTrainingSAE, TopKTrainingSAEConfig)
    from sae_lens.saes.sae import SAEMetadata

    if training:
        cls, cfg_cls = TopKTrainingSAE, TopKTrainingSAEConfig
    else:
        cls, cfg_cls = {"standard": (StandardSAE, StandardSAEConfig), "topk": (TopKSAE, TopKSAEConfig),
                        "jumprelu": (JumpReLUSAE, JumpReLUSAEConfig)}[arch]
    cfg = cfg_cls(d_in=D_IN, d_sae=D_SAE, dtype="float32", device="cpu",
                  metadata=SAEMetadata(hook_name=HOOK_NAME, model_name="pythia-70m"), **extra)
    torch.manual_seed(seed)
    sae = cls(cfg)
    with torch.no_grad():
        sae.W_enc.normal_(0, D_IN ** -0.5)
        sae.W_dec.normal_(0, D_IN ** -0.5)
        sae.b_enc.normal_(0, 0.3)
        sae.b_dec.normal_(0, 0.5)
        if arch == "jumprelu":
            sae.threshold.uniform_(0.05, 0.6)
    return sae.eval()


def rows(seed: int):
    import torch

    return torch.randn(N_ROWS, D_IN, generator=torch.Generator().manual_seed(1000 + seed)) * 2.0  # (N_ROWS, D_IN)


def check_case(name: str, arch: str, extra: dict, seed: int, training: bool = False) -> dict:
    import torch
    from safetensors.torch import load_file

    from quanta.parts.pretrained import load_pretrained_sae, spec_hookpoint

    lib = build(arch, extra, seed, training)
    x = rows(seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "sae"
        if training:  # what a user downloads of a trained SAE: the inference model the library saves and loads
            from sae_lens import SAE

            lib.save_inference_model(folder)
            lib = SAE.load_from_disk(str(folder), device="cpu").eval()
        else:
            lib.save_model(folder)
        cfg = json.loads((folder / "cfg.json").read_text())
        norms = load_file(str(folder / "sae_weights.safetensors"))["W_dec"].norm(dim=1)
        spec_hook = spec_hookpoint(str(folder))
        sae, info = load_pretrained_sae(str(folder))
    with torch.no_grad():
        lib_codes = lib.encode(x)
        lib_recon = lib.decode(lib_codes)
        codes = sae.encode(x)
        recon = sae.decode(codes)
    lib_sets = [set(r.nonzero().flatten().tolist()) for r in lib_codes]
    our_sets = [set(r.nonzero().flatten().tolist()) for r in codes]
    return {"name": name, "architecture": arch, "settings": extra, "seed": seed, "n_rows": N_ROWS,
            "saved_with": "save_inference_model" if training else "save_model",
            "saved_rescale_acts_by_decoder_norm": cfg.get("rescale_acts_by_decoder_norm"),
            "saved_W_dec_row_norm_max_dev_from_1": float((norms - 1).abs().max()),
            "saved_architecture": cfg.get("architecture"),
            "saved_hook_name": (cfg.get("metadata") or {}).get("hook_name", cfg.get("hook_name")),
            "spec_hookpoint": spec_hook,
            "loaded": {"format": info.format, "activation": info.activation, "k": info.k,
                       "n_latents": info.n_latents, "d_in": info.d_in, "hookpoint": info.hookpoint},
            "mean_active": float((lib_codes != 0).sum(1).float().mean()),
            "max_abs_code_diff": float((codes - lib_codes).abs().max()),
            "max_abs_code": float(lib_codes.abs().max()),
            "active_set_agreement": sum(a == b for a, b in zip(lib_sets, our_sets)) / N_ROWS,
            "max_abs_recon_diff": float((recon - lib_recon).abs().max())}


def refused_case(name: str, arch: str, extra: dict, seed: int, training: bool) -> dict:
    from safetensors.torch import load_file

    from quanta.errors import QuantaError
    from quanta.parts.pretrained import load_pretrained_sae

    lib = build(arch, extra, seed, training)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "sae"
        (lib.save_inference_model if training else lib.save_model)(folder)
        cfg = json.loads((folder / "cfg.json").read_text())
        W_dec = load_file(str(folder / "sae_weights.safetensors"))["W_dec"]  # (d_sae, d_in)
        try:
            load_pretrained_sae(str(folder))
            message = None
        except QuantaError as exc:
            message = str(exc).replace(str(folder), "FOLDER")
    saved = {key: cfg.get(key) for key in ("architecture", "normalize_activations", "rescale_acts_by_decoder_norm")}
    return {"name": name, "settings": extra, "saved_with": "save_inference_model" if training else "save_model",
            "saved": saved, "saved_W_dec_row_norm_max_dev_from_1": float((W_dec.norm(dim=1) - 1).abs().max()),
            "refusal": message}


def render(data: dict) -> str:
    cases = "; ".join(
        f"{c['name']} (quanta read {c['loaded']['activation']}"
        + (f", k {c['loaded']['k']}" if c['loaded']['k'] is not None else "")
        + f", {c['mean_active']:.0f} active latents a row on average): largest code difference "
        f"{c['max_abs_code_diff']:.1e} (codes up to {c['max_abs_code']:.1f}), same active latents on "
        f"{100 * c['active_set_agreement']:.1f}% of rows, largest reconstruction difference "
        f"{c['max_abs_recon_diff']:.1e}" + (f" (saved with `{c['saved_with']}`)" if c.get("saved_with") ==
                                             "save_inference_model" else "") for c in data["cases"])
    hooks = {(c["saved_hook_name"], c["spec_hookpoint"], c["loaded"]["hookpoint"]) for c in data["cases"]}
    (saved, spec, loaded), = hooks
    refused = "; ".join(f"{r['name']} (`{r['saved_with']}`): \"{r['refusal']}\"" if r["refusal"] else
                        f"{r['name']} (`{r['saved_with']}`): read without refusal" for r in data["refused"])
    return (f"{START}\n**Checked against SAELens.** `benchmarks/sae_saelens_check.py` builds SAEs with the library's "
            f"own inference classes (`sae-lens` {data['versions']['sae-lens']}; d_in {data['d_in']}, "
            f"{data['d_sae']} latents), gives every parameter random values (biases, `b_dec` and jumprelu "
            f"thresholds nonzero), saves each with the library's `save_model`, loads the folder with "
            f"`load_pretrained_sae(folder)` and encodes {data['n_rows']} random rows with both "
            f"({data['date'][:10]}, `docs/data/sae_saelens_check.json`): {cases}. The saved cfg.json names the "
            f"hook in `metadata.hook_name` (`{saved}`); `spec_hookpoint(folder)` reads `{spec}` and the loader's "
            f"`PretrainedInfo.hookpoint` is `{loaded}`. Saved by the library and refused by quanta, in one line "
            f"each (FOLDER is the SAE's folder): {refused}. `rescale_acts_by_decoder_norm` (TopK) is read by "
            f"folding the decoder rows' norms into the encoder: {_rescale_sentence(data)}.\n{END}")


def _rescale_sentence(data: dict) -> str:
    by = {c["name"]: c for c in data["cases"]}
    a, b = by["topk, rescale_acts_by_decoder_norm on"], by["TopKTrainingSAE, default settings"]
    return (f"with random decoder norms (up to {a['saved_W_dec_row_norm_max_dev_from_1']:.2f} from 1) the codes "
            f"differ by at most {a['max_abs_code_diff']:.1e}; a TopK SAE trained with SAELens's default "
            f"`TopKTrainingSAEConfig` (the setting on by default) and saved with `save_inference_model` keeps the "
            f"setting on (rescale_acts_by_decoder_norm={b['saved_rescale_acts_by_decoder_norm']}) beside decoder "
            f"rows folded to unit norm (within {b['saved_W_dec_row_norm_max_dev_from_1']:.1e}), and quanta reads it "
            f"like the library loads it (codes within {b['max_abs_code_diff']:.1e}, same active latents on "
            f"{100 * b['active_set_agreement']:.1f}% of rows)")


def main():
    from importlib.metadata import version

    import quanta

    data = {"quanta_imported_from": checkout_quanta(ROOT), "d_in": D_IN, "d_sae": D_SAE, "k": K,
            "n_rows": N_ROWS, "hook_name": HOOK_NAME,
            "cases": [check_case(*c) for c in CASES], "refused": [refused_case(*r) for r in REFUSED],
            "versions": {**{name: version(name) for name in ("sae-lens", "torch", "safetensors")},
                         "quanta": quanta.__version__},  # from src/, not installed in the sae-lens venv
            "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    DATA.write_text(json.dumps(data, indent=1) + "\n")
    write_block(DOC, render(data), START, END)
    print(json.dumps({"cases": data["cases"], "refused": data["refused"]}, indent=1))


if __name__ == "__main__":
    main()
