"""The calibration: rates with Wilson intervals, verdicts in planted worlds, and a miniature run end to end."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from quanta.calibrate import calibration_config, summarize, wilson, world_verdicts
from quanta.calibrate.config import CalibrationConfig, TrainingWorld
from quanta.errors import QuantaError
from quanta.falsify import FalsifyConfig


def test_wilson_matches_the_closed_form():
    lo, hi = wilson(8, 10)
    assert (round(lo, 3), round(hi, 3)) == (0.49, 0.943)
    assert wilson(0, 5)[0] == 0.0 and wilson(5, 5)[1] == 1.0
    assert all(math.isnan(v) for v in wilson(0, 0))


def _planted_units(alphas, seeds, *, rng, alpha_N_sd=0.02, parts_sd=0.03, parts_shift=None, gof=0.5):
    """Per-seed measurements as a perfect decomposition would give them: α_N ≈ α, parts ≈ α + 1."""
    scaling, parts = [], []
    for a in alphas:
        for s in seeds:
            scaling.append(dict(alpha=a, seed=s, alpha_N=a + rng.normal(0, alpha_N_sd), se=alpha_N_sd, ci_lo=0, ci_hi=0,
                                n_points=9, at_bound=False))
            shift = (parts_shift or {}).get(a, 0.0)
            for method in ("qdg", "oracle", "untrained", "random", "raw_inputs"):
                real = method in ("qdg", "oracle")
                value = a + 1 + shift + rng.normal(0, parts_sd) if real else 0.2 + rng.normal(0, 0.05)
                parts.append(dict(alpha=a, seed=s, draw=0, method=method, n_clusters=20, exponent=value,
                                  exponent_se=parts_sd, gof_p=gof if real else 0.0, ari=0.9, seconds=0.0))
    return pd.DataFrame(scaling), pd.DataFrame(parts)


def test_planted_units_give_the_right_answers():
    """With measurements that follow the model, a true pair is consistent and a large gap is inconsistent;
    decompositions that ignore the network and non-power-law parts are refused."""
    world = TrainingWorld("w", 100, 10, 3, (0.3, 0.7))
    scaling, parts = _planted_units(world.alphas, range(6), rng=np.random.default_rng(0))
    v = world_verdicts(world, scaling, parts, seeds_per_verdict=3, config=FalsifyConfig(), control_alphas=(0.3,))
    assert len(v) == 2 * (3 + 3 + 3)  # (true, oracle, 1 mismatch) at each alpha + 3 controls at 0.3, 2 replicates
    true = v[v["kind"] == "true"]
    assert set(true["verdict"]) == {"consistent"}
    assert (true["pred_lo"] <= true["zipf_true"]).all() and (true["zipf_true"] <= true["pred_hi"]).all()
    mism = v[v["kind"] == "mismatch"]
    assert set(mism["verdict"]) == {"inconsistent"} and np.allclose(mism["gap"], 0.4)
    for kind in ("untrained", "random", "raw_inputs"):
        assert set(v[v["kind"] == kind]["verdict"]) == {"not a power law"}
    s = summarize(v, gaps=(0.4,))
    assert s["true_worlds"]["wrong_inconsistent"]["rate"] == 0.0
    assert s["true_worlds"]["consistent"] == {**s["true_worlds"]["consistent"], "rate": 1.0, "k": 4, "n": 4}
    assert s["oracle_worlds"]["consistent"]["rate"] == 1.0
    assert s["min_detectable_gap"] == 0.4
    assert s["false_worlds"]["untrained"]["detected"]["rate"] == 1.0
    from quanta.calibrate.rates import markdown_tables

    md = markdown_tables(s)
    assert "| wrongly `inconsistent` (false alarm) | 0% [0%, 49%] (0/4) | 0% [0%, 49%] (0/4) |" in md
    assert "min_detectable_gap (80% power, among 0.4): 0.4" in md
    # the same measurements with parts that are not a plausible power law
    scaling, parts = _planted_units(world.alphas, range(6), rng=np.random.default_rng(1), gof=0.0)
    v = world_verdicts(world, scaling, parts, seeds_per_verdict=3, config=FalsifyConfig())
    assert set(v[v["kind"] == "true"]["verdict"]) == {"not a power law"}
    assert set(v[v["kind"] == "true"]["gap_test"]) == {"consistent"}  # the exponent test alone still agrees


def test_a_biased_decomposition_raises_false_alarms():
    """Parts 0.4 flatter than α + 1 in every seed: true worlds are (wrongly) called inconsistent, and the summary
    says so instead of hiding it."""
    world = TrainingWorld("w", 100, 10, 3, (0.3, 0.7))
    scaling, parts = _planted_units(world.alphas, range(6), rng=np.random.default_rng(2),
                                    parts_shift={0.3: -0.4, 0.7: -0.4})
    v = world_verdicts(world, scaling, parts, seeds_per_verdict=3, config=FalsifyConfig())
    s = summarize(v)
    assert s["true_worlds"]["wrong_inconsistent"]["rate"] == 1.0
    assert s["true_worlds"]["coverage_measured"]["rate"] == 0.0


def test_config_is_checked_and_the_cpu_preset_is_the_default():
    assert CalibrationConfig() == calibration_config("cpu")
    with pytest.raises(QuantaError, match="seeds_per_verdict"):
        calibration_config("cpu", {"seeds_per_verdict": 1})
    with pytest.raises(QuantaError, match="unknown calibration setting"):
        calibration_config("cpu", {"n_seeds": 3})
    with pytest.raises(QuantaError, match="preset"):
        calibration_config("huge")
    for bad in ("exp:-1", "exp:inf", "broken:inf:2", "broken:nan:2", "broken:2.5:1", "broken:4:0"):
        with pytest.raises(QuantaError, match="task_dist"):
            w = TrainingWorld("w", 20, 8, 3, (0.5,), task_dist=bad)
            calibration_config("mini", {"worlds": (w,)}).parity_config(w)


def test_training_seeds_start_at_first_seed_and_the_design_worlds_are_kept_apart():
    cpu, design = calibration_config("cpu"), calibration_config("cpu-design")
    assert cpu.seeds == tuple(range(40, 46)) and design.seeds == tuple(range(6))
    assert cpu.parity_config(cpu.worlds[0]).seeds == cpu.seeds and cpu.parity_config(cpu.worlds[0]).task_seed == 2
    # a held-out world draws other tasks: fewer than C(n, 3), so the task seed picks which subsets
    from math import comb

    assert all(w.n_tasks < comb(w.n, w.k) for w in cpu.worlds)
    assert calibration_config("mini", {"first_seed": 7}).seeds == (7, 8, 9, 10)
    with pytest.raises(QuantaError, match="first_seed"):
        calibration_config("mini", {"first_seed": -1})
    with pytest.raises(QuantaError, match="first_seed 4294967295 with 4 training seeds reaches past"):
        calibration_config("mini", {"first_seed": 2 ** 32 - 1})


@pytest.mark.slow
def test_mini_calibration_end_to_end(tmp_path, cli_run):
    """The miniature preset through the CLI: every planted world has its verdicts, the rates agree with them."""
    from quanta.store import Run

    out = tmp_path / "cal"
    code, stdout, err = cli_run("calibrate", "--preset", "mini", "--out", str(out))
    assert code == 0, err
    assert "true worlds: wrongly inconsistent" in stdout
    run = Run.open(out, command="calibrate")
    v = run.read_table("verdicts")
    assert set(v["kind"]) == {"true", "oracle", "mismatch", "untrained", "random", "raw_inputs"}
    assert set(v["verdict"]) <= {"consistent", "inconsistent", "undetermined", "not a power law"}
    assert v.groupby("kind").size().to_dict() == {"true": 4, "oracle": 4, "mismatch": 4, "untrained": 2,
                                                  "random": 2, "raw_inputs": 2}
    s = run.summary
    t = s["true_worlds"]
    assert t["n"] == 4 and t["wrong_inconsistent"]["k"] == int((v[v.kind == "true"].verdict == "inconsistent").sum())
    assert all(0 <= r["power"]["rate"] <= 1 and r["power"]["lo"] <= r["power"]["rate"] <= r["power"]["hi"]
               for r in s["power_by_gap"])
    assert (out / "figures" / "power.png").exists() and (out / "figures" / "coverage.png").exists()
    units = run.read_table("parts_t20")
    assert set(units["method"]) == {"qdg", "oracle", "untrained", "random", "raw_inputs"}
    # the random partition ignores the network: its parts carry no task information
    assert abs(units[units.method == "random"]["ari"].mean()) < 0.05
    # resume keeps the finished units; a second run with --resume after completion is refused cleanly
    code, _, err = cli_run("calibrate", "--preset", "mini", "--out", str(out), "--resume")
    assert code == 2 and "already holds a finished run" in err and err.count("\n") == 1


def test_shipped_calibration_is_generated():
    """The package's table comes from a calibration run (quanta calibrate --ship), with its Wilson intervals."""
    from quanta.calibrate import calibration_sentence, shipped_calibration

    cal = shipped_calibration()
    if cal is None:
        pytest.skip("no shipped calibration yet")
    w = cal["wrong_inconsistent"]
    assert w["lo"] <= w["rate"] <= w["hi"] and w["n"] == cal["n_true"]
    assert (w["lo"], w["hi"]) == pytest.approx(wilson(w["k"], w["n"]))
    assert "wrongly says inconsistent" in calibration_sentence(cal)
    assert json.loads(json.dumps(cal)) == cal


def test_parts_that_cannot_be_checked_are_not_plausible():
    """Replicates of 2 parts get an exponent but no goodness of fit: they count as not plausible, so the verdict
    cannot be `consistent` without the power-law check ever running."""
    from quanta.falsify import verdict_from_replicates
    from quanta.verdict import Estimate

    alpha_N = Estimate(0.5, 0.02, 3, 3, 0.02, 0.02, ("fit",))
    reps = pd.DataFrame(dict(seed=[0, 1, 2], exponent=[1.5, 1.51, 1.49], exponent_se=[0.02] * 3,
                             gof_p=[math.nan, math.nan, 0.5]))
    assert verdict_from_replicates(alpha_N, reps, config=FalsifyConfig())["verdict"] == "not a power law"
    reps["gof_p"] = [0.5, 0.6, math.nan]
    assert verdict_from_replicates(alpha_N, reps, config=FalsifyConfig())["verdict"] == "consistent"


def test_ship_needs_the_cpu_preset_unchanged(tmp_path):
    from quanta.calibrate import run_calibration

    with pytest.raises(QuantaError, match="cpu preset unchanged"):
        run_calibration(calibration_config("cpu", {"steps": 10}), tmp_path / "c", ship=True)
    with pytest.raises(QuantaError, match="preset"):
        calibration_config("cpu", {"preset": "gpu"})
    assert not (tmp_path / "c").exists()
