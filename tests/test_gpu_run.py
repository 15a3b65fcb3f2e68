"""benchmarks/gpu_run.sh, the prepared GPU call, in its CPU dry run (tiny sizes, every step and the packing)."""

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import gpu_budget, load_benchmark

ROOT = Path(__file__).resolve().parents[1]


def _dry_call(out, timeout=200, **env) -> dict:
    """One CPU dry run of gpu_run.sh into ``out`` with these environment settings; it must exit 0. Its
    results.json."""
    env = {**os.environ, "QUANTA_DRY_RUN": "1", "OUT": str(out), "PYTHON": sys.executable, "OMP_NUM_THREADS": "1",
           **env}
    env.pop("TRITON_INTERPRET", None)
    r = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_run.sh")], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    return json.loads((Path(out) / "results.json").read_text())


@pytest.mark.slow
def test_gpu_run_dry_run(tmp_path):
    out = tmp_path / "out"
    res = _dry_call(out, timeout=290)
    files = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert len(files) <= 8 and all((out / f).stat().st_size <= 16 * 2 ** 20 for f in files), files
    assert {"gpu_run.log", "results.json", "parity.tar.part00"} <= set(files)
    rc = {s["step"]: s["rc"] for s in res["steps"]}
    queue = ("alpha-sweep-a0.4", "fig2-params", "fig2-data")  # the dry run's PARITY_QUEUE
    for name in [f"parity-{q}" for q in queue] + ["qdg-grads", "qdg-spectral"]:
        assert rc[name] == 0, (name, rc)
    assert rc["peer"] in (0, 3)  # 3: bergson is not installed here (an optional peer)
    env = res["steps"][0]  # the versions and the call's settings come first
    assert env["step"] == "env" and env["result"]["total_s"] == 550 and env["result"]["device"] == "cpu"
    assert env["result"]["gpu_steps"] == "kernel tiles parity qdg peer" and env["result"]["torch"]
    if rc["peer"] == 0:
        assert res["steps"][-1]["result"]["ratio_bergson_over_quanta"] > 0
    assert rc.get("kernel", 0) == 0 and rc.get("kernel-aot", 0) == 0  # absent when triton is not installed
    steps = {s["step"]: s for s in res["steps"]}
    if "kernel" in steps:  # compiled for sm_90 at the paper shapes, then the dry run takes the fused branch
        aot = steps["kernel-aot"]["result"]
        assert aot["all_fit"] and len(aot["rows"]) == 18 and {r["ctrl"] for r in aot["rows"]} == {"segments", "rows"}
        assert {v["fused_ctrl"] for v in steps["kernel"]["result"]["variants"]} == {"segments", "rows"}
        assert steps["kernel"]["result"]["verdict"] == "use", steps["kernel"]["result"]
        assert steps["parity-kernel"]["result"]["kernel"] == "triton"
        tiles = steps["tiles"]["result"]  # where the time goes: the plain step's ops and two tiles of the fused one
        assert steps["tiles"]["rc"] == 0 and tiles["plain"]["top"] and [t["tile"] for t in tiles["tiles"]] == [
            "16x16x4", "32x16x4s1"]
        assert all(t["fits"] and max(t["gradient_gap"].values()) < 1e-5 for t in tiles["tiles"])
        with tarfile.open(out / "parity.tar.part00") as tar:
            for run in queue:
                manifest = json.load(tar.extractfile(f"runs/gpu/{run}/manifest.json"))
                assert manifest["config"]["kernel"] == "triton", run
                assert manifest["config"]["fused_ctrl"] == steps["kernel"]["result"]["fused_ctrl"], run
    with tarfile.open(out / "parity.tar.part00") as tar:
        names = tar.getnames()
    for run in queue:
        assert f"runs/gpu/{run}/summary.json" in names and f"runs/gpu/{run}/final_state.pt" in names
        assert steps[f"progress-{run}"]["result"]["status"] == "complete"  # each chunk's progress, for the record
    assert steps["progress-alpha-sweep-a0.4"]["result"]["alphas"] == [0.4] and res["left_out"] == []
    assert steps["qdg-grads"]["result"]["tokens"] == 8 and 0 <= steps["qdg-spectral"]["result"]["ari_at_planted"] <= 1

    # the call recorded as a GPU session records one (docs/benchmarks.md's block, from docs/data/gpu_runs.json)
    rec = load_benchmark("gpu_record")
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"before\n{rec.START}\n{rec.END}\nafter\n")
    args = ["--doc", str(doc), "--record", str(tmp_path / "gpu_runs.json")]
    assert rec.main([str(out / "results.json"), "--device", "cpu dry run", "--date", "2026-12-03", *args]) == 0
    assert rec.main([str(out / "results.json"), "--device", "cpu dry run", "--date", "2026-12-03", *args]) == 0
    page = doc.read_text()
    assert page.startswith("before\n") and page.endswith("after\n") and page.count("| 2026-12-03 | cpu dry run |") == 1
    if "kernel" in steps:
        k = steps["kernel"]["result"]
        assert f"fused ({k['fused_ctrl']}) {k['ms_per_step_compared']:.3f} ms" in page and "verdict **use**" in page
        assert f"fig2-params: complete, step 20 of 20 (triton/{k['fused_ctrl']};" in page
        best = steps["tiles"]["result"]["best"]
        assert (f"where the time goes: plain {steps['tiles']['result']['plain']['ms_per_step']:.3f} ms, largest "
                f"kernel") in page
        assert f"tiles tried 2 of 2, 2 ran, fastest {best['tile']}: {best['ms_per_step']:.3f} ms" in page
        # the plain step's levers after the tiles: every one ran; bf16 moves the weights, the others do not (this
        # dry run's plain step is not compiled, so its own distance from the uncompiled path is zero)
        tr = steps["tiles"]["result"]
        levers = {lv["lever"]: lv for lv in tr["levers"]}
        assert list(levers) == list(load_benchmark("fused_tiles").LEVERS) and all(lv["ran"] for lv in levers.values())
        assert tr["lever_yardstick"]["plain_weight_gap"] == 0 and levers["no-compile"]["weight_gap"] == 0
        assert levers["bf16"]["weight_gap"] > 1e-4 > max(levers[k]["weight_gap"] for k in ("adamw-fused",
                                                                                             "cuda-graphs"))
        lv = levers["bf16"]
        assert f"bf16 {lv['ms_per_step']:.3f} ms (**{lv['speedup']:.2f}×**, weights {lv['weight_gap']:.1e} apart)" in page
    assert rec.main(["--check", *args]) == 0
    doc.write_text(page.replace("cpu dry run", "H200", 1))
    assert rec.main(["--check", *args]) == 1


def test_gpu_run_never_outlasts_its_budget(tmp_path):
    """With no time left every step is skipped (rc 125) and the results are still packed: a slow GPU step cuts the
    later ones short instead of losing the whole call's output to the device tool's 600 s limit."""
    out = tmp_path / "out"
    res = _dry_call(out, timeout=120, TOTAL_S="33", RESERVE_S="30")
    steps = {s["step"]: s for s in res["steps"]}
    assert {"queue-stop", "qdg-grads", "peer"} <= set(steps) and "waits for the next call" in steps["queue-stop"][
        "result"]  # the reproductions' share of the call is used up before their first run
    assert all(s["rc"] == 125 and s["result"] == "skipped: no time left" for s in res["steps"]
               if s["step"] not in ("queue-stop", "env")), res["steps"]
    assert "skipped" in (out / "gpu_run.log").read_text()


def test_the_limits_a_real_call_uses_in_each_of_the_plans_calls(tmp_path):
    """Off the dry run, as on the GPU: every section's limit, and the reproductions get what the others leave. The
    call the issue's plan makes first (all sections), the reproductions alone, the tiles alone with TOTAL_S=S+30,
    and QDG end to end alone, which takes the whole call but the packing and the env step (585 s, the step 545 s);
    no call's steps add up to more than the device tool's 600 s."""
    every = gpu_budget(TMPDIR=str(tmp_path))
    assert every["GPU_STEPS"] == ["kernel", "tiles", "parity", "qdg", "peer"] and every["RESERVE_S"] == 30
    others = sum(every[k] for k in ("KERNEL_S", "TILES_S", "QDG_S", "SPECTRAL_S", "PEER_S"))
    assert every["PARITY_S"] == every["TOTAL_S"] - every["RESERVE_S"] - 20 - others == 45
    assert every["TOTAL_S"] <= 600 and others + every["PARITY_S"] + every["RESERVE_S"] + 20 == every["TOTAL_S"]

    parity = gpu_budget(GPU_STEPS="parity", PARITY_KERNEL="torch", PARITY_MIN_S="450")
    assert parity["PARITY_S"] == parity["TOTAL_S"] - parity["RESERVE_S"] - 20 == 500 and parity["PARITY_MIN_S"] == 450

    tiles = gpu_budget(GPU_STEPS="tiles", TILES_S="400", TOTAL_S="430")
    assert tiles["TILES_S"] == 400 and tiles["PARITY_S"] == 0 and tiles["TOTAL_S"] - tiles["RESERVE_S"] == 400

    e2e = gpu_budget(GPU_STEPS="e2e")
    assert (e2e["TOTAL_S"], e2e["E2E_S"], e2e["PARITY_S"]) == (585, 545, 0)
    assert e2e["E2E_S"] == e2e["TOTAL_S"] - e2e["RESERVE_S"] - 10 and e2e["TOTAL_S"] < 600
    # a TOTAL_S given is kept, and the step's limit follows it; e2e beside another section keeps its 540 s default
    assert gpu_budget(GPU_STEPS="e2e", TOTAL_S="500")["E2E_S"] == 460
    assert gpu_budget(GPU_STEPS="qdg e2e")["E2E_S"] == 540 and gpu_budget(GPU_STEPS="qdg e2e")["TOTAL_S"] == 550
    # and the budget-only call makes nothing: no OUT folder, no temporary folder left behind
    assert not Path("/nonexistent/never-made").exists() and not any(tmp_path.iterdir())


def test_kernel_verdict_reads_tf32s_own_effect_as_the_yardstick():
    """gpu_run.sh's reproductions take the fused step only when it is faster and its weights stay within twice what
    TF32 alone changes (at least 1e-4); a NaN differs."""
    verdict = load_benchmark("parity_throughput").kernel_verdict
    assert verdict(5.0, 3e-3, 2e-3) == "use"
    assert verdict(5.0, 5e-3, 2e-3) == "differs"
    assert verdict(0.8, 3e-3, 2e-3) == "slower"
    assert verdict(0.8, 3e-3, 2e-3, min_speedup=0) == "use"
    assert verdict(5.0, 5e-5, 0.0) == "use" and verdict(5.0, 2e-4, 0.0) == "differs"
    assert verdict(5.0, float("nan"), 1e-3) == "differs"


def test_the_pages_gpu_block_is_its_record():
    """docs/benchmarks.md's table of gpu_run.sh calls is what docs/data/gpu_runs.json renders (none typed by hand)."""
    assert load_benchmark("gpu_record").main(["--check"]) == 0


def test_a_sessions_second_call_is_kept_beside_its_first(tmp_path):
    """A lease's calls share a date and a device: ``--call 2`` is a row of its own, and recording a call again
    replaces only that call's row."""
    rec = load_benchmark("gpu_record")
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"{rec.START}\n{rec.END}\n")
    args = ["--doc", str(doc), "--record", str(tmp_path / "gpu_runs.json"), "--device", "H200", "--date", "2026-12-04"]
    first = {"steps": [{"step": "qdg-grads", "rc": 0, "seconds": 58,
                        "result": {"tokens": 10000, "seconds": 40.0, "tokens_per_s": 250.0}}]}
    second = {"steps": [{"step": "parity-kernel", "rc": 0, "seconds": 0, "result": {"kernel": "torch"}}]}
    (tmp_path / "one.json").write_text(json.dumps(first))
    (tmp_path / "two.json").write_text(json.dumps(second))
    assert rec.main([str(tmp_path / "one.json"), *args]) == 0
    assert rec.main([str(tmp_path / "two.json"), "--call", "2", *args]) == 0
    assert rec.main([str(tmp_path / "two.json"), "--call", "2", *args]) == 0
    page = doc.read_text()
    assert page.count("| 2026-12-04 | H200 |") == 1 and page.count("| 2026-12-04, call 2 | H200 |") == 1
    assert "10,000 tokens in 40.0 s (250/s)" in page
    assert len(json.loads((tmp_path / "gpu_runs.json").read_text())) == 2
    assert rec.main([str(tmp_path / "two.json"), "--call", "0", *args]) == 2


def test_qdg_end_to_end_runs_in_a_call_of_its_own_and_is_recorded(tmp_path):
    """GPU_STEPS=e2e: benchmarks/qdg_e2e.py builds a random model and a tokenizer, runs QDG as `quanta qdg --model`
    does (here on a kNN graph, as at 100k tokens) and its figures reach the page's table; an interrupted run keeps
    the stages it finished."""
    out = tmp_path / "out"
    res = _dry_call(out, timeout=150, GPU_STEPS="e2e")
    steps = {s["step"]: s for s in res["steps"]}
    assert set(steps) == {"env", "parity-kernel", "qdg-e2e"}, steps  # nothing else ran
    e2e = steps["qdg-e2e"]
    assert e2e["rc"] == 0, e2e
    r = e2e["result"]
    assert r["n_tokens"] == 300 and r["n_candidates"] >= 300 and r["graph"] == "knn" and r["eigen_solver"]
    assert r["counts"] == [6, 12] and r["n_clusters"] == 12  # the sweep asked for, as the GPU call asks for its own
    assert {"losses", "gradients", "similarity", "spectral"} <= set(r["timings_s"]) and r["seconds"] > 0
    assert sum(r["timings_s"].values()) <= r["seconds"] and r["setup_seconds"] > 0

    rec = load_benchmark("gpu_record")
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"{rec.START}\n{rec.END}\n")
    args = ["--doc", str(doc), "--record", str(tmp_path / "gpu_runs.json"), "--device", "cpu", "--date", "2026-12-04"]
    assert rec.main([str(out / "results.json"), *args]) == 0
    assert f"300 tokens, context 32: **{r['seconds']:.0f} s** (losses " in doc.read_text()
    cut = {"steps": [{"step": "qdg-e2e", "rc": 130, "seconds": 560, "result": {
        "interrupted": True, "seconds": 551.0, "timings_s": {"losses": 4.0, "gradients": 520.0}}}]}
    (tmp_path / "cut.json").write_text(json.dumps(cut))
    assert rec.main([str(tmp_path / "cut.json"), "--call", "2", *args]) == 0
    assert "interrupted after 551 s (stages done: losses 4 s, gradients 520 s)" in doc.read_text()


def test_the_cpu_check_of_step_4_is_its_record():
    """docs/benchmarks.md's sentence on qdg_e2e.py at 30k tokens on the CPU quotes docs/data/qdg_e2e_cpu.json."""
    r = json.loads((ROOT / "docs" / "data" / "qdg_e2e_cpu.json").read_text())
    t = r["timings_s"]
    page = " ".join((ROOT / "docs" / "benchmarks.md").read_text().split())
    assert r["n_tokens"] == 30000 and r["graph"] == "knn" and r["counts"] == [50, 100, 200, 300]
    assert (f"{r['seconds']:.0f} s end to end, of which gradients {t['gradients']:.0f} s, the kNN graph "
            f"{t['similarity']:.0f} s and the spectral step {t['spectral']:.0f} s; the rest (losses, Zipf fits, contexts, "
            f"figures) {r['seconds'] - t['gradients'] - t['similarity'] - t['spectral']:.0f} s") in page


def test_gpu_record_refuses_bad_input_in_one_line(tmp_path, capsys):
    """A missing or foreign results file, or a date that is not YYYY-MM-DD: one line, exit 2, nothing written."""
    rec = load_benchmark("gpu_record")
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"{rec.START}\n{rec.END}\n")
    args = ["--doc", str(doc), "--record", str(tmp_path / "gpu_runs.json"), "--device", "H200"]
    (tmp_path / "other.json").write_text('{"rows": []}')
    for results, date in ((tmp_path / "missing.json", "2026-12-03"), (tmp_path / "other.json", "2026-12-03"),
                          (tmp_path / "other.json", "3 Dec")):
        assert rec.main([str(results), "--date", date, *args]) == 2
        assert len(capsys.readouterr().out.strip().splitlines()) == 1
    assert not (tmp_path / "gpu_runs.json").exists() and doc.read_text() == f"{rec.START}\n{rec.END}\n"


def test_a_run_cut_short_pauses_travels_back_and_resumes_in_the_next_call(tmp_path):
    """Two dry calls of the parity section: the first pauses its run at once (PARITY_MAX_S=0) and packs its checkpoint;
    unpacked here, `gpu_pack.py carry` gives what the next call carries, and that call resumes the run to the end."""
    def call(out, **env):
        res = _dry_call(out, GPU_STEPS="parity", PARITY_QUEUE="alpha-sweep-a0.6", **env)
        return {s["step"]: s for s in res["steps"]}, res

    steps, res = call(tmp_path / "out1", PARITY_MAX_S="0", PARITY_FLAGS="--set tf32=true --set lr=0.002")
    p = steps["progress-alpha-sweep-a0.6"]["result"]
    assert p["status"] == "paused" and p["checkpoint_step"] == 0 and p["alphas"] == [0.6] and p["seeds"] == [0, 1]
    assert "qdg-grads" not in steps and res["left_out"] == []
    here = tmp_path / "here"
    here.mkdir()
    with tarfile.open(tmp_path / "out1" / "parity.tar.part00") as tar:
        tar.extractall(here, filter="data")
    assert load_benchmark("gpu_pack").main(["carry", str(here / "runs" / "gpu"), str(tmp_path / "carry")]) == 0
    # a later call: parity alone gets the whole call but the packing, and the first call's kernel choice; the run
    # resumes with the config it was started with (lr from the first call's PARITY_FLAGS)
    steps, res = call(tmp_path / "out2", CARRY=str(tmp_path / "carry"), PARITY_KERNEL="torch",
                      PARITY_FUSED_CTRL="rows")
    # 500 s less the whole seconds between the queue's start and the run's (two reads of `date +%s`: 0 or 1)
    log = (tmp_path / "out2" / "gpu_run.log").read_text()
    assert re.search(r"=== parity-alpha-sweep-a0\.6 \(limit (500|499) s", log), log[-2000:]
    assert {k: steps["parity-kernel"]["result"][k] for k in ("kernel", "fused_ctrl")} == {"kernel": "torch",
                                                                                          "fused_ctrl": "rows"}
    p = steps["progress-alpha-sweep-a0.6"]["result"]
    assert p["status"] == "complete" and p["checkpoint_step"] is None
    with tarfile.open(tmp_path / "out2" / "parity.tar.part00") as tar:
        man = json.load(tar.extractfile("runs/gpu/alpha-sweep-a0.6/manifest.json"))
        assert "runs/gpu/alpha-sweep-a0.6/eval.parquet" in tar.getnames()
    assert [q["step"] for q in man["pauses"]] == [0] and man["resumed_at"] and man["config"]["alphas"] == [0.6]
    assert man["config"]["lr"] == 0.002 and man["config"]["tf32"] is True


def test_the_queue_stops_after_a_run_that_neither_finished_nor_paused(tmp_path):
    """A run that fails (here: a flag its config refuses) stops the queue, so that the next runs do not pay for the
    same failure; the results still come back and are recorded."""
    res = _dry_call(tmp_path / "out", GPU_STEPS="parity", PARITY_QUEUE="alpha-sweep-a0.4 fig2-params",
                    PARITY_FLAGS="--set no_such_field=1")
    steps = {s["step"]: s for s in res["steps"]}
    assert steps["parity-alpha-sweep-a0.4"]["rc"] == 2 and "parity-fig2-params" not in steps
    assert steps["progress-alpha-sweep-a0.4"]["result"]["status"] is None
    assert "alpha-sweep-a0.4 neither finished nor paused" in steps["queue-stop"]["result"]
    rec = load_benchmark("gpu_record")
    e = rec.entry(res, device="cpu dry run", date="2026-12-03")
    parity = rec.cells(e)[3]
    assert "alpha-sweep-a0.4: no run left (rc 2 after" in parity and "queue stopped: alpha-sweep-a0.4" in parity


def test_a_paused_run_whose_checkpoint_did_not_travel_starts_over(tmp_path):
    """A paused run carried without its checkpoint (left out of a full pack) would be refused by --resume in every
    later call; the queue starts it over instead, and says so."""
    runs = tmp_path / "runs"
    for i, extra in enumerate(({"PARITY_MAX_S": "0"}, {})):
        if i:
            (runs / "fig2-params" / "checkpoint.pt").unlink()
        _dry_call(tmp_path / f"out{i}", GPU_STEPS="parity", PARITY_QUEUE="fig2-params", RUNS=str(runs), **extra)
    log = (tmp_path / "out1" / "gpu_run.log").read_text()
    assert "=== parity-fig2-params: paused, but its checkpoint did not travel" in log
    man = json.loads((runs / "fig2-params" / "manifest.json").read_text())
    assert man["status"] == "complete" and "pauses" not in man


def test_pack_takes_tables_then_checkpoints_then_weights_while_they_fit(tmp_path, capsys):
    """What comes back from the GPU stays within the device tool's limits, and in order of need: every run's tables
    (a run whole or not at all), then an unfinished run's checkpoint (to resume), then a finished run's weights.
    The carry refuses, in one line, more than the device tool takes."""
    gp = load_benchmark("gpu_pack")
    runs = tmp_path / "runs"

    def make(name, status, files):
        d = runs / name
        (d / "figures").mkdir(parents=True)
        (d / "manifest.json").write_text(json.dumps({"status": status}))
        (d / "figures" / "loss.png").write_bytes(b"p" * 1000)
        for f, size in files.items():
            (d / f).write_bytes(b"x" * size)

    make("done", "complete", {"eval.parquet": 30_000, "final_state.pt": 40_000})
    make("cut", "paused", {"checkpoint.pt": 50_000})
    names = ["done", "cut"]
    taken, left = gp.plan_pack(str(runs), names, budget=10 ** 6)
    assert left == [] and len(taken) == 7
    kinds = [os.path.basename(p) for p in taken]
    assert kinds.index("checkpoint.pt") > kinds.index("eval.parquet") and kinds[-1] == "final_state.pt"
    taken, left = gp.plan_pack(str(runs), names, budget=130_000)  # room for the tables and the checkpoint only
    assert [os.path.basename(p) for p in left] == ["final_state.pt"] and str(runs / "cut" / "checkpoint.pt") in taken
    taken, left = gp.plan_pack(str(runs), names, budget=60_000)  # room for the tables only
    assert sorted(os.path.basename(p) for p in left) == ["checkpoint.pt", "final_state.pt"]
    taken, left = gp.plan_pack(str(runs), names, budget=30_000)  # a run's tables come whole or not at all
    assert not any("/done/" in p for p in taken) and str(runs / "done" / "manifest.json") in left
    assert sorted(os.path.relpath(p, runs) for p in taken) == ["cut/figures/loss.png", "cut/manifest.json"]
    out = tmp_path / "out"
    out.mkdir()
    rec = tmp_path / "rec.jsonl"
    rec.write_text(json.dumps({"step": "parity-cut", "rc": 0, "seconds": 1}) + "\n")
    assert gp.pack(str(out), str(runs), str(rec), names) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["runs_packed"] == names and res["left_out"] == [] and res["parity_tar_parts"] == 1
    with tarfile.open(out / "parity.tar.part00") as tar:
        assert "runs/gpu/cut/checkpoint.pt" in tar.getnames() and "runs/gpu/done/figures/loss.png" in tar.getnames()
    capsys.readouterr()

    # the carry: manifests, and the checkpoint of the unfinished run only
    assert gp.main(["carry", str(runs), str(tmp_path / "carry")]) == 0
    got = sorted(str(p.relative_to(tmp_path / "carry")) for p in (tmp_path / "carry").rglob("*") if p.is_file())
    assert got == ["cut/checkpoint.pt", "cut/manifest.json", "done/manifest.json"]
    capsys.readouterr()
    old = gp.CARRY_MAX
    try:
        gp.CARRY_MAX = 10_000
        assert gp.main(["carry", str(runs), str(tmp_path / "carry2")]) == 2
    finally:
        gp.CARRY_MAX = old
    msg = capsys.readouterr().out.strip().splitlines()
    assert len(msg) == 1 and "cut (0 MiB)" in msg[0] and not (tmp_path / "carry2").exists()
    assert gp.main(["carry", str(tmp_path / "nowhere"), str(tmp_path / "carry3")]) == 2
    (tmp_path / "afile").write_text("x")
    assert gp.main(["carry", str(runs), str(tmp_path / "afile")]) == 2 and (tmp_path / "afile").read_text() == "x"
    assert gp.main(["pack", str(out), str(runs), str(tmp_path / "no-records.jsonl"), "cut"]) == 2
    assert gp.main(["carry", str(runs), str(runs)]) == 2 and gp.main(["carry", str(runs), str(runs / "c")]) == 2
    assert gp.main(["bogus"]) == 2
    assert len(capsys.readouterr().out.strip().splitlines()) == 6  # one line for each of the six refusals
    assert sorted(p.name for p in out.iterdir()) == ["parity.tar.part00", "results.json"]  # nothing more written
    assert (runs / "done" / "manifest.json").exists() and not (runs / "c").exists()


def test_what_comes_back_stays_within_64_mib_with_the_log(tmp_path, monkeypatch, capsys):
    """The device tool brings back 64 MiB in all: the pack leaves room for the log and results.json, skips an
    atomic write's hidden leftovers, and `room` holds a run back when its checkpoint might not fit."""
    gp = load_benchmark("gpu_pack")
    runs, out = tmp_path / "runs", tmp_path / "out"
    out.mkdir()
    for name, status, files in (("alpha-sweep-a0.4", "complete", {"eval.parquet": 12 * gp.MIB}),
                                ("alpha-sweep-a0.1", "paused", {"checkpoint.pt": 45 * gp.MIB,
                                                                ".checkpoint.pt.x1.tmp": 40 * gp.MIB})):
        d = runs / name
        d.mkdir(parents=True)
        (d / "manifest.json").write_text(json.dumps({"status": status}))
        for f, size in files.items():
            with open(d / f, "wb") as fh:
                fh.truncate(size)  # sparse: the sizes matter, not the bytes
    (out / "gpu_run.log").write_bytes(b"l" * (8 * gp.MIB))  # a long log leaves less for the runs
    rec = tmp_path / "rec.jsonl"
    rec.write_text(json.dumps({"step": "parity-x", "rc": 0, "seconds": 1, "result": {"v": float("nan")}}) + "\n")
    names = ["alpha-sweep-a0.4", "alpha-sweep-a0.1"]
    assert gp.pack(str(out), str(runs), str(rec), names) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["left_out"] == ["alpha-sweep-a0.1/checkpoint.pt"] and res["steps"][0]["result"] == {"v": None}
    back = sum(p.stat().st_size for p in out.iterdir())
    assert back <= gp.BACK_MAX - gp.BACK_RESERVE + (out / "results.json").stat().st_size
    assert all(p.stat().st_size <= 16 * gp.MIB for p in out.iterdir())
    (out / "gpu_run.log").write_bytes(b"l")
    assert gp.pack(str(out), str(runs), str(rec), names) == 0  # with a short log, both fit (57 MiB)
    res = json.loads((out / "results.json").read_text())
    assert res["left_out"] == [] and res["parity_tar_parts"] == 4
    assert sum(p.stat().st_size for p in out.iterdir()) < gp.BACK_MAX
    capsys.readouterr()
    # room: nothing touched yet, any run fits; after a finished α run (12 MiB) another α run (51 MiB) just fits,
    # fig2-data (56 MiB) waits; with an unfinished run's checkpoint touched too, nothing more starts
    assert gp.main(["room", str(out), str(runs), "fig2-data"]) == 0
    assert gp.main(["room", str(out), str(runs), "alpha-sweep-a0.8", "alpha-sweep-a0.4"]) == 0
    assert gp.main(["room", str(out), str(runs), "fig2-data", "alpha-sweep-a0.4"]) == 3
    msg = capsys.readouterr().out.strip().splitlines()
    assert len(msg) == 1 and "fig2-data waits for the next call" in msg[0] and "56 MiB" in msg[0]
    assert gp.main(["room", str(out), str(runs), "fig2-params", "alpha-sweep-a0.4", "alpha-sweep-a0.1"]) == 3
    assert gp.main(["room", str(out), str(runs), "something-else"]) == 2
    monkeypatch.setattr(gp, "BACK_MAX", 40 * gp.MIB)
    assert gp.main(["room", str(out), str(runs), "alpha-sweep-a0.8"]) == 3


def test_a_run_the_record_holds_as_finished_is_not_run_again(tmp_path):
    """runs/ is not committed, so a later session has no folder of a run an earlier lease finished; the queue reads
    docs/data/reproduction.json (DONE_RECORD) and skips such a run instead of spending GPU minutes on it again. A run
    the record holds as paused is not skipped (its checkpoint is what resumes it)."""
    record = tmp_path / "reproduction.json"
    record.write_text(json.dumps({"runs": {"alpha-sweep-a0.4": {"status": "complete"},
                                           "fig2-params": {"status": "paused", "steps_done": 10}}}))
    res = _dry_call(tmp_path / "out", GPU_STEPS="parity", PARITY_QUEUE="alpha-sweep-a0.4 fig2-params",
                    DONE_RECORD=str(record), PARITY_MAX_S="0")
    steps = {s["step"]: s for s in res["steps"]}
    assert "parity-alpha-sweep-a0.4" not in steps and "parity-fig2-params" in steps
    log = (tmp_path / "out" / "gpu_run.log").read_text()
    assert f"=== parity-alpha-sweep-a0.4: finished in an earlier call ({record} records it), skipped" in log
    # on the GPU the record read is the committed one, and the runs it holds as finished are names of the queue
    script = (ROOT / "benchmarks" / "gpu_run.sh").read_text()
    assert "DONE_RECORD=${DONE_RECORD:-docs/data/reproduction.json}" in script
    queue = script.split("PARITY_QUEUE=${PARITY_QUEUE:-alpha-sweep-a0.4 alpha-sweep-a0.1")[1].split("}")[0]
    done = [n for n, st in json.loads((ROOT / "docs/data/reproduction.json").read_text())["runs"].items()
            if st["status"] == "complete"]
    assert done and all(n == "alpha-sweep-a0.4" or n in queue.split() for n in done)


def test_an_interrupted_end_to_end_run_records_the_stages_it_finished(tmp_path, monkeypatch):
    """SIGINT (gpu_run.sh's timeout) in the gradients stage: the record holds the stage that finished (losses) and
    names the one cut short, with its seconds, instead of reading the run's manifest (which an early interrupt
    removes, and which stores a cut stage's partial time as finished)."""
    import quanta.qdg.grads as grads

    e2e = load_benchmark("qdg_e2e")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(grads, "token_gradients", interrupted)  # imported from there when the stage starts
    out = tmp_path / "e2e.json"
    with pytest.raises(SystemExit) as exit_:
        e2e.main(["run", "--shape", "small", "--context", "32", "--n-tokens", "300", "--max-docs", "40", "--vocab",
                  "512", "--dense-max", "100", "--counts", "6,12", "--n-clusters", "12", "--device", "cpu",
                  "--threads", "1", "--work", str(tmp_path / "work"), "--json", str(out)])
    assert exit_.value.code == 130
    r = json.loads(out.read_text())
    assert r["interrupted"] and list(r["timings_s"]) == ["losses"] and r["cut_stage"]["stage"] == "gradients"
    assert r["command"].startswith("python benchmarks/qdg_e2e.py run --shape small") and r["date"] and r["commit"]
    assert r["timings_s"]["losses"] + r["cut_stage"]["seconds"] <= r["seconds"]
    rec = load_benchmark("gpu_record")
    cell = rec._e2e({"steps": [{"step": "qdg-e2e", "rc": 130, "seconds": 9, "result": r}]})
    assert f"(stages done: losses {r['timings_s']['losses']:.0f} s; cut short in gradients after" in cell

    # cut short in the set-up (the tokenizer's training), before QDG began: recorded too, as the set-up
    monkeypatch.setattr(e2e, "tokenizer_for", interrupted)
    out.unlink()
    with pytest.raises(SystemExit) as exit_:
        e2e.main(["run", "--shape", "small", "--context", "32", "--max-docs", "40", "--device", "cpu", "--work",
                  str(tmp_path / "work2"), "--json", str(out)])
    assert exit_.value.code == 130
    r = json.loads(out.read_text())
    assert r["interrupted"] and r["timings_s"] == {} and r["cut_stage"]["stage"] == "setup"
    assert r["seconds"] == 0 and r["setup_seconds"] is None and r["cut_stage"]["seconds"] > 0 and r["commit"]
    cell = rec._e2e({"steps": [{"step": "qdg-e2e", "rc": 130, "seconds": 9, "result": r}]})
    assert "(stages done: none; cut short in setup after" in cell


def test_the_chunked_corpus_is_exactly_n_documents_and_never_mixed_with_an_earlier_cut(tmp_path, capsys):
    e2e = load_benchmark("qdg_e2e")
    out = tmp_path / "chunks"
    e2e.main(["chunks", str(out), "--n", "7"])
    assert len(list(out.iterdir())) == 7
    with pytest.raises(SystemExit) as exit_:
        e2e.main(["chunks", str(out), "--n", "3"])
    assert exit_.value.code == 2 and "is not empty" in capsys.readouterr().out.splitlines()[-1]


def test_qdg_e2e_refuses_bad_counts_in_one_line(capsys):
    e2e = load_benchmark("qdg_e2e")
    for bad in ("5,x", "1,10", ",", ""):
        with pytest.raises(SystemExit) as exit_:
            e2e.main(["run", "--counts", bad, "--device", "cpu"])
        assert exit_.value.code == 2
        out = capsys.readouterr().out.strip().splitlines()
        assert len(out) == 1 and out[0].startswith("--counts takes cluster counts"), out
