"""The decision of the closing test: pooling replicates and the test of the difference (quanta.verdict)."""

import math

import numpy as np
import pytest

from quanta.errors import QuantaError
from quanta.verdict import Estimate, decide, pool_replicates


def test_pool_takes_the_larger_of_between_and_within_variance():
    # three seeds that agree closely: the within-replicate variance floors the error
    e = pool_replicates([1.40, 1.41, 1.42, 1.40, 1.41, 1.42], units=[0, 0, 1, 1, 2, 2], within_var=[0.05 ** 2] * 6)
    assert e.value == pytest.approx(1.41) and e.n_units == 3 and e.n_replicates == 6
    assert e.se == pytest.approx(0.05 / math.sqrt(3))
    # seeds that disagree: the spread of the seed means sets it
    e = pool_replicates([1.2, 1.2, 1.4, 1.4, 1.6, 1.6], units=[0, 0, 1, 1, 2, 2], within_var=[1e-4] * 6)
    assert e.se == pytest.approx(0.2 / math.sqrt(3)) and e.between_sd == pytest.approx(0.2)
    # one unit: the draws' spread, not divided by the number of draws (the seed is not covered)
    e = pool_replicates([1.3, 1.5], within_var=[1e-4, 1e-4])
    assert e.n_units == 1 and e.se == pytest.approx(np.std([1.3, 1.5], ddof=1))
    with pytest.raises(QuantaError):
        pool_replicates([np.nan])


def test_decide_has_three_answers_and_a_stated_error_rate():
    pred = Estimate(1.4, 0.02, 3, 3, 0.02, 0.02, ("fit",))
    same = decide(pred, Estimate(1.41, 0.02, 3, 9, 0.02, 0.02, ("fit",)))
    assert same.verdict == "consistent" and same.p_value > 0.5 and abs(same.z) < 1
    far = decide(pred, Estimate(1.6, 0.02, 3, 9, 0.02, 0.02, ("fit",)))
    assert far.verdict == "inconsistent" and far.p_value < 1e-6 and far.z == pytest.approx(0.2 / math.hypot(.02, .02))
    vague = decide(pred, Estimate(1.45, 0.3, 1, 1, 0.3, 0.3, ("fit",)))
    assert vague.verdict == "undetermined" and "cannot tell" in vague.reason
    # a gap below the margin, however well measured, is not called inconsistent; the zero-gap p-value still says it
    small = decide(pred, Estimate(1.5, 0.005, 3, 9, 0.005, 0.005, ("fit",)))
    assert small.p_value < 1e-4 and small.verdict == "consistent" and "less than the margin" in small.reason
    edge = decide(pred, Estimate(1.54, 0.005, 3, 9, 0.005, 0.005, ("fit",)))
    assert edge.p_value < 1e-4 and edge.verdict == "undetermined" and "d = 0 alone is rejected" in edge.reason
    # at the boundary (a true gap of exactly the margin, right standard errors) 'inconsistent' comes at about the
    # level; with no gap, essentially never
    rng = np.random.default_rng(0)

    def rate(gap):
        return np.mean([decide(Estimate(1.4 + rng.normal(0, .05), .05, 3, 3, 0, 0, ()),
                               Estimate(1.4 + gap + rng.normal(0, .05), .05, 3, 3, 0, 0, ())).verdict
                        == "inconsistent" for _ in range(2000)])

    assert rate(0.15) == pytest.approx(0.05, abs=0.015)
    assert rate(0.0) < 0.002
    assert rate(0.5) > 0.95


def test_pooled_errors_from_three_seeds_keep_the_level():
    """Both sides pooled from 3 seeds (3 draws each), the seeds' spread larger than each fit's: with the true gap at
    exactly the margin, neither wrong answer comes more often than ``level`` (the error from 3 seeds has 2 degrees
    of freedom). The normal quantile, used before 2026-12-03, makes each wrong answer about one and a half times
    as often as ``level`` on the same draws (docs/falsify.md says so)."""
    import dataclasses

    rng = np.random.default_rng(1)
    units = np.repeat([0, 1, 2], 3)
    counts = {"inconsistent": 0, "consistent": 0}
    normal = {"inconsistent": 0, "consistent": 0}
    n = 4000
    for _ in range(n):
        pred = pool_replicates(1.4 + np.repeat(rng.normal(0, 0.1, 3), 3) + rng.normal(0, 0.03, 9), units=units,
                               within_var=np.full(9, 0.03 ** 2))
        meas = pool_replicates(1.55 + np.repeat(rng.normal(0, 0.1, 3), 3) + rng.normal(0, 0.03, 9), units=units,
                               within_var=np.full(9, 0.03 ** 2))
        assert pred.dof == meas.dof == 2
        v = decide(pred, meas).verdict
        counts[v] = counts.get(v, 0) + 1
        v = decide(dataclasses.replace(pred, dof=math.inf), dataclasses.replace(meas, dof=math.inf)).verdict
        normal[v] = normal.get(v, 0) + 1
    assert counts["inconsistent"] / n <= 0.05 + 0.01, counts
    assert counts["consistent"] / n <= 0.05 + 0.01, counts
    for wrong in ("inconsistent", "consistent"):  # "about one and a half times level"
        assert 1.25 * 0.05 <= normal[wrong] / n <= 1.75 * 0.05, normal


def test_degrees_of_freedom_of_the_difference():
    from quanta.verdict import combined_dof

    a = Estimate(1.4, 0.05, 3, 9, 0.05, 0.01, (), dof=2)
    assert combined_dof(a, Estimate(1.5, 0.05, 1, 1, 0, 0, ())) == pytest.approx(8.0)  # (2·0.05²)² / (0.05⁴/2)
    assert combined_dof(a, a) == pytest.approx(4.0)
    assert math.isinf(combined_dof(Estimate(1, .1, 1, 1, 0, 0, ()), Estimate(1, .1, 1, 1, 0, 0, ())))
    # a t interval: wider than the normal one with few degrees of freedom, equal to it with none estimated
    assert a.ci(0.9)[1] - 1.4 == pytest.approx(2.919986 * 0.05, rel=1e-5)
    assert Estimate(1.4, 0.05, 1, 1, 0, 0, ()).ci(0.9)[1] - 1.4 == pytest.approx(1.644854 * 0.05, rel=1e-5)
    # one unit with R draws: R - 1; one fit: none estimated
    assert pool_replicates([1.3, 1.5, 1.4]).dof == 2 and math.isinf(pool_replicates([1.3]).dof)
    d = decide(a, Estimate(1.9, 0.05, 1, 1, 0, 0, ()))
    assert d.dof == pytest.approx(8.0) and d.verdict == "inconsistent"


def test_an_unbounded_replicate_makes_the_answer_undetermined():
    # a seed whose alpha_N interval is unbounded (se = inf) must not count as a certain one
    e = pool_replicates([0.4], within_var=[np.inf])
    assert e.se == np.inf
    assert decide(Estimate(1.4, e.se, 1, 1, 0, 0, ()), Estimate(1.41, 0.02, 1, 1, 0, 0, ())).verdict == "undetermined"
