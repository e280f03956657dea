"""Shared timing helpers for the benchmark scripts (not a test module; never timed in CI).

Only torch is needed here, so the GPU scripts run where ablate's training extras are absent.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def load() -> str:
    """The 1-minute load average, to print beside CPU figures (others share this machine)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def autocast(device: torch.device, bf16: bool):
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def matmul_peak(
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    n: int = 2048,
    reps: int = 5,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """FLOP/s of an ``n x n`` by ``n x n`` matmul: the best of ``reps`` after a warm-up.

    ``clock=time.process_time`` counts the CPU time this process got (single-threaded
    runs only: with more threads it sums them), which other processes' load barely moves.
    """
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    inner = 1 if device.type == "cpu" else 20  # one CUDA matmul is too short to time alone
    for _ in range(2):
        a @ b
    sync(device)
    best = float("inf")
    for _ in range(reps):
        start = clock()
        for _ in range(inner):
            a @ b
        sync(device)
        best = min(best, (clock() - start) / inner)
    return 2 * n**3 / best


def _logits(out):
    return out[0] if isinstance(out, tuple) else out


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, bf16: bool = False) -> Callable:
    """A closure doing one forward + backward + AdamW step, as ``ablate.training.engine``."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, fused=True)
    model.train()

    def step() -> None:
        with autocast(x.device, bf16):
            loss = F.cross_entropy(_logits(model(x)).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def infer_step(model: nn.Module, x: torch.Tensor, bf16: bool = False) -> Callable:
    """A closure doing one evaluation-mode forward pass without autograd."""
    model.eval()

    @torch.no_grad()
    def step() -> None:
        with autocast(x.device, bf16):
            model(x)

    return step


def time_interleaved(
    steps: dict[str, Callable],
    device: torch.device,
    reps: int,
    warmup: int = 2,
    cpu: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each step, run in turn (A, B, A, B, ...) so load drift hits all.

    Given a dict ``cpu``, also fills it with each call's process CPU seconds.
    """
    for _ in range(warmup):
        for step in steps.values():
            step()
    sync(device)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(reps):
        for name, step in steps.items():
            sync(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            step()
            sync(device)
            times[name].append(time.perf_counter() - start)
            if cpu is not None:
                cpu.setdefault(name, []).append(time.process_time() - start_cpu)
    return times


def summary(seconds: list[float]) -> dict[str, float]:
    return {"best_s": min(seconds), "median_s": statistics.median(seconds)}
