#!/usr/bin/env bash
# Wheels for benchmarks/gpu_run.sh's peer step (bergson and what the GPU machine's image lacks), downloaded here
# for the device machine (Python 3.12, x86-64) into .whl/, which gpu_run.sh installs into its temporary folder when
# carried:
#     bash benchmarks/gpu_wheels.sh      # .whl/ is git-ignored; then run gpu_run.sh with carry: [".whl"]
# bergson's own torchvision/torchaudio/bitsandbytes needs are left out: the image has torchvision and torchaudio
# built for its torch, and bergson imports without bitsandbytes.
set -eu
dest=${1:-.whl}
mkdir -p "$dest"
PY=${PYTHON:-python3}
$PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d "$dest" \
  bergson==2.5.1 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 natsort==8.4.0 petname==2.9 \
  simple-parsing==0.1.9 docstring_parser==0.18.0 torchopt==0.7.3 optree==0.20.0
du -sh "$dest"; ls "$dest"
