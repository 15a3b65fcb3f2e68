"""Is a rank-frequency law a power law? Goodness of fit and likelihood ratios (quanta.plausibility)."""

import numpy as np
import pytest

from quanta.errors import QuantaError
from quanta.plausibility import power_law_check


def _sizes(p, n, seed):
    return np.random.default_rng(seed).multinomial(n, p / p.sum())


def test_zipf_parts_are_plausible_and_other_laws_are_not():
    r = np.arange(1, 21, dtype=float)
    zipf = power_law_check(_sizes(r ** -1.4, 3000, 0), n_boot=300)
    assert zipf.plausible and zipf.preferred == "power_law" and zipf.exponent == pytest.approx(1.4, abs=0.08)
    assert zipf.lr_exponential > 0 and zipf.p_exponential < 0.01
    geometric = power_law_check(_sizes(0.75 ** r, 3000, 1), n_boot=300)
    assert not geometric.plausible and geometric.preferred == "exponential"
    assert geometric.lr_exponential < 0 and geometric.p_exponential < 0.01
    # a broken law: two regimes with different exponents
    broken = power_law_check(_sizes(np.where(r <= 5, r ** -0.3, 5 ** 2.7 * r ** -3.0), 5000, 2), n_boot=300)
    assert not broken.plausible


def test_gof_p_is_roughly_uniform_under_the_null():
    r = np.arange(1, 14, dtype=float)
    ps = np.array([power_law_check(_sizes(r ** -1.4, 1300, s), n_boot=100, seed=s).gof_p for s in range(60)])
    # the recorded measurement (200 data sets, 200 replicates) is in docs/falsify.md (benchmarks/gof_size.py)
    assert 0.02 <= (ps <= 0.1).mean() <= 0.3 and 0.3 < np.median(ps) < 0.7


def test_agrees_with_the_powerlaw_package():
    powerlaw = pytest.importorskip("powerlaw")
    rng = np.random.default_rng(0)
    m = 60
    r = np.arange(1, m + 1)
    p = r ** -1.6
    data = rng.choice(r, size=20000, p=p / p.sum())
    ref = powerlaw.Fit(data, discrete=True, xmin=1, xmax=m, verbose=False)
    ours = power_law_check(np.bincount(data, minlength=m + 1)[1:], n_boot=20)
    assert ours.exponent == pytest.approx(ref.power_law.alpha, abs=0.005)
    R, _ = ref.distribution_compare("power_law", "exponential")
    assert ours.lr_exponential == pytest.approx(R, rel=0.1)


def test_refuses_too_few_parts():
    from quanta.plausibility import head_law

    from quanta.plausibility import plausible_head

    for bad in ([100, -3, 30, 10, 5, 3], [100, np.nan, 30, 10, 5], [100, 30.5, 10, 5, 3], [[100, 30], [10, 5]]):
        for fit in (head_law, plausible_head):  # a NaN was dropped and fractions read as "no plausible head"
            with pytest.raises(QuantaError, match="whole, non-negative counts"):
                fit(bad, n_boot=10)
    with pytest.raises(QuantaError, match="at least 3"):
        power_law_check([10, 5])
    with pytest.raises(QuantaError, match="too few"):
        power_law_check([3, 2, 1, 0])
