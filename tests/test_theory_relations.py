"""The exponent relations of quanta.theory, the one home of the model's formulas."""

import doctest
import math

import numpy as np
import pytest

import quanta.theory
from quanta.errors import QuantaError
from quanta.theory import (SCALING_REGIMES, alpha_from_scaling, frequency_exponent, frequency_exponent_from_scaling,
                           growth_exponent, predicted_exponents, predicted_measurements, scaling_exponent, zipf_probs)

ALPHAS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.5, 3.0]


def test_theory_docstring_examples():
    assert doctest.testmod(quanta.theory).failed == 0


def test_frequency_exponent():
    assert frequency_exponent(0.4) == 1.4
    assert frequency_exponent(0.083) == pytest.approx(1.083)
    assert math.isnan(frequency_exponent(math.nan))  # a missing interval end stays missing
    with pytest.raises(QuantaError):
        frequency_exponent("0.4")


@pytest.mark.parametrize("alpha", ALPHAS)
def test_scaling_and_its_inverse(alpha):
    assert scaling_exponent(alpha, "params") == alpha
    assert scaling_exponent(alpha, "data") == scaling_exponent(alpha, "steps") == alpha / (alpha + 1.0)
    for regime in SCALING_REGIMES:
        e = scaling_exponent(alpha, regime)
        assert alpha_from_scaling(e, regime) == pytest.approx(alpha, rel=1e-12)
        assert frequency_exponent_from_scaling(e, regime) == pytest.approx(alpha + 1.0, rel=1e-12)
        assert frequency_exponent_from_scaling(e, regime) == pytest.approx(
            frequency_exponent(alpha_from_scaling(e, regime)), rel=1e-12)
    assert growth_exponent(alpha, "params") == 1.0
    assert growth_exponent(alpha, "data") == growth_exponent(alpha, "steps") == 1.0 / (alpha + 1.0)


def test_alpha_from_scaling_refuses_what_no_alpha_gives():
    for regime in ("data", "steps"):
        for e in (1.0, 1.5):
            with pytest.raises(QuantaError, match="below 1"):
                alpha_from_scaling(e, regime)
            with pytest.raises(QuantaError, match="below 1"):
                frequency_exponent_from_scaling(e, regime)
    assert alpha_from_scaling(1.5, "params") == 1.5
    assert alpha_from_scaling(0.5, "steps") == 1.0
    assert frequency_exponent_from_scaling(0.5, "steps") == 2.0
    with pytest.raises(QuantaError, match="regime"):
        alpha_from_scaling(0.3, "N")
    with pytest.raises(QuantaError, match="regime"):
        scaling_exponent(0.3, "tokens")


@pytest.mark.parametrize("alpha", ALPHAS)
def test_predictions_are_the_formulas_bit_for_bit(alpha):
    """The numbers the analyses wrote before the formulas moved here, exactly."""
    a = float(alpha)
    assert predicted_exponents(alpha) == {"alpha_N": a, "alpha_D": a / (a + 1.0), "alpha_S": a / (a + 1.0),
                                          "n_D": 1.0 / (a + 1.0)}
    assert predicted_measurements(alpha) == {
        "alpha_N": a, "alpha_D": a / (a + 1), "alpha_S": a / (a + 1), "alpha_S_tail_corrected": a / (a + 1),
        "n_vs_N_exponent": 1.0, "n_vs_D_exponent": 1 / (a + 1), "convergence_exponent": 1.0, "order_spearman": 1.0}
    for e in (0.04, 0.083, 0.3, alpha / (alpha + 1)):
        assert frequency_exponent_from_scaling(e, "params") == e + 1
        assert frequency_exponent_from_scaling(e, "steps") == 1 / (1 - e)
        assert alpha_from_scaling(e, "steps") == e / (1 - e)


@pytest.mark.parametrize("n", [1, 2, 5, 50, 500])
@pytest.mark.parametrize("alpha", ALPHAS)
def test_zipf_probs_are_the_old_parity_task_probabilities(n, alpha):
    ranks = np.arange(1, n + 1, dtype=np.float64)
    w = ranks ** -(float(alpha) + 1.0)
    p = zipf_probs(alpha, n)
    assert p.dtype == np.float64
    np.testing.assert_array_equal(p, w / w.sum())


def test_parity_exports_theorys_zipf_probs():
    import quanta.parity
    import quanta.parity.data

    assert quanta.parity.zipf_probs is quanta.theory.zipf_probs
    assert quanta.parity.data.zipf_probs is quanta.theory.zipf_probs
    # the argument order is theory's: (alpha, n_quanta); the old (n, alpha) order is refused, not misread
    assert quanta.parity.zipf_probs(0.4, 5).shape == (5,)
    with pytest.raises(QuantaError):
        quanta.parity.zipf_probs(5, 0.4)
