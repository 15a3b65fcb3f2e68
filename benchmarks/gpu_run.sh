#!/usr/bin/env bash
# One prepared GPU call (about 9 minutes): the parity reproductions in resumable chunks, QDG at scale, the peer
# benchmark against bergson. Run from the repo root on the device machine:
#     bash benchmarks/gpu_run.sh
# and check it on the CPU first, with tiny sizes, in under a minute:
#     QUANTA_DRY_RUN=1 bash benchmarks/gpu_run.sh
#
# Order and time slices (seconds; each is a hard `timeout`, override by environment):
#   0. env + the fused parity step (both variants) against the plain one, Fig. 2  KERNEL_S   (75)
#      (dry run: also the kernels compiled for sm_90 at step 1's shapes, benchmarks/fused_aot.py)
#   0b. where the step's time goes: the plain step's kernels, the fused step over a grid       TILES_S    (90)
#      of tiles, then the plain step's levers: fused AdamW, bf16, no compile, CUDA graphs
#      (benchmarks/fused_tiles.py, each kept as it finishes; dry run: a few tiles under the
#      interpreter). Alone in a call, give it more: GPU_STEPS=tiles TILES_S=S TOTAL_S=S+30
#   1. the parity reproductions: the runs of PARITY_QUEUE in order, in one shared   PARITY_S   (what the other
#      steps' limits leave: 45 s beside all of them, 500 s alone)
#      budget; a finished run is skipped (carried in by .gpu-carry, or recorded as
#      finished in DONE_RECORD, docs/data/reproduction.json), an unfinished one resumed
#      (carried in by .gpu-carry); the run the budget cuts short pauses itself with a checkpoint
#      (quanta parity run --max-seconds) and continues in the next call.
#      The Fig. 10 α sweep runs one α at a time (alpha-sweep-aA: preset
#      paper-alpha-sweep with alphas=[A]), so that each run's checkpoint (~40 MB)
#      can travel between calls; first α = 0.4, the issue's target, with its 3 seeds.
#      Kernel: the fused step's where step 0's verdict is "use" (PARITY_KERNEL and PARITY_FUSED_CTRL override:
#      a later call can skip step 0 and reuse the first call's verdict)
#   2. QDG: 10k token gradients, pythia-70m shape, 1024 context (target <= 60 s)  QDG_S      (100)
#      and the spectral step at 100k points on CUDA                               SPECTRAL_S (110)
#   3. the peer benchmark: quanta against bergson on the same tokens              PEER_S     (80)
#   4. QDG end to end, 100k tokens at 1024 context, as `quanta qdg --model` runs    E2E_S (545 alone)
#      it (benchmarks/qdg_e2e.py: a random pythia-70m-shaped model and a tokenizer
#      trained on the stdlib, built first and not timed; target <= 600 s). Not in
#      the default GPU_STEPS: it needs a call of its own, GPU_STEPS=e2e
# then packs what comes back into at most 8 files under $OUT, each within 16 MiB and all within 64 MiB, the device
# tool's limits (benchmarks/gpu_pack.py):
#   gpu_run.log (everything printed), results.json (one record per step: rc, seconds, the figures a step writes)
#   and parity.tar.partNN (at most 5) holding the runs this call touched: their tables first, then the checkpoints of
#   unfinished ones, then the weights of finished ones, each while it fits; what is left out is said in results.json.
#   A run of the queue is not started when its checkpoint might not fit beside what the call already brings back
#   (gpu_pack.py room), and the queue stops after a run that neither finished nor paused (a failure would recur).
# Back here: `cat FILES_AT/parity.tar.part* | tar xf -` in the repo root (FILES_AT: where the device tool put the
# files) recreates runs/gpu/NAME, and before the next call
# `python benchmarks/gpu_pack.py carry runs/gpu .gpu-carry` writes what that call must carry (manifests, and the
# checkpoints of unfinished runs): carry [".whl", ".gpu-carry"].
#
# Wheels: if .whl/ exists (carried), they are installed into the call's own temporary folder first:
# `bash benchmarks/gpu_wheels.sh` here fetches bergson and the 2 MB of its needs the device image lacks.
# Budget: TOTAL_S (550 s) for the whole call; each step's limit is cut to what is left (RESERVE_S, 30 s, kept for
# the packing), so a slow step shortens the later ones instead of losing the packed results to the call's limit.
# Flags for a new parity run: PARITY_FLAGS (default TF32, and torch.compile on the plain path; the fused step
# trains without the compiled forward). A resumed run keeps the config of its manifest (every field that differs
# from its preset is passed again), as --resume requires. GPU_STEPS (default "kernel tiles parity qdg peer") runs only
# the sections it names; with parity alone PARITY_S defaults to the whole call less the packing (a later call,
# once QDG and the peer are recorded: GPU_STEPS=parity PARITY_KERNEL=triton PARITY_FUSED_CTRL=segments, as the
# first call's step 0 decided). QDG end to end runs only when named, in a call of its own:
# GPU_STEPS=e2e (TOTAL_S then defaults to 585 and the step's limit to 545 s: all of the call but the packing and
# the env step; the device tool's limit is 600 s). QUANTA_BUDGET_ONLY=1 prints the limits a call would use, and
# does nothing else (any machine; OUT must still be set off the dry run).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
DRY=${QUANTA_DRY_RUN:-0}
TMPD=$(mktemp -d "${TMPDIR:-/tmp}/quanta-gpu-run-tmp.XXXX")
if [ "$DRY" = 1 ]; then
  OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/quanta-gpu-run-out.XXXX")}
  DEVICE=cpu RUNS=${RUNS:-$TMPD/runs}
  KERNEL_S=${KERNEL_S:-60} TILES_S=${TILES_S:-60} PARITY_S=${PARITY_S:-} QDG_S=${QDG_S:-60} SPECTRAL_S=${SPECTRAL_S:-60} PEER_S=${PEER_S:-60}
  E2E_S=${E2E_S:-120}
else
  : "${OUT:?OUT must name the folder whose files come back (the device tool sets it)}"
  DEVICE=cuda RUNS=${RUNS:-runs/gpu}
  KERNEL_S=${KERNEL_S:-75} TILES_S=${TILES_S:-90} PARITY_S=${PARITY_S:-} QDG_S=${QDG_S:-100} SPECTRAL_S=${SPECTRAL_S:-110} PEER_S=${PEER_S:-80}
  E2E_S=${E2E_S:-}
fi
GPU_STEPS=${GPU_STEPS:-kernel tiles parity qdg peer}  # the sections to run (e.g. only "parity" with a few minutes left)
E2E_ALONE=0; if [ "$(echo $GPU_STEPS)" = e2e ]; then E2E_ALONE=1; fi
# QDG end to end alone: the call's whole budget (the device tool's limit is 600 s), all of it for the step
if [ "$E2E_ALONE" = 1 ] && [ "$DRY" != 1 ] && [ -z "${TOTAL_S:-}" ]; then TOTAL_S=585; fi
TOTAL_S=${TOTAL_S:-550} RESERVE_S=${RESERVE_S:-30}  # the whole call (the device tool's limit is 600 s)
if [ -z "$E2E_S" ]; then
  if [ "$E2E_ALONE" = 1 ]; then E2E_S=$(( TOTAL_S - RESERVE_S - 10 )); else E2E_S=540; fi
fi
PARITY_MIN_S=${PARITY_MIN_S:-30}  # a run is not started with less of PARITY_S left (start-up would eat it)
PARITY_SLACK_S=${PARITY_SLACK_S:-15}  # a run pauses itself this long before its hard timeout (--max-seconds)
PARITY_MAX_S=${PARITY_MAX_S:-}  # a fixed --max-seconds for every run instead (0: each pauses at once; for tests)
want() { case " $GPU_STEPS " in *" $1 "*) return 0 ;; esac; return 1; }
if [ -z "$PARITY_S" ]; then  # what the call leaves once the other sections have their whole limits (and 20 s for
  # the env and kernel-choice steps), so that the peer, last, is not squeezed: 45 s beside all, 500 s alone
  PARITY_S=$(( TOTAL_S - RESERVE_S - 20 ))
  if want kernel; then PARITY_S=$(( PARITY_S - KERNEL_S )); fi
  if want tiles; then PARITY_S=$(( PARITY_S - TILES_S )); fi
  if want qdg; then PARITY_S=$(( PARITY_S - QDG_S - SPECTRAL_S )); fi
  if want peer; then PARITY_S=$(( PARITY_S - PEER_S )); fi
  if want e2e; then PARITY_S=$(( PARITY_S - E2E_S )); fi
  if ! want parity || [ "$PARITY_S" -lt 0 ]; then PARITY_S=0; fi
fi
if [ "$DRY" = 1 ]; then
  PARITY_QUEUE=${PARITY_QUEUE:-alpha-sweep-a0.4 fig2-params fig2-data}
else
  PARITY_QUEUE=${PARITY_QUEUE:-alpha-sweep-a0.4 alpha-sweep-a0.1 alpha-sweep-a0.8 fig2-params alpha-sweep-a0.2 \
alpha-sweep-a0.6 alpha-sweep-a0.3 alpha-sweep-a0.5 alpha-sweep-a0.7 fig2-data}
fi
if [ "$DRY" = 1 ]; then CARRY=${CARRY:-}; else CARRY=${CARRY:-.gpu-carry}; fi  # the dry run carries only if told
# runs that docs/data/reproduction.json records as finished are skipped even when nothing was carried: a run's
# folder does not outlive the session that unpacked it (runs/ is not committed), and its record is what stands
if [ "$DRY" = 1 ]; then DONE_RECORD=${DONE_RECORD:-}; else DONE_RECORD=${DONE_RECORD:-docs/data/reproduction.json}; fi
if [ "${QUANTA_BUDGET_ONLY:-0}" = 1 ]; then  # the limits this call would use, then stop before doing anything
  echo "TOTAL_S=$TOTAL_S RESERVE_S=$RESERVE_S KERNEL_S=$KERNEL_S TILES_S=$TILES_S PARITY_S=$PARITY_S QDG_S=$QDG_S" \
    "SPECTRAL_S=$SPECTRAL_S PEER_S=$PEER_S E2E_S=$E2E_S PARITY_MIN_S=$PARITY_MIN_S GPU_STEPS=$(echo $GPU_STEPS)"
  rmdir "$TMPD"; exit 0
fi
PY=${PYTHON:-python3}
mkdir -p "$OUT" "$RUNS"
# manifests and unfinished runs' checkpoints (gpu_pack.py carry); a run already here (a warm machine's earlier call
# of this session) is newer than its carried copy and is kept
if [ -n "$CARRY" ] && [ -d "$CARRY" ]; then
  for d in "$CARRY"/*/; do
    [ -d "$d" ] || continue
    n=$(basename "$d")
    if [ -e "$RUNS/$n" ]; then echo "carried $n: kept the copy already in $RUNS"; else cp -R "$d" "$RUNS/$n"; fi
  done
fi
LOG=$OUT/gpu_run.log
REC=$TMPD/records.jsonl
: >"$REC"
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!
export PYTHONPATH=$here/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 QUANTA_PROGRESS=0 TQDM_DISABLE=1
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$TMPD/site" .whl/*.whl \
    && export PYTHONPATH=$PYTHONPATH:$TMPD/site
fi
t_all=$(date +%s)

# step NAME SECONDS JSON_OR_- CMD...: runs CMD under a timeout, records rc and seconds (and the JSON file it wrote).
# No step outlasts the call's budget: its limit is cut to what is left of TOTAL_S less RESERVE_S for the packing
# (and timeout's 10 s grace), and a step with under 5 s left is skipped (rc 125), so the results always come back.
capped() {  # capped SECONDS: SECONDS, or what is left of the call's budget if that is less
  local left=$(( TOTAL_S - RESERVE_S - ($(date +%s) - t_all) ))
  echo $(( left < $1 ? left : $1 ))
}
step() {
  local name=$1 json=$3 secs
  secs=$(capped "$2")
  shift 3
  if [ "$secs" -lt 5 ]; then
    echo; echo "=== $name: skipped, $(( $(date +%s) - t_all )) s of TOTAL_S=$TOTAL_S spent"
    echo "{\"step\": \"$name\", \"rc\": 125, \"seconds\": 0, \"result\": \"skipped: no time left\"}" >>"$REC"
    return 125
  fi
  echo; echo "=== $name (limit ${secs} s, $(date +%T), $(( $(date +%s) - t_all )) s in)"
  local t0=$(date +%s)
  timeout -s INT -k 10 "$secs" "$@"
  local rc=$?
  local dt=$(( $(date +%s) - t0 ))
  echo "--- $name: rc=$rc after ${dt} s"
  $PY - "$REC" "$name" "$rc" "$dt" "$json" <<'PY'
import json, os, sys
rec, name, rc, dt, js = sys.argv[1:]
r = {"step": name, "rc": int(rc), "seconds": int(dt)}
if js != "-" and os.path.exists(js):
    try:
        r["result"] = json.load(open(js))
    except ValueError:
        r["result"] = "unreadable"
open(rec, "a").write(json.dumps(r) + "\n")
PY
}

echo "=== env ($(date -u +%FT%TZ)) dry_run=$DRY device=$DEVICE out=$OUT runs=$RUNS"
echo "GPU_STEPS=$GPU_STEPS TOTAL_S=$TOTAL_S RESERVE_S=$RESERVE_S PARITY_S=$PARITY_S KERNEL_S=$KERNEL_S TILES_S=$TILES_S" \
  "QDG_S=$QDG_S SPECTRAL_S=$SPECTRAL_S PEER_S=$PEER_S E2E_S=$E2E_S PARITY_KERNEL=${PARITY_KERNEL:-auto}"
if [ "$DEVICE" = cuda ]; then nvidia-smi -L; fi
# the versions and the call's settings, printed and kept as results.json's first record ("env")
GPU_STEPS="$GPU_STEPS" TOTAL_S=$TOTAL_S PARITY_S=$PARITY_S $PY - "$REC" <<'PY'
import importlib.util, json, os, sys
import torch
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else "")
from importlib.metadata import PackageNotFoundError, version
env = {"python": sys.version.split()[0], "torch": torch.__version__,
       "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
       "gpu_steps": os.environ["GPU_STEPS"], "total_s": int(os.environ["TOTAL_S"]),
       "parity_s": int(os.environ["PARITY_S"])}
for name in ("numpy", "triton", "bergson", "transformers"):
    try:
        env[name] = version(name) if importlib.util.find_spec(name) else None
    except PackageNotFoundError:
        env[name] = "unknown"
    print(name, env[name] or "NOT installed")
open(sys.argv[1], "a").write(json.dumps({"step": "env", "rc": 0, "seconds": 0, "result": env}) + "\n")
PY

# ---- 0. the fused step against the plain one, Fig. 2 shape: ms/step, agreement, and so the kernel of step 1
if ! want kernel; then
  echo; echo "=== kernel: not in GPU_STEPS=$GPU_STEPS"
elif [ "$DRY" = 1 ]; then
  if $PY -c "import importlib.util as u; exit(u.find_spec('triton') is None)"; then
    # the kernels compiled for the GPU (sm_90) at step 1's shapes and flags: a compile error or a tile that does
    # not fit its shared memory shows here, on the CPU
    step kernel-aot "$KERNEL_S" "$TMPD/aot.json" $PY benchmarks/fused_aot.py --preset paper-fig2-params \
      --preset paper-fig2-data --preset paper-alpha-sweep ${PARITY_FLAGS:---set tf32=true} --fused-ctrls segments,rows --arch 90 \
      --json "$TMPD/aot.json"
    # speed means nothing in the interpreter (--min-speedup 0), so the dry run takes step 1's fused branch too
    step kernel "$KERNEL_S" "$TMPD/kernel.json" env TRITON_INTERPRET=1 $PY benchmarks/parity_throughput.py \
      --preset cpu-tiny --steps 1 --repeats 1 --threads 1 --compare-kernel triton --batched-only \
      --set widths=[4,12] --set batch_size=64 --min-speedup 0 --fused-ctrls segments,rows --json "$TMPD/kernel.json"
  else
    echo "=== kernel: skipped (triton not installed)"
  fi
else
  step kernel "$KERNEL_S" "$TMPD/kernel.json" $PY benchmarks/parity_throughput.py --device cuda \
    --preset paper-fig2-params --steps 50 --repeats 2 --set tf32=true --compare-kernel triton --batched-only \
    --fused-ctrls segments,rows --json "$TMPD/kernel.json"
fi
# ---- 0b. where the time goes: the plain step's kernels (profiler) and the fused step's over a grid of tiles. It
# only measures; the reproductions' kernel is step 0's choice (a faster tile becomes a default only once a later
# call's step 0 confirms it on the same steps and batches)
if ! want tiles; then
  echo; echo "=== tiles: not in GPU_STEPS=$GPU_STEPS"
elif [ "$DRY" = 1 ]; then
  if $PY -c "import importlib.util as u; exit(u.find_spec('triton') is None)"; then
    step tiles "$TILES_S" "$TMPD/tiles.json" env TRITON_INTERPRET=1 $PY benchmarks/fused_tiles.py --device cpu \
      --preset cpu-tiny --set widths=[4,12] --set batch_size=64 --tiles 16x16x4,32x16x4s1 --steps 1 --repeats 1 \
      --profile-steps 1 --json "$TMPD/tiles.json"
  else
    echo "=== tiles: skipped (triton not installed)"
  fi
else
  step tiles "$TILES_S" "$TMPD/tiles.json" $PY benchmarks/fused_tiles.py --device cuda --preset paper-fig2-params \
    --set tf32=true --set compile=true --json "$TMPD/tiles.json"  # against the compiled plain step the runs use
fi
# The reproductions' kernel: the fused step where step 0's verdict is "use" (weights within twice what TF32 alone
# changes, and faster), in its faster fused_ctrl variant; else the plain one. PARITY_KERNEL=torch|triton overrides;
# a run resumed keeps its own.
step parity-kernel 10 "$TMPD/pk.json" $PY - "$TMPD/kernel.json" "${PARITY_KERNEL:-auto}" "$TMPD/pk.json" \
  "${PARITY_FUSED_CTRL:-auto}" <<'PY'
import json, os, sys
src, want, out, want_ctrl = sys.argv[1:]
rec = json.load(open(src)) if os.path.exists(src) else {}
kernel = want if want != "auto" else ("triton" if rec.get("verdict") == "use" else "torch")
ctrl = want_ctrl if want_ctrl != "auto" else (rec.get("fused_ctrl") or "segments")
json.dump({"kernel": kernel, "fused_ctrl": ctrl, "asked": want, "verdict": rec.get("verdict")}, open(out, "w"))
print("parity kernel:", kernel, "fused_ctrl:", ctrl, "(asked", want + ", step 0's verdict", str(rec.get("verdict")) + ")")
PY
read -r PK FC < <($PY -c 'import json, sys; r = json.load(open(sys.argv[1])); print(r["kernel"], r["fused_ctrl"])' \
  "$TMPD/pk.json" 2>/dev/null || echo torch segments)
# a new run's flags: TF32; torch.compile only on the plain path on CUDA (the fused step trains without it)
if [ "$PK" = triton ] || [ "$DRY" = 1 ]; then NEW_FLAGS=${PARITY_FLAGS:---set tf32=true}
else NEW_FLAGS=${PARITY_FLAGS:---set tf32=true --set compile=true}; fi

# ---- 1. the parity reproductions: PARITY_QUEUE in order, one shared budget
# chunk NAME SECONDS: one resumable chunk of run NAME (alpha-sweep-aA, fig2-params or fig2-data) into RUNS/NAME;
# returns 1 when the queue must stop (no room left in what comes back, or the run neither finished nor paused)
TOUCHED=
stop_queue() {  # stop_queue REASON: said in the log and in results.json
  echo "=== parity: queue stopped: $1"
  $PY -c 'import json, sys; open(sys.argv[1], "a").write(json.dumps({"step": "queue-stop", "rc": 0, "seconds": 0,
"result": sys.argv[2]}) + "\n")' "$REC" "$1"
}
chunk() {
  local name=$1 secs=$2 dir=$RUNS/$1 resume= flags=$NEW_FLAGS kernel=$PK ctrl=$FC
  local preset=paper-$name extra="--set checkpoint_every=5000"
  case $name in
    alpha-sweep-a*) preset=paper-alpha-sweep; extra="$extra --set alphas=[${name#alpha-sweep-a}]" ;;
    fig2-params|fig2-data) ;;
    *) echo "=== parity-$name: not a run gpu_run.sh knows (alpha-sweep-aA, fig2-params, fig2-data), skipped"; return ;;
  esac
  if [ "$DRY" = 1 ]; then
    extra="--set steps=20 --set n_evals=2 --set checkpoint_every=10 --set n_test_per_task=16"
    case $name in
      alpha-sweep-a*) extra="$extra --set alphas=[${name#alpha-sweep-a}] --set seeds=[0,1]" ;;
      fig2-data) extra="$extra --set data_sizes=[100,400] --set widths=[16] --set eval_every=10 --set patience=1" ;;
    esac
    preset=cpu-tiny
  fi
  if [ ! -f "$dir/manifest.json" ] && [ -n "$DONE_RECORD" ] && [ -f "$DONE_RECORD" ] && $PY - "$DONE_RECORD" "$name" <<'PY'
import json, sys
st = json.load(open(sys.argv[1])).get("runs", {}).get(sys.argv[2], {})
sys.exit(0 if st.get("status") == "complete" else 1)
PY
  then
    echo; echo "=== parity-$name: finished in an earlier call ($DONE_RECORD records it), skipped"; return
  fi
  if [ -f "$dir/manifest.json" ]; then  # resumed with its own settings (--resume refuses others)
    local status
    # every field where the run's config differs from its preset, as --set flags: whatever PARITY_FLAGS it was
    # started with, it resumes with the same config
    read -r status kernel ctrl flags < <($PY - "$dir/manifest.json" "$preset" <<'PY'
import json, sys
from dataclasses import asdict
from quanta.parity.presets import preset_config
m = json.load(open(sys.argv[1]))
c = m.get("config", {})
base = json.loads(json.dumps(asdict(preset_config(sys.argv[2]))))
flags = [f"--set {k}={json.dumps(v, separators=(',', ':'))}" for k, v in c.items() if k not in base or base[k] != v]
print(m.get("status"), c.get("kernel", "torch"), c.get("fused_ctrl", "segments"), " ".join(flags))
PY
)
    if [ "$status" = complete ]; then echo; echo "=== parity-$name: finished earlier, skipped"; return; fi
    resume=--resume
    if [ "$status" = paused ] && [ ! -f "$dir/checkpoint.pt" ]; then  # --resume would refuse it
      echo; echo "=== parity-$name: paused, but its checkpoint did not travel (left out of a pack?): started over"
      resume=--force
    fi
  fi
  local why
  why=$($PY benchmarks/gpu_pack.py room "$OUT" "$RUNS" "$name" $TOUCHED)
  case $? in
    0) ;;
    3) echo; stop_queue "$why"; return 1 ;;
    *) echo; stop_queue "gpu_pack.py room failed: $why"; return 1 ;;
  esac
  local interp=
  if [ "$DRY" = 1 ] && [ "$kernel" = triton ]; then interp="env TRITON_INTERPRET=1"; fi
  # the run pauses itself (a checkpoint of the step it reached) PARITY_SLACK_S before the hard timeout
  secs=$(capped "$secs")  # as step will cut it
  local max=${PARITY_MAX_S:-$(( secs > 2 * PARITY_SLACK_S ? secs - PARITY_SLACK_S : secs / 2 ))}
  step "parity-$name" "$secs" "$dir/summary.json" \
    $interp $PY -m quanta parity run --preset "$preset" --device "$DEVICE" --out "$dir" $resume $flags $extra \
    --set kernel="$kernel" --set fused_ctrl="$ctrl" --max-seconds "$max"
  if [ $? = 125 ]; then return; fi  # skipped: no time left
  TOUCHED="$TOUCHED $name"
  if ! $PY - "$dir" "$REC" "$name" <<'PY'
import json, os, sys
import torch
d, rec, name = sys.argv[1:]
man = json.load(open(os.path.join(d, "manifest.json"))) if os.path.exists(os.path.join(d, "manifest.json")) else {}
ck = os.path.join(d, "checkpoint.pt")
step = torch.load(ck, weights_only=True, map_location="cpu")["step"] if os.path.exists(ck) else None
cfg = man.get("config", {})
print("status", man.get("status"), "checkpoint step", step, "of", cfg.get("steps"), "kernel", cfg.get("kernel"))
progress = {"status": man.get("status"), "checkpoint_step": step, "steps": cfg.get("steps"),
            "alphas": cfg.get("alphas"), "seeds": cfg.get("seeds"), "kernel": cfg.get("kernel"),
            "fused_ctrl": cfg.get("fused_ctrl"), "tf32": cfg.get("tf32"), "compile": cfg.get("compile")}
open(rec, "a").write(json.dumps({"step": f"progress-{name}", "rc": 0, "seconds": 0, "result": progress}) + "\n")
sys.exit(0 if man.get("status") in ("complete", "paused") else 1)
PY
  then
    stop_queue "$name neither finished nor paused (see its step above); the next runs would likely fail the same way"
    return 1
  fi
}
t_parity=$(date +%s)
want parity || { echo; echo "=== parity: not in GPU_STEPS=$GPU_STEPS"; PARITY_QUEUE=; }
for name in $PARITY_QUEUE; do
  left=$(( PARITY_S - ($(date +%s) - t_parity) ))
  if [ "$left" -lt "$PARITY_MIN_S" ]; then
    echo; stop_queue "$left s of PARITY_S=$PARITY_S left; the rest of the queue waits for the next call"; break
  fi
  chunk "$name" "$left" || break
done

# ---- 2. QDG at scale: 10k token gradients, then the spectral step at 100k points
if ! want qdg; then
  echo; echo "=== qdg: not in GPU_STEPS=$GPU_STEPS"
elif [ "$DRY" = 1 ]; then
  step qdg-grads "$QDG_S" "$TMPD/grads.json" $PY benchmarks/qdg.py speed --shape small --context 32 --n-tokens 8 \
    --per-context 4 --project 256 --batch-size 4 --device cpu --quanta-only --threads 1 --json "$TMPD/grads.json"
  step qdg-spectral "$SPECTRAL_S" "$TMPD/spectral.json" $PY benchmarks/qdg.py cluster --n-points 600 --dim 32 \
    --planted 6 --counts 4,6,8 --device cpu --threads 1 --json "$TMPD/spectral.json"
else
  step qdg-grads "$QDG_S" "$TMPD/grads.json" $PY benchmarks/qdg.py speed --shape pythia-70m --context 1024 \
    --n-tokens 10000 --per-context 4 --project 8192 --batch-size 8 --device cuda --quanta-only --json "$TMPD/grads.json"
  step qdg-spectral "$SPECTRAL_S" "$TMPD/spectral.json" $PY benchmarks/qdg.py cluster --n-points 100000 --dim 8192 \
    --planted 100 --counts 50,100,200,300 --device cuda --json "$TMPD/spectral.json"
fi

# ---- 3. the peer: quanta against bergson, same model, tokens, parameters and projection size
if ! want peer; then
  echo; echo "=== peer: not in GPU_STEPS=$GPU_STEPS"
elif [ "$DRY" = 1 ]; then
  step peer "$PEER_S" "$TMPD/peer.json" $PY benchmarks/qdg.py peer --shape small --context 32 --n-tokens 6 \
    --per-context 3 --bergson-dim 4 --batch-size 4 --device cpu --threads 1 --json "$TMPD/peer.json"
else
  step peer "$PEER_S" "$TMPD/peer.json" $PY benchmarks/qdg.py peer --shape pythia-70m --context 1024 --n-tokens 128 \
    --per-context 4 --bergson-dim 16 --batch-size 8 --device cuda --json "$TMPD/peer.json"
fi

# ---- 4. QDG end to end at 100k tokens (a call of its own: GPU_STEPS=e2e). The model and tokenizer are built
# first and not timed; the figure is the run itself, from loading the model to the finished run directory
if ! want e2e; then
  echo; echo "=== e2e: not in GPU_STEPS=$GPU_STEPS"
elif [ "$DRY" = 1 ]; then
  step qdg-e2e "$E2E_S" "$TMPD/e2e.json" $PY benchmarks/qdg_e2e.py run --shape small --context 32 --n-tokens 300 \
    --max-docs 40 --vocab 512 --dense-max 100 --counts 6,12 --n-clusters 12 --device cpu --threads 1 \
    --json "$TMPD/e2e.json"
else
  step qdg-e2e "$E2E_S" "$TMPD/e2e.json" $PY benchmarks/qdg_e2e.py run --shape pythia-70m --context 1024 \
    --n-tokens 100000 --max-docs 300 --counts 50,100,200,300 --n-clusters 300 --device cuda --json "$TMPD/e2e.json"
fi

# ---- pack: at most 8 files under $OUT, each within 16 MiB, 64 MiB together
echo; echo "=== pack ($(( $(date +%s) - t_all )) s in)"
$PY benchmarks/gpu_pack.py pack "$OUT" "$RUNS" "$REC" $TOUCHED
rm -rf "$TMPD"
ls -la "$OUT"
n=$(find "$OUT" -maxdepth 2 -type f | wc -l)
echo "files under OUT: $n (limit 8); total $(( $(date +%s) - t_all )) s"
big=$(find "$OUT" -type f -size +16M)
[ -z "$big" ] || echo "over 16 MiB: $big"
bytes=$(find "$OUT" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
echo "bytes under OUT: $bytes (limit $(( 64 * 1024 * 1024 )))"
ok=0
[ "$n" -le 8 ] && [ -z "$big" ] && [ "$bytes" -le $(( 64 * 1024 * 1024 )) ] || ok=1
exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null || sleep 1  # the log is whole before the call returns
exit $ok
