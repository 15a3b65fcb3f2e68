import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from quanta.errors import QuantaError
from quanta.parity.data import ParityTasks
from quanta.parity.presets import PRESETS, preset_config
from quanta.parity.train import ParityConfig, SweepTrainer, load_member
from quanta.store import Run

TABLE_COLUMNS = {  # docs/tables.md, `quanta parity run`
    "tasks": ["alpha", "task", "p", "bits", "n"],
    "models": ["model", "width", "depth", "n_params", "seed", "D", "alpha", "final_loss", "best_loss", "best_step",
               "stopped_step", "steps"],
    "eval": ["model", "width", "seed", "D", "alpha", "step", "task", "loss", "acc"],
    "eval_mean": ["model", "width", "seed", "D", "alpha", "step", "loss", "acc"],
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from tests.conftest import run_cli

    prior = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("parity") / "tiny"
    code, stdout, err = run_cli("parity", "run", "--preset", "cpu-tiny", "--out", out, "--device", "cpu",
                                "--set", "seeds=[0,1]")
    torch.set_num_threads(prior)
    assert code == 0, err
    return out, stdout


def test_presets_match_the_issue():
    p = preset_config("paper-fig2-params")
    assert (p.n_tasks, p.n, p.k, p.alphas, p.batch_size, p.steps) == (500, 100, 3, (0.4,), 20000, 200000)
    assert len(p.widths) == 30 and p.widths[0] == 10 and p.widths[-1] == 500 and p.data_sizes == (0,)
    assert np.allclose(np.diff(np.log(p.widths)).std(), 0, atol=0.05)  # log-spaced
    d = preset_config("paper-fig2-data")
    assert d.widths == (500,) and d.data_sizes[0] == 10000 and d.data_sizes[-1] == 5000000 and d.patience
    a = preset_config("paper-alpha-sweep")  # the reference code's Fig. 10 runs (experiments/P-scaling-17)
    assert a.alphas == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8) and a.seeds == (0, 1, 2)
    assert (a.n_tasks, a.n, a.k, a.batch_size, a.steps, a.data_sizes) == (500, 100, 3, 20000, 100_000, (0,))
    assert len(a.widths) == 20 and a.widths[:3] == (9, 11, 14) and a.widths[-1] == 300
    assert list(a.widths) == [int(w) for w in np.power(2, np.linspace(np.log2(10), np.log2(300), 20))]
    assert (a.lr, a.weight_decay, a.depth) == (1e-3, 0.0, 1)
    s = preset_config("cpu-small")
    assert len(s.widths) >= 8 and s.alphas == (0.4,) and s.k == 3
    assert set(PRESETS) == {"paper-fig2-params", "paper-fig2-data", "paper-alpha-sweep", "cpu-small", "cpu-tiny"}


def test_eval_steps_are_log_spaced_with_ends():
    cfg = ParityConfig(n_tasks=4, n=6, widths=[2], steps=1000, n_evals=4)
    assert cfg.eval_steps() == [0, 1, 10, 100, 1000]
    cfg = ParityConfig(n_tasks=4, n=6, widths=[2], steps=1000, n_evals=4, eval_every=300)
    assert cfg.eval_steps() == [0, 1, 10, 100, 300, 600, 900, 1000]


def test_config_coerces_scalars_and_integral_floats():
    cfg = ParityConfig(n_tasks=4, n=6, widths=8, alphas=0.3, data_sizes=[1e3, 0], seeds=2)
    assert cfg.widths == (8,) and cfg.alphas == (0.3,) and cfg.data_sizes == (1000, 0) and cfg.seeds == (2,)
    assert cfg.groups == [(0.3, 1000, 2), (0.3, 0, 2)]


@pytest.mark.parametrize("setting,word", [
    ("k=11", "k must be <= n"),
    ("n_tasks=200", "distinct 3-subsets"),
    ("widths=[4,0]", "widths"),
    ("alphas=0", "alphas"),
    ("alphas=[-0.4]", "alphas"),
    ("batch_size=0", "batch_size"),
    ("bogus=3", "unknown parity config key 'bogus'"),
    ("widths=[4,4]", "repeat"),
    ("lr=0", "lr"),
    ("steps=1.5", "steps"),
])
def test_impossible_settings_exit_2_with_one_line(cli_run, tmp_path, setting, word):
    code, out, err = cli_run("parity", "run", "--preset", "cpu-tiny", "--out", tmp_path / "x", "--set", setting)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error:") and word in err, err
    assert not (tmp_path / "x").exists()


def test_unknown_preset_exit_2(cli_run, tmp_path):
    code, _, err = cli_run("parity", "run", "--preset", "nope", "--out", tmp_path / "x")
    assert code == 2 and "cpu-small" in err and err.count("\n") == 1


def test_run_writes_the_documented_tables(tiny_run):
    out, stdout = tiny_run
    run = Run.open(out, command="parity run")
    assert "n_models: 8" in stdout and run.summary["n_models"] == 8
    for name, cols in TABLE_COLUMNS.items():
        df = run.read_table(name)
        assert set(cols) <= set(df.columns), (name, set(cols) - set(df.columns))
    cfg = preset_config("cpu-tiny", {"seeds": [0, 1]})
    ev, ev_mean, models = run.read_table("eval"), run.read_table("eval_mean"), run.read_table("models")
    n_evals = len(cfg.eval_steps())
    assert len(ev) == 8 * cfg.n_tasks * n_evals and len(ev_mean) == 8 * n_evals
    assert sorted(ev["step"].unique()) == cfg.eval_steps()
    # eval_mean is the task-probability-weighted mean of eval
    tasks = run.read_table("tasks")
    merged = ev.merge(tasks[["alpha", "task", "p"]], on=["alpha", "task"])
    weighted = (merged["loss"] * merged["p"]).groupby([merged["model"], merged["step"]]).sum()
    mean = ev_mean.set_index(["model", "step"])["loss"]
    np.testing.assert_allclose(weighted.loc[mean.index].to_numpy(), mean.to_numpy(), rtol=1e-9)
    # models: final loss is the last evaluation; best is the minimum; n_params is the MLP's
    last = ev_mean[ev_mean["step"] == cfg.steps].set_index("model")["loss"]
    np.testing.assert_allclose(models.set_index("model")["final_loss"], last.loc[models["model"]])
    best = ev_mean.groupby("model")["loss"].min()
    np.testing.assert_allclose(models.set_index("model")["best_loss"], best.loc[models["model"]])
    assert (models["n_params"] == models["width"] * (cfg.n_tasks + cfg.n + 3) + 2).all()
    assert (models["stopped_step"] == cfg.steps).all()
    # it learns: at step 0 the models are near chance (ln 2), at the end the widest ones are well below it
    assert abs(ev_mean[ev_mean["step"] == 0]["loss"].mean() - math.log(2)) < 0.05
    assert models[models["width"] == 32]["final_loss"].max() < 0.45
    assert run.figures() and (out / "final_state.pt").exists() and not (out / "checkpoint.pt").exists()


def test_load_member_reproduces_the_tables(tiny_run):
    out, _ = tiny_run
    run = Run.open(out)
    models = run.read_table("models")
    row = models[(models["width"] == 16) & (models["seed"] == 1)].iloc[0]
    net = load_member(out, int(row["model"]))
    tasks = ParityTasks.from_config(run.config)
    task, bits, y = tasks.test_set(run.config["n_test_per_task"], seed=run.config["task_seed"])
    with torch.no_grad():
        ce = F.cross_entropy(net(tasks.to_inputs(task, bits)), y, reduction="none")
    per_task = pd.Series(ce.numpy()).groupby(task.numpy()).mean()
    ev = run.read_table("eval")
    want = ev[(ev["model"] == row["model"]) & (ev["step"] == row["steps"])].set_index("task")["loss"]
    np.testing.assert_allclose(per_task.to_numpy(), want.loc[per_task.index].to_numpy(), rtol=1e-4, atol=1e-6)
    with pytest.raises(QuantaError, match="model id"):
        load_member(out, 99)


def test_finished_run_is_not_overwritten(tiny_run, cli_run):
    out, _ = tiny_run
    code, _, err = cli_run("parity", "run", "--preset", "cpu-tiny", "--out", out)
    assert code == 2 and "already holds a finished run" in err


def test_early_stopping_freezes_fixed_D_members_only():
    # D=24 is tiny: the wide member overfits, its test loss rises and it stops; the online group never stops
    cfg = ParityConfig(n_tasks=4, n=8, k=3, widths=[64], data_sizes=[24, 0], batch_size=24, steps=120, lr=3e-3,
                       n_evals=2, eval_every=10, patience=3, n_test_per_task=64)
    trainer = SweepTrainer(cfg)
    trainer.train()
    tables = trainer.tables()
    models = tables["models"].set_index("D")
    stop = int(models.loc[24, "stopped_step"])
    assert stop < cfg.steps and int(models.loc[0, "stopped_step"]) == cfg.steps
    ev_mean = tables["eval_mean"]
    fixed = ev_mean[ev_mean["D"] == 24]
    assert fixed["step"].max() == stop  # no rows after the stop
    best_step = int(models.loc[24, "best_step"])
    assert 0 < best_step < stop  # its test loss improved, then worsened for `patience` evaluations
    assert sum(best_step < s <= stop for s in cfg.eval_steps()) == cfg.patience
    # the stopped member's parameters stayed frozen while the online one kept training
    again = trainer.evaluate()["mean_loss"]
    members = trainer.members().set_index("D")
    g = int(members.loc[24, "g"])
    assert math.isclose(float(again[g, 0]), float(models.loc[24, "final_loss"]), rel_tol=1e-12)
    assert ev_mean[ev_mean["D"] == 0]["step"].max() == cfg.steps
