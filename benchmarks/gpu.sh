#!/usr/bin/env bash
# Throughput, latency and MFU of every preset on a CUDA GPU (bf16 autocast), for a borrowed
# GPU box that has torch, pluggy, rich and click but not ablate's other dependencies.
# From the repository root:  bash benchmarks/gpu.sh [OUT_DIR]
# omegaconf and PyYAML may be supplied as a directory $GPU_SITE (e.g. copied from a venv's
# site-packages), appended to the path so that the box's own copies win.
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
