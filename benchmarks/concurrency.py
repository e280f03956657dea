"""Several trials at once on one device: per-process and aggregate training samples/s and MFU.

``ablate run --workers N`` trains N trials at once, one process each, on the same device.
Tiny models use a GPU poorly from one process (about 1-2% MFU on an H200: every step is a
few hundred small kernel launches), so what a study gets from a GPU is the aggregate over
its concurrent workers. For each N in ``--procs`` this starts N processes that each build
the arm, warm up, wait for a common start, train for ``--seconds`` (batch 32, forward +
backward + fused AdamW, bf16 autocast on CUDA, as ``ablate run``) and report their steps.
MFU is the aggregate achieved FLOP/s (training = 3 x the counted forward FLOPs) over a
large matmul's FLOP/s measured first in this run (bf16 8192^2 on CUDA, float32 2048^2 on
the CPU).

``--compile reduce-overhead`` trains ``torch.compile``d models with CUDA graphs (one
launch per step instead of hundreds); ``default`` compiles without them. Whether an MPS
daemon shares the GPU between processes (kernels of different processes then run at the
same time; without it they take turns) is printed: ``benchmarks/gpu.sh`` measures both.

Usage: python benchmarks/concurrency.py [--device cuda|cpu] [--arm student-vertical]
       [--procs 1 4 8 16] [--seconds 20] [--compile none|default|reduce-overhead]
       [--size 128] [--threads N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ablate.config import resolve_model
from ablate.plugins import get_registry

HERE = Path(__file__).resolve().parent


def child(args: argparse.Namespace) -> dict:
    """One worker: warm up, print "ready", wait for the parent's start time, train, report."""
    import torch
    from common import sync, train_step
    from throughput import ARMS, BATCH, CLASSES

    from ablate.models.build import build_model
    from ablate.models.flops import forward_flops

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model(
        resolve_model(ARMS[args.arm]), args.size, args.size, CLASSES, registry=get_registry()
    )
    flops = 3 * BATCH * forward_flops(model, args.size, args.size)
    model = model.to(device)
    if args.compile != "none":
        mode = None if args.compile == "default" else args.compile
        model = torch.compile(model, mode=mode)
    x = torch.randn(BATCH, 1, args.size, args.size, device=device)
    y = torch.randint(0, CLASSES, (BATCH,), device=device)
    step = train_step(model, x, y, bf16=device.type == "cuda")
    for _ in range(3 if device.type == "cpu" else 10):
        step()
    sync(device)
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    time.sleep(max(0.0, start_at - time.time()))
    started, steps = time.perf_counter(), 0
    while (elapsed := time.perf_counter() - started) < args.seconds or steps < 2:
        step()
        steps += 1
        if steps % 10 == 0:
            sync(device)
    sync(device)
    elapsed = time.perf_counter() - started
    return {"steps": steps, "seconds": elapsed, "samples": steps * BATCH, "flops": flops * steps}


def run_level(args: argparse.Namespace, procs: int) -> dict:
    """Start ``procs`` children, release them together, collect their reports."""
    argv = [sys.executable, __file__, "--child", "--device", args.device, "--arm", args.arm]
    argv += ["--seconds", str(args.seconds), "--compile", args.compile, "--size", str(args.size)]
    argv += ["--threads", str(args.threads)] if args.threads else []
    children = [
        subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(procs)
    ]
    for proc in children:
        line = proc.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"a worker failed before training (exit {proc.wait()}): {line}")
    start_at = f"{time.time() + 0.5}\n"
    for proc in children:
        proc.stdin.write(start_at)
        proc.stdin.flush()
    reports = []
    for proc in children:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"a worker failed while training (exit {proc.returncode})")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    window = max(r["seconds"] for r in reports)
    rates = [r["samples"] / r["seconds"] for r in reports]
    return {
        "procs": procs,
        "per_process_samples_per_s": rates,
        "aggregate_samples_per_s": sum(r["samples"] for r in reports) / window,
        "aggregate_flop_per_s": sum(r["flops"] for r in reports) / window,
    }


def mps_active() -> bool:
    pipe = os.environ.get("CUDA_MPS_PIPE_DIRECTORY", "/tmp/nvidia-mps")
    return Path(pipe, "control").exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    parser.add_argument("--arm", default="student-vertical", help="an arm of throughput.py")
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per level")
    parser.add_argument("--compile", choices=["none", "default", "reduce-overhead"], default="none")
    parser.add_argument("--size", type=int, default=128, help="input n_mels = frames")
    parser.add_argument("--threads", type=int, help="CPU threads per process")
    parser.add_argument("--json", type=Path, help="also write the levels as JSON here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path[:0] = [str(HERE), str(HERE.parent)]
    if args.child:
        import ablate  # noqa: F401  before torch, as in ablate's own processes (malloc policy)

        print(json.dumps(child(args)), flush=True)
        return
    import torch
    from common import matmul_peak
    from rich.console import Console
    from rich.table import Table

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device visible to torch")
    device = torch.device(args.device)
    dtype, n = (torch.bfloat16, 8192) if args.device == "cuda" else (torch.float32, 2048)
    peak = matmul_peak(device, dtype, n)
    if args.device == "cuda":
        name = torch.cuda.get_device_name(device)
        torch.cuda.empty_cache()
    else:
        name = f"CPU, {args.threads or torch.get_num_threads()} threads per process"
    levels = [run_level(args, procs) for procs in args.procs]
    single = next((lv for lv in levels if lv["procs"] == 1), None)
    mps = mps_active() if args.device == "cuda" else None
    for level in levels:
        level |= {"arm": args.arm, "hardware": name, "compile": args.compile, "mps": mps}
        level["mfu"] = level["aggregate_flop_per_s"] / peak
        level["matmul_peak_flop_per_s"] = peak
        if single:
            level["speedup_vs_one"] = (
                level["aggregate_samples_per_s"] / single["aggregate_samples_per_s"]
            )
    table = Table(
        title=f"{name}: {args.arm}, batch 32, {args.size}x{args.size}, compile {args.compile}, "
        f"MPS {mps}; {args.seconds:.0f} s per level; matmul peak {peak / 1e9:,.0f} GFLOP/s"
    )
    for column in ("processes", "samples/s per process (min-max)", "aggregate", "x one", "MFU"):
        table.add_column(column, justify="right")
    for level in levels:
        rates = level["per_process_samples_per_s"]
        table.add_row(
            str(level["procs"]),
            f"{min(rates):,.0f}-{max(rates):,.0f}",
            f"{level['aggregate_samples_per_s']:,.0f}",
            f"{level.get('speedup_vs_one', float('nan')):.2f}",
            f"{100 * level['mfu']:.1f}%",
        )
    Console(width=150).print(table)
    if args.json:
        args.json.write_text(json.dumps(levels, indent=2))


if __name__ == "__main__":
    main()
