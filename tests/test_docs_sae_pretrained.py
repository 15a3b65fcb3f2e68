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
