import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import torch

from quanta.parity.train import ParityConfig, SweepTrainer

# online and fixed-D groups, with early stopping, so generators, epoch orders and frozen members all resume
SETTINGS = ["--set", "steps=400", "--set", "checkpoint_every=40", "--set", "widths=[4,8]", "--set", "batch_size=64",
            "--set", "data_sizes=[0,100]", "--set", "eval_every=50", "--set", "patience=2"]


def _tables(path):
    return {name: pd.read_parquet(path / f"{name}.parquet") for name in ("tasks", "models", "eval", "eval_mean")}


def test_resume_after_sigkill_gives_identical_tables(cli_run, tmp_path):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    code, _, err = cli_run("parity", "run", "--preset", "cpu-tiny", "--out", ref, "--device", "cpu", *SETTINGS)
    assert code == 0, err

    env = dict(os.environ, OMP_NUM_THREADS="1", QUANTA_PROGRESS="0")
    proc = subprocess.Popen([sys.executable, "-m", "quanta", "parity", "run", "--preset", "cpu-tiny", "--out",
                             str(killed), "--device", "cpu", *SETTINGS], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint.pt").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "summary.json").exists()
    assert json.loads((killed / "manifest.json").read_text())["status"] == "running"

    code, out, err = cli_run("parity", "run", "--preset", "cpu-tiny", "--out", killed, "--device", "cpu",
                             *SETTINGS, "--resume")
    assert code == 0, err
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["resumed_from_step"] >= 40 and summary["resumed_from_step"] % 40 == 0
    want, got = _tables(ref), _tables(killed)
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=True, obj=name)
    a = torch.load(ref / "final_state.pt", weights_only=True)["models"]
    b = torch.load(killed / "final_state.pt", weights_only=True)["models"]
    assert all(torch.equal(x[k], y[k]) for x, y in zip(a, b) for k in x)
    assert not (killed / "checkpoint.pt").exists()


def test_resume_refuses_another_config(cli_run, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"command": "parity run", "status": "running", "config": {}}))
    code, _, err = cli_run("parity", "run", "--preset", "cpu-tiny", "--out", out, "--resume")
    assert code == 2 and "config differs" in err and err.count("\n") == 1


def test_checkpoint_roundtrip_mid_epoch_with_frozen_members(tmp_path):
    cfg = ParityConfig(n_tasks=4, n=8, k=3, widths=[16, 32], data_sizes=[24, 50, 0], batch_size=16, steps=120,
                       lr=3e-3, n_evals=3, eval_every=10, patience=2, n_test_per_task=16)
    whole = SweepTrainer(cfg)
    whole.train()
    first = SweepTrainer(cfg)
    first.train(until=37)  # stop mid-epoch, between evaluations
    assert first.step == 37 and bool((first.stopped_step >= 0).any())  # some member already frozen
    first.save_checkpoint(tmp_path / "ck.pt")
    second = SweepTrainer(cfg)
    second.load_checkpoint(tmp_path / "ck.pt")
    second.train()
    want, got = whole.tables(), second.tables()
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=True, obj=name)


def test_a_paused_run_carried_and_resumed_equals_one_run(tmp_path, monkeypatch):
    """max_seconds pauses a run at a step that is no checkpoint boundary, with a checkpoint of that step; what
    benchmarks/gpu_pack.py carries of it to another machine (manifest and checkpoint, nothing else) resumes there,
    pauses again and finishes, with the same tables and weights as one uninterrupted run."""
    import itertools

    from conftest import load_benchmark

    from quanta.parity import train as tr
    from quanta.parity.presets import preset_config

    cfg = preset_config("cpu-tiny", {"steps": 400, "checkpoint_every": 40, "widths": [4, 8], "batch_size": 64,
                                     "data_sizes": [0, 100], "eval_every": 50, "patience": 2})
    tr.run_parity(cfg, tmp_path / "ref", device="cpu")
    clock = itertools.count()  # one tick per reading: the call reads it once, then once before each step
    monkeypatch.setattr(tr, "_clock", lambda: float(next(clock)))
    first = tmp_path / "there" / "run"
    s = tr.run_parity(cfg, first, device="cpu", max_seconds=57)
    assert s == {"status": "paused", "step": 56, "steps": 400, "train_s": s["train_s"]}
    man = json.loads((first / "manifest.json").read_text())
    assert man["status"] == "paused" and [p["step"] for p in man["pauses"]] == [56]
    assert not (first / "summary.json").exists() and (first / "checkpoint.pt").exists()

    assert load_benchmark("gpu_pack").main(["carry", str(tmp_path / "there"), str(tmp_path / "carried")]) == 0
    moved = tmp_path / "carried" / "run"
    assert sorted(p.name for p in moved.iterdir()) == ["checkpoint.pt", "manifest.json"]
    clock = itertools.count()
    assert tr.run_parity(cfg, moved, device="cpu", resume=True, max_seconds=101)["step"] == 156
    ck = torch.load(moved / "checkpoint.pt", weights_only=True)
    assert ck["snapshot"] is True and bool((ck["stopped_step"] >= 0).any())  # frozen members, rebuilt on resume
    monkeypatch.setattr(tr, "_clock", time.monotonic)
    summary = tr.run_parity(cfg, moved, device="cpu", resume=True)
    assert summary["resumed_from_step"] == 156
    man = json.loads((moved / "manifest.json").read_text())
    assert man["status"] == "complete" and [p["step"] for p in man["pauses"]] == [56, 156]
    want, got = _tables(tmp_path / "ref"), _tables(moved)
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=True, obj=name)
    a = torch.load(tmp_path / "ref" / "final_state.pt", weights_only=True)["models"]
    b = torch.load(moved / "final_state.pt", weights_only=True)["models"]
    assert all(torch.equal(x[k], y[k]) for x, y in zip(a, b) for k in x)
    assert not (moved / "checkpoint.pt").exists()


def test_checkpoint_keeps_accuracies_as_counts_and_restores_them_bit_for_bit():
    """A checkpoint stores each evaluation's accuracies as int16 counts of correct test samples (a third of what
    float64 takes; paper-fig2-data's records must fit a GPU call's carry); loading gives back the same float64, and
    a checkpoint that stored the accuracies themselves still loads."""
    from quanta.parity.presets import preset_config

    cfg = preset_config("cpu-tiny", {"steps": 30, "n_evals": 3, "n_test_per_task": 37})
    a = SweepTrainer(cfg)
    a.train()
    st = a.state_dict()
    assert all("acc" not in r and r["acc_count"].dtype == torch.int16 for r in st["records"])
    old = {**st, "records": [{**{k: v for k, v in r.items() if k != "acc_count"}, "acc": r0["acc"]}
                             for r, r0 in zip(st["records"], a.records)]}
    for state in (st, old):
        b = SweepTrainer(cfg)
        b.load_state_dict(state)
        assert len(b.records) == len(a.records) >= 3
        for x, y in zip(a.records, b.records):
            assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
    assert any(((r["acc"] > 0) & (r["acc"] < 1)).any() for r in a.records)  # fractions, not only 0 and 1


def test_max_seconds_refuses_nonsense_in_one_line(cli_run, tmp_path):
    for bad in ("-1", "soon"):
        code, out, err = cli_run("parity", "run", "--preset", "cpu-tiny", "--out", tmp_path / "r", "--max-seconds", bad)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "--max-seconds" in err, err
        assert not (tmp_path / "r").exists()
    code, out, err = cli_run("parity", "run", "--preset", "cpu-tiny", "--out", tmp_path / "r", "--max-seconds", "0",
                             "--set", "steps=20")
    assert code == 0 and "paused at step 0 of 20" in out and "--resume" in out, err


def test_resuming_a_paused_run_without_its_checkpoint_is_refused(cli_run, tmp_path):
    """A paused run whose checkpoint was lost (a carry of its manifest alone) is not quietly started again from
    step 0: one line, exit 2, the run left as it was; --force starts it over."""
    out = tmp_path / "r"
    args = ("parity", "run", "--preset", "cpu-tiny", "--out", out, "--set", "steps=20")
    code, _, err = cli_run(*args, "--max-seconds", "0")
    assert code == 0 and (out / "checkpoint.pt").exists(), err
    (out / "checkpoint.pt").unlink()
    before = (out / "manifest.json").read_text()
    code, _, err = cli_run(*args, "--resume")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "checkpoint.pt is missing" in err, err
    assert "--force" in err and (out / "manifest.json").read_text() == before
    code, _, err = cli_run(*args, "--force")
    assert code == 0 and json.loads((out / "manifest.json").read_text())["status"] == "complete", err
