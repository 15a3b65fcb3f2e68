"""quanta: the quantization model of neural scaling, put to work and to the test.

Modules follow the paper's concepts: :mod:`quanta.theory` (and its :mod:`quanta.simulator`), :mod:`quanta.fit`,
:mod:`quanta.parity`, :mod:`quanta.lm`, :mod:`quanta.qdg`, :mod:`quanta.falsify`
and :mod:`quanta.report`. Importing the package has no side effects and does not import torch:
the calls a notebook chains are here by name and load on first use, e.g.

>>> import quanta
>>> quanta.fit_power_law.__module__
'quanta.fit.power_law'
>>> "train_sweep" in dir(quanta)
True

``quanta.falsify`` is the module (its entry points are :func:`quanta.falsify.falsify` and
``quanta.falsify_parity_run``); the function is not exported here, where it would clash with the module's name.
"""

__version__ = "0.1.0"

from quanta._lazy import lazy_exports  # noqa: E402
from quanta.errors import QuantaError  # noqa: E402

_EXPORTS = {
    # theory
    "SimulatorConfig": "quanta.simulator",
    "simulate_curves": "quanta.simulator",
    "predicted_exponents": "quanta.theory",
    "run_theory": "quanta.simulator",
    # fits
    "PowerLawFit": "quanta.fit.results",
    "ZipfFit": "quanta.fit.results",
    "fit_power_law": "quanta.fit.power_law",
    "fit_zipf_mle": "quanta.fit.zipf",
    "fit_zipf_from_sizes": "quanta.fit.rank_frequency",
    "fit_rank_frequency": "quanta.fit.rank_frequency",
    # sparse parity
    "ParityConfig": "quanta.parity.config",
    "preset_config": "quanta.parity.presets",
    "train_sweep": "quanta.parity.train",
    "run_parity": "quanta.parity.train",
    "load_parity_run": "quanta.parity.tables",
    "analyze_parity": "quanta.parity.analyze",
    "run_parity_analysis": "quanta.parity.analyze",
    # language models
    "load_corpus": "quanta.lm.corpus",
    "tokenize_documents": "quanta.lm.corpus",
    "resolve_suite": "quanta.lm.models",
    "load_model": "quanta.lm.models",
    "SuiteConfig": "quanta.lm.train",
    "train_suite": "quanta.lm.train",
    "per_token_losses": "quanta.lm.losses",
    "LossesConfig": "quanta.lm.losses",
    "compute_losses": "quanta.lm.losses",
    "load_loss_matrix": "quanta.lm.loss_matrix",
    "analyze_losses": "quanta.lm.analyze",
    # quanta discovery from gradients
    "select_tokens": "quanta.qdg.select",
    "token_gradients": "quanta.qdg.grads",
    "affinity_graph": "quanta.qdg.affinity",
    "spectral_sweep": "quanta.qdg.cluster",
    "QDGConfig": "quanta.qdg.pipeline",
    "run_qdg_lm": "quanta.qdg.pipeline",
    "ParityQDGConfig": "quanta.qdg.parity",
    "run_qdg_parity": "quanta.qdg.parity",
    "decompose_parity": "quanta.qdg.parity",
    # falsification and the report
    "FalsifyConfig": "quanta.falsify",
    "scaling_from_models": "quanta.falsify",
    "parts_replicates": "quanta.falsify",
    "pool_replicates": "quanta.verdict",
    "decide": "quanta.verdict",
    "power_law_check": "quanta.plausibility",
    "fit_power_law_profile": "quanta.fit.profile",
    "falsify_parity_run": "quanta.falsify",
    "build_report": "quanta.report.build",
    "DemoConfig": "quanta.demo",
    "run_demo": "quanta.demo",
}

__getattr__, __dir__, _names = lazy_exports(__name__, _EXPORTS, globals())
__all__ = ["QuantaError", "__version__", *_names]
del _names
