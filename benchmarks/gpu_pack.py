"""What travels to and from the GPU machine with ``benchmarks/gpu_run.sh``'s parity runs, within the device tool's
limits (a working tree of at most 64 MiB goes there; at most 8 files of at most 16 MiB, 64 MiB together, come
back).

Here, before a call, ``carry`` writes the folder the call carries (``carry: [".whl", ".gpu-carry"]``):

    .venv/bin/python benchmarks/gpu_pack.py carry runs/gpu .gpu-carry

For every run under ``runs/gpu`` it holds the run's ``manifest.json`` (so that gpu_run.sh skips a finished run and
resumes an unfinished one with the same settings) and, for an unfinished run, its ``checkpoint.pt`` (what
``quanta parity run --resume`` continues from). A finished run's tables and weights stay here. More than
``CARRY_MAX`` bytes is refused in one line (exit 2), naming the checkpoints.

There, after the runs, gpu_run.sh calls ``pack`` on the runs this call touched:

    python benchmarks/gpu_pack.py pack OUT RUNS RECORDS NAME [NAME ...]

which writes ``OUT/parity.tar.partNN`` (at most ``MAX_PARTS`` parts of ``PART`` bytes, and with everything else
under OUT within ``BACK_MAX``; ``cat FILES_AT/parity.tar.part* | tar xf -`` in the repo root gives
``runs/gpu/NAME``) and ``OUT/results.json`` (the steps' records, and what was left out). Files are taken in order
of need while they fit: first each run's tables, manifest, summary and figures (a run whole or not at all), then
the checkpoints of unfinished runs (to resume), then the finished runs' ``final_state.pt`` weights; each group in
the order the runs were named. Hidden files (an atomic write's leftover ``.*.tmp``) are never taken.

Before each run of its queue, gpu_run.sh asks whether what the call brings back still has room for it:

    python benchmarks/gpu_pack.py room OUT RUNS NAME [TOUCHED ...]

exits 0 when the tables and checkpoints of the runs already touched, the files under OUT and the most run NAME can
need back (``NEED_MIB``: its checkpoint near its end, larger than its tables) fit ``BACK_MAX``, and 3 (with one
line) when they do not: that run then waits for the next call, since a checkpoint left out would lose its work.

The pack needs the standard library alone, so that the call's results come back even where the image's numpy or
pandas would break quanta.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import sys
import tarfile
import tempfile

MIB = 2 ** 20
PART, MAX_PARTS = 15 * MIB, 5
BACK_MAX = 64 * MIB  # what the device tool brings back from OUT, all files together
BACK_RESERVE = MIB // 2  # of that, kept for results.json and the lines the log gains after the pack
CARRY_MAX = 56 * MIB  # of the device tool's 64 MiB working tree: the repo (~3 MB) and .whl (~3 MB) travel too
HEAVY = ("checkpoint.pt", "final_state.pt")
#: The most a run of each kind can need brought back at the end of a call, in MiB: its checkpoint near the run's end
#: (model and AdamW state, and every evaluation's records; its tables, which replace it when the run finishes, are
#: smaller). Checked against the presets' shapes by tests/test_docs_gpu_plan.py.
NEED_MIB = {"alpha-sweep": 51, "fig2-params": 36, "fig2-data": 56}


def _status(run_dir: str) -> str | None:
    try:
        with open(os.path.join(run_dir, "manifest.json")) as fh:
            return json.load(fh).get("status")
    except (OSError, ValueError):
        return None


def _tar_size(n_bytes: int) -> int:
    """A file's bytes in an uncompressed tar: a 512-byte header and the data padded to 512."""
    return 512 + -(-n_bytes // 512) * 512


def _atomic_write(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _finite(obj):
    """Plain JSON: non-finite floats (a step's NaN figure) as None, as quanta.store writes them."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _others_bytes(out: str) -> int:
    """The bytes of the files under OUT that the pack does not write (the call's log)."""
    total = 0
    for root, _, files in os.walk(out):
        for f in files:
            if root == out and (f.startswith("parity.tar.part") or f == "results.json"):
                continue
            total += os.path.getsize(os.path.join(root, f))
    return total


def pack_budget(out: str) -> int:
    """The bytes the parity tar may take: at most MAX_PARTS parts, and within BACK_MAX with everything else."""
    return max(0, min(PART * MAX_PARTS, BACK_MAX - BACK_RESERVE - _others_bytes(out)))


def carry(runs: str, dest: str) -> int:
    if not os.path.isdir(runs):
        print(f"{runs}: no such folder (unpack a call's parity.tar.part* first, or start without carrying runs)")
        return 2
    plan, total = [], 0
    for name in sorted(os.listdir(runs)):
        d = os.path.join(runs, name)
        if not os.path.isfile(os.path.join(d, "manifest.json")):
            continue
        files = ["manifest.json"]
        ck = os.path.join(d, "checkpoint.pt")
        if _status(d) != "complete" and os.path.isfile(ck):
            files.append("checkpoint.pt")
        plan.append((name, files))
        total += sum(os.path.getsize(os.path.join(d, f)) for f in files)
    if total > CARRY_MAX:
        cks = [f"{n} ({os.path.getsize(os.path.join(runs, n, 'checkpoint.pt')) / 2 ** 20:.0f} MiB)"
               for n, fs in plan if "checkpoint.pt" in fs]
        print(f"the carry would be {total / 2 ** 20:.0f} MiB, over {CARRY_MAX / 2 ** 20:.0f} MiB: the checkpoints of "
              f"{', '.join(cks)}; carry fewer unfinished runs (move one out of {runs} for this call)")
        return 2
    if os.path.exists(dest) and not os.path.isdir(dest):
        print(f"{dest} is a file: name a folder for the carry, e.g. .gpu-carry")
        return 2
    real_runs, real_dest = os.path.realpath(runs), os.path.realpath(dest)
    if real_dest == real_runs or real_dest.startswith(real_runs + os.sep) or real_runs.startswith(real_dest + os.sep):
        print(f"{dest} and {runs} overlap: the carry replaces its folder, so name one apart, e.g. .gpu-carry")
        return 2
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    for name, files in plan:
        os.makedirs(os.path.join(dest, name))
        for f in files:
            shutil.copy2(os.path.join(runs, name, f), os.path.join(dest, name, f))
    unfinished = [n for n, fs in plan if "checkpoint.pt" in fs]
    print(f"{dest}: {len(plan)} run(s), {total / 2 ** 20:.1f} MiB; resumable: {', '.join(unfinished) or 'none'}")
    return 0


def _groups(runs: str, names: list[str]) -> list[list[list[str]]]:
    """The files of the named runs in order of need: light files per run; checkpoints; final states."""
    groups: list[list[list[str]]] = [[], [], []]
    for name in names:
        d = os.path.join(runs, name)
        if not os.path.isdir(d):
            continue
        light = []
        for root, dirs, files in os.walk(d):
            dirs[:] = sorted(x for x in dirs if not x.startswith("."))
            for f in sorted(x for x in files if not x.startswith(".")):
                p = os.path.join(root, f)
                if root == d and f == "checkpoint.pt":
                    if _status(d) != "complete":
                        groups[1].append([p])
                elif root == d and f == "final_state.pt":
                    groups[2].append([p])
                else:
                    light.append(p)
        groups[0].append(light)
    return groups


def _unit_size(unit: list[str]) -> int:
    return sum(_tar_size(os.path.getsize(p)) for p in unit) + 512 * len(unit)  # and a long name's header


TAR_END = 2 * 10240  # the tar's end blocks, rounded up to its record size


def plan_pack(runs: str, names: list[str], budget: int = PART * MAX_PARTS) -> tuple[list[str], list[str]]:
    """``(files taken, files left out)``: paths under ``runs``, in the order of need (module docstring)."""
    used, taken, left = TAR_END, [], []
    for group in _groups(runs, names):
        for unit in group:
            size = _unit_size(unit)
            if used + size <= budget:
                taken += unit
                used += size
            else:
                left += unit
    return taken, left


def room(out: str, runs: str, name: str, touched: list[str]) -> int:
    """0 when run ``name`` can be started or resumed without crowding out what this call must bring back, else 3
    (1 is left to a crash, 2 to bad arguments)."""
    kind = next((k for k in NEED_MIB if name == k or name.startswith(k + "-")), None)
    if kind is None or not os.path.isdir(out):
        print(f"room needs OUT ({out}) and a run gpu_run.sh knows ({', '.join(NEED_MIB)}), got {name!r}")
        return 2
    groups = _groups(runs, [n for n in touched if n != name])
    needed = TAR_END + sum(_unit_size(u) for g in groups[:2] for u in g)  # tables and checkpoints, not weights
    budget = pack_budget(out)
    if needed + NEED_MIB[kind] * MIB <= budget:
        return 0
    print(f"{name} waits for the next call: this call brings back {needed / MIB:.1f} MiB of tables and checkpoints "
          f"already, and {name} could need {NEED_MIB[kind]} MiB more (its checkpoint), over the {budget / MIB:.1f} MiB "
          "left of what the device tool returns")
    return 3


def pack(out: str, runs: str, records: str, names: list[str]) -> int:
    if not (os.path.isdir(out) and os.path.isfile(records)):
        print(f"pack needs the folder OUT ({out}) and the steps' records ({records}): gpu_run.sh makes both")
        return 2
    with open(records) as fh:
        steps = [json.loads(line) for line in fh if line.strip()]
    taken, left = plan_pack(runs, names, pack_budget(out))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for p in taken:
            tar.add(p, arcname=os.path.join("runs", "gpu", os.path.relpath(p, runs)), recursive=False)
    data = buf.getvalue()
    for old in os.listdir(out):
        if old.startswith("parity.tar.part"):
            os.remove(os.path.join(out, old))
    n_parts = -(-len(data) // PART)
    for i in range(n_parts):
        _atomic_write(os.path.join(out, f"parity.tar.part{i:02d}"), data[i * PART:(i + 1) * PART])
    rel = [os.path.relpath(p, runs) for p in left]
    summary = {"steps": steps, "runs_packed": [n for n in names if os.path.isdir(os.path.join(runs, n))],
               "parity_tar_bytes": len(data), "parity_tar_parts": n_parts, "left_out": rel}
    text = json.dumps(_finite(summary), indent=2, allow_nan=False) + "\n"
    _atomic_write(os.path.join(out, "results.json"), text.encode())
    for r in steps:
        print(f"{r['step']:>26}: rc={r['rc']:<4} {r['seconds']:>5} s")
    packed = ", ".join(summary["runs_packed"]) or "no run"
    print(f"parity.tar: {len(data) / 2 ** 20:.1f} MiB in {n_parts} part(s) of {packed}; "
          f"left out: {', '.join(rel) or 'nothing'}")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["carry"] and len(argv) == 3:
        return carry(argv[1], argv[2])
    if argv[:1] == ["pack"] and len(argv) >= 4:
        return pack(argv[1], argv[2], argv[3], argv[4:])
    if argv[:1] == ["room"] and len(argv) >= 4:
        return room(argv[1], argv[2], argv[3], argv[4:])
    print("usage: gpu_pack.py carry RUNS DEST | gpu_pack.py pack OUT RUNS RECORDS [NAME ...] | "
          "gpu_pack.py room OUT RUNS NAME [TOUCHED ...]")
    return 2


if __name__ == "__main__":
    sys.exit(main())
