"""docs/parts.md's comparison with sparsify quotes only docs/data/sae_library.json (benchmarks/sae_library.py).

The benchmark runs in a separate venv with eai-sparsify installed; these tests read its record and never import
the library (it is not a dependency of quanta).
"""

import json
import sys
from pathlib import Path

import numpy as np

from conftest import load_benchmark

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    return load_benchmark("sae_library")


def _data(bench):
    return json.loads(bench.DATA.read_text())


def test_table_is_rendered_from_the_record():
    bench = _bench()
    data = _data(bench)
    assert bench.render_table(data) in (ROOT / "docs" / "parts.md").read_text()
    # the derived fields are what the rows give (nothing edited by hand)
    assert bench.finish({k: v for k, v in data.items() if k not in ("summary", "topk_share_exponent_spearman")}) \
        == data
    assert "sparsify" not in sys.modules


def test_record_settings_are_the_scripts():
    from quanta.parts import SAEConfig
    from quanta.parts.planted import TOY, TOY_SAE, TOY_TUNING

    bench = _bench()
    data = _data(bench)
    assert data["matched"] == bench.MATCHED and data["toy"] == TOY and data["toy_sae"] == TOY_SAE
    assert data["alphas"] == list(bench.ALPHAS) == [0.5, 1.0] and TOY_TUNING["alpha"] not in data["alphas"]
    assert data["cos_recovered"] == bench.COS_RECOVERED and data["n_boot"] == bench.N_BOOT
    # every method on every (alpha, seed): the same matrices
    cells = {(r["alpha"], r["seed"], r["method"]) for r in data["rows"]}
    assert len(cells) == len(data["rows"]) == len(bench.ALPHAS) * data["n_seeds"] * len(bench.METHODS)
    assert data["n_seeds"] >= 5 and {r["seed"] for r in data["rows"]} == set(range(data["n_seeds"]))
    # the matched settings are the toy's where TopK can take them and SAEConfig's defaults elsewhere
    m, default = bench.MATCHED, SAEConfig()
    assert {k: m[k] for k in ("n_latents", "n_steps", "lr")} == {k: TOY_SAE[k] for k in ("n_latents", "n_steps", "lr")}
    assert all(m[k] == getattr(default, k) for k in ("batch_size", "dead_steps", "k_aux", "aux_coef"))
    assert m["sparsity"] == "topk" and m["k"] == 1
    SAEConfig(**m)  # a valid quanta config
    assert set(data["versions"]) >= {"eai-sparsify", "torch", "quanta", "transformers"}


def test_why_paragraph_names_the_recorded_versions():
    data = _data(_bench())
    text = (ROOT / "docs" / "parts.md").read_text()
    why = text[text.index("**Why a loop of our own.**"):text.index("**Sites**")]
    v = data["versions"]
    assert f"`eai-sparsify` {v['eai-sparsify']}" in why
    assert f"transformers {'.'.join(v['transformers'].split('.')[:2])}" in why


def test_reading_holds_on_the_record():
    """Each statement of the reading under the table, checked on the record."""
    data = _data(_bench())
    s = {(x["alpha"], x["method"]): x for x in data["summary"]}
    rows = data["rows"]
    a1, a2 = 0.5, 1.0
    # FVU: within 0.04 on every seed, the library's median above quanta's; above on every seed at alpha 0.5
    for alpha in (a1, a2):
        d = s[(alpha, "sparsify_topk")]["fvu_minus_quanta_topk"]
        assert max(abs(d["min"]), abs(d["max"])) < 0.04 and d["median"] > 0
    assert s[(a1, "sparsify_topk")]["fvu_minus_quanta_topk"]["min"] > 0
    # quanta's loop recovers more planted directions
    for alpha in (a1, a2):
        assert s[(alpha, "quanta_topk")]["n_recovered"]["median"] > s[(alpha, "sparsify_topk")]["n_recovered"]["median"]
    # the exponent rises with the commonest latent's share across the TopK runs
    assert data["topk_share_exponent_spearman"] > 0.8
    assert len([r for r in rows if r["method"] != "quanta_batchtopk"]) == 30
    for alpha in (a1, a2):
        q, lib = s[(alpha, "quanta_topk")], s[(alpha, "sparsify_topk")]
        assert q["top_share"]["median"] > lib["top_share"]["median"]
        assert q["exponent"]["median"] > lib["exponent"]["median"] + 0.4
        assert lib["exponent_minus_quanta_topk"]["median"] < -0.1  # the per-seed difference
    assert s[(a1, "sparsify_topk")]["exponent_minus_quanta_topk"]["max"] < 0  # below quanta's on every seed at 1.5
    # b_dec at the geometric median: the library follows quanta's at alpha+1 = 2.0, not at 1.5
    gm2 = s[(a2, "sparsify_topk_gm")]["exponent_minus_quanta_topk"]
    assert abs(gm2["median"]) < 0.1 and gm2["min"] > -0.1
    assert s[(a1, "sparsify_topk_gm")]["exponent"]["median"] < s[(a1, "quanta_topk")]["exponent"]["median"] - 0.4
    # no TopK row within 0.1 on more than one seed; BatchTopK on four of five at each alpha
    for alpha in (a1, a2):
        assert all(s[(alpha, m)]["n_within_0.1"] <= 1 for m in ("quanta_topk", "sparsify_topk", "sparsify_topk_gm"))
        assert s[(alpha, "quanta_batchtopk")]["n_within_0.1"] == 4
    # the library's training slower than quanta's in the same run (median ratio)
    assert all(s[(alpha, "sparsify_topk")]["time_ratio"]["median"] > 1 for alpha in (a1, a2))
    # the per-seed differences are what the rows give
    for alpha in (a1, a2):
        q = {r["seed"]: r["fvu"] for r in rows if r["alpha"] == alpha and r["method"] == "quanta_topk"}
        lib = [r["fvu"] - q[r["seed"]] for r in rows if r["alpha"] == alpha and r["method"] == "sparsify_topk"]
        assert np.isclose(np.median(lib), s[(alpha, "sparsify_topk")]["fvu_minus_quanta_topk"]["median"])
