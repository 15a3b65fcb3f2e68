"""QDG on a parity run, scored against the true tasks.

The run directory is a test double: a hand-built network that solves the first tasks of a multitask sparse
parity problem exactly (one group of 4 ReLU units per task, gated by its control bit) and is at chance on the rest,
saved in the format of `quanta parity run` so the real loader, sampler and scorer are used.
"""

import pandas as pd
import pytest
import torch

from quanta.errors import QuantaError
from quanta.qdg.parity import ParityQDGConfig, default_model_id, learned_tasks, run_qdg_parity, score_clusters
from quanta.store import Run

CFG = {"n_tasks": 8, "n": 10, "k": 3, "alphas": [0.4], "task_seed": 0, "depth": 1, "widths": [32], "seeds": [0]}
SOLVED = 6


def solver_state(subsets, n_tasks, n, solved, *, scale=12.0, noise=0.02, seed=0):
    """Weights of a 1-hidden-layer MLP that computes the parity of task i's bits for i < solved.

    Task i owns 5 hidden units, all gated by its control bit c_i (weight M, bias -M, so they are silent unless
    c_i = 1): with s the sum of its k = 3 bits, units j = 0..3 compute relu(s - j) and unit 4 a constant 1, and
    s - 2 relu(s-1) + 2 relu(s-2) - 2 relu(s-3) = s mod 2. The logit difference is scale * (s mod 2 - 1/2).
    Unsolved tasks have no units: the model is at chance on them.
    """
    g = torch.Generator().manual_seed(seed)
    width = 5 * n_tasks
    W1 = noise * torch.randn(width, n_tasks + n, generator=g)
    b1 = torch.full((width,), -50.0)
    W2 = noise * torch.randn(2, width, generator=g)
    b2 = torch.zeros(2)
    M = 4.0
    coef = [1.0, -2.0, 2.0, -2.0, -0.5]
    for i in range(solved):
        for j in range(5):
            u = 5 * i + j
            W1[u] = 0.0
            W1[u, i] = M
            if j < 4:
                W1[u, n_tasks + torch.as_tensor(subsets[i])] = 1.0
                b1[u] = -M - j
            else:
                b1[u] = -M + 1.0
            W2[1, u], W2[0, u] = scale * coef[j] / 2, -scale * coef[j] / 2
    return {"layers.0.weight": W1, "layers.0.bias": b1, "layers.1.weight": W2, "layers.1.bias": b2}, width


@pytest.fixture(scope="module")
def parity_run(tmp_path_factory):
    from quanta.parity import ParityTasks
    from quanta.parity.ensemble import ParityMLP

    root = tmp_path_factory.mktemp("parity_double")
    tasks = ParityTasks.from_config(CFG)
    state, width = solver_state(tasks.subsets_np, CFG["n_tasks"], CFG["n"], SOLVED)
    net = ParityMLP(CFG["n_tasks"] + CFG["n"], width)
    net.load_state_dict(state)
    x, y, t = tasks.sample(4000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ce = torch.nn.functional.cross_entropy(net(x), y, reduction="none")
    assert ce[t < SOLVED].max() < 0.01  # the solved tasks really are solved
    rows = []
    for task in range(CFG["n_tasks"]):
        m = t == task
        rows.append({"model": 0, "width": width, "seed": 0, "D": 0, "alpha": 0.4, "step": 100, "task": task,
                     "loss": float(ce[m].mean()), "acc": 0.0})
    run = Run.create(root / "run", command="parity run", config=CFG, seed=0)
    run.write_table("models", pd.DataFrame([{"model": 0, "width": width, "depth": 1, "n_params": 0, "seed": 0,
                                             "D": 0, "alpha": 0.4, "final_loss": float(ce.mean()),
                                             "best_loss": float(ce.mean()), "best_step": 100, "stopped_step": 100,
                                             "steps": 100}]))
    run.write_table("eval", pd.DataFrame(rows))
    torch.save({"models": [state]}, run.path / "final_state.pt")
    run.finish({})
    return run.path


def test_score_clusters():
    s = score_clusters([0, 0, 1, 1, 2, 2], [5, 5, 6, 6, 7, 7])
    assert s == {"ari": 1.0, "purity": 1.0, "inverse_purity": 1.0}
    s = score_clusters([0, 0, 0, 0], [1, 1, 2, 2])
    assert s["ari"] == pytest.approx(0.0) and s["purity"] == 0.5 and s["inverse_purity"] == 1.0


def test_learned_tasks_and_default_model():
    ev = pd.DataFrame({"model": [0, 0, 0, 0, 1], "step": [1, 2, 2, 2, 2], "task": [0, 0, 1, 2, 0],
                       "loss": [0.01, 0.5, 0.06, 0.07, 0.0]})
    assert learned_tasks(ev, 0).tolist() == [1]  # 0.06 nats < 0.1 bits = 0.0693 nats < 0.07
    models = pd.DataFrame({"model": [0, 1, 2], "width": [8, 32, 32], "final_loss": [0.1, 0.3, 0.2]})
    assert default_model_id(models) == 2


def test_qdg_parity_recovers_planted_tasks(parity_run, tmp_path, cli_run):
    out = tmp_path / "qdg_parity"
    code, stdout, err = cli_run("qdg", "parity", parity_run, "--n-samples", "600", "--out", out)
    assert code == 0, err
    s = Run.open(out, command="qdg parity").summary
    # label-free: samples by their own loss, the count by the rule; the oracle count is a diagnostic. On this
    # double every solved task also splits reproducibly by its bits (its units compute relu(s - j)), so the rule
    # finds parts finer than the tasks: they never mix tasks (purity), and at the oracle count they are the tasks
    assert s["model_id"] == 0 and s["n_clusters_oracle"] == SOLVED and s["n_clusters"] >= SOLVED
    assert s["cluster_count_rule"] == "stability" and s["n_dropped"] == 0 and s["n_dropped_by_task"] == {}
    assert s["precondition"] == "none" and s["affinity_power"] == 1  # the parity defaults (docs/qdg.md)
    assert s["purity"] >= 0.9 and s["ari_oracle"] >= 0.9
    assert s["ari_null"] < 0.2  # the initial weights do not give the tasks away
    assert s["eigengap_n_clusters"] >= 2 and -1 <= s["ari_eigengap"] <= 1
    assert s["zipf_true"] == pytest.approx(1.4)
    assert s["zipf_exponent_ci"][0] < s["zipf_exponent"] < s["zipf_exponent_ci"][1]
    run = Run.open(out)
    samples = run.read_table("samples")
    # the unsolved tasks are at chance (loss ln 2), so no sample of theirs passes the 0.1-nat threshold
    assert len(samples) == 600 and samples["task"].max() < SOLVED and (samples["loss"] < 0.1).all()
    assert run.read_table("stability").set_index("n_clusters")["stability"][s["n_clusters"]] >= 0.9
    scores = run.read_table("scores")
    assert SOLVED in scores["n_clusters"].tolist()
    assert f"ari: {s['ari']:.4g}" in stdout
    # the parts contract's contexts columns, at the run's count: parts and samples of parts/membership
    ctx, parts, mem = run.read_table("contexts"), run.read_table("parts"), run.read_table("membership")
    assert (ctx["n_clusters"] == s["n_clusters"]).all() and (ctx["part"] == ctx["cluster"]).all()
    assert (mem.set_index("sample").loc[ctx["sample"], "part"].to_numpy() == ctx["part"].to_numpy()).all()
    assert (ctx["task"].to_numpy() == samples["task"].to_numpy()[ctx["sample"]]).all()
    assert (ctx["count"].to_numpy() == parts.set_index("part").loc[ctx["part"], "count"].to_numpy()).all()


def test_eigengap_count_rule(parity_run, tmp_path, monkeypatch):
    # the eigengap alone over the label-free range 2..n/20 is drawn past the 6 solved tasks on this double (each task
    # splits reproducibly by its bits); stability rules that out (the default rule gives 6, test above). The graph and
    # its embedding are built once (the count needs them before the sweep).
    from quanta.qdg import cluster

    calls = []
    real = cluster.affinity_graph
    monkeypatch.setattr(cluster, "affinity_graph", lambda *a, **k: calls.append(1) or real(*a, **k))
    cfg = ParityQDGConfig(run_dir=str(parity_run), n_samples=400, n_clusters="eigengap", null_control=False, n_boot=0)
    s = run_qdg_parity(cfg, tmp_path / "eig")
    assert len(calls) == 1
    assert s["cluster_count_rule"] == "eigengap"
    assert s["n_clusters"] == s["eigengap_n_clusters"] >= SOLVED
    assert s["ari"] == pytest.approx(s["ari_eigengap"])
    assert SOLVED in Run.open(tmp_path / "eig").read_table("scores")["n_clusters"].tolist()
    assert s["ari_oracle"] >= 0.9  # at the true count the clusters are the tasks


def test_diag_preconditioning_reads_the_task_code_of_the_input(parity_run, tmp_path):
    # the null control: an untrained network's gradients carry the task only through the one-hot control bits of
    # the input; raw gradients leave them a small share, the diagonal preconditioner standardises them
    out = {}
    for pre in ("none", "diag"):
        for power in (1, 4):
            # a fixed count: this test is about what the gradients carry, not about the count rule
            cfg = ParityQDGConfig(run_dir=str(parity_run), n_samples=400, precondition=pre, n_boot=0,
                                  n_clusters=SOLVED, affinity_power=power)
            out[pre, power] = run_qdg_parity(cfg, tmp_path / f"{pre}{power}")
    # at power 4 (the sharpened affinity of docs/qdg.md's history section) diag gives the tasks away untrained;
    # at the default power 1 it still reads several times more of the task code than raw gradients do
    assert out["none", 4]["ari_null"] < 0.2 and out["diag", 4]["ari_null"] > 0.8
    assert out["none", 1]["ari_null"] < 0.2 and out["diag", 1]["ari_null"] > 3 * max(out["none", 1]["ari_null"], 0.05)
    assert out["none", 1]["ari"] >= 0.9 and out["none", 4]["ari"] >= 0.9


def test_params_pick_the_hidden_units_backprop_signal(parity_run, tmp_path):
    cfg = ParityQDGConfig(run_dir=str(parity_run), n_samples=400, params=("layers.0.bias",), n_boot=0,
                          null_control=False, n_clusters=SOLVED)
    s = run_qdg_parity(cfg, tmp_path / "delta")
    assert s["grad_dim"] == 40 and s["params"] == ["layers.0.bias"] and s["ari_null"] is None
    assert s["ari"] >= 0.9
    with pytest.raises(QuantaError, match="params"):
        ParityQDGConfig(run_dir="r", params=("",))
    with pytest.raises(QuantaError, match="affinity power"):
        ParityQDGConfig(run_dir="r", affinity_power=0)


def test_confident_samples_keep_their_gradient_direction():
    # a margin of 60 nats: the loss is ~1e-26 and its gradient's entries square to below float32's range, but the
    # margin's gradient has the same direction at O(1) size, so no such row is dropped or bent
    from quanta.qdg.cluster import normalize_rows
    from quanta.qdg.grads import classification_margin, sample_gradients
    from quanta.qdg.parity import clusterable_rows

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    with torch.no_grad():
        net[2].bias.copy_(torch.tensor([-30.0, 30.0]))  # every sample confidently class 1
    x = torch.rand(8, 4)
    y = torch.ones(8, dtype=torch.long)
    with torch.no_grad():
        assert float(torch.nn.functional.softplus(classification_margin(net(x), y)).max()) < 1e-20
    G_loss = sample_gradients(net, x, y, include_bias=True)
    G_margin = sample_gradients(net, x, y, include_bias=True, target="margin")
    assert clusterable_rows(G_margin).all() and float(G_margin.abs().max()) > 1e-3
    # in float64 the loss gradient points the same way as the margin gradient
    net64 = net.double()
    G64 = sample_gradients(net64, x.double(), y, include_bias=True).double()
    cos = (normalize_rows(G64.float() * 1e20) * normalize_rows(G_margin)).sum(1)
    assert torch.allclose(cos, torch.ones(8), atol=1e-4)
    # a row of tiny entries keeps its direction when normalised (its squared norm underflows float32)
    tiny = torch.tensor([[3e-23, 4e-23, 0.0]])
    assert torch.allclose(normalize_rows(tiny), torch.tensor([[0.6, 0.8, 0.0]]))
    assert not torch.isfinite(G_loss).all() or float(G_loss.abs().max()) < 1e-15  # what the loss gradient gives
