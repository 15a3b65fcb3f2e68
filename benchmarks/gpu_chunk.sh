#!/usr/bin/env bash
# A parity preset in chunks of at most SECONDS each, for device calls with a time limit (10 minutes here).
#
# On the GPU machine, from the repo root (the run directory travels with the device tool's `carry`):
#     bash benchmarks/gpu_chunk.sh PRESET RUN_DIR SECONDS [--set key=value ...]
# starts the run (or resumes it when RUN_DIR already holds an unfinished one), pauses it with a checkpoint before
# SECONDS are up, and packs RUN_DIR into parts of at most 15 MB under $OUT (the device tool brings back files of up to 16 MB).
# Back here, unpack the parts over the old directory and carry it to the next call:
#     rm -rf RUN_DIR && cat /work/.device/N/run.tar.part* | tar xf -
# A finished run is packed without its checkpoint. The flags (--set ...) must be the same in every chunk.
set -u
if [ $# -lt 3 ]; then echo "usage: $0 PRESET RUN_DIR SECONDS [--set key=value ...]" >&2; exit 2; fi
preset=$1 dir=$2 secs=$3
shift 3
: "${OUT:?OUT must name the folder whose files come back}"
export PYTHONPATH=src PYTHONUNBUFFERED=1 QUANTA_PROGRESS=0
resume=
if [ -f "$dir/manifest.json" ]; then resume=--resume; fi
start=$(date +%s)
# the run pauses itself 15 s before the hard timeout, with a checkpoint of the step it reached (--max-seconds)
timeout -s INT "$secs" python3 -m quanta parity run --preset "$preset" --device cuda --out "$dir" $resume \
  --max-seconds $(( secs > 30 ? secs - 15 : secs / 2 )) "$@"
rc=$?
echo "rc=$rc after $(( $(date +%s) - start )) s"
python3 - "$dir" <<'PY'
import json, os, sys
import torch
d = sys.argv[1]
man = json.load(open(os.path.join(d, "manifest.json")))
ck = os.path.join(d, "checkpoint.pt")
step = torch.load(ck, weights_only=True)["step"] if os.path.exists(ck) else None
print("status", man.get("status"), "checkpoint step", step, "timings", man.get("timings_s"))
PY
exclude=
status=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1])).get('status'))" "$dir/manifest.json")
if [ "$status" = complete ]; then exclude="--exclude=checkpoint.pt"; fi
tar cf - $exclude "$dir" | split -b 15M -d - "$OUT/run.tar.part"
ls -la "$OUT"
