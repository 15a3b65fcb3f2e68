"""The Quickstart's two commands timed from a fresh clone, recorded, and rendered into docs/benchmarks.md.

    python benchmarks/commands.py test           # clone HEAD into a temporary folder, `make test` there, record it
    python benchmarks/commands.py demo           # the same for `make demo`
    python benchmarks/commands.py --check        # the page's block is what docs/data/commands.json renders
    python benchmarks/commands.py --render       # rewrite the block from the record

Each run is timed as a user meets it: a clone of the committed HEAD with no venv, so the wall time includes the
set-up (the venv, the CPU torch wheel, the package; pip's cache is the machine's). It adds one entry to
docs/data/commands.json: the date, the commit, the command, the wall time, the CPU time of the command's processes,
the load average before and after (another job on the two cores shows there), and what the command printed of
itself: pytest's counts and seconds, or the demo's steps with their seconds. The page's table lists every recorded
run and, per command, the median and range of the wall times, since one run on a shared CPU is not a figure.
A command that fails is recorded too (its exit code), and the script exits 1; one that cannot be started (no
git or make, a failed clone) is not recorded and exits 2; the temporary clone is removed however the run ends.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from docblock import write_block

from quanta.store import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
DOC, RECORD = ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "data" / "commands.json"
START, END = "<!-- commands:start -->", "<!-- commands:end -->"
TARGET_S = 600  # both Quickstart commands: at most 10 minutes on the 2-core machine (DEVELOPERS.md, the README)
_PYTEST = re.compile(r"^(?:=+ )?(?P<body>\d+ \w+(?:, \d+ \w+)*) in (?P<s>[0-9.]+)s(?: \([0-9:]+\))?(?: =+)?$")
_STEP = re.compile(r"^\[(\d+)/(\d+)\] (.+?): done in (\d+) s$")


def parse_pytest(output: str) -> dict | None:
    """pytest's final line: ``{"passed": N, "skipped": N, ..., "pytest_s": S}``, or None when it is absent."""
    for line in reversed(output.splitlines()):
        m = _PYTEST.search(line.strip())
        if m:
            counts = {}
            for part in m["body"].split(","):
                n, _, what = part.strip().partition(" ")
                if n.isdigit():
                    counts[what.strip()] = int(n)
            return {**counts, "pytest_s": float(m["s"])}
    return None


def parse_demo(output: str) -> list[dict]:
    """The demo's ``[i/N] step: done in S s`` lines, in order."""
    steps = []
    for line in output.splitlines():
        m = _STEP.match(line.strip())
        if m:
            steps.append({"step": m[3], "seconds": int(m[4])})
    return steps


def _git(*args, cwd=ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def measure(command: str, *, keep: bool = False) -> dict:
    """Clone HEAD into a temporary folder, run ``make COMMAND`` there, and return the entry to record."""
    commit = _git("rev-parse", "--short", "HEAD")
    if _git("status", "--porcelain", "--untracked-files=no"):
        print("note: the working tree has uncommitted changes; the clone times the committed HEAD", commit)
    work = Path(tempfile.mkdtemp(prefix="quanta-commands-"))
    try:
        return _measure_in(work, command, commit)
    finally:  # the clone's venv is a gigabyte: removed however the run ends, unless asked to keep it
        if keep:
            print("kept", work / "quanta")
        else:
            subprocess.run(["rm", "-rf", str(work)], check=False)


def _measure_in(work: Path, command: str, commit: str) -> dict:
    clone = work / "quanta"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    load_before = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(["make", command], cwd=clone, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")})
    lines = []
    for line in proc.stdout:  # echoed as it comes, kept for the parse
        sys.stdout.write(line)
        lines.append(line)
    rc = proc.wait()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_after = os.getloadavg()
    output = "".join(lines)
    entry = {"date": dt.date.today().isoformat(), "commit": commit, "command": f"make {command}", "rc": rc,
             "wall_s": round(wall, 1),
             "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
             "load_before": round(load_before[0], 2), "load_after": round(load_after[0], 2), "cores": os.cpu_count()}
    if command == "test":
        entry["pytest"] = parse_pytest(output)
    else:
        entry["steps"] = parse_demo(output)
    return entry


def _minutes(s: float) -> str:
    m, sec = divmod(int(round(s)), 60)  # rounded first: 119.6 s is 2 min 00 s, not 1 min 60 s
    return f"{m} min {sec:02d} s" if m else f"{sec} s"


def _detail(e: dict) -> str:
    if e.get("pytest"):
        p = e["pytest"]
        counts = ", ".join(f"{v} {k}" for k, v in p.items() if k != "pytest_s")
        return f"{counts}; pytest {p['pytest_s']:.0f} s"
    if e.get("steps"):
        steps = sorted(e["steps"], key=lambda s: -s["seconds"])
        return f"{len(steps)} steps: " + ", ".join(f"{s['step']} {s['seconds']} s" for s in steps)
    return "no summary printed"


def render(record: list[dict]) -> str:
    """The page's block: every recorded run, then the median and range of each command's wall time."""
    lines = [START, "| date | commit | command | wall, set-up included | CPU | load average before → after | "
             "what it printed | exit |", "|---|---|---|---|---|---|---|---|"]
    for e in sorted(record, key=lambda e: e["date"]):  # in the order they ran (the record appends)
        lines.append(f"| {e['date']} | {e['commit']} | `{e['command']}` | {_minutes(e['wall_s'])} | "
                     f"{_minutes(e['cpu_s'])} | {e['load_before']:.1f} → {e['load_after']:.1f} | {_detail(e)} | "
                     f"{e['rc']} |")
    if not record:
        lines.append("| – | – | no run recorded yet | | | | | |")
    lines.append("")
    for command in sorted({e["command"] for e in record}):
        walls = [e["wall_s"] for e in record if e["command"] == command and e["rc"] == 0]
        if not walls:
            lines.append(f"- `{command}`: no run passed yet.")
            continue
        over = sum(w > TARGET_S for w in walls)
        # the last one appended on the latest date
        last = max(reversed([e for e in record if e["command"] == command]), key=lambda e: e["date"])
        lines.append(f"- `{command}`: {len(walls)} passing run(s), median {_minutes(statistics.median(walls))}, "
                     f"range {_minutes(min(walls))} to {_minutes(max(walls))}; over the {TARGET_S // 60}-minute "
                     f"target in {over} of {len(walls)}; the latest run ({last['commit']}, {last['date']}): "
                     f"{_minutes(last['wall_s'])}" + ("" if last["rc"] == 0 else f", exit {last['rc']}") + ".")
    return "\n".join(lines) + "\n" + END


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", nargs="?", choices=("test", "demo"))
    ap.add_argument("--check", action="store_true", help="only compare the page's block with the record")
    ap.add_argument("--render", action="store_true", help="only write the page's block from the record")
    ap.add_argument("--keep", action="store_true", help="keep the clone (its path is printed)")
    ap.add_argument("--doc", default=str(DOC))
    ap.add_argument("--record", default=str(RECORD))
    args = ap.parse_args(argv)
    doc, rec = Path(args.doc), Path(args.record)
    record = json.loads(rec.read_text()) if rec.exists() else []
    if args.check:
        text = doc.read_text()
        block = text[text.index(START):text.index(END) + len(END)] if START in text and END in text else None
        same = block == render(record)
        print("the page's commands block matches its record" if same else f"{doc}'s commands block differs from {rec}")
        return 0 if same else 1
    if args.render or not args.command:
        if not args.render:
            print("name a command (test or demo), or --check / --render")
            return 2
        write_block(doc, render(record), START, END)
        print(f"wrote {doc}'s commands block from {rec} ({len(record)} run(s))")
        return 0
    try:
        entry = measure(args.command, keep=args.keep)
    except (subprocess.CalledProcessError, OSError) as exc:  # no git or make, a clone that failed: nothing recorded
        what = " ".join(map(str, exc.cmd)) if isinstance(exc, subprocess.CalledProcessError) else str(exc)
        print(f"could not time make {args.command}: {what} failed; run it from a git checkout with git and make "
              "on PATH")
        return 2
    except KeyboardInterrupt:
        print(f"make {args.command} was interrupted; nothing recorded")
        return 130
    record.append(entry)
    write_block(doc, render(record), START, END)  # first: a page without the markers stops before the record
    atomic_write_json(rec, record)
    print(f"recorded `{entry['command']}` of {entry['commit']}: {_minutes(entry['wall_s'])}, exit {entry['rc']}")
    return 0 if entry["rc"] == 0 else 1  # a failed command is recorded; 2 stays the exit of bad input


if __name__ == "__main__":
    sys.exit(main())
