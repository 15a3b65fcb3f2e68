"""quanta's reader of published sparsify SAEs against the library itself: save with sparsify, load with quanta.

    # in the venv that has sparsify (not a dependency of quanta), with quanta taken from this checkout
    PYTHONPATH=src /work/venv-sparsify/bin/python benchmarks/sae_pretrained_check.py

For each case (input width, latents, k, seed) a sparsify ``SparseCoder`` is built with random weights (its encoder
bias and ``b_dec`` are set to random values too: the library starts them at zero, which would leave their use
unchecked), written with the library's own ``save_to_disk`` into a hookpoint folder (``layers.3``, the layout of the
hub repositories), read back by ``quanta.parts.pretrained.load_pretrained_sae(root, hookpoint="layers.3")``, and
both encode the same random rows. Measured: the largest absolute difference of the dense codes, the share of rows
whose k selected latents are the same set, and the largest absolute difference of the reconstructions
(``SparseCoder.decode`` against quanta's ``decode``). Writes docs/data/sae_pretrained_check.json and its paragraph
into docs/parts.md (tests/test_docs_sae_pretrained.py checks both without importing sparsify).
"""

from __future__ import annotations

import json
import platform
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from docblock import checkout_quanta, write_block

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "sae_pretrained_check.json"
DOC = ROOT / "docs" / "parts.md"
START, END = "<!-- sae-pretrained:start -->", "<!-- sae-pretrained:end -->"

#: (d_in, num_latents, k, seed): a pythia-70m-sized width with sparsify's default k, and a smaller one
CASES = ((512, 4096, 32, 0), (64, 512, 8, 1))
N_ROWS = 2000
HOOKPOINT = "layers.3"


def check_case(d_in: int, n_latents: int, k: int, seed: int) -> dict:
    import torch
    from sparsify import SparseCoder, SparseCoderConfig

    from quanta.parts.pretrained import load_pretrained_sae

    torch.manual_seed(seed)
    lib = SparseCoder(d_in, SparseCoderConfig(num_latents=n_latents, k=k), device="cpu", dtype=torch.float32)
    with torch.no_grad():
        lib.encoder.bias.normal_(0, 0.1)
        lib.b_dec.normal_(0, 0.5)
    g = torch.Generator().manual_seed(1000 + seed)
    x = torch.randn(N_ROWS, d_in, generator=g) * 2.0  # (N_ROWS, d_in)
    with tempfile.TemporaryDirectory() as tmp:
        lib.save_to_disk(Path(tmp) / HOOKPOINT)
        sae, info = load_pretrained_sae(tmp, hookpoint=HOOKPOINT)
    with torch.no_grad():
        out = lib.encode(x)
        lib_codes = torch.zeros(N_ROWS, n_latents).scatter_(1, out.top_indices, out.top_acts)
        lib_recon = lib.decode(out.top_acts, out.top_indices)
        codes = sae.encode(x)
        recon = sae.decode(codes)
    lib_sets = [set(r) for r in out.top_indices.tolist()]
    our_sets = [set(r) for r in codes.topk(k, dim=1).indices.tolist()]
    return {"d_in": d_in, "n_latents": n_latents, "k": k, "seed": seed, "n_rows": N_ROWS,
            "loaded": {"format": info.format, "n_latents": info.n_latents, "d_in": info.d_in, "k": info.k},
            "max_abs_code_diff": float((codes - lib_codes).abs().max()),
            "max_abs_code": float(lib_codes.abs().max()),
            "topk_set_agreement": sum(a == b for a, b in zip(lib_sets, our_sets)) / N_ROWS,
            "max_abs_recon_diff": float((recon - lib_recon).abs().max())}


def render(data: dict) -> str:
    cases = "; ".join(f"d_in {c['d_in']}, {c['n_latents']} latents, k {c['k']}: largest code difference "
                      f"{c['max_abs_code_diff']:.1e} (codes up to {c['max_abs_code']:.1f}), same top-k set on "
                      f"{100 * c['topk_set_agreement']:.1f}% of rows, largest reconstruction difference "
                      f"{c['max_abs_recon_diff']:.1e}" for c in data["cases"])
    return (f"{START}\n**Checked against the library.** `benchmarks/sae_pretrained_check.py` builds sparsify "
            f"`SparseCoder`s with random weights (`eai-sparsify` {data['versions']['eai-sparsify']}), saves each "
            f"with the library's `save_to_disk` into a `{data['hookpoint']}` folder, loads it with "
            f"`load_pretrained_sae(root, hookpoint=\"{data['hookpoint']}\")` and encodes {data['n_rows']} random "
            f"rows with both ({data['date'][:10]}, `docs/data/sae_pretrained_check.json`): {cases}.\n{END}")


def main():
    from importlib.metadata import version

    data = {"quanta_imported_from": checkout_quanta(ROOT), "cases": [check_case(*c) for c in CASES],
            "n_rows": N_ROWS, "hookpoint": HOOKPOINT,
            "versions": {name: version(name) for name in ("eai-sparsify", "torch", "quanta", "safetensors")},
            "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    DATA.write_text(json.dumps(data, indent=1) + "\n")
    write_block(DOC, render(data), START, END)
    print(json.dumps(data["cases"], indent=1))


if __name__ == "__main__":
    main()
