"""What travels to and from the GPU machine with ``benchmarks/gpu_run.sh``'s parity runs, within the device tool's
limits (a working tree of at most 64 MiB goes there; at most 8 files of at most 16 MiB come back).

Here, before a call, ``carry`` writes the folder the call carries (``carry: [".whl", ".gpu-carry"]``):

    .venv/bin/python benchmarks/gpu_pack.py carry runs/gpu .gpu-carry

For every run under ``runs/gpu`` it holds the run's ``manifest.json`` (so that gpu_run.sh skips a finished run and
resumes an unfinished one with the same settings) and, for an unfinished run, its ``checkpoint.pt`` (what
``quanta parity run --resume`` continues from). A finished run's tables and weights stay here. More than
``CARRY_MAX`` bytes is refused in one line (exit 2), naming the checkpoints.

There, after the runs, gpu_run.sh calls ``pack`` on the runs this call touched:

    python benchmarks/gpu_pack.py pack OUT RUNS RECORDS NAME [NAME ...]

which writes ``OUT/parity.tar.partNN`` (at most ``MAX_PARTS`` parts of ``PART`` bytes; ``cat parity.tar.part* |
tar xf -`` in the repo root gives ``runs/gpu/NAME``) and ``OUT/results.json`` (the steps' records, and what was
left out). Files are taken in order of need while they fit: first each run's tables, manifest, summary and figures
(a run whole or not at all), then the checkpoints of unfinished runs (to resume), then the finished runs'
``final_state.pt`` weights; each group in the order the runs were named.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tarfile

PART, MAX_PARTS = 15 * 2 ** 20, 5
CARRY_MAX = 56 * 2 ** 20  # of the device tool's 64 MiB working tree: the repo (~3 MB) and .whl (~3 MB) travel too
HEAVY = ("checkpoint.pt", "final_state.pt")


def _status(run_dir: str) -> str | None:
    try:
        with open(os.path.join(run_dir, "manifest.json")) as fh:
            return json.load(fh).get("status")
    except (OSError, ValueError):
        return None


def _tar_size(n_bytes: int) -> int:
    """A file's bytes in an uncompressed tar: a 512-byte header and the data padded to 512."""
    return 512 + -(-n_bytes // 512) * 512


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
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    for name, files in plan:
        os.makedirs(os.path.join(dest, name))
        for f in files:
            shutil.copy2(os.path.join(runs, name, f), os.path.join(dest, name, f))
    unfinished = [n for n, fs in plan if "checkpoint.pt" in fs]
    print(f"{dest}: {len(plan)} run(s), {total / 2 ** 20:.1f} MiB; resumable: {', '.join(unfinished) or 'none'}")
    return 0


def plan_pack(runs: str, names: list[str], budget: int = PART * MAX_PARTS) -> tuple[list[str], list[str]]:
    """``(files taken, files left out)``: paths under ``runs``, in the order of need (module docstring)."""
    groups: list[list[list[str]]] = [[], [], []]  # light files per run; checkpoints; final states
    for name in names:
        d = os.path.join(runs, name)
        if not os.path.isdir(d):
            continue
        light = []
        for root, _, files in os.walk(d):
            for f in sorted(files):
                p = os.path.join(root, f)
                if root == d and f == "checkpoint.pt":
                    if _status(d) != "complete":
                        groups[1].append([p])
                elif root == d and f == "final_state.pt":
                    groups[2].append([p])
                else:
                    light.append(p)
        groups[0].append(light)
    used, taken, left = 2 * 10240, [], []  # the tar's end blocks, rounded up to its record size
    for group in groups:
        for unit in group:
            size = sum(_tar_size(os.path.getsize(p)) for p in unit) + 512 * len(unit)  # and a long name's header
            if used + size <= budget:
                taken += unit
                used += size
            else:
                left += unit
    return taken, left


def pack(out: str, runs: str, records: str, names: list[str]) -> int:
    from quanta.store import atomic_write_bytes, atomic_write_json

    if not (os.path.isdir(out) and os.path.isfile(records)):
        print(f"pack needs the folder OUT ({out}) and the steps' records ({records}): gpu_run.sh makes both")
        return 2
    with open(records) as fh:
        steps = [json.loads(line) for line in fh if line.strip()]
    taken, left = plan_pack(runs, names)
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
        atomic_write_bytes(os.path.join(out, f"parity.tar.part{i:02d}"), data[i * PART:(i + 1) * PART])
    rel = [os.path.relpath(p, runs) for p in left]
    summary = {"steps": steps, "runs_packed": [n for n in names if os.path.isdir(os.path.join(runs, n))],
               "parity_tar_bytes": len(data), "parity_tar_parts": n_parts, "left_out": rel}
    atomic_write_json(os.path.join(out, "results.json"), summary)
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
    print("usage: gpu_pack.py carry RUNS DEST | gpu_pack.py pack OUT RUNS RECORDS [NAME ...]")
    return 2


if __name__ == "__main__":
    sys.exit(main())
