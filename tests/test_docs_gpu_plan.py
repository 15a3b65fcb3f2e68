"""docs/benchmarks.md's plan of the GPU reproductions, recomputed from the presets: the work of an α run against the
Fig. 2 sweep, the checkpoint sizes that must fit a device call's carry, and the GPU time scaled from the recorded
step time. No figure of that paragraph is typed without a check."""

import math
import re
from pathlib import Path

import pytest
from conftest import gpu_budget

from quanta.parity.ensemble import BatchedMLP
from quanta.parity.presets import preset_config

ROOT = Path(__file__).resolve().parents[1]
MIB = 2 ** 20
WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}


@pytest.fixture(scope="module")
def page():
    return " ".join((ROOT / "docs" / "benchmarks.md").read_text().split())  # one space between words


def _runs():
    cfgs = {"alpha": preset_config("paper-alpha-sweep", {"alphas": [0.4]}),
            "fig2-params": preset_config("paper-fig2-params"), "fig2-data": preset_config("paper-fig2-data")}
    hidden = {k: len(c.groups) * sum(c.widths) for k, c in cfgs.items()}
    return cfgs, hidden


def _checkpoint_mib(c) -> tuple[float, float]:
    """A run's checkpoint by its shapes, in MiB: model and AdamW state (three float32 copies of the parameters), and
    all its evaluations' records (a float64 loss and an int16 count per group, member, task and evaluation)."""
    model = BatchedMLP(c.n_tasks, c.n, c.widths, len(c.groups), c.depth, seeds=[s for _, _, s in c.groups])
    state = 12 * sum(q.numel() for q in model.parameters()) / MIB
    evals = len(c.eval_steps()) * len(c.groups) * len(c.widths) * c.n_tasks * (8 + 2) / MIB
    return state, evals


def minutes_alpha(ms: float) -> float:
    """The minutes of steps of one α run at ``ms`` per Fig. 2 step, scaled by hidden units × steps."""
    cfgs, hidden = _runs()
    return cfgs["alpha"].steps * ms / 1000 * hidden["alpha"] / hidden["fig2-params"] / 60


def test_work_and_time_of_the_queue(page):
    cfgs, hidden = _runs()
    a, p = cfgs["alpha"], cfgs["fig2-params"]
    ratio = hidden["alpha"] / hidden["fig2-params"]
    assert (f"each α run steps {len(a.groups)} × {sum(a.widths):,} hidden units, {ratio:.2f} times the Fig. 2 "
            f"sweep's {hidden['fig2-params']:,}, for half its steps") in page and a.steps * 2 == p.steps
    ms = float(re.search(r"Scaled from the recorded ([\d.]+) ms by the work ratio", page).group(1))
    import json  # the H200's plain step of 2026-12-04, the one recorded plain step at this shape

    rec = json.loads((ROOT / "docs" / "data" / "gpu_runs.json").read_text())
    kernel = next(s["result"] for e in rec if e["device"] == "NVIDIA H200" for s in e["steps"] if s["step"] == "kernel")
    assert f"{kernel['ms_per_step']:.3f}" == f"{ms:.3f}"
    assert f"against the {round(minutes_alpha(ms))} minutes of steps the scaling gives it" in page
    minutes = {k: cfgs[k].steps * ms / 1000 * hidden[k] / hidden["fig2-params"] / 60 for k in cfgs}
    n_alphas = len(preset_config("paper-alpha-sweep").alphas)
    total = minutes["fig2-params"] + n_alphas * minutes["alpha"] + minutes["fig2-data"]
    target = total * 0.5 / ms
    assert (f"the queue needs about {round(total)} GPU minutes on the plain step (fig2-params "
            f"{round(minutes['fig2-params'])} of steps, each α run {round(minutes['alpha'])}, fig2-data at most "
            f"{round(minutes['fig2-data'])}), some {WORDS[math.ceil(total * 60 / 500)]} calls of parity alone; at the "
            f"0.5 ms target about {round(target)} minutes, {WORDS[math.ceil(target * 60 / 500)]} calls") in page


def test_checkpoint_sizes_fit_the_carry(page):
    """Model and AdamW state are three float32 copies of the parameters; the evaluations are a float64 loss and an
    int16 count per (group, member, task) and evaluation. The page's measured sizes agree with these shapes (the
    rest of a checkpoint: generator states, small tensors, pickling, is under 0.5 MiB), and every run ends within
    what gpu_pack.py carries."""
    from conftest import load_benchmark

    cfgs, _ = _runs()
    m = re.search(r"a checkpoint after one step holds ([\d.]+) MiB for an α run, ([\d.]+) MiB for fig2-params and "
                  r"([\d.]+) MiB for fig2-data .*? All its evaluations add ([\d.]+), ([\d.]+) and ([\d.]+) MiB by a "
                  r"run's end .*? ends near (\d+) MiB, within the (\d+) MiB that `gpu_pack.py carry` allows", page)
    assert m, "the checkpoint sentence of docs/benchmarks.md"
    stated = [float(v) for v in m.groups()]
    ends = []
    for i, key in enumerate(("alpha", "fig2-params", "fig2-data")):
        state, evals = _checkpoint_mib(cfgs[key])
        assert 0 <= stated[i] - state < 0.5 and 0 <= stated[3 + i] - evals < 0.5, key
        ends.append(stated[i] + stated[3 + i])
    assert round(max(ends)) == stated[6] and max(ends) < stated[7] == load_benchmark("gpu_pack").CARRY_MAX / MIB
    sweep = len(preset_config("paper-alpha-sweep").alphas) * stated[0]
    assert f"the whole sweep's ({sweep:.0f} MiB) could not" in page
    orders = sum(cfgs["fig2-data"].data_sizes) * 8 / MIB
    assert f"{len(cfgs['fig2-data'].data_sizes)} epoch orders, {orders:.0f} MiB as int64" in page


def test_what_one_call_brings_back(page, tmp_path):
    """gpu_pack.py's NEED_MIB covers each run's checkpoint near its end (the shapes above), and the page's figures
    of an α run's eval table (rows from the preset; bytes as a table of that shape with random float64 losses is
    written, the losses' mantissas being what does not compress) and of what one call can hold agree with them."""
    import numpy as np
    import pandas as pd
    from conftest import load_benchmark

    from quanta.store import write_parquet

    gp = load_benchmark("gpu_pack")
    cfgs, _ = _runs()
    for key, kind in (("alpha", "alpha-sweep"), ("fig2-params", "fig2-params"), ("fig2-data", "fig2-data")):
        end = sum(_checkpoint_mib(cfgs[key])) + 0.5
        assert end <= gp.NEED_MIB[kind] < end + 1.5, (kind, end)
        assert gp.NEED_MIB[kind] <= gp.CARRY_MAX / MIB
    c = cfgs["alpha"]
    evals, members = len(c.eval_steps()), len(c.groups) * len(c.widths)
    rows = evals * members * c.n_tasks
    rng = np.random.default_rng(0)
    idx = np.arange(rows)
    table = pd.DataFrame({"model": idx // (evals * c.n_tasks) % members, "width": np.repeat(
        np.tile(c.widths, len(c.groups)), evals * c.n_tasks), "seed": idx // (evals * c.n_tasks) // len(c.widths),
        "D": 0, "alpha": 0.4, "step": np.tile(np.repeat(c.eval_steps(), c.n_tasks), members),
        "task": idx % c.n_tasks, "loss": rng.random(rows) * 0.7, "acc": rng.integers(0, 1001, rows) / 1000})
    mib = write_parquet(tmp_path / "eval.parquet", table).stat().st_size / MIB
    m = re.search(r"A finished α run's eval.parquet holds ([\d.]+)M rows \(every evaluation of its (\d+) members × "
                  r"(\d+) tasks\), about ([\d.]+) MiB", page)
    assert m and float(m.group(1)) == round(rows / 1e6, 2) and int(m.group(2)) == members
    assert int(m.group(3)) == c.n_tasks and abs(float(m.group(4)) - mib) < 0.3, mib
    room = (gp.BACK_MAX - gp.BACK_RESERVE) / MIB
    assert mib + gp.NEED_MIB["alpha-sweep"] < room < 2 * mib + gp.NEED_MIB["alpha-sweep"]
    stated = re.search(r"\(at most (\d+) MiB for an α run, (\d+) for fig2-params, (\d+) for fig2-data\)", page)
    assert stated and [int(v) for v in stated.groups()] == [gp.NEED_MIB[k] for k in ("alpha-sweep", "fig2-params",
                                                                                      "fig2-data")]


def test_the_parity_budget_beside_the_other_steps(page):
    """The reproductions get what the other sections' limits leave (gpu_run.sh's defaults on the GPU), as the page
    says, so that the last section, the peer, keeps its whole limit."""
    limit, alone = gpu_budget(), gpu_budget(GPU_STEPS="parity", PARITY_KERNEL="torch", PARITY_MIN_S="450")
    beside, alone = limit["PARITY_S"], alone["PARITY_S"]
    assert f"{beside} s in all beside them (so that step 3 keeps its {limit['PEER_S']} s); {alone} s when" in page
    assert f"gives them {alone} s instead of {beside}." in page
    # the next session's first call: the reproductions alone, one whole α run, none started that cannot finish
    assert ("`GPU_STEPS=parity PARITY_KERNEL=torch PARITY_MIN_S=450 bash benchmarks/gpu_run.sh`: the reproductions "
            f"get {alone} s") in page
    # the tiles call alone: TOTAL_S is its step's S plus the packing's reserve
    assert gpu_budget()["PARITY_MIN_S"] == 30 and f"TILES_S=S TOTAL_S=S+{limit['RESERVE_S']}" in page


def test_the_h200_section_quotes_its_record(page):
    """The figures of the 2026-12-04 H200 section are those of docs/data/gpu_runs.json (none typed by hand)."""
    import json

    record = json.loads((ROOT / "docs" / "data" / "gpu_runs.json").read_text())
    calls = {e["call"]: {s["step"]: s for s in e["steps"]} for e in record
             if e["date"] == "2026-12-04" and e["device"] == "NVIDIA H200"}
    section = page[page.index("## GPU, 2026-12-04"):page.index("## Sparse parity sweeps")]
    k = calls[1]["kernel"]["result"]
    variants = {v["fused_ctrl"]: v for v in k["variants"]}
    quoted = [f"the plain step took {k['ms_per_step']:.3f} ms",
              f"the fused step {variants['segments']['ms_per_step_compared']:.3f} ms with `fused_ctrl=segments` "
              f"({variants['segments']['speedup']:.2f}× the plain step's speed)",
              f"{variants['rows']['ms_per_step_compared']:.3f} ms with `rows` ({variants['rows']['speedup']:.2f}×)",
              f"stayed {k['max_weight_diff']:.1e} from the plain path's after {k['steps']} steps",
              f"within the {k['tf32_effect']:.1e} that TF32 alone moves them",
              f"the verdict was `{k['verdict']}`", f"The plain step is {k['ms_per_step'] / 0.5:.1f}× the target"]
    assert k["verdict"] == "slower" and calls[1]["parity-kernel"]["result"]["kernel"] == "torch"
    from quanta.parity import fused  # kernel=auto reads the same measurement

    assert fused.MEASURED_SPEEDUP[90] == round(k["speedup"], 2)
    p1, p2 = calls[1]["parity-alpha-sweep-a0.4"], calls[2]["parity-alpha-sweep-a0.4"]
    assert calls[2]["progress-alpha-sweep-a0.4"]["result"]["status"] == "complete"
    quoted += [f"{p1['seconds']} s in the first call, {p2['seconds']} s in the second, "
               f"{p1['seconds'] + p2['seconds']} s of wall time in all",
               f"at {p2['result']['model_steps_per_s']:,.0f} model-steps/s",
               f"paused at step {calls[2]['progress-alpha-sweep-a0.1']['result']['checkpoint_step']:,} of 100,000"]
    # the plan's length of one α run, from the same record and the preset
    sweep1 = preset_config("paper-alpha-sweep", {"alphas": [0.4]})
    members = len(sweep1.groups) * len(sweep1.widths)
    rate = p2["result"]["model_steps_per_s"]
    assert (f"an α run's {sweep1.steps:,} steps of {members} models take about {sweep1.steps * members / rate:.0f} s "
            f"at the {rate:,.0f} model-steps/s recorded for α = 0.4") in page
    # the plan's first call: parity alone gets TOTAL_S - RESERVE_S - 20; the α = 0.4 run's whole wall time (two
    # calls, so two compilations and a pause and resume: more than one whole run needs) fits it before the run's
    # own pause point (PARITY_SLACK_S earlier), and what is left then is under PARITY_MIN_S=450, so no run is
    # started that could not finish
    script = (ROOT / "benchmarks" / "gpu_run.sh").read_text()
    slack = int(re.search(r"PARITY_SLACK_S=\${PARITY_SLACK_S:-(\d+)}", script).group(1))
    first = gpu_budget(GPU_STEPS="parity", PARITY_KERNEL="torch", PARITY_MIN_S="450")
    alone, wall = first["PARITY_S"], p1["seconds"] + p2["seconds"]
    assert wall <= alone - slack and alone - wall < first["PARITY_MIN_S"]
    g, sp, pe = (calls[1][n]["result"] for n in ("qdg-grads", "qdg-spectral", "peer"))
    quoted += [f"{g['tokens']:,} tokens of a pythia-70m-shaped model ({g['context']} context",
               f"in {g['seconds']:.1f} s ({g['tokens_per_s']:.0f} tokens/s)",
               f"kNN graph {sp['knn_s']:.1f} s and spectral sweep of {max(sp['counts'])} eigenvectors "
               f"{sp['spectral_s']:.1f} s", f"ARI {sp['ari_at_planted']:.3f} at the planted count",
               f"about {round(100_000 / g['tokens_per_s'], -2):.0f} s of gradients before those "
               f"{sp['total_s']:.0f} s",
               f"bergson took {pe['ratio_bergson_over_quanta']:.2f}× quanta's time",
               f"RMS error {pe['quanta_err_rms']:.3f} against bergson's {pe['bergson_err_rms']:.3f}",
               f"{pe['bergson_modules']} modules × {pe['bergson_dim'] ** 2} = {pe['k']:,} dimensions"]
    # the settings and versions the section names: from the presets, the scripts and the calls' logs
    sweep = preset_config("paper-alpha-sweep")
    quoted += [f"({len(sweep.widths)} widths {min(sweep.widths)}–{max(sweep.widths)}, {len(sweep.seeds)} seeds, "
               f"{sweep.steps:,} steps;",
               f"{g['context']} context, 4 targets per context, CountSketch to {g['project']:,})",
               f"(synthetic, {sp['dim']:,} dimensions, {sp['planted']} planted clusters)",
               f"{pe['context']} context, {pe['tokens']} tokens, p = {pe['bergson_dim']}:",
               f"quanta's CountSketch at the same {pe['k']:,}"]
    script = (ROOT / "benchmarks" / "gpu_run.sh").read_text()
    assert "--per-context 4 --project 8192 --batch-size 8 --device cuda --quanta-only" in script
    assert "PARITY_S=420 left" in calls[2]["queue-stop"]["result"] and 470 - 30 - 20 == 420  # TOTAL_S=470 → 420
    log = (ROOT / "docs" / "data" / "gpu_logs" / "2026-12-04-h200-call1.log").read_text()
    versions = re.search(r"python \S+ torch (\S+) cuda True NVIDIA H200\nnumpy (\S+)\ntriton (\S+)\nbergson (\S+)\n"
                         r"transformers (\S+)", log).groups()
    quoted.append("torch {}, triton {}, numpy {}, transformers {}, bergson {}".format(
        versions[0], versions[2], versions[1], versions[4], versions[3]))
    for q in quoted:
        assert q in section, q
    assert pe["ratio_bergson_over_quanta"] > 1 and pe["quanta_err_rms"] < pe["bergson_err_rms"]  # "met"
    assert g["seconds"] <= 60  # "inside the ≤ 60 s target"
    # the pages that quote the same calls
    qdg = " ".join((ROOT / "docs" / "qdg.md").read_text().split())
    assert (f"the 10k tokens took {g['seconds']:.1f} s (one run), inside the 60 s target, and the spectral step on "
            f"100k synthetic points {sp['total_s']:.0f} s") in qdg
    assert (f"The first α run measured on a GPU (an H200, 2026-12-04) took {p1['seconds'] + p2['seconds']} s of "
            "wall time in two calls") in page
    assert f"its sweep of {max(sp['counts'])} eigenvectors at 100k points took {sp['spectral_s']:.1f} s" in page
    assert (f"its sweep of {max(sp['counts'])} eigenvectors at 100k synthetic points took {sp['spectral_s']:.1f} s "
            f"after a kNN graph of {sp['knn_s']:.1f} s, and the 10k token gradients ran at {g['tokens_per_s']:.0f} "
            f"tokens/s, so 100k tokens need about {round(100_000 / g['tokens_per_s'], -2):.0f} s of gradients") in qdg
    run = " ".join((ROOT / "docs" / "parity-run.md").read_text().split())
    assert f"took {p1['seconds'] + p2['seconds']} s of wall time in two chunks" in run

