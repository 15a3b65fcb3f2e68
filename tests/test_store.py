import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from quanta.errors import QuantaError
from quanta.store import Run, atomic_write_bytes


def test_run_lifecycle(tmp_path):
    out = tmp_path / "r"
    with Run.create(out, command="x", config={"a": 1}, seed=3, argv=["quanta", "x"]) as run:
        run.write_table("t", pd.DataFrame({"a": [1, 2]}))
        with run.timer("step"):
            pass
        run.finish({"v": 1.5, "nan": float("nan")})
    man = json.loads((out / "manifest.json").read_text())
    assert man["status"] == "complete" and man["seed"] == 3 and man["config"] == {"a": 1}
    assert man["argv"] == "quanta x" and "torch" in man["versions"] and "step" in man["timings_s"]
    import quanta

    assert man["quanta_version"] == quanta.__version__  # also from a checkout that is not installed
    assert json.loads((out / "summary.json").read_text()) == {"v": 1.5, "nan": None}
    assert Run.open(out).read_table("t")["a"].tolist() == [1, 2]
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_finished_run_is_refused_without_force(tmp_path):
    out = tmp_path / "r"
    Run.create(out, command="x", config={}).finish({})
    with pytest.raises(QuantaError, match="force=True"):
        Run.create(out, command="x", config={})
    run = Run.create(out, command="x", config={}, force=True)
    assert run.manifest["status"] == "running" and not (out / "summary.json").exists()


def test_unfinished_run_needs_resume_with_same_config(tmp_path):
    out = tmp_path / "r"
    Run.create(out, command="x", config={"a": 1}, resume=False)
    with pytest.raises(QuantaError, match="resume=True"):
        Run.create(out, command="x", config={"a": 1}, resume=False)
    with pytest.raises(QuantaError, match="config differs"):
        Run.create(out, command="x", config={"a": 2}, resume=True)
    run = Run.create(out, command="x", config={"a": 1}, resume=True)
    assert run.resumed and len(run.manifest["resumed_at"]) == 1


def test_foreign_folder_is_never_cleared(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    for force in (False, True):
        with pytest.raises(QuantaError, match="not a quanta run directory"):
            Run.create(tmp_path, command="x", config={}, force=force)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_open_checks_kind_and_status(tmp_path):
    with pytest.raises(QuantaError, match="not a quanta run directory"):
        Run.open(tmp_path)
    Run.create(tmp_path / "r", command="theory", config={})
    with pytest.raises(QuantaError, match="unfinished"):
        Run.open(tmp_path / "r")
    with pytest.raises(QuantaError, match="parity"):
        Run.open(tmp_path / "r", command="parity", require_complete=False)


def test_failure_is_recorded(tmp_path):
    with pytest.raises(RuntimeError):
        with Run.create(tmp_path / "r", command="x", config={}) as run:
            run.write_table("t", pd.DataFrame({"a": [1]}))
            raise RuntimeError("boom")
    man = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert man["status"] == "failed" and "boom" in man["error"]
    # a failed run with no checkpoint to continue is replaced by the next run, without force
    with Run.create(tmp_path / "r", command="x", config={"b": 2}) as run:
        assert not run.has_table("t")
        run.finish({})


def test_run_that_wrote_nothing_leaves_nothing(tmp_path):
    for exc in (RuntimeError("boom"), QuantaError("bad input"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with Run.create(tmp_path / "a" / "b", command="x", config={}, resume=False):
                raise exc
        assert not (tmp_path / "a").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeError):
        with Run.create(tmp_path / "empty", command="x", config={}):
            raise RuntimeError("boom")
    assert (tmp_path / "empty").is_dir() and not list((tmp_path / "empty").iterdir())


def test_bad_input_midway_leaves_nothing_unless_it_can_resume(tmp_path):
    with pytest.raises(QuantaError):
        with Run.create(tmp_path / "a", command="x", config={}) as run:
            run.write_table("t", pd.DataFrame({"a": [1]}))
            raise QuantaError("bad input")
    assert not (tmp_path / "a").exists()
    # a command that resumes keeps its checkpoint; the same command is told to resume, another to force
    with pytest.raises(QuantaError):
        with Run.create(tmp_path / "b", command="x", config={"a": 1}, resume=False) as run:
            run.write_table("checkpoint", pd.DataFrame({"a": [1]}))
            raise QuantaError("bad input")
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["status"] == "failed"
    with pytest.raises(QuantaError, match="resume=True"):
        Run.create(tmp_path / "b", command="x", config={"a": 1}, resume=False)
    with pytest.raises(QuantaError, match="force=True") as info:
        Run.create(tmp_path / "b", command="x", config={"a": 2}, resume=False)
    assert "resume=" not in str(info.value)
    run = Run.create(tmp_path / "b", command="x", config={"a": 1}, resume=True)
    assert run.resumed and run.has_table("checkpoint")


def test_advice_names_resume_only_where_the_command_has_it(tmp_path):
    Run.create(tmp_path / "r", command="x", config={})  # a command without resume, killed
    with pytest.raises(QuantaError) as info:
        Run.create(tmp_path / "r", command="x", config={})
    assert "resume=" not in str(info.value) and "force=True" in str(info.value)
    with pytest.raises(QuantaError) as info:
        Run.open(tmp_path / "r")
    assert "resume=" not in str(info.value)


@pytest.mark.parametrize("where", ["/proc/quanta-test/out", "/sys/quanta-test", "file/sub"])
def test_unwritable_out_is_refused_before_writing(tmp_path, where):
    (tmp_path / "file").write_text("x")
    out = tmp_path / where if not where.startswith("/") else where
    with pytest.raises(QuantaError, match="out="):
        Run.create(out, command="x", config={})


def test_killed_writer_leaves_old_file_intact(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    code = (
        "import os, sys\n"
        "sys.path.insert(0, %r)\n"
        "import quanta.store as s\n"
        "orig = os.replace\n"
        "os.replace = lambda *a: os._exit(9)\n"  # die between writing the temp file and the rename
        "s.atomic_write_bytes(%r, b'new' * 1000)\n"
    ) % (os.path.join(os.path.dirname(__file__), "..", "src"), str(target))
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == 9
    assert target.read_bytes() == b"old"


def test_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        p = atomic_write_bytes(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert (p.stat().st_mode & 0o777) == 0o644


def _write_engine_files(run):
    """What an engine writes besides the Run API: a file and a folder straight into run.path."""
    run.write_table("t", pd.DataFrame({"a": [1]}))
    (run.path / "checkpoint.pt").write_bytes(b"x")
    (run.path / "models" / "m").mkdir(parents=True)
    (run.path / "models" / "m" / "w.bin").write_bytes(b"w")


def test_force_removes_what_the_run_wrote_and_keeps_the_users_files(tmp_path):
    out = tmp_path / "r"
    with Run.create(out, command="x", config={"a": 1}) as run:
        _write_engine_files(run)
        run.finish({})
    assert set(json.loads((out / "manifest.json").read_text())["files"]) == {
        "manifest.json", "summary.json", "t.parquet", "checkpoint.pt", "models"}
    (out / "notes.md").write_text("my notes")
    (out / "mine").mkdir()
    (out / "mine" / "plot.png").write_bytes(b"p")
    with Run.create(out, command="x", config={"a": 2}, force=True) as run:
        assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "mine", "notes.md"]
        run.write_table("u", pd.DataFrame({"b": [2]}))
        run.finish({})
    man = json.loads((out / "manifest.json").read_text())
    assert man["files"] == ["manifest.json", "summary.json", "u.parquet"]
    assert man["user_files"] == ["mine", "notes.md"]
    # the user's files stay through any number of forced runs, and a forced run that fails on bad input
    with pytest.raises(QuantaError):
        with Run.create(out, command="x", config={"a": 3}, force=True) as run:
            run.write_table("v", pd.DataFrame({"c": [3]}))
            raise QuantaError("bad input", "fix it")
    assert sorted(p.name for p in out.iterdir()) == ["mine", "notes.md"]
    assert (out / "notes.md").read_text() == "my notes" and (out / "mine" / "plot.png").read_bytes() == b"p"


def test_failed_run_keeps_the_users_files_when_replaced(tmp_path):
    out = tmp_path / "r"
    with pytest.raises(RuntimeError):
        with Run.create(out, command="x", config={}, resume=False) as run:
            _write_engine_files(run)
            raise RuntimeError("crash")
    assert json.loads((out / "manifest.json").read_text())["status"] == "failed"
    (out / "notes.md").write_text("why it crashed")
    Run.create(out, command="x", config={}, force=True).finish({})
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "notes.md", "summary.json"]


def test_force_clears_a_killed_run_whole(tmp_path):
    """A killed run's list may miss what it wrote after its last manifest write, so all of it goes."""
    out = tmp_path / "r"
    run = Run.create(out, command="x", config={}, resume=False)
    _write_engine_files(run)  # no manifest write after these: as if killed here
    (out / "late.txt").write_text("?")
    assert json.loads((out / "manifest.json").read_text())["files"] == ["manifest.json"]
    Run.create(out, command="x", config={}, force=True)
    assert [p.name for p in out.iterdir()] == ["manifest.json"]


def test_a_paused_run_is_an_ended_run(tmp_path, monkeypatch):
    """A pause ends an attempt cleanly: its list of files is whole, so --force keeps what the user added; resuming
    it clears its end, and the run's total time sums the attempts, as each timed block's does."""
    import quanta.store as store

    now = iter([0.0, 5.0, 20.0, 100.0, 103.0, 110.0, 200.0, 207.0, 230.0, 300.0])
    monkeypatch.setattr(store.time, "perf_counter", lambda: next(now))
    out = tmp_path / "r"
    run = Run.create(out, command="x", config={}, resume=None)  # clock 0
    with run.timer("train"):  # 5 .. 20
        _write_engine_files(run)
    run.pause(step=7)  # 100
    man = json.loads((out / "manifest.json").read_text())
    assert man["status"] == "paused" and man["ended_at"] and man["timings_s"] == {"train": 15.0, "total": 100.0}
    again = Run.create(out, command="x", config={}, resume=True)  # 103
    man = json.loads((out / "manifest.json").read_text())
    assert man["status"] == "running" and man["ended_at"] is None and len(man["pauses"]) == 1
    with again.timer("train"):  # 110 .. 200
        pass
    again.pause(step=9)  # 207: this attempt's 104 s and the first one's 100
    man = json.loads((out / "manifest.json").read_text())
    assert man["timings_s"] == {"train": 105.0, "total": 204.0} and [q["step"] for q in man["pauses"]] == [7, 9]
    (out / "notes.md").write_text("n")
    Run.create(out, command="x", config={}, force=True)  # 230
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "notes.md"]


def test_resumed_run_keeps_the_user_files_of_the_run_it_continues(tmp_path):
    out = tmp_path / "r"
    Run.create(out, command="x", config={}).finish({})
    (out / "notes.md").write_text("n")
    run = Run.create(out, command="x", config={}, force=True, resume=None)
    run.write_table("t", pd.DataFrame({"a": [1]}))  # killed here, then resumed
    with Run.create(out, command="x", config={}, resume=True) as again:
        again.finish({})
    assert json.loads((out / "manifest.json").read_text())["user_files"] == ["notes.md"]
    Run.create(out, command="x", config={}, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "notes.md"]


def test_cli_force_keeps_notes_added_to_a_finished_run(tmp_path, cli_run):
    out = tmp_path / "theory"
    small = ["--set", "n_max=300", "--set", "n_budgets=10", "--set", "n_samples=20"]
    code, _, err = cli_run("theory", "--alpha", "0.4", "--out", out, *small)
    assert code == 0, err
    wrote = sorted(p.name for p in out.iterdir())
    (out / "notes.md").write_text("alpha 0.4 looks right")
    code, _, err = cli_run("theory", "--alpha", "0.3", "--out", out, "--force", *small)
    assert code == 0, err
    assert (out / "notes.md").read_text() == "alpha 0.4 looks right"
    assert sorted(p.name for p in out.iterdir()) == sorted([*wrote, "notes.md"])
    assert json.loads((out / "manifest.json").read_text())["config"]["alpha"] == 0.3
    _, help_text, _ = cli_run("theory", "--help")
    assert "keep files you" in " ".join(help_text.split())


def test_on_stage_tells_each_timed_stage_as_it_starts_and_ends_and_which_one_an_exception_cut(tmp_path):
    """``Run.create(on_stage=...)`` sees every ``timer`` block twice: started, then finished or cut (an exception,
    KeyboardInterrupt included, left it) with the seconds it ran; the manifest adds a cut stage's seconds like a
    finished one's, so only the callback tells them apart."""
    from quanta.store import Stage

    seen: list[Stage] = []
    run = Run.create(tmp_path / "r", command="t", config={}, on_stage=seen.append)
    with run.timer("load"):
        time.sleep(0.01)
    with pytest.raises(KeyboardInterrupt), run.timer("fit"):
        with run.timer("inner"):
            pass
        raise KeyboardInterrupt
    assert [(s.name, s.state) for s in seen] == [("load", "started"), ("load", "finished"), ("fit", "started"),
                                                 ("inner", "started"), ("inner", "finished"), ("fit", "cut")]
    assert seen[0].seconds == 0 and seen[1].seconds >= 0.01 and seen[-1].seconds >= seen[-2].seconds
    timings = run.manifest["timings_s"]
    assert timings["load"] == seen[1].seconds and timings["fit"] == seen[-1].seconds
    # without a callback nothing changes
    quiet = Run.create(tmp_path / "q", command="t", config={})
    with quiet.timer("load"):
        pass
    assert list(quiet.manifest["timings_s"]) == ["load"]
