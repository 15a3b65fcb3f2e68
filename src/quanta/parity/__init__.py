"""Multitask sparse parity (docs/science.md §2): data, batched ensembles, sweeps.

Importing this package does not import torch; the names below load on first use:

- :class:`~quanta.parity.data.ParityTasks`: tasks, Zipf sampling, test samples;
- :class:`~quanta.parity.train.ParityConfig`, :func:`~quanta.parity.train.train_sweep`,
  :func:`~quanta.parity.train.run_parity`: sweeps;
- :func:`~quanta.parity.train.load_member`: one trained model of a run as a plain module;
- :func:`~quanta.parity.presets.preset_config`: named sweeps.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "ParityTasks": "quanta.parity.data",
    "zipf_probs": "quanta.theory",  # the one home of the model's formulas: zipf_probs(alpha, n_tasks)
    "ParityMLP": "quanta.parity.ensemble",
    "BatchedMLP": "quanta.parity.ensemble",
    "ParityConfig": "quanta.parity.train",
    "SweepTrainer": "quanta.parity.train",
    "train_sweep": "quanta.parity.train",
    "run_parity": "quanta.parity.train",
    "load_member": "quanta.parity.train",
    "preset_config": "quanta.parity.presets",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'quanta.parity' has no attribute {name!r}")
