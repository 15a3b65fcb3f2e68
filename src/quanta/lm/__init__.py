"""Language-model suites and their per-token losses (docs/science.md §3).

- :mod:`quanta.lm.corpus`: corpora into separate documents (``load_corpus``) and token windows
  (``tokenize_documents``).
- :mod:`quanta.lm.suite`: suites by Pythia name, hub id, local directory or trained by quanta
  (``resolve_suite``, ``load_model``, ``train_suite``).
- :mod:`quanta.lm.losses`: the batched per-token loss engine (``per_token_losses``, ``compute_losses``).

Importing this package does not import torch.
"""
