import json
import math
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import pytest
from scipy.special import zeta

from quanta.errors import QuantaError
from quanta.store import Run
from quanta.theory import (DEFAULT_B, Simulator, SimulatorConfig, fit_curves, fit_mask, loss_asymptotic, loss_exact,
                           predicted_exponents, simulate_curves, simulate_samples, tail_mass, theory_summary,
                           zipf_probs)

ALPHAS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]


# ------------------------------------------------------------------------------------------ the model
def test_zipf_probs_finite_and_infinite():
    p = zipf_probs(0.4, 1000)
    assert p.shape == (1000,) and p.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(p) < 0)
    np.testing.assert_allclose(p[1] / p[0], 2.0 ** -1.4)
    k = np.array([1, 10, 1000])
    np.testing.assert_allclose(zipf_probs(0.4, k=k), k ** -1.4 / zeta(1.4))
    with pytest.raises(QuantaError, match="needs k"):
        zipf_probs(0.4)


@pytest.mark.parametrize("n_quanta", [None, 5000])
def test_tail_mass_and_exact_loss_match_direct_sums(n_quanta):
    alpha, a, b = 0.3, 0.1, 0.9
    K = n_quanta or 2_000_000
    k = np.arange(1, K + 1, dtype=float)
    p = k ** -(alpha + 1) / (zeta(alpha + 1) if n_quanta is None else np.sum(k ** -(alpha + 1)))
    for n in (0, 1, 7, 100, 4000):
        want_tail = p[n:].sum() if n_quanta else 1.0 - p[:n].sum()
        assert tail_mass(n, alpha, n_quanta) == pytest.approx(want_tail, rel=1e-9)
        want_loss = a * p[:n].sum() + b * want_tail
        assert loss_exact(n, alpha, n_quanta=n_quanta, a=a, b=b) == pytest.approx(want_loss, rel=1e-9)
    assert loss_exact(0, alpha, n_quanta=n_quanta, a=a, b=b) == pytest.approx(b)
    if n_quanta:
        assert loss_exact(n_quanta, alpha, n_quanta=n_quanta, a=a, b=b) == pytest.approx(a)


@pytest.mark.parametrize("alpha", ALPHAS + [1.5])
def test_exact_and_asymptotic_loss_agree_within_one_percent_from_n_100(alpha):
    n = np.unique(np.round(np.geomspace(100, 1e7, 60)).astype(np.int64))
    exact = loss_exact(n, alpha)
    asym = loss_asymptotic(n, alpha)
    assert np.max(np.abs(asym / exact - 1)) < 0.01
    assert loss_exact(10, alpha, b=DEFAULT_B) <= DEFAULT_B


def test_predicted_exponents():
    pred = predicted_exponents(0.4)
    assert pred["alpha_N"] == 0.4
    assert pred["alpha_D"] == pytest.approx(0.4 / 1.4) and pred["alpha_S"] == pred["alpha_D"]
    assert pred["n_D"] == pytest.approx(1 / 1.4)


# ------------------------------------------------------------------------------------------ config
@pytest.mark.parametrize("kwargs,match", [
    ({"alpha": 0}, "alpha"), ({"alpha": -0.4}, "alpha"), ({"alpha": math.nan}, "alpha"),
    ({"alpha": math.inf}, "alpha"), ({"alpha": "0.4"}, "alpha"), ({"alpha": True}, "alpha"),
    ({"n_quanta": 1}, "n_quanta"), ({"n_quanta": 2.5}, "n_quanta"),
    ({"a": 1.0, "b": 0.5}, "below b"), ({"a": -1}, "a must"),
    ({"tau": 0}, "tau"), ({"batch": 1.5}, "batch"), ({"params_per_quantum": 0}, "params_per_quantum"),
    ({"n_max": 5}, "n_max"), ({"n_quanta": 1000, "n_max": 2000}, "exceed n_quanta"),
    ({"n_quanta": 100}, "too narrow"), ({"fit_max_fraction": 0}, "fit_max_fraction"),
    ({"genes": ()}, "genes"), ({"genes": (0,)}, "genes"), ({"seed": "x"}, "seed"),
])
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(QuantaError, match=match):
        SimulatorConfig(**kwargs)


def test_config_resolves_n_max():
    assert SimulatorConfig().n_max == 3000
    assert SimulatorConfig(n_quanta=2000).n_max == 2000
    cfg = SimulatorConfig(n_quanta=100_000)
    assert cfg.n_max == 3000 and cfg.fit_n_max == 3000
    assert SimulatorConfig(n_quanta=10_000).fit_n_max == 1000


# ------------------------------------------------------------------------------------------ simulator
def test_parameter_regime_learns_the_most_frequent_quanta():
    cfg = SimulatorConfig(alpha=0.5, params_per_quantum=50, n_quanta=1000, n_max=1000)
    n, loss = Simulator(cfg).learn_params([0, 49, 50, 99.9, 5000, 1e9])
    np.testing.assert_array_equal(n, [0, 0, 1, 1, 100, 1000])
    np.testing.assert_allclose(loss, loss_exact(n, 0.5, n_quanta=1000))


def test_data_regime_is_a_multinomial_data_set_with_threshold_tau():
    cfg = SimulatorConfig(alpha=0.5, n_quanta=50, n_max=50, tau=3, a=0.05, b=1.0, fit_n_min=1, fit_max_fraction=1.0)
    sim = Simulator(cfg)
    n, loss = sim.learn_data([2000], rng=np.random.default_rng(42))
    # the same draw by hand
    p = zipf_probs(0.5, 50)
    counts = np.random.default_rng(42).multinomial(2000, np.append(p, 0.0))[:-1]
    learned = counts >= 3
    assert n[0] == learned.sum()
    assert loss[0] == pytest.approx(0.05 + 0.95 * p[~learned].sum())
    # learned quanta are not always a prefix, but the loss is never below a nor above b
    n, loss = sim.learn_data(np.geomspace(10, 1e6, 20))
    assert np.all((loss >= 0.05) & (loss <= 1.0))
    assert n[-1] == 50 and loss[-1] == pytest.approx(0.05)


def test_steps_regime_is_one_cumulative_stream():
    cfg = SimulatorConfig(alpha=0.3, tau=5, batch=7, n_max=200)
    S = np.array([1, 3, 10, 30, 100, 300, 1000, 3000])
    n, loss = Simulator(cfg).learn_steps(S[::-1], rng=np.random.default_rng(0))
    n, loss = n[::-1], loss[::-1]
    assert np.all(np.diff(n) >= 0) and np.all(np.diff(loss) <= 0)  # counts only grow along one stream
    # same seed, same stream
    n2, _ = Simulator(cfg).learn_steps(S, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(n, n2)


def test_curves_table_schema_and_reproducibility():
    cfg = SimulatorConfig(alpha=0.4, n_max=300, n_budgets=15, seed=3)
    curves = simulate_curves(cfg)
    assert list(curves.columns) == ["regime", "x", "loss", "n_learned", "alpha"]
    assert set(curves["regime"]) == {"n", "N", "D", "S"}
    assert (curves["alpha"] == 0.4).all() and (curves["loss"] > 0).all()
    pd.testing.assert_frame_equal(curves, simulate_curves(cfg))
    other = simulate_curves(replace(cfg, seed=4))
    assert not other[other["regime"] == "D"]["n_learned"].equals(curves[curves["regime"] == "D"]["n_learned"])


@pytest.mark.parametrize("alpha", ALPHAS)
def test_simulated_exponents_match_the_predictions(alpha):
    # one fit-range rule for every alpha (fit_n_min <= n_learned <= n_max), no per-alpha tuning
    cfg = SimulatorConfig(alpha=alpha, seed=0)
    fits = fit_curves(simulate_curves(cfg, regimes=("N", "D", "S")), cfg, n_boot=50)
    pred = predicted_exponents(alpha)
    for regime in ("N", "D", "S"):
        assert abs(fits[regime].alpha - pred[f"alpha_{regime}"]) < 0.03, (regime, fits[regime].alpha)
        assert fits[regime].n_points >= 15
    assert abs(fits["n_D"].alpha - pred["n_D"]) < 0.03


def test_fit_mask_is_the_documented_rule():
    cfg = SimulatorConfig(alpha=0.4, n_quanta=20_000, n_max=5000)
    curve = pd.DataFrame({"n_learned": [5, 10, 500, 2000, 2001, 20_000], "loss": [1, 1, 1, 1, 1, 0.0]})
    np.testing.assert_array_equal(fit_mask(curve, cfg), [False, True, True, True, False, False])


# ------------------------------------------------------------------------------------------ samples
def test_monogenic_steps_polygenic_ramps_and_their_mean_is_L_n():
    cfg = SimulatorConfig(alpha=0.4, n_samples=20_000, genes=(1, 8), a=0.1, b=0.8, n_max=1000, n_budgets=12)
    n = np.array([1, 10, 100, 1000])
    samples = simulate_samples(cfg, n_values=n)
    assert list(samples.columns) == ["sample", "genes", "kind", "n", "loss"]
    mono = samples[samples["kind"] == "monogenic"]
    poly = samples[samples["kind"] == "polygenic"]
    assert set(np.round(mono["loss"], 12)) <= {0.1, 0.8}
    steps = np.round((poly["loss"] - 0.1) / 0.7 * 8, 9)
    assert np.all(steps == np.round(steps)) and len(set(steps)) > 2
    for _, one in poly[poly["sample"] < 20_100].groupby("sample"):
        assert np.all(np.diff(one.sort_values("n")["loss"].to_numpy()) <= 1e-12)
    exact = loss_exact(n, 0.4, a=0.1, b=0.8)
    for kind, sub, draws in (("monogenic", mono, 20_000), ("polygenic", poly, 160_000)):
        mean = sub.groupby("n")["loss"].mean().to_numpy()
        q = (exact - 0.1) / 0.7
        sd = 0.7 * np.sqrt(q * (1 - q) / draws) * (1 if kind == "monogenic" else np.sqrt(8))
        assert np.all(np.abs(mean - exact) < 5 * sd + 1e-12), kind


# ------------------------------------------------------------------------------------------ CLI
@pytest.mark.parametrize("args", [["--alpha", "0"], ["--alpha", "-0.4"], ["--alpha", "abc"], ["--bogus"],
                                  ["--alpha", "0.4", "--set", "tau=0"], ["--n-quanta", "1"]])
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(cli_run, tmp_path, args):
    out = tmp_path / "run"
    code, stdout, stderr = cli_run("theory", *args, "--out", out)
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("error:") and "Traceback" not in stderr
    assert not out.exists()


def test_cli_summary_equals_the_library(cli_run, tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = cli_run("theory", "--alpha", "0.3", "--seed", "5", "--set", "n_max=400",
                                   "--set", "n_budgets=20", "--set", "n_samples=50", "--out", out)
    assert code == 0, stderr
    assert "alpha_N_sim" in stdout and "alpha_D_pred" in stdout
    run = Run.open(out, command="theory")
    summary = json.loads((out / "summary.json").read_text())
    cfg = SimulatorConfig(alpha=0.3, seed=5, n_max=400, n_budgets=20, n_samples=50)
    assert run.config == json.loads(json.dumps(asdict(cfg)))
    curves = simulate_curves(cfg)
    pd.testing.assert_frame_equal(run.read_table("curves"), curves)
    pd.testing.assert_frame_equal(run.read_table("samples"), simulate_samples(cfg))
    lib = json.loads(json.dumps(theory_summary(cfg, curves, fit_curves(curves, cfg))))
    assert summary == lib
    for key in ("alpha_N_pred", "alpha_D_pred", "alpha_S_pred", "alpha_N_sim", "alpha_D_sim", "alpha_S_sim",
                "alpha_N_sim_ci", "alpha_D_sim_ci", "alpha_S_sim_ci"):
        assert key in summary
    assert summary["alpha"] == 0.3 and summary["alpha_D_pred"] == pytest.approx(0.3 / 1.3)
    assert {p.name for p in run.figures()} == {"loss_curves.png", "samples.png"}
    # a finished run is not overwritten without --force
    code, _, stderr = cli_run("theory", "--alpha", "0.3", "--out", out)
    assert code == 2 and "--force" in stderr


@pytest.mark.parametrize("tau", [1, 10])
def test_data_regime_mean_loss_matches_the_binomial_expectation(tau):
    # E[unlearned mass] = Σ_k p_k P(Binomial(D, p_k) < tau), summed far into the tail (no pooling)
    from scipy.stats import binom

    alpha, D = 0.4, 100_000
    cfg = SimulatorConfig(alpha=alpha, tau=tau, n_max=1000)
    k = np.arange(1, 500_001, dtype=float)
    p = k ** -(alpha + 1) / zeta(alpha + 1)
    expected = float((p * binom.cdf(tau - 1, D, p)).sum() + tail_mass(k.size, alpha))
    _, loss = Simulator(cfg).learn_data([D] * 40, rng=np.random.default_rng(1))  # 40 independent data sets
    unlearned = loss / cfg.b
    se = unlearned.std(ddof=1) / np.sqrt(unlearned.size)
    assert abs(unlearned.mean() - expected) < 4 * se


def test_sweep_rejects_unknown_regime_and_bad_budgets():
    sim = Simulator(SimulatorConfig())
    with pytest.raises(QuantaError, match="regime"):
        sim.sweep("X", budgets=[1, 2, 3])
    with pytest.raises(QuantaError, match="budgets"):
        sim.learn_data([100, -5])
    with pytest.raises(QuantaError, match="budgets"):
        sim.learn_params([np.nan])


def test_config_refuses_sweeps_beyond_64_bit_counts():
    with pytest.raises(QuantaError, match="4e18"):
        SimulatorConfig(alpha=20)
    SimulatorConfig(alpha=4)  # 10 * 3000^5 * zeta(5) samples: fine


def test_the_example_in_docs_theory_is_what_the_command_prints(cli_run, tmp_path):
    """docs/theory.md's example output is the command's, line for line (the figures are not typed)."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "theory.md").read_text()
    block = re.search(r"\$ quanta theory --alpha 0\.4 --out runs/theory\n(.*?)```", doc, re.S).group(1)
    code, out, err = cli_run("theory", "--alpha", "0.4", "--out", tmp_path / "theory")
    assert code == 0, err
    assert out.replace(str(tmp_path / "theory"), "runs/theory").splitlines() == block.splitlines()
