"""docs/parts.md's check of the published-SAE reader against sparsify quotes only docs/data/sae_pretrained_check.json
(benchmarks/sae_pretrained_check.py, run in the venv that has eai-sparsify; these tests never import it)."""

import json
import sys
from pathlib import Path

from conftest import load_benchmark

ROOT = Path(__file__).resolve().parents[1]


def test_paragraph_is_rendered_from_the_record():
    bench = load_benchmark("sae_pretrained_check")
    data = json.loads(bench.DATA.read_text())
    assert bench.render(data) in (ROOT / "docs" / "parts.md").read_text()
    assert "sparsify" not in sys.modules


def test_record_is_the_scripts_and_says_the_reader_agrees():
    bench = load_benchmark("sae_pretrained_check")
    data = json.loads(bench.DATA.read_text())
    assert data["quanta_imported_from"] == "src/quanta/__init__.py"  # this checkout's reader, not the venv's
    assert [(c["d_in"], c["n_latents"], c["k"], c["seed"]) for c in data["cases"]] == list(bench.CASES)
    assert data["hookpoint"] == bench.HOOKPOINT and data["n_rows"] == bench.N_ROWS
    for c in data["cases"]:
        assert c["loaded"] == {"format": "sparsify", "n_latents": c["n_latents"], "d_in": c["d_in"], "k": c["k"]}
        assert c["max_abs_code_diff"] < 1e-5 and c["max_abs_recon_diff"] < 1e-5
        assert c["topk_set_agreement"] == 1.0


def test_centring_figures_are_the_recorded_check():
    """docs/parts.md's TransformerLens comparison quotes docs/data/sae_centring_check.json
    (benchmarks/sae_centring_check.py): the largest differences with and without centring, over both models."""
    data = json.loads((ROOT / "docs" / "data" / "sae_centring_check.json").read_text())
    doc = " ".join((ROOT / "docs" / "parts.md").read_text().split())
    hooks = ("resid_pre", "mlp_out", "resid_post1_vs_hidden2")

    def worst(setting):
        return max(v for m in ("gpt2", "neox") for k, v in data[m][setting].items() if k.startswith(hooks))

    on, off = worst("center_writing_weights=True"), worst("center_writing_weights=False")
    assert on < 1e-5 and off < 1e-5
    assert f"to at most {on:.1e}, and without it equal the raw activations to at most {off:.1e}" in doc
    # the last block's resid_post is not hidden_states[n_layers] (after the final norm): refused for that reason
    assert min(data[m][s]["resid_post2_vs_hidden3(after ln_f)"] for m in ("gpt2", "neox")
               for s in ("center_writing_weights=True", "center_writing_weights=False")) > 1
    assert data["from_pretrained_default_center_writing_weights"] is True
    assert data["from_pretrained_no_processing_default_center_writing_weights"] is False
    assert f"TransformerLens {data['transformer_lens']}" in doc
