"""Multitask sparse parity (docs/science.md §2): data, batched ensembles, sweeps, their analysis.

Importing this package does not import torch; the names below load on first use:

- :class:`~quanta.parity.data.ParityTasks`: tasks, Zipf sampling, test samples;
- :class:`~quanta.parity.train.ParityConfig`, :func:`~quanta.parity.train.train_sweep`,
  :func:`~quanta.parity.train.run_parity`: sweeps;
- :func:`~quanta.parity.train.load_member`: one trained model of a run as a plain module;
- :func:`~quanta.parity.presets.preset_config`: named sweeps;
- :func:`~quanta.parity.tables.load_parity_run`, :func:`~quanta.parity.tables.parity_tables`: the tables of a
  run directory, or those :func:`~quanta.parity.train.train_sweep` returns;
- :class:`~quanta.parity.analyze.AnalyzeConfig`, :func:`~quanta.parity.analyze.analyze_parity`,
  :func:`~quanta.parity.analyze.run_parity_analysis`: scaling fits, emergence and learning order of a finished
  sweep (its fit ranges in :mod:`quanta.parity.fit_ranges`, the emergence prediction in
  :mod:`quanta.parity.emergence`, the figures in :mod:`quanta.parity.figures`).
"""

from __future__ import annotations

from quanta._lazy import lazy_exports

_EXPORTS = {
    "ParityTasks": "quanta.parity.data",
    "zipf_probs": "quanta.theory",  # the one home of the model's formulas: zipf_probs(alpha, n_tasks)
    "ParityMLP": "quanta.parity.ensemble",
    "BatchedMLP": "quanta.parity.ensemble",
    "ParityConfig": "quanta.parity.config",
    "SweepTrainer": "quanta.parity.train",
    "train_sweep": "quanta.parity.train",
    "run_parity": "quanta.parity.train",
    "load_member": "quanta.parity.train",
    "preset_config": "quanta.parity.presets",
    "AnalyzeConfig": "quanta.parity.analyze",
    "ParityAnalysis": "quanta.parity.analyze",
    "ParityTables": "quanta.parity.tables",
    "load_parity_run": "quanta.parity.tables",
    "parity_tables": "quanta.parity.tables",
    "analyze_parity": "quanta.parity.analyze",
    "run_parity_analysis": "quanta.parity.analyze",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, globals())
