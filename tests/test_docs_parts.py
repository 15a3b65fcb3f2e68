"""docs/parts.md quotes only the recorded run in docs/data/parts_planted.json (benchmarks/parts_planted.py)."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("parts_planted", ROOT / "benchmarks" / "parts_planted.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_parts_doc_table_matches_the_recorded_run():
    from quanta.parts.planted import TOY, TOY_SAE, TOY_TUNING

    bench = _bench()
    data = json.loads(bench.DATA.read_text())
    assert bench.render_table(data) in (ROOT / "docs" / "parts.md").read_text()
    # the record was made with the toy and SAE the library ships, tuned where the doc says
    assert data["toy"] == TOY and data["toy_sae"] == TOY_SAE and data["tuning"] == TOY_TUNING
    assert TOY_TUNING["alpha"] not in data["reported_alphas"]
