"""Planted activations: sparse sums of known unit directions used with Zipf frequencies (a test bed for parts).

Feature ``i`` (1-based) is active on a row independently with probability ``p_i = p_max · i**-(alpha+1)``, so
the features' use frequencies follow the quanta model's ``i**-(alpha+1)``. A row is the sum of its active
features' directions (random unit vectors in ``d`` dimensions) times magnitudes drawn uniformly from
``[0.5, 1.5]``, plus Gaussian noise. Rows with no active feature are kept (noise only), as tokens that use no
part; dropping them would lift the commonest feature above half the rows, where it is dense.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quanta.validation import Interval, validate_params

__all__ = ["PlantedActivations", "planted_activations", "TOY", "TOY_SAE", "TOY_TUNING"]


@dataclass(frozen=True)
class PlantedActivations:
    """``X`` (n_rows, d) float32, ``directions`` (n_features, d), ``active`` (n_rows, n_features) bool and the
    planted Zipf exponent ``exponent`` (= alpha + 1)."""

    X: np.ndarray
    directions: np.ndarray
    active: np.ndarray
    exponent: float


def planted_activations(*, n_features: int = 64, d: int = 64, n_rows: int = 6000, alpha: float = 0.5,
                        p_max: float = 0.3, noise: float = 0.02, seed: int = 0) -> PlantedActivations:
    """Draw planted activations (see the module docstring)."""
    validate_params(dict(n_features=n_features, d=d, n_rows=n_rows, alpha=alpha, p_max=p_max, noise=noise),
                    {"n_features": [Interval(int, 2, None)], "d": [Interval(int, 1, None)],
                     "n_rows": [Interval(int, 1, None)], "alpha": [Interval(float, 0, None, closed="neither")],
                     "p_max": [Interval(float, 0, 1, closed="right")], "noise": [Interval(float, 0, None)]},
                    where="planted_activations")
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((n_features, d))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    p = p_max * np.arange(1, n_features + 1, dtype=float) ** -(alpha + 1.0)
    active = rng.random((n_rows, n_features)) < p  # (n_rows, n_features)
    mag = rng.uniform(0.5, 1.5, size=active.shape) * active
    X = mag @ dirs + noise * rng.standard_normal((active.shape[0], d))
    return PlantedActivations(X=X.astype(np.float32), directions=dirs.astype(np.float32), active=active,
                              exponent=float(alpha + 1.0))


#: the planted toy of tests/test_parts_sae.py and benchmarks/parts_planted.py (docs/parts.md)
TOY = dict(n_features=32, d=48, n_rows=20000, p_max=0.3)
#: its SAE, chosen on TOY_TUNING only (k swept over 1, 0.6, 0.4; see docs/parts.md)
TOY_SAE = dict(k=0.4, n_latents=48, n_steps=600, lr=3e-3, sparsity="batchtopk")
#: where TOY_SAE was chosen; no assertion and no reported recovery uses it
TOY_TUNING = dict(alpha=0.8, seed=100)
