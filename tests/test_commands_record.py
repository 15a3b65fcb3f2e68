"""benchmarks/commands.py: the Quickstart's commands timed from a fresh clone, recorded, and rendered into
docs/benchmarks.md (no timing of them typed by hand)."""

import json

from conftest import load_benchmark


def test_the_pages_commands_block_is_its_record():
    assert load_benchmark("commands").main(["--check"]) == 0


def test_pytest_and_demo_output_are_read_as_printed():
    c = load_benchmark("commands")
    assert c.parse_pytest("..\n1115 passed, 5 skipped in 449.12s (0:07:29)\n") == {
        "passed": 1115, "skipped": 5, "pytest_s": 449.12}
    assert c.parse_pytest("== 2 failed, 10 passed, 1 warning in 3.50s ==") == {
        "failed": 2, "passed": 10, "warning": 1, "pytest_s": 3.5}
    assert c.parse_pytest("make: *** [Makefile:27: test] Error 2") is None
    out = "[1/3] parity: quanta parity run\n[1/3] parity: done in 113 s\n[2/3] lm-suite: done in 9 s\nnoise\n"
    assert c.parse_demo(out) == [{"step": "parity", "seconds": 113}, {"step": "lm-suite", "seconds": 9}]


def test_runs_render_with_their_median_range_and_target(tmp_path):
    """Every run is a row; per command the median and range of the passing runs' wall times and how many were over
    the 10-minute target; a failed run is listed but not counted."""
    c = load_benchmark("commands")
    base = {"date": "2026-12-04", "commit": "abc1234", "cpu_s": 700.0, "load_before": 0.3, "load_after": 1.9,
            "cores": 2}
    record = [
        {**base, "command": "make test", "rc": 0, "wall_s": 523.0,
         "pytest": {"passed": 1115, "skipped": 5, "pytest_s": 449.1}},
        {**base, "command": "make test", "rc": 0, "wall_s": 640.0,
         "pytest": {"passed": 1115, "skipped": 5, "pytest_s": 560.0}},
        {**base, "command": "make test", "rc": 0, "wall_s": 500.0,
         "pytest": {"passed": 1115, "skipped": 5, "pytest_s": 430.0}},
        {**base, "command": "make test", "rc": 2, "wall_s": 30.0, "pytest": None},
        {**base, "command": "make demo", "rc": 0, "wall_s": 409.0, "steps": [
            {"step": "parity", "seconds": 113}, {"step": "lm-suite", "seconds": 102},
            {"step": "falsify-parity", "seconds": 63}, {"step": "qdg-parity", "seconds": 11},
            {"step": "theory", "seconds": 4}, {"step": "report", "seconds": 5}]},
    ]
    block = c.render(record)
    assert block.startswith(c.START) and block.endswith(c.END)
    assert "| 2026-12-04 | abc1234 | `make test` | 8 min 43 s | 11 min 40 s | 0.3 → 1.9 | 1115 passed, 5 skipped; " \
           "pytest 449 s | 0 |" in block
    assert "| no summary printed | 2 |" in block
    assert "- `make test`: 3 passing run(s), median 8 min 43 s, range 8 min 20 s to 10 min 40 s; over the " \
           "10-minute target in 1 of 3; the latest run (abc1234, 2026-12-04): 30 s, exit 2." in block
    # the rows in the order the runs were recorded (the same date), not by their time
    rows = [ln for ln in block.splitlines() if ln.startswith("| 2026-12-04")]
    assert [r.split(" | ")[3] for r in rows] == ["8 min 43 s", "10 min 40 s", "8 min 20 s", "30 s",
                                                 "6 min 49 s"]
    assert "6 steps: parity 113 s, lm-suite 102 s, falsify-parity 63 s, qdg-parity 11 s, report 5 s, theory 4 s |" \
        in block
    assert "- `make demo`: 1 passing run(s), median 6 min 49 s" in block and "(abc1234, 2026-12-04): 6 min 49 s." in block
    doc = tmp_path / "b.md"
    doc.write_text(f"x\n{c.START}\n{c.END}\ny\n")
    rec = tmp_path / "r.json"
    rec.write_text(json.dumps(record))
    assert c.main(["--render", "--doc", str(doc), "--record", str(rec)]) == 0
    assert c.main(["--check", "--doc", str(doc), "--record", str(rec)]) == 0
    assert doc.read_text().startswith("x\n") and doc.read_text().endswith("y\n")
    rec.write_text(json.dumps(record[:2]))
    assert c.main(["--check", "--doc", str(doc), "--record", str(rec)]) == 1
    assert c.main(["--doc", str(doc), "--record", str(rec)]) == 2  # neither a command nor --check/--render


def test_minutes_round_before_they_split_and_a_run_that_cannot_start_is_one_line(tmp_path, monkeypatch, capsys):
    cmds = load_benchmark("commands")
    assert [cmds._minutes(s) for s in (59.7, 60.0, 119.6, 774.7)] == ["1 min 00 s", "1 min 00 s", "2 min 00 s",
                                                                      "12 min 55 s"]
    made = []

    def failing_clone(work, command, commit):  # the clone fails: the temporary folder goes, nothing is recorded
        made.append(work)
        raise cmds.subprocess.CalledProcessError(128, ["git", "clone", "-q", "src", "dst"])

    monkeypatch.setattr(cmds, "_measure_in", failing_clone)
    rec = tmp_path / "commands.json"
    assert cmds.main(["test", "--record", str(rec), "--doc", str(tmp_path / "b.md")]) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("could not time make test: git clone -q src dst failed") and not rec.exists()
    assert made and not made[0].exists()
