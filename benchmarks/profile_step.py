"""Where a training step's time goes: torch.profiler's self time per operator, in groups.

One arm of throughput.py (default: the student, vertical patches), batch 32, 128 x 128,
forward + backward + fused AdamW, profiled over ``--steps`` steps after a warm-up. The
groups: matrix products (mm, addmm, bmm, baddbmm), dropout masks (random draws, their
comparison and conversion), other element-wise work, softmax, LayerNorm, GELU, copies,
the optimizer, and the rest (dispatch, views, autograd bookkeeping).

Usage: python benchmarks/profile_step.py [--arm student-vertical] [--threads 2]
       [--steps 5] [--json PATH]
"""

from __future__ import annotations

# isort: off
import ablate  # noqa: F401  before torch, as in ablate's processes: malloc and OpenMP policy

# isort: on
import argparse
import json
from pathlib import Path

import torch
from common import load, train_step
from rich.console import Console
from rich.table import Table
from throughput import ARMS, BATCH, CLASSES, SIZE
from torch.profiler import profile

from ablate.config import resolve_model
from ablate.models.build import build_model
from ablate.plugins import get_registry

GROUPS = {
    "matrix products": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addmm_"),
    "dropout masks (draws, comparison)": ("aten::random_", "aten::ge_", "aten::ge"),
    "softmax": ("aten::_softmax", "aten::_softmax_backward_data"),
    "LayerNorm": ("aten::native_layer_norm", "aten::native_layer_norm_backward"),
    "GELU": ("aten::gelu", "aten::gelu_backward"),
    "element-wise (mul, add, sum, ...)": (
        "aten::mul", "aten::mul_", "aten::add", "aten::add_", "aten::sum", "aten::div",
        "aten::fill_", "aten::zero_",
    ),
    "copies (and masks' int16 to float)": ("aten::copy_", "aten::cat", "aten::clone"),
    "optimizer (fused AdamW)": ("aten::_fused_adamw_",),
}  # fmt: skip


def group_of(name: str) -> str:
    for group, names in GROUPS.items():
        if name in names or name.removesuffix("_") in names:
            return group
    return "rest (dispatch, views, autograd)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", choices=list(ARMS), default="student-vertical")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the groups as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(resolve_model(ARMS[args.arm]), SIZE, SIZE, CLASSES, registry=get_registry())
    x, y = torch.randn(BATCH, 1, SIZE, SIZE), torch.randint(0, CLASSES, (BATCH,))
    step = train_step(model, x, y)
    for _ in range(3):
        step()
    before = load()
    with profile() as prof:
        for _ in range(args.steps):
            step()
    totals: dict[str, float] = {}
    for event in prof.key_averages():
        if event.self_cpu_time_total > 0:
            group = group_of(event.key)
            totals[group] = totals.get(group, 0.0) + event.self_cpu_time_total / 1e3
    whole = sum(totals.values())
    rows = [
        {"group": g, "ms_per_step": ms / args.steps, "share": ms / whole}
        for g, ms in sorted(totals.items(), key=lambda kv: -kv[1])
    ]
    table = Table(
        title=f"{args.arm}, {args.threads} threads, batch 32: self time per step "
        f"({args.steps} steps profiled, load {before}->{load()})"
    )
    for column in ("group", "ms/step", "share"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(row["group"], f"{row['ms_per_step']:.1f}", f"{100 * row['share']:.1f}%")
    Console(width=120).print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
