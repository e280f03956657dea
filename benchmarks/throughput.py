"""Training throughput and inference latency of the model presets, CPU or CUDA.

Arms: the student and teacher presets with each patch shape (vertical 128x1, square 16x16,
horizontal 1x128) on 128 x 128 inputs, and the reference CNN. Training: samples/s of
forward + backward + AdamW on batches of 32. Inference: milliseconds per utterance at
batch 1 in evaluation mode without autograd. On CUDA both run under bf16 autocast, as
``ablate run`` does. Model FLOP utilisation (MFU) is the achieved FLOP/s, from counted
forward FLOPs (``ablate.models.flops.forward_flops``; training = 3 x forward), divided by
the FLOP/s of a large matmul measured in the same run: float32 2048^2 on the CPU, bf16
8192^2 on CUDA.

Needs only torch, omegaconf, pluggy and rich (not mlflow, optuna, soundfile or torchaudio:
where those are missing, the dataset and augment built-ins fail to load with a warning and
the model built-ins still work): run it on a bare GPU box with
    PYTHONPATH=. python benchmarks/throughput.py --device cuda --json gpu.json
Usage: python benchmarks/throughput.py [--device cpu|cuda] [--threads N] [--arms ...]
       [--train-reps N] [--infer-reps N] [--json PATH]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The built-ins alone: no installed third-party plugin changes what is measured.
os.environ.setdefault("ABLATE_DISABLE_PLUGIN_AUTOLOAD", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # a checkout, not pip-installed
# isort: off
import ablate  # noqa: F401  before torch, as in ablate's processes: malloc and OpenMP policy

# isort: on
import argparse
import json

import torch
from common import (
    infer_step,
    load,
    matmul_peak,
    summary,
    time_interleaved,
    train_step,
)
from rich.console import Console
from rich.table import Table

from ablate.config import resolve_model
from ablate.models.build import build_model
from ablate.models.flops import forward_flops, parameter_count
from ablate.plugins import get_registry

SIZE, BATCH, CLASSES = 128, 32, 7
PATCH_ARGS = {"vertical": {}, "square": {"size": 16}, "horizontal": {}}
ARMS = {
    f"{preset}-{patch}": {"preset": preset, "patching": patch, "patching_args": args}
    for preset in ("student", "teacher")
    for patch, args in PATCH_ARGS.items()
} | {"cnn": {"preset": "cnn"}}


def measure(arm: str, device: torch.device, train_reps: int, infer_reps: int) -> dict:
    bf16 = device.type == "cuda"
    torch.manual_seed(0)
    model = build_model(resolve_model(ARMS[arm]), SIZE, SIZE, CLASSES, registry=get_registry())
    flops = forward_flops(model, SIZE, SIZE)  # counted on the CPU: same FLOPs anywhere
    model = model.to(device)
    x = torch.randn(BATCH, 1, SIZE, SIZE, device=device)
    y = torch.randint(0, CLASSES, (BATCH,), device=device)
    load_before = load()
    warmup = 1 if device.type == "cpu" else 5
    train = time_interleaved({"t": train_step(model, x, y, bf16)}, device, train_reps, warmup)
    infer = time_interleaved({"i": infer_step(model, x[:1], bf16)}, device, infer_reps, warmup)
    t, i = summary(train["t"]), summary(infer["i"])
    return {
        "arm": arm,
        "device": device.type,
        "params": parameter_count(model),
        "gflops_per_utterance": flops / 1e9,
        "train_samples_per_s": BATCH / t["best_s"],
        "train_samples_per_s_median": BATCH / t["median_s"],
        "train_flop_per_s": 3 * flops * BATCH / t["best_s"],
        "infer_ms": 1e3 * i["best_s"],
        "infer_ms_median": 1e3 * i["median_s"],
        "infer_flop_per_s": flops / i["best_s"],
        "load_1min": f"{load_before}->{load()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--train-reps", type=int, help="timed training steps (cpu 3, cuda 30)")
    parser.add_argument("--infer-reps", type=int, help="timed forward passes (cpu 20, cuda 100)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device visible to torch")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    train_reps = args.train_reps or (30 if cuda else 3)
    infer_reps = args.infer_reps or (100 if cuda else 20)
    dtype, n = (torch.bfloat16, 8192) if cuda else (torch.float32, 2048)
    peaks = [matmul_peak(device, dtype, n)]
    rows = [measure(arm, device, train_reps, infer_reps) for arm in args.arms]
    peaks.append(matmul_peak(device, dtype, n))
    peak = max(peaks)
    name = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
    for row in rows:
        row["hardware"] = name
        row["matmul_peak_flop_per_s"] = peak
        row["matmul_peak_dtype"] = f"{dtype} {n}x{n}"
        row["train_mfu"] = row["train_flop_per_s"] / peak
        row["infer_mfu"] = row["infer_flop_per_s"] / peak
    precision = "bf16 autocast" if cuda else "float32"
    table = Table(
        title=f"{name}, {precision}; batch 32 training, batch 1 inference, 128x128 "
        f"(best of {train_reps} / {infer_reps}); matmul peak {peak / 1e9:,.0f} GFLOP/s"
    )
    columns = ("arm", "params", "GFLOPs/utt", "train samples/s", "(median)", "train MFU")
    for column in (*columns, "infer ms/utt", "(median)", "infer MFU", "load"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row["arm"],
            f"{row['params'] / 1e6:.2f}M",
            f"{row['gflops_per_utterance']:.3f}",
            f"{row['train_samples_per_s']:.1f}",
            f"{row['train_samples_per_s_median']:.1f}",
            f"{100 * row['train_mfu']:.1f}%",
            f"{row['infer_ms']:.2f}",
            f"{row['infer_ms_median']:.2f}",
            f"{100 * row['infer_mfu']:.1f}%",
            row["load_1min"] if not cuda else "",
        )
    Console(width=170).print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
