"""docs/parts.md's check of the published-SAE reader against SAELens quotes only docs/data/sae_saelens_check.json
(benchmarks/sae_saelens_check.py, run in a venv that has sae-lens; these tests never import it)."""

import json
import sys
from pathlib import Path

from conftest import load_benchmark

ROOT = Path(__file__).resolve().parents[1]


def test_paragraph_is_rendered_from_the_record():
    bench = load_benchmark("sae_saelens_check")
    data = json.loads(bench.DATA.read_text())
    doc = (ROOT / "docs" / "parts.md").read_text()
    assert bench.render(data) in doc
    assert doc.index("<!-- sae-pretrained:end -->") < doc.index(bench.START)  # right after the sparsify check
    assert "sae_lens" not in sys.modules


def test_record_is_the_scripts_and_says_the_reader_agrees():
    bench = load_benchmark("sae_saelens_check")
    data = json.loads(bench.DATA.read_text())
    assert data["quanta_imported_from"] == "src/quanta/__init__.py"  # this checkout's reader, not the venv's
    assert (data["d_in"], data["d_sae"], data["k"], data["n_rows"]) == (bench.D_IN, bench.D_SAE, bench.K, bench.N_ROWS)
    assert [(c["name"], c["architecture"], c["settings"], c["seed"]) for c in data["cases"]] == \
        [(n, a, s, seed) for n, a, s, seed, _ in bench.CASES]
    assert {c["architecture"] for c in data["cases"]} == {"standard", "topk", "jumprelu"}
    activation = {"standard": "relu", "topk": "topk", "jumprelu": "jumprelu"}
    for c in data["cases"]:
        assert c["saved_architecture"] == c["architecture"]
        assert c["loaded"] == {"format": "saelens", "activation": activation[c["architecture"]],
                               "k": bench.K if c["architecture"] == "topk" else None, "n_latents": bench.D_SAE,
                               "d_in": bench.D_IN, "hookpoint": bench.HOOK_NAME}
        assert c["saved_hook_name"] == c["spec_hookpoint"] == bench.HOOK_NAME
        assert c["max_abs_code_diff"] < 1e-5 and c["max_abs_recon_diff"] < 1e-5
        assert c["active_set_agreement"] == 1.0
        assert 0 < c["mean_active"] < bench.D_SAE
    assert all(c["mean_active"] == bench.K for c in data["cases"] if c["architecture"] == "topk")
    jump, = (c for c in data["cases"] if c["architecture"] == "jumprelu")
    standard = [c for c in data["cases"] if c["architecture"] == "standard"]
    assert jump["mean_active"] < min(c["mean_active"] for c in standard)  # the thresholds cut latents


def test_refusals_are_recorded_in_one_line():
    bench = load_benchmark("sae_saelens_check")
    data = json.loads(bench.DATA.read_text())
    assert [r["name"] for r in data["refused"]] == [r[0] for r in bench.REFUSED]
    for r in data["refused"]:
        assert r["refusal"] and "\n" not in r["refusal"] and "is not supported" in r["refusal"]
    norm, = data["refused"]
    assert "normalize_activations='expected_average_only_in'" in norm["refusal"]


def test_rescaled_topk_sae_is_read_as_the_library_reads_it():
    """rescale_acts_by_decoder_norm: with decoder norms far from 1 (save_model), and as the training config's default
    writes it (save_inference_model: the setting on, decoder rows folded to unit norm), read like the library."""
    data = json.loads(load_benchmark("sae_saelens_check").DATA.read_text())
    by = {c["name"]: c for c in data["cases"]}
    a, b = by["topk, rescale_acts_by_decoder_norm on"], by["TopKTrainingSAE, default settings"]
    assert a["saved_rescale_acts_by_decoder_norm"] is True and a["saved_W_dec_row_norm_max_dev_from_1"] > 0.1
    assert "rescale_acts_by_decoder_norm" not in b["settings"] and b["saved_with"] == "save_inference_model"
    assert b["saved_rescale_acts_by_decoder_norm"] is True and b["saved_W_dec_row_norm_max_dev_from_1"] < 1e-5
    for c in (a, b):
        assert c["max_abs_code_diff"] < 1e-4 and c["active_set_agreement"] == 1.0


def test_not_done_list_quotes_the_checked_version():
    data = json.loads((ROOT / "docs" / "data" / "sae_saelens_check.json").read_text())
    doc = " ".join((ROOT / "docs" / "parts.md").read_text().split())
    assert f"the SAELens reader against SAELens {data['versions']['sae-lens']}'s own `save_model` files" in doc
    assert "not against SAELens itself" not in doc
