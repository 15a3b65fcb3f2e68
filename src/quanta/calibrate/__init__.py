"""Calibration of the closing test on planted worlds where the right answer is known (``quanta calibrate``).

The test of :mod:`quanta.falsify` says ``consistent``, ``inconsistent``, ``not a power law`` or ``undetermined``.
This package measures how often each answer is right: it trains parity worlds whose task frequencies are planted
(Zipf at several α and task counts, and laws that are not a power law), measures both sides of the test on every
training seed, and decides verdicts in true worlds, mismatched pairs (scaling side from α = a, parts from α = b),
decompositions that ignore the network, and non-power-law worlds. It reports the false-alarm rate, the coverage
of the intervals, the power per gap and per false world, each with a Wilson interval and its number of verdicts.

Layout: :mod:`~quanta.calibrate.config` (worlds and presets), :mod:`~quanta.calibrate.units` (per-seed
measurements), :mod:`~quanta.calibrate.verdicts` (verdicts per planted world), :mod:`~quanta.calibrate.rates`
(rates and intervals), :mod:`~quanta.calibrate.figures`, :mod:`~quanta.calibrate.run` (the run directory).
"""

from quanta._lazy import lazy_exports

_EXPORTS = {
    "TrainingWorld": "quanta.calibrate.config",
    "CalibrationConfig": "quanta.calibrate.config",
    "calibration_config": "quanta.calibrate.config",
    "PRESETS": "quanta.calibrate.config",
    "scaling_units": "quanta.calibrate.units",
    "parts_units": "quanta.calibrate.units",
    "world_verdicts": "quanta.calibrate.verdicts",
    "wilson": "quanta.calibrate.rates",
    "summarize": "quanta.calibrate.rates",
    "plot_power": "quanta.calibrate.figures",
    "plot_coverage": "quanta.calibrate.figures",
    "run_calibration": "quanta.calibrate.run",
    "shipped_calibration": "quanta.calibrate.shipped",
    "calibration_sentence": "quanta.calibrate.shipped",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, globals())
