"""Language-model suites and their per-token losses (docs/science.md §3).

- :mod:`quanta.lm.corpus`: corpora into separate documents (``load_corpus``) and token windows
  (``tokenize_documents``).
- :mod:`quanta.lm.models`: suites by Pythia name, hub id or local directory, and loading them
  (``resolve_suite``, ``load_model``, ``load_tokenizer``).
- :mod:`quanta.lm.train`: training a suite offline (``SuiteConfig``, ``train_suite``).
- :mod:`quanta.lm.losses`: the batched per-token loss engine (``per_token_losses``, ``compute_losses``).
- :mod:`quanta.lm.analyze`: distributions, mean-loss scaling, monogenic and polygenic tokens
  (``analyze_losses``), one module per step: :mod:`quanta.lm.loss_matrix` (``load_loss_matrix``),
  :mod:`quanta.lm.distributions`, :mod:`quanta.lm.token_curves`, :mod:`quanta.lm.contexts`, :mod:`quanta.lm.figures`.

Importing this package does not import torch; the names load on first use.
"""

from __future__ import annotations

from quanta._lazy import lazy_exports

_EXPORTS = {
    "Document": "quanta.lm.corpus",
    "TokenizedWindow": "quanta.lm.corpus",
    "load_corpus": "quanta.lm.corpus",
    "split_documents": "quanta.lm.corpus",
    "tokenize_documents": "quanta.lm.corpus",
    "ModelRef": "quanta.lm.models",
    "resolve_suite": "quanta.lm.models",
    "load_model": "quanta.lm.models",
    "load_tokenizer": "quanta.lm.models",
    "count_params": "quanta.lm.models",
    "SuiteConfig": "quanta.lm.train",
    "train_suite": "quanta.lm.train",
    "per_token_losses": "quanta.lm.losses",
    "LossesConfig": "quanta.lm.losses",
    "compute_losses": "quanta.lm.losses",
    "read_losses": "quanta.lm.losses",
    "AnalyzeConfig": "quanta.lm.analyze",
    "LossMatrix": "quanta.lm.loss_matrix",
    "load_loss_matrix": "quanta.lm.loss_matrix",
    "analyze_losses": "quanta.lm.analyze",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, globals())
