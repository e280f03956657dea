"""CPU training efficiency: our student against lucidrains' vit-pytorch ViT, in one run.

Both models have the student's dims (dim 256, depth 3, heads 5, dim_head 64, mlp_dim 512,
dropout 0.1, embedding dropout 0.1), the same patch shape, one input channel and 128 x 128
inputs; each trains with AdamW on batches of 32. The two are timed in turn (A, B, A, B) so
that load from other processes hits both alike. Achieved FLOP/s counts training as three
forward passes (``ablate.models.flops.forward_flops``) and is divided by a 2048 x 2048
float32 matmul's FLOP/s measured in the same run and thread setting.

Usage: python benchmarks/cpu_efficiency.py [--threads 1 2] [--reps 8] [--json PATH]
Needs the bench extra: pip install -e ".[bench]"
"""

from __future__ import annotations

# isort: off
import ablate  # noqa: F401  before torch, as in ablate's processes: malloc and OpenMP policy

# isort: on
import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from common import load, matmul_peak, summary, time_interleaved, train_step
from rich.console import Console
from rich.table import Table

from ablate.config import resolve_model
from ablate.models.build import build_model
from ablate.models.flops import forward_flops
from ablate.plugins import get_registry

SIZE, BATCH, CLASSES = 128, 32, 7
#: name -> (our patching plugin args, (patch height, patch width))
SHAPES = {
    "vertical": ({}, (128, 1)),
    "square": ({"size": 16}, (16, 16)),
    "horizontal": ({}, (1, 128)),
}
STUDENT = dict(dim=256, depth=3, heads=5, dim_head=64, mlp_dim=512, dropout=0.1, emb_dropout=0.1)


def models(shape: str, dropout: float | None = None):
    from vit_pytorch import ViT

    args, patch = SHAPES[shape]
    drop = {} if dropout is None else {"dropout": dropout, "emb_dropout": dropout}
    dims = STUDENT | drop  # the student preset's own dims, checked equal below
    ours = build_model(
        resolve_model({"preset": "student", "patching": shape, "patching_args": args, **drop}),
        SIZE,
        SIZE,
        CLASSES,
        registry=get_registry(),
    )
    theirs = ViT(
        image_size=(SIZE, SIZE),
        patch_size=patch,
        num_classes=CLASSES,
        channels=1,
        pool="cls",
        **dims,
    )
    return {"ours": ours, "vit-pytorch": theirs}


def measure(threads: int, shapes: list[str], reps: int, dropout: float | None) -> list[dict]:
    torch.set_num_threads(threads)
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    x, y = torch.randn(BATCH, 1, SIZE, SIZE), torch.randint(0, CLASSES, (BATCH,))
    peaks = [matmul_peak(cpu)]
    cpu_peaks = [matmul_peak(cpu, clock=time.process_time)] if threads == 1 else []
    rows = []
    for shape in shapes:
        built = models(shape, dropout)
        flops = {name: 3 * BATCH * forward_flops(m, SIZE, SIZE) for name, m in built.items()}
        load_before = load()
        cpu_times: dict[str, list[float]] = {}
        steps = {n: train_step(m, x, y) for n, m in built.items()}
        times = time_interleaved(steps, cpu, reps, cpu=cpu_times)
        peaks.append(matmul_peak(cpu))
        if threads == 1:
            cpu_peaks.append(matmul_peak(cpu, clock=time.process_time))
        for name, seconds in times.items():
            rows.append(
                {
                    "threads": threads,
                    "patch": shape,
                    "model": name,
                    "dropout": STUDENT["dropout"] if dropout is None else dropout,
                    **summary(seconds),
                    "best_cpu_s": min(cpu_times[name]),
                    "train_flops_per_step": flops[name],
                    "load_1min": f"{load_before}->{load()}",
                }
            )
    peak = max(peaks)  # the least disturbed measurement is the closest to the true peak
    for row in rows:
        row["samples_per_s"] = BATCH / row["best_s"]
        row["samples_per_s_median"] = BATCH / row["median_s"]
        row["gflop_per_s"] = row["train_flops_per_step"] / row["best_s"] / 1e9
        row["matmul_peak_gflop_per_s"] = peak / 1e9
        row["matmul_peaks_seen_gflop_per_s"] = [round(p / 1e9, 1) for p in peaks]
        row["fraction_of_peak"] = row["gflop_per_s"] * 1e9 / peak
        if cpu_peaks:  # one thread: the same ratio in process CPU time, immune to load
            row["fraction_of_peak_cpu_time"] = (
                row["train_flops_per_step"] / row["best_cpu_s"] / max(cpu_peaks)
            )
    for shape in shapes:
        pair = {r["model"]: r for r in rows if r["patch"] == shape}
        pair["ours"]["speed_vs_vit_pytorch"] = (
            pair["ours"]["samples_per_s"] / pair["vit-pytorch"]["samples_per_s"]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--patch", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--reps", type=int, default=8, help="timed steps per model")
    parser.add_argument(
        "--dropout", type=float, help="override both models' dropout (default: the student's 0.1)"
    )
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = [r for t in args.threads for r in measure(t, args.patch, args.reps, args.dropout)]
    drop = STUDENT["dropout"] if args.dropout is None else args.dropout
    table = Table(
        title=f"CPU training, batch 32, 128x128, student dims, dropout {drop} "
        f"(best of {args.reps} steps, interleaved)"
    )
    columns = ("threads", "patch", "model", "samples/s best", "samples/s median", "GFLOP/s")
    more = ("matmul peak", "% of peak", "% (CPU time)", "ours/vit-pt", "load")
    for column in (*columns, *more):
        table.add_column(column, justify="right")
    for row in rows:
        ratio = row.get("speed_vs_vit_pytorch")
        table.add_row(
            str(row["threads"]),
            row["patch"],
            row["model"],
            f"{row['samples_per_s']:.1f}",
            f"{row['samples_per_s_median']:.1f}",
            f"{row['gflop_per_s']:.1f}",
            f"{row['matmul_peak_gflop_per_s']:.1f}",
            f"{100 * row['fraction_of_peak']:.0f}%",
            f"{100 * cpu_share:.0f}%"
            if (cpu_share := row.get("fraction_of_peak_cpu_time"))
            else "",
            f"{ratio:.2f}" if ratio else "",
            row["load_1min"],
        )
    Console(width=170).print(table)
    ours = [r["speed_vs_vit_pytorch"] for r in rows if "speed_vs_vit_pytorch" in r]
    Console().print(
        f"ours / vit-pytorch samples/s: geometric mean {statistics.geometric_mean(ours):.2f}"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
