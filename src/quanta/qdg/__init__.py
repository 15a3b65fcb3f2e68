"""QDG: quanta discovery from gradients (docs/science.md §4).

Modules: :mod:`quanta.qdg.select` (which tokens), :mod:`quanta.qdg.grads` (per-token gradients, each computed
once, optionally sketched), :mod:`quanta.qdg.cluster` (similarity, spectral clustering sweep, sizes),
:mod:`quanta.qdg.pipeline` (the LM run: ``run_qdg_lm``) and :mod:`quanta.qdg.parity` (QDG on a parity run, scored
against the planted tasks: ``run_qdg_parity``). Names are imported lazily so ``import quanta.qdg`` stays light.
"""

from __future__ import annotations

from quanta._lazy import lazy_exports

_EXPORTS = {
    "select_tokens": "quanta.qdg.select",
    "context_losses": "quanta.qdg.select",
    "induction_mask": "quanta.qdg.select",
    "token_gradients": "quanta.qdg.grads",
    "sample_gradients": "quanta.qdg.grads",
    "select_gradient_blocks": "quanta.qdg.grads",
    "cosine_matrix": "quanta.qdg.affinity",
    "angular_affinity": "quanta.qdg.affinity",
    "knn_affinity": "quanta.qdg.affinity",
    "affinity_graph": "quanta.qdg.affinity",
    "spectral_embedding": "quanta.qdg.spectral",
    "spectral_sweep": "quanta.qdg.cluster",
    "eigengap_count": "quanta.qdg.cluster",
    "cluster_sizes": "quanta.qdg.cluster",
    "QDGConfig": "quanta.qdg.pipeline",
    "run_qdg_lm": "quanta.qdg.pipeline",
    "analyze_gradients": "quanta.qdg.pipeline",
    "choose_counts": "quanta.qdg.pipeline",
    "ParityQDGConfig": "quanta.qdg.parity",
    "run_qdg_parity": "quanta.qdg.parity",
    "score_clusters": "quanta.qdg.parity",
    "ParityParts": "quanta.qdg.parity",
    "decompose_parity": "quanta.qdg.parity",
    "select_low_loss": "quanta.qdg.parity",
    "choose_count": "quanta.qdg.count",
    "stability_curve": "quanta.qdg.count",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, globals())
