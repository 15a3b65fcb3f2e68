#!/usr/bin/env bash
# First look at a GPU machine: does every CUDA path run, and how fast is each engine?
# Usage (repo root, no install needed): bash benchmarks/gpu_smoke.sh [OUT_DIR] [all|engines|qdg]
# One device call runs at most 10 minutes: run "engines" and "qdg" as two calls.
set -u
OUT=${1:-${OUT:-/tmp/quanta-gpu}}
PART=${2:-all}
case "$PART" in all|engines|qdg) ;; *) echo "usage: $0 [OUT_DIR] [all|engines|qdg], got part '$PART'" >&2; exit 2;; esac
mkdir -p "$OUT"
export PYTHONPATH=src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 QUANTA_PROGRESS=0
step() { echo; echo "=== $* ($(date +%T))"; }
step env
nvidia-smi -L; python3 -c "import torch, transformers; print(torch.__version__, transformers.__version__, torch.cuda.get_device_name())"
if [ "$PART" != qdg ]; then
step parity cpu-tiny on cuda, tf32 + bf16 + compile
timeout 240 python3 -m quanta parity run --preset cpu-tiny --device cuda --out /tmp/q-tiny --force \
    --set tf32=true --set bf16=true --set compile=true && python3 -c "import json; print(json.load(open('/tmp/q-tiny/summary.json')))"
for flags in "" "--set tf32=true" "--set bf16=true" "--set tf32=true --set compile=true"; do
  step parity throughput paper-fig2-params $flags
  timeout 120 python3 benchmarks/parity_throughput.py --device cuda --preset paper-fig2-params --steps 50 --repeats 3 $flags
done
step lm losses pythia-70m
timeout 240 python3 benchmarks/lm_losses.py --shape pythia-70m --device cuda --n-docs 256 --json "$OUT/lm_losses.json"
fi
if [ "$PART" != engines ]; then
step qdg speed 1000 tokens
timeout 240 python3 benchmarks/qdg.py speed --shape pythia-70m --context 1024 --n-tokens 1000 --per-context 4 \
    --project 8192 --batch-size 8 --device cuda --quanta-only
step qdg speed 10000 tokens "(target <= 60 s)"
timeout 300 python3 benchmarks/qdg.py speed --shape pythia-70m --context 1024 --n-tokens 10000 --per-context 4 \
    --project 8192 --batch-size 8 --device cuda --quanta-only
step qdg spectral step at 100k points, sketched dimension 8192, Chebyshev on the GPU
timeout 400 python3 benchmarks/qdg.py cluster --n-points 100000 --dim 8192 --planted 100 --counts 50,100,200,300 \
    --device cuda
fi
step done
