"""Named parity sweeps: the paper's runs (GPU scale) and CPU presets (small and tiny).

``preset_config(name, overrides)`` gives the :class:`~quanta.parity.train.ParityConfig`;
``--set key=value`` on the command line becomes ``overrides``. Unknown presets and keys are
refused with a one-line QuantaError.
"""

from __future__ import annotations

import numpy as np

from quanta.errors import QuantaError


def _geom_ints(lo: float, hi: float, num: int) -> list[int]:
    return [int(v) for v in np.unique(np.round(np.geomspace(lo, hi, num)).astype(np.int64))]


PAPER_WIDTHS = _geom_ints(10, 500, 30)  # 30 distinct widths, 10 .. 500
#: The widths of the paper's Fig. 10 sweep, as the reference code computes them (experiments/P-scaling-17 of
#: ejmichaud/quantization-model: ``int`` of 20 log-spaced values from 10 to 300, so the first is 9). Written out,
#: because the formula's ends land within a rounding error of whole numbers (9.999… and 300.000…1), where another
#: libm could truncate differently and a resumed run would then no longer match its checkpoint's config; a test
#: checks the list against the formula.
ALPHA_SWEEP_WIDTHS = [9, 11, 14, 17, 20, 24, 29, 35, 41, 50, 59, 71, 85, 102, 122, 146, 175, 209, 250, 300]

#: name -> (one-line description, fields that differ from the ParityConfig defaults)
PRESETS: dict[str, tuple[str, dict]] = {
    "paper-fig2-params": (
        "Paper Fig. 2 parameter sweep: 30 widths 10..500, n_tasks 500, n 100, k 3, α 0.4, batch 20000, "
        "2e5 online steps (GPU).",
        dict(n_tasks=500, n=100, k=3, alphas=[0.4], widths=PAPER_WIDTHS, data_sizes=[0], batch_size=20000,
             steps=200_000, n_evals=40, n_test_per_task=1000, checkpoint_every=5000),
    ),
    "paper-fig2-data": (
        "Paper Fig. 2 data sweep: width 500, 12 training-set sizes D log-spaced 1e4..5e6, multi-epoch, "
        "early stopping on test loss (GPU).",
        dict(n_tasks=500, n=100, k=3, alphas=[0.4], widths=[500], data_sizes=_geom_ints(1e4, 5e6, 12),
             batch_size=20000, steps=200_000, n_evals=30, eval_every=1000, patience=20, n_test_per_task=1000,
             checkpoint_every=5000),
    ),
    "paper-alpha-sweep": (
        "Paper Fig. 10 parameter/steps runs, as the reference code ran them: α 0.1..0.8 × 20 widths 9..300 × "
        "seeds 0, 1, 2, 1e5 online steps of batch 20000 (GPU; one α at a time with --set alphas=[0.4]). "
        "For α_D run paper-fig2-data with --set alphas=[...].",
        dict(n_tasks=500, n=100, k=3, alphas=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], widths=ALPHA_SWEEP_WIDTHS,
             seeds=[0, 1, 2], data_sizes=[0], batch_size=20000, steps=100_000, n_evals=40, n_test_per_task=1000,
             eval_batch=20000, checkpoint_every=5000),
    ),
    "cpu-small": (
        "CPU parameter sweep (about a minute on 2 cores; docs/data/parity_cpu_small.json): 10 widths 4..128; 286 tasks (every 3-subset of 13 "
        "data bits), α 0.4, 12000 online steps of batch 1000.",
        dict(n_tasks=286, n=13, k=3, alphas=[0.4], widths=[4, 6, 8, 12, 18, 26, 38, 56, 84, 128], data_sizes=[0],
             batch_size=1000, steps=12000, lr=1e-2, n_evals=20, n_test_per_task=100, eval_batch=20000,
             checkpoint_every=1000),
    ),
    "cpu-tiny": (
        "For tests: a few seconds on a CPU.",
        dict(n_tasks=8, n=8, k=3, alphas=[0.4], widths=[4, 8, 16, 32], data_sizes=[0], batch_size=256, steps=300,
             lr=1e-2, n_evals=6, n_test_per_task=64, eval_batch=4096),
    ),
}


def preset_names() -> list[str]:
    return list(PRESETS)


def preset_config(name: str, overrides: dict | None = None):
    """The config of preset ``name`` with ``overrides`` (field -> value) applied.

    Raises
    ------
    QuantaError
        For an unknown preset, an unknown key or an impossible value.
    """
    from quanta.parity.config import ParityConfig

    if name not in PRESETS:
        raise QuantaError(f"preset: unknown preset {name!r}", f"choose one of {', '.join(PRESETS)}")
    values = dict(PRESETS[name][1])
    values.update(overrides or {})
    return ParityConfig.from_dict(values)
