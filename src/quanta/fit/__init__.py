"""Power laws and rank-frequency laws, with intervals: the fits every analysis in quanta uses.

Two families of fits, one module each idea:

* **Scaling laws** ``L(x) = L_inf + A * x**(-alpha)``: :func:`fit_power_law` (least squares on log-space
  residuals, residual-bootstrap interval; :mod:`quanta.fit.power_law`), :func:`fit_power_law_profile` and
  :func:`fit_loss_law` (profile-likelihood interval; :mod:`quanta.fit.profile`), and the label-free fit-range
  rules :func:`plateau_fit_range` and :func:`upto_lowest_loss` (:mod:`quanta.fit.ranges`).
* **Zipf laws** ``p(k) ∝ k**(-exponent)`` of discrete samples (:func:`fit_zipf_mle`; :mod:`quanta.fit.zipf`), of
  cluster sizes (:func:`fit_zipf_from_sizes`) and of a rank-frequency curve or envelope
  (:func:`fit_rank_frequency`; both in :mod:`quanta.fit.rank_frequency`). Under the quanta hypothesis the use
  frequencies of quanta follow ``k**-(alpha+1)``, so a Zipf exponent ``e`` corresponds to a scaling exponent
  ``alpha = e - 1``.

The fitted laws are records (:mod:`quanta.fit.results`). Everything is numpy/scipy; nothing here prints. Bad
input raises :class:`~quanta.errors.QuantaError`. See ``docs/fit.md``.

>>> import numpy as np
>>> from quanta.fit import fit_power_law
>>> x = np.logspace(1, 4, 12)
>>> round(fit_power_law(x, 3 * x ** -0.5, offset=False, n_boot=0).alpha, 6)
0.5
"""

from quanta.fit.power_law import fit_power_law
from quanta.fit.profile import MIN_DOF, ProfileFit, fit_loss_law, fit_power_law_profile
from quanta.fit.rank_frequency import (fit_rank_frequency, fit_zipf_from_sizes, rank_frequency_envelope,
                                       sample_sorted_sizes)
from quanta.fit.ranges import plateau_fit_range, upto_lowest_loss
from quanta.fit.results import PowerLawFit, RankEnvelope, ZipfFit
from quanta.fit.zipf import _mle_exponents, _power_sums, fit_zipf_mle  # noqa: F401 (plausibility, tests)

__all__ = [
    "PowerLawFit",
    "ZipfFit",
    "RankEnvelope",
    "ProfileFit",
    "MIN_DOF",
    "fit_power_law",
    "fit_power_law_profile",
    "fit_loss_law",
    "fit_zipf_mle",
    "fit_zipf_from_sizes",
    "fit_rank_frequency",
    "rank_frequency_envelope",
    "sample_sorted_sizes",
    "plateau_fit_range",
    "upto_lowest_loss",
]
