"""Tests of ``quanta parity analyze`` on synthetic run directories with planted behaviour.

In the synthetic runs task k (frequency rank k, p_k ∝ k^-(α+1)) is learned (its loss drops as a
reverse S from ln 2 to 0) once the parameters reach N_k ∝ k^(1/x_N), the samples reach
D_k ∝ k^(1/x_D) and the steps reach t_k ∝ p_k^-β: tasks are learned in frequency order with known
learned-count laws. The mean test loss is either planted as exact power laws
L = L_inf + A·budget^-a with known exponents (``mean="law"``), or computed as Σ p_k·loss_k from the
tasks (``mean="tasks"``, the quantization model with a finite number of tasks).
"""

import json
import math

import numpy as np
import pandas as pd
import pytest

from quanta.errors import QuantaError
from quanta.parity.analyze import (
    AnalyzeConfig,
    analyze_parity,
    auto_fit_range,
    default_emergence_width,
    finite_tasks_exponent,
    parse_fit_range,
    run_parity_analysis,
)
from quanta.store import Run
from quanta.theory import predicted_measurements

LN2 = math.log(2)
N_BITS = 20
WIDTHS = np.unique(np.round(np.geomspace(8, 2000, 14)).astype(int))


def _rev_s(x, x_k, sharp):
    """ln 2 · σ(-sharp·(ln x − ln x_k)): the reverse-S drop of a task's loss, in nats."""
    z = sharp * (np.log(np.maximum(x, 1e-12)) - np.log(x_k))
    return LN2 / (1.0 + np.exp(np.clip(z, -60, 60)))


def _n_params(width, n_tasks):
    return width * (n_tasks + N_BITS + 1) + 2 * width + 2  # one hidden layer, 2 logits


def make_parity_run(path, *, alphas=(0.4,), n_tasks=200, widths=WIDTHS, Ds=None, seeds=(0,), mean="law",
                    exps=None, x_N=1.0, x_D=None, beta=1.0, shuffle_order=False, sharp=12.0, n_steps=2 ** 22,
                    L_inf=0.01, complete=True, drop_table=None):
    """Write a synthetic ``quanta parity run`` directory with planted learning order and scaling laws.

    ``exps`` = (a_N, a_D, a_S) are the planted loss exponents of ``mean="law"`` (default: the theory's
    α, α/(α+1), α/(α+1)); ``x_N``, ``x_D`` (default 1/(α+1)) the learned-count exponents; ``beta`` the
    exponent of learn step ∝ p^-β.
    """
    widths = np.asarray(widths)
    Ds = np.geomspace(1e4, 1e8, 12) if Ds is None else np.asarray(Ds, float)
    eval_steps = np.unique(np.r_[0, np.round(np.geomspace(1, n_steps, 48)).astype(int)])
    rng = np.random.default_rng(0)
    tasks_rows, models_rows, ev_rows, evm_rows = [], [], [], []
    model_id = 0
    k = np.arange(1, n_tasks + 1)
    for alpha in alphas:
        a_N, a_D, a_S = exps if exps is not None else (alpha, alpha / (alpha + 1), alpha / (alpha + 1))
        xd = 1 / (alpha + 1) if x_D is None else x_D
        p = k ** -(alpha + 1.0)
        p /= p.sum()
        for i in range(n_tasks):
            tasks_rows.append({"alpha": alpha, "task": i, "p": p[i], "bits": list(rng.choice(N_BITS, 3, False))})
        N_max = _n_params(widths.max(), n_tasks)
        N_k = N_max / 1.6 * (k / n_tasks) ** (1 / x_N)         # n(N) ∝ N^x_N; the widest model learns all
        D_k = Ds.max() / 1.6 * (k / n_tasks) ** (1 / xd) if len(Ds) else None
        t_k = 20.0 * (p / p[0]) ** -beta                         # learn step ∝ p^-β
        if shuffle_order:
            t_k = rng.permutation(t_k)
        # planted mean-loss laws, scaled so that the loss is 0.5 nats where the first task is learned
        law_N = lambda N: L_inf + 0.5 * (N / N_k[0]) ** -a_N  # noqa: E731
        law_D = lambda D: L_inf + 0.5 * (D / D_k[0]) ** -a_D  # noqa: E731
        law_S = lambda S: L_inf + 0.5 * (np.maximum(S, 1e-9) / t_k.min()) ** -a_S  # noqa: E731
        specs = [(w, 0.0) for w in widths] + [(widths.max(), D) for D in Ds]
        for seed in seeds:
            for w, D in specs:
                N = _n_params(w, n_tasks)
                floor = _rev_s(N, N_k, sharp)                              # (n_tasks,)
                if D > 0:
                    floor = np.maximum(floor, _rev_s(D, D_k, sharp))
                curve = np.maximum(_rev_s(eval_steps[:, None], t_k[None, :], sharp), floor[None, :])  # (T, K)
                curve = curve * (1 + 0.01 * seed)
                best_step = int(eval_steps[-1]) if D == 0 else int(eval_steps[-4])
                if mean == "law" and D == 0:
                    mean_l = np.minimum(LN2, np.maximum(law_S(eval_steps.astype(float)), law_N(N)))
                elif mean == "law":  # falls to the planted L(D) at the best step
                    lim = min(LN2, law_D(D))
                    mean_l = lim * (1 + 1e-3 * np.maximum(best_step - eval_steps, 0) / best_step)
                else:
                    mean_l = curve @ p
                if D > 0:  # early stopping: every loss rises by 0.08 nats after the best step
                    over = eval_steps > best_step
                    curve = curve + 0.08 * over[:, None]
                    mean_l = mean_l + 0.08 * over
                for j, s in enumerate(eval_steps):
                    evm_rows.append((model_id, w, seed, D, alpha, int(s), float(mean_l[j]), 0.5))
                ev_rows.append(pd.DataFrame({
                    "model": model_id, "width": w, "seed": seed, "D": D, "alpha": alpha,
                    "step": np.repeat(eval_steps, n_tasks), "task": np.tile(np.arange(n_tasks), len(eval_steps)),
                    "loss": curve.ravel(), "acc": 1 - curve.ravel() / LN2 / 2}))
                models_rows.append({"model": model_id, "width": int(w), "depth": 1, "n_params": int(N), "seed": seed,
                                    "D": float(D), "alpha": alpha, "final_loss": float(mean_l[-1]),
                                    "best_loss": float(mean_l.min()),
                                    "best_step": int(eval_steps[np.argmin(mean_l)]),
                                    "stopped_step": int(eval_steps[-1]), "steps": int(eval_steps[-1])})
                model_id += 1
    tables = {
        "tasks": pd.DataFrame(tasks_rows),
        "models": pd.DataFrame(models_rows),
        "eval": pd.concat(ev_rows, ignore_index=True),
        "eval_mean": pd.DataFrame(evm_rows, columns=["model", "width", "seed", "D", "alpha", "step", "loss", "acc"]),
    }
    run = Run.create(path, command="parity run", config={"alphas": list(alphas), "n_tasks": n_tasks,
                                                         "widths": [int(w) for w in widths]}, seed=0, argv=["test"])
    for name, df in tables.items():
        if name != drop_table:
            run.write_table(name, df)
    if complete:
        run.finish({"n_models": model_id})
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    path = make_parity_run(tmp_path_factory.mktemp("runs") / "p04")
    return path, analyze_parity(path, AnalyzeConfig(n_boot=40))


def test_predicted_measurements_follow_the_theory():
    pr = predicted_measurements(0.4)
    assert pr["alpha_N"] == 0.4
    assert pr["alpha_D"] == pytest.approx(0.4 / 1.4) and pr["alpha_S"] == pytest.approx(0.4 / 1.4)
    assert pr["n_vs_D_exponent"] == pytest.approx(1 / 1.4)


def test_planted_exponents_are_recovered(planted):
    _, res = planted
    s = res.summary
    a = 0.4
    assert s["alpha"] == a and s["n_tasks"] == 200
    # the mean losses are exact power laws plus an offset: the fits find their exponents
    assert s["alpha_N"] == pytest.approx(a, abs=0.01)
    assert s["alpha_D"] == pytest.approx(a / (a + 1), abs=0.01)
    assert s["alpha_S"] == pytest.approx(a / (a + 1), abs=0.01)
    # learned counts are integers (n = 1 at the smallest budgets), so their laws are looser
    assert s["n_vs_D_exponent"] == pytest.approx(1 / (a + 1), abs=0.05)
    assert s["n_vs_N_exponent"] == pytest.approx(1.0, abs=0.08)
    assert s["convergence_exponent"] == pytest.approx(1.0, abs=0.02)
    assert s["order_spearman"] > 0.98
    for key in ("alpha_N", "alpha_D", "alpha_S", "n_vs_D_exponent"):
        lo, hi = s[f"{key}_ci"]
        assert lo <= s[key] <= hi
        assert s[f"{key}_predicted"] == pytest.approx(predicted_measurements(a)[key])
    # the fits table holds the same numbers and the recorded ranges obey the rule
    fits = res.fits.set_index("fit")
    assert fits.loc["L_N", "exponent"] == pytest.approx(s["alpha_N"])
    assert (fits.loc["L_N", "x_min"], fits.loc["L_N", "x_max"]) == tuple(s["alpha_N_fit_range"])
    # the label-free rule: from where the mean loss leaves the plateau (ln 2) to the lowest loss
    curve = res.learned_counts.query("axis == 'N'").groupby("x")["loss"].mean()
    inside = curve[(curve.index >= fits.loc["L_N", "x_min"]) & (curve.index <= fits.loc["L_N", "x_max"])]
    assert inside.max() < 0.99 * np.log(2) and inside.index.max() <= curve.idxmin()
    assert (curve[curve.index < fits.loc["L_N", "x_min"]] >= 0.99 * np.log(2)).all()
    assert fits.loc["L_N", "range_rule"] == "auto"


def test_other_planted_exponents_are_recovered(tmp_path):
    path = make_parity_run(tmp_path / "other", exps=(0.3, 0.5, 0.2), x_D=0.8, beta=0.8)
    s = analyze_parity(path, AnalyzeConfig(n_boot=0, figures=False)).summary
    assert s["alpha_N"] == pytest.approx(0.3, abs=0.01)
    assert s["alpha_D"] == pytest.approx(0.5, abs=0.01)
    assert s["alpha_S"] == pytest.approx(0.2, abs=0.01)
    assert s["n_vs_D_exponent"] == pytest.approx(0.8, abs=0.05)
    assert s["convergence_exponent"] == pytest.approx(0.8, abs=0.02)
    # the predictions follow the run's α (0.4), not the planted numbers
    assert s["alpha_N_predicted"] == 0.4 and s["alpha_D_predicted"] == pytest.approx(0.4 / 1.4)


def test_finite_task_set_prediction():
    alpha = 0.4
    k = np.arange(1, 200_001)
    p_big = k ** -(alpha + 1.0)
    x = np.geomspace(1e3, 1e5, 12)
    n = x / 1e3  # n ∝ N, from 1 to 100 tasks
    # with far more tasks than are learned, the finite-set prediction is the asymptotic α
    assert finite_tasks_exponent(x, n, p_big, 1.0) == pytest.approx(alpha, abs=0.03)
    # with 150 tasks, learning 100 of them bends the loss down: a larger exponent
    assert finite_tasks_exponent(x, n, p_big[:150], 1.0) > alpha + 0.2


def test_finite_tasks_run_bends_the_loss(tmp_path):
    # mean loss = Σ p_k loss_k over 200 tasks: the quantization model with a finite task set
    s = analyze_parity(make_parity_run(tmp_path / "finite", mean="tasks"), AnalyzeConfig(n_boot=0)).summary
    for key in ("alpha_N", "alpha_S"):
        assert s[key] > s[f"{key}_predicted"] + 0.1
        assert s[f"{key}_predicted_finite"] > s[f"{key}_predicted"] + 0.1


def test_learn_steps_match_a_plain_computation(planted):
    path, res = planted
    run = Run.open(path)
    ev = run.read_table("eval")
    thr = 0.1 * LN2
    models = run.read_table("models")
    widest = models[(models["D"] == 0)].sort_values("width").iloc[-1]["model"]
    e = res.emergence
    got = e[(e["axis"] == "step") & (e["model"] == widest)].set_index("task")["at"]
    sub = ev[ev["model"] == widest]
    for task in [0, 5, 50, 199]:
        rows = sub[sub["task"] == task].sort_values("step")
        below = rows[rows["loss"] < thr]
        want = below["step"].iloc[0] if len(below) else np.nan
        assert (np.isnan(want) and np.isnan(got[task])) or got[task] == want
    # width emergence: the smallest width whose final loss is below the threshold
    final = ev.merge(models[["model", "steps"]], on="model")
    final = final[(final["step"] == final["steps"]) & (final["D"] == 0) & (final["task"] == 30)]
    want_w = final[final["loss"] < thr]["width"].min()
    got_w = e[(e["axis"] == "width") & (e["task"] == 30)]["at"].iloc[0]
    assert got_w == want_w


def test_data_sweep_uses_the_best_step_not_the_final(planted):
    _, res = planted
    c = res.learned_counts
    d = c[c["axis"] == "D"].sort_values("x")
    # the synthetic data models overfit (+0.08 nats on every task) after their best step, so
    # counting at the final step would give 0 learned tasks everywhere
    assert d["n_learned"].iloc[-1] == 200 and d["n_learned"].is_monotonic_increasing


def test_learning_order_figure_shows_the_order_models_alone(planted):
    """The data models share the widest online model's width: the figure plots the online ones' learn steps, the
    points the Spearman correlation and the p law were computed on (it drew every D of that width)."""
    from quanta.parity.figures import plot_parity_analysis

    _, res = planted
    em = res.emergence
    width, D = res.summary["order_model_width"], res.summary["order_model_D"]
    assert D == 0 and em[(em["axis"] == "step") & (em["width"] == width)]["D"].nunique() > 1
    want = em[(em["axis"] == "step") & (em["width"] == width) & (em["D"] == 0) & (em["at"] > 0)]
    ax = plot_parity_analysis(res)["learning_order"].axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(want) > 0


def test_learning_order_shuffled(tmp_path):
    res = analyze_parity(make_parity_run(tmp_path / "shuf", shuffle_order=True), AnalyzeConfig(n_boot=0))
    assert abs(res.summary["order_spearman"]) < 0.3


def test_emergence_prediction_from_small_models(planted):
    _, res = planted
    s = res.summary
    assert s["emergence_W"] == default_emergence_width(WIDTHS) == WIDTHS[WIDTHS <= np.median(WIDTHS)].max()
    pr = res.emergence_prediction
    assert len(pr) == s["emergence_n_predicted"] > 0 and (pr["W"] == s["emergence_W"]).all()
    # n ∝ N is planted, so predictions land within one grid step of the truth
    assert s["emergence_abs_log10_error_median"] < s["emergence_grid_log10_step"]
    assert s["emergence_in_grid_fraction"] > 0.5
    # only tasks not learned by the small models are predicted, and they are the rarer ones
    assert pr["rank"].min() > 1


def test_default_emergence_width_needs_three_usable_widths():
    widths = [2, 4, 8, 16, 32, 64, 128]
    assert default_emergence_width(widths) == 16
    assert default_emergence_width(widths, [0, 1, 2, 4, 8, 16, 32], n_tasks=100) == 16
    # the small models learn nothing: W moves up to the first width with 3 usable widths below it
    assert default_emergence_width(widths, [0, 0, 0, 1, 2, 3, 5], n_tasks=100) == 64
    # never the widest (nothing wider would check the prediction)
    assert default_emergence_width(widths, [0, 0, 0, 0, 1, 2, 5], n_tasks=100) == 16


def test_emergence_width_option_and_its_bounds(planted, tmp_path):
    path, _ = planted
    res = analyze_parity(path, AnalyzeConfig(n_boot=0, emergence_width=100))
    assert res.summary["emergence_W"] == 100
    assert res.emergence_prediction["predicted_width"].notna().all()
    with pytest.raises(QuantaError, match="emergence_width"):
        analyze_parity(path, AnalyzeConfig(n_boot=0, emergence_width=2000))
    with pytest.raises(QuantaError, match="emergence_width"):
        analyze_parity(path, AnalyzeConfig(n_boot=0, emergence_width=2))


def test_fit_range_override_is_used_and_recorded(planted):
    path, res = planted
    auto = res.fits.set_index("fit").loc["L_N"]
    lo, hi = auto["x_min"] * 2, auto["x_max"] / 2
    res2 = analyze_parity(path, AnalyzeConfig(n_boot=0, range_N=(lo, hi)))
    row = res2.fits.set_index("fit").loc["L_N"]
    assert row["range_rule"] == "override" and row["x_min"] >= lo and row["x_max"] <= hi
    assert res2.summary["alpha_N_fit_range"] == [row["x_min"], row["x_max"]]
    assert row["n_points"] < auto["n_points"]


def test_auto_fit_range_rule():
    x = np.array([1, 2, 4, 8, 16, 32, 64.0])
    loss = np.array([0.69, 0.5, 0.3, 0.2, 0.1, 0.05, 0.07])
    # the plateau at chance (ln 2) excluded, beyond the lowest loss excluded; no task count is read
    assert auto_fit_range(x, loss).tolist() == [False, True, True, True, True, True, False]
    assert auto_fit_range(x, loss, chance_loss=0.45).tolist() == [False, False, True, True, True, True, False]


def test_parse_fit_range():
    assert parse_fit_range("N=1e3:1e5") == ("N", (1000.0, 100000.0))
    assert parse_fit_range("S=100:") == ("S", (100.0, None))
    for bad in ("N1e3:1e5", "X=1:2", "D=a:2", "D=5"):
        with pytest.raises(QuantaError):
            parse_fit_range(bad)


def test_multi_alpha_and_multi_seed(tmp_path):
    path = make_parity_run(tmp_path / "multi", alphas=(0.3, 0.6), seeds=(0, 1), n_tasks=120,
                           Ds=np.geomspace(1e4, 1e8, 8))
    res = analyze_parity(path, AnalyzeConfig(n_boot=0))
    s = res.summary
    assert s["alpha"] == [0.3, 0.6] and "alpha_N" not in s
    assert [d["alpha"] for d in s["per_alpha"]] == [0.3, 0.6]
    for d in s["per_alpha"]:
        a = d["alpha"]
        assert d["alpha_N"] == pytest.approx(a, abs=0.07)
        assert d["alpha_S"] == pytest.approx(a / (a + 1), abs=0.05)
        assert d["alpha_N_predicted"] == a
    assert sorted(res.fits["alpha"].unique()) == [0.3, 0.6]
    assert set(res.emergence_prediction["seed"]) == {0, 1}


def test_keys_absent_without_a_data_sweep(tmp_path):
    path = make_parity_run(tmp_path / "nod", Ds=[])
    s = analyze_parity(path, AnalyzeConfig(n_boot=0)).summary
    assert "alpha_N" in s and "alpha_S" in s
    assert "alpha_D" not in s and "n_vs_D_exponent" not in s
    assert any("no data sweep" in n for n in s["notes"])


def test_bad_input_raises(tmp_path):
    with pytest.raises(QuantaError, match="not a quanta run directory"):
        analyze_parity(tmp_path)
    other = Run.create(tmp_path / "theory", command="theory", config={}, argv=["x"])
    other.finish({})
    with pytest.raises(QuantaError, match="parity run"):
        analyze_parity(tmp_path / "theory")
    make_parity_run(tmp_path / "unfinished", n_tasks=20, complete=False)
    with pytest.raises(QuantaError, match="unfinished"):
        analyze_parity(tmp_path / "unfinished")
    make_parity_run(tmp_path / "noeval", n_tasks=20, drop_table="eval")
    with pytest.raises(QuantaError, match="eval.parquet"):
        analyze_parity(tmp_path / "noeval")
    make_parity_run(tmp_path / "nocol", n_tasks=20)
    run = Run.open(tmp_path / "nocol")
    run.write_table("models", run.read_table("models").drop(columns=["best_loss"]))
    with pytest.raises(QuantaError, match="best_loss"):
        analyze_parity(tmp_path / "nocol")
    for bad in (0, -0.1, float("nan")):
        with pytest.raises(QuantaError, match="threshold_bits"):
            AnalyzeConfig(threshold_bits=bad)
    with pytest.raises(QuantaError, match="range_N"):
        AnalyzeConfig(range_N=(10, 5))


def test_threshold_changes_learn_counts(planted):
    path, res = planted
    loose = analyze_parity(path, AnalyzeConfig(n_boot=0, threshold_bits=0.5))
    c0 = res.learned_counts.query("axis == 'N'")["n_learned"].to_numpy()
    c1 = loose.learned_counts.query("axis == 'N'")["n_learned"].to_numpy()
    assert (c1 >= c0).all() and (c1 > c0).any()
    assert loose.summary["threshold_nats"] == pytest.approx(0.5 * LN2)


def test_run_directory_and_cli(planted, tmp_path, cli_run):
    path, _ = planted
    out = tmp_path / "analysis"
    code, stdout, err = cli_run("parity", "analyze", path, "--out", out, "--n-boot", "20")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    row = next(line for line in stdout.splitlines() if "α_N" in line).split()
    assert f"{summary['alpha_N']:.3f}" in row and f"{summary['alpha_N_predicted']:.3f}" in row
    lib = run_parity_analysis(path, tmp_path / "lib", AnalyzeConfig(n_boot=20, figures=False))
    for key in ("alpha_N", "alpha_N_ci", "alpha_D", "alpha_S", "n_vs_D_exponent", "order_spearman"):
        assert summary[key] == lib[key]
    done = Run.open(out, command="parity analyze")
    assert {"fits", "emergence", "learned_counts", "emergence_prediction", "exponents"} <= set(done.tables())
    names = {p.stem for p in done.figures()}
    assert {"loss_scaling", "task_curves", "learning_order", "learned_counts", "emergence_prediction"} <= names
    # a finished analysis is not overwritten without --force
    code, _, err = cli_run("parity", "analyze", path, "--out", out)
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1
    code, _, err = cli_run("parity", "analyze", path, "--out", out, "--force", "--n-boot", "0", "--no-figures")
    assert code == 0, err


def test_cli_bad_input_is_one_line(planted, tmp_path, cli_run):
    path, _ = planted
    for args in ([tmp_path / "missing", "--out", tmp_path / "o1"],
                 [path, "--out", tmp_path / "o2", "--threshold-bits", "0"],
                 [path, "--out", tmp_path / "o3", "--fit-range", "Q=1:2"],
                 [path, "--out", path]):
        code, _, err = cli_run("parity", "analyze", *args)
        assert code == 2 and err.startswith("error:") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o2").exists()
    assert Run.open(path).command == "parity run"  # --out = RUN_DIR did not touch the run


@pytest.mark.slow
def test_end_to_end_on_a_real_tiny_run(tmp_path, cli_run):
    """`quanta parity run` (a tiny sweep: 4 widths online, 2 training-set sizes) then `quanta parity analyze`."""
    run_dir, out = tmp_path / "run", tmp_path / "analysis"
    code, _, err = cli_run("parity", "run", "--preset", "cpu-tiny", "--out", run_dir, "--set", "n_tasks=6",
                           "--set", "n=8", "--set", "k=2", "--set", "widths=[8,16,32,64]",
                           "--set", "data_sizes=[0,300,3000]", "--set", "steps=300", "--set", "batch_size=256",
                           "--set", "n_evals=10")
    assert code == 0, err
    code, stdout, err = cli_run("parity", "analyze", run_dir, "--out", out, "--n-boot", "20")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["alpha"] == 0.4 and summary["n_tasks"] == 6
    src, done = Run.open(run_dir), Run.open(out)
    # 8 data bits: the 3000-sample training set holds most of the test inputs, which the run and the analysis say
    seen = {r["D"]: r["share"] for r in src.summary["test_seen_in_training"]}
    assert set(seen) == {300, 3000} and seen[300] < seen[3000] and seen[3000] > 0.5
    assert summary["test_seen_in_training_max_D"] == pytest.approx(seen[3000])
    assert any("memorisation" in n for n in summary["notes"])
    models, ev = src.read_table("models"), src.read_table("eval")
    thr = 0.1 * LN2
    # tasks learned at the end of training, counted from the engine's eval table by hand
    counts = done.read_table("learned_counts")
    for _, m in models[models["D"] == 0].iterrows():
        e = ev[(ev["model"] == m["model"]) & (ev["step"] == ev[ev["model"] == m["model"]]["step"].max())]
        got = counts[(counts["axis"] == "N") & (counts["model"] == m["model"])]["n_learned"].iloc[0]
        assert got == (e["loss"] < thr).sum()
    # learn steps of every model against a plain loop over the eval table
    em = done.read_table("emergence")
    em = em[em["axis"] == "step"].set_index(["model", "task"])["at"]
    for (model, task), rows in ev.sort_values("step").groupby(["model", "task"]):
        below = rows[rows["loss"] < thr]["step"]
        want = below.iloc[0] if len(below) else np.nan
        got = em.loc[(model, task)]
        assert (np.isnan(want) and np.isnan(got)) or got == want
    assert {"loss_scaling", "task_curves", "learning_order"} <= {p.stem for p in done.figures()}


def test_bad_emergence_width_writes_nothing(planted, tmp_path, cli_run):
    path, _ = planted
    code, _, err = cli_run("parity", "analyze", path, "--out", tmp_path / "o", "--emergence-width", "5000")
    assert code == 2 and "emergence_width" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_headline_table_prints_missing_values():
    from quanta.cli.parity_analyze import headline_table

    entry = {"alpha_N": 0.35, "alpha_N_ci": [0.25, None], "alpha_N_predicted": 0.4, "emergence_W": 32.0,
             "emergence_abs_log10_error_median": None, "emergence_n_checked": 3, "emergence_grid_log10_step": 0.3}
    lines = headline_table(entry)
    assert "0.350" in lines[1] and "0.400" in lines[1] and "[0.250, -]" in lines[1]
    assert "= inf over 3 tasks" in lines[-1]
    assert headline_table({"alpha": 0.4}) == ["no exponent could be measured (see the notes)"]


def test_tail_corrected_alpha_s_on_a_finite_tasks_run(tmp_path):
    # the finite set bends L(S) (alpha_S is steep, as its finite-K prediction says); adding the loss
    # of the missing Zipf tail gives back the asymptotic α/(α+1) (measured: within 0.003)
    s = analyze_parity(make_parity_run(tmp_path / "finite", mean="tasks"), AnalyzeConfig(n_boot=0)).summary
    assert s["alpha_S"] == pytest.approx(s["alpha_S_predicted_finite"], abs=0.06)
    assert s["alpha_S_tail_corrected"] == pytest.approx(0.4 / 1.4, abs=0.01)
    assert s["alpha_S_tail_corrected_predicted"] == pytest.approx(0.4 / 1.4)
    assert s["alpha_S_tail_offset"] > 0 and s["alpha_S_comparison_width"] < WIDTHS.max()


def test_in_memory_sweep_analyses_as_its_run_directory(tmp_path):
    """train_sweep's tables (dict or ParityTables) give the analysis run_parity's directory gives."""
    from quanta.parity.presets import preset_config
    from quanta.parity.tables import ParityTables, parity_tables
    from quanta.parity.train import run_parity, train_sweep

    cfg = preset_config("cpu-tiny", {"steps": 200, "data_sizes": [0, 300, 3000]})
    tables = train_sweep(cfg)
    run_parity(cfg, tmp_path / "run", device="cpu")
    acfg = AnalyzeConfig(n_boot=20, figures=False)
    disk = analyze_parity(tmp_path / "run", acfg)
    for in_memory in (tables, parity_tables(tables)):
        mem = analyze_parity(in_memory, acfg)
        a, b = dict(mem.summary), dict(disk.summary)
        assert a.pop("run_dir") is None and b.pop("run_dir") == str((tmp_path / "run").resolve())
        assert a == b
        for name in ("fits", "exponents", "emergence", "learned_counts", "curves", "emergence_prediction"):
            pd.testing.assert_frame_equal(getattr(mem, name), getattr(disk, name))
    assert isinstance(parity_tables(tables), ParityTables)
    with pytest.raises(QuantaError, match="lacks the table 'eval_mean'"):
        analyze_parity({k: v for k, v in tables.items() if k != "eval_mean"})
    with pytest.raises(QuantaError, match="'models' table lacks the column"):
        parity_tables({**tables, "models": tables["models"].drop(columns=["best_step"])})


def test_finite_task_prediction_uses_the_estimator_of_the_measured_exponent():
    """Fed the theory's own finite-K loss curve as data, the measured exponent (fit_loss_law, as parity analyze fits
    L(N)) equals alpha_N_predicted_finite: the prediction is fitted as the data are (a log-space fit gave 0.013 less
    at K = 500, α = 0.25)."""
    from quanta.fit import fit_loss_law
    from quanta.parity.fit_ranges import finite_tasks_exponent
    from quanta.theory import zipf_probs

    p = zipf_probs(0.25, 500)
    x = np.geomspace(1e3, 1e5, 10)
    n = 0.004 * x  # learned tasks n = c·N, from 4 to 400 of the 500
    cum = np.r_[0.0, np.cumsum(p) / p.sum()]
    loss = np.log(2) * (1.0 - np.interp(n, np.arange(len(cum)), cum))
    assert finite_tasks_exponent(x, n, p, 1.0) == pytest.approx(fit_loss_law(x, loss).alpha, abs=1e-9)
