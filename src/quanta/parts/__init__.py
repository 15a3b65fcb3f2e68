"""Parts: decompositions of a model's computation into parts whose use frequencies the quanta model predicts.

Every method (``quanta parts METHOD``) writes the same tables (docs/parts.md): ``parts`` (use counts and
frequencies, dead and dense flags), ``membership`` (sample, part, weight), ``contexts`` (top contexts per part),
a rank-frequency figure and the Zipf law in ``summary.json``. Modules: :mod:`quanta.parts.sae` (a TopK sparse
autoencoder), :mod:`quanta.parts.pretrained` (published SAEs: sparsify and SAELens files), :mod:`quanta.parts.law` (counts, frequencies, dead/dense rule, the Zipf fit),
:mod:`quanta.parts.planted` (planted activations with Zipf frequencies), :mod:`quanta.parts.activations` (LM
activations at a layer and site), :mod:`quanta.parts.tables` (the contract's tables and figures) and
:mod:`quanta.parts.run` (the run directories) and :mod:`quanta.parts.bench` (every method on planted worlds, scored
against the planted quanta). Names are imported lazily.
"""

from __future__ import annotations

from quanta._lazy import lazy_exports

_EXPORTS = {
    "SAEConfig": "quanta.parts.sae",
    "TopKSAE": "quanta.parts.sae",
    "train_sae": "quanta.parts.sae",
    "load_pretrained_sae": "quanta.parts.pretrained",
    "DENSE_SHARE": "quanta.parts.law",
    "feature_counts": "quanta.parts.law",
    "parts_table": "quanta.parts.law",
    "fit_parts_law": "quanta.parts.law",
    "log10_density": "quanta.parts.law",
    "PlantedActivations": "quanta.parts.planted",
    "planted_activations": "quanta.parts.planted",
    "BenchConfig": "quanta.parts.bench",
    "run_bench": "quanta.parts.bench",
    "match_scores": "quanta.parts.bench",
    "unit_truth": "quanta.parts.bench",
    "bench_world": "quanta.parts.bench",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, globals())
