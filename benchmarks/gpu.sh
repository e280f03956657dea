#!/usr/bin/env bash
# Throughput, latency and MFU of every preset on a CUDA GPU (bf16 autocast), then the same
# training with 1, 4, 8 and 16 processes at once on the device (as `ablate run --workers`),
# without and (where the driver ships it) with an MPS daemon, for a borrowed GPU box that
# has torch, pluggy, rich and click but not ablate's other dependencies.
# From the repository root:  bash benchmarks/gpu.sh [OUT_DIR] [throughput.py options]
# omegaconf and PyYAML may be supplied as a directory $GPU_SITE (e.g. copied from a venv's
# site-packages), appended to the path so that the box's own copies win.
# QUICK=1: the concurrency part for the student only, 10 s per level (about 2 minutes).
set -euo pipefail
py="${PYTHON:-python3}"
out="${1:-${OUT:-.}}"
mkdir -p "$out"
export PYTHONPATH=".${GPU_SITE:+:$GPU_SITE}${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
"$py" - <<'PY'
import sys

import torch

print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)
import ablate.models.build  # noqa: E402,F401  must not pull the training-only dependencies

heavy = [m for m in ("mlflow", "optuna", "soundfile", "torchaudio") if m in sys.modules]
print("heavy modules imported by ablate.models.build:", heavy or "none")
PY
"$py" benchmarks/throughput.py --device cuda --json "$out/throughput_cuda.json" "${@:2}" \
    | tee "$out/throughput_cuda.txt"

arms=(student-vertical teacher-vertical cnn)
seconds=20
if [ "${QUICK:-0}" = 1 ]; then arms=(student-vertical); seconds=10; fi
concurrency() {  # $1: label (plain or mps)
  for arm in "${arms[@]}"; do
    "$py" benchmarks/concurrency.py --device cuda --arm "$arm" --procs 1 4 8 16 \
      --seconds "$seconds" --json "$out/concurrency_${arm}_$1.json" \
      | tee -a "$out/concurrency_$1.txt"
  done
}
concurrency plain
if command -v nvidia-cuda-mps-control > /dev/null; then
  export CUDA_MPS_PIPE_DIRECTORY="$out/mps-pipe" CUDA_MPS_LOG_DIRECTORY="$out/mps-log"
  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
  if nvidia-cuda-mps-control -d; then
    trap 'echo quit | nvidia-cuda-mps-control || true' EXIT
    concurrency mps
  else
    echo "MPS daemon did not start: concurrency measured without it only" | tee "$out/mps.txt"
  fi
else
  echo "no nvidia-cuda-mps-control on this box: concurrency measured without MPS only" \
    | tee "$out/mps.txt"
fi
