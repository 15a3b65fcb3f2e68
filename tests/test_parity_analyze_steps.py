"""The L(S) fit range of ``quanta parity analyze`` checked on simulated curves with known α_S.

Two kinds of simulated L(S), both in the steps-limited regime of the quantization model, whose
asymptotic exponent is α_S = α/(α+1):

* :class:`quanta.theory.Simulator` (a stream of Zipf samples; quantum k is learned once seen τ
  times), with infinitely many quanta or with K = 500 (the paper's task count);
* smooth reverse-S drops per task, learned at step t_k ∝ 1/p_k, with a widest model that can
  learn only ``cap`` tasks and a model with half its capacity (a capacity-limited end).

Tolerances: with τ = 10 the learn steps carry Poisson noise, and single fits
scatter by up to ~0.08 (seeds 0-2) around α/(α+1) (an unlucky run of early or late quanta that the fitted
offset absorbs) while the median over 3 seeds stays within 0.015 for every α in 0.1-0.8. The tests
assert the median of 3 seeds within 0.02. The smooth curves have no noise: 0.005.
"""

import math

import numpy as np
import pytest

from quanta.fit import fit_power_law
from quanta.parity.analyze import auto_fit_range, finite_tasks_offset, steps_fit_range
from quanta.theory import Simulator, SimulatorConfig, zipf_probs

LN2 = math.log(2)
ALPHAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def _simulated_steps(alpha, n_quanta, seed, n_evals=40):
    """L(S) and tasks learned at n_evals log-spaced steps, up to about n_max quanta learned."""
    if n_quanta is None:
        cfg = SimulatorConfig(alpha=alpha, n_quanta=None, batch=100, tau=10, seed=seed, n_max=3000)
        s_max = cfg.tau / (zipf_probs(alpha, None, k=np.array([cfg.n_max]))[0] * cfg.batch)
    else:  # until every task is learned, as a long run of a wide model would
        cfg = SimulatorConfig(alpha=alpha, n_quanta=n_quanta, batch=100, tau=10, seed=seed, n_max=n_quanta)
        s_max = cfg.tau / (zipf_probs(alpha, n_quanta)[-1] * cfg.batch)
    steps = np.unique(np.round(np.geomspace(1, s_max, n_evals)))
    n, loss = Simulator(cfg).learn_steps(steps)
    return steps, loss, n


def _fit_alpha(x, y, mask):
    return fit_power_law(x[mask], y[mask], offset=True, n_boot=0).alpha


@pytest.mark.parametrize("alpha", ALPHAS)
def test_rule_recovers_alpha_s_with_infinitely_many_quanta(alpha):
    got = []
    for seed in range(3):
        x, loss, n = _simulated_steps(alpha, None, seed)
        got.append(_fit_alpha(x, loss, steps_fit_range(x, loss, n, n_tasks=10 ** 9)))
    assert np.median(got) == pytest.approx(alpha / (alpha + 1), abs=0.02)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_tail_correction_recovers_alpha_s_with_500_tasks(alpha):
    got, plain = [], []
    for seed in range(3):
        x, loss, n = _simulated_steps(alpha, 500, seed)
        mask = steps_fit_range(x, loss, n, n_tasks=500)
        got.append(_fit_alpha(x, loss + finite_tasks_offset(alpha, 500), mask))
        plain.append(_fit_alpha(x, loss, mask))
    assert np.median(got) == pytest.approx(alpha / (alpha + 1), abs=0.02)
    # without the correction the finite task set bends the curve: far steeper than α/(α+1)
    assert np.median(plain) > alpha / (alpha + 1) + 0.05


def test_finite_tasks_offset_is_the_missing_tail():
    for alpha, K in ((0.8, 500), (0.4, 286)):
        s = alpha + 1
        k = np.arange(1, 2_000_001, dtype=float)
        tail = (k[K:] ** -s).sum() + (2_000_000.5 ** -alpha) / alpha  # direct sum + integral remainder
        want = LN2 * tail / (k[:K] ** -s).sum()
        assert finite_tasks_offset(alpha, K) == pytest.approx(want, rel=1e-4)
    # offset + finite-set loss = infinite-set loss up to a factor, at every n
    alpha, K = 0.4, 300
    p = zipf_probs(alpha, K)
    n = np.array([1, 5, 20, 100])
    finite = LN2 * np.array([p[m:].sum() for m in n])
    from quanta.theory import tail_mass
    ratio = (finite + finite_tasks_offset(alpha, K)) / (LN2 * tail_mass(n, alpha, None))
    assert np.ptp(ratio) < 1e-9


def _smooth_steps(alpha, cap, n_tasks=500, t1=100.0, sharp=6.0, floor=0.003, s_max=2e5, n_evals=40):
    """Per-task reverse-S drops at t_k = t1·p_1/p_k; only the first ``cap`` tasks can be learned."""
    p = zipf_probs(alpha, n_tasks)
    t = t1 * p[0] / p
    steps = np.unique(np.round(np.geomspace(1, s_max, n_evals)))
    z = np.clip(sharp * (np.log(steps)[:, None] - np.log(t)[None, :]), -60, 60)
    per_task = floor + (LN2 - floor) / (1 + np.exp(z))  # (steps, tasks)
    out = []
    for c in (cap, cap // 2):
        lt = per_task.copy()
        lt[:, c:] = LN2
        out.append((lt @ p, (lt < 0.1 * LN2).sum(axis=1)))
    return steps, out


@pytest.mark.parametrize("alpha", (0.1, 0.4, 0.8))
def test_capacity_limit_ends_the_range(alpha):
    x, ((loss, n), (loss_half, _)) = _smooth_steps(alpha, cap=60)
    corr = finite_tasks_offset(alpha, 500)
    cut = steps_fit_range(x, loss, n, 500, loss_narrower=loss_half)
    assert _fit_alpha(x, loss + corr, cut) == pytest.approx(alpha / (alpha + 1), abs=0.005)
    assert cut.sum() >= 8
    # without the narrower model the range runs into the flat end, and the offset fit steepens
    free = steps_fit_range(x, loss, n, 500)
    assert _fit_alpha(x, loss + corr, free) > alpha / (alpha + 1) + 0.02


def test_steps_rule_on_a_small_example():
    x = np.array([1, 2, 4, 8, 16, 32, 64, 128.0])
    loss = np.array([0.69, 0.6, 0.4, 0.3, 0.2, 0.15, 0.1, 0.12])
    n = np.array([0, 1, 3, 5, 8, 10, 12, 12])
    assert steps_fit_range(x, loss, n, 100).tolist() == [False, False, True, True, True, True, True, False]
    # at most half the tasks
    assert steps_fit_range(x, loss, n, 18).tolist() == [False, False, True, True, True, False, False, False]
    # the narrower model lags by more than 10% from step 32 on
    narrow = loss * np.array([1, 1, 1, 1.05, 1.09, 1.2, 1.5, 1.5])
    assert steps_fit_range(x, loss, n, 100, loss_narrower=narrow).tolist() == \
        [False, False, True, True, True, False, False, False]
    # the general rule starts where the loss leaves the plateau
    assert auto_fit_range(x, loss)[1]
