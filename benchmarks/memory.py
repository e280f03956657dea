"""Peak resident memory of a whole study run on the real EmoDB subset.

Runs ``ablate run`` as a subprocess (fresh Optuna storage, MLflow store, run dir and
feature cache in a temporary directory) and samples the resident set size of it and all
its descendants every 0.1 s with psutil, summed as RSS and as PSS (shared pages split
among the processes sharing them); also reports the kernel's peak (``ru_maxrss`` of the
waited-for children, the largest single process). Target: the tree's PSS and the largest
process under 2 GiB.

Usage: python benchmarks/memory.py [--study studies/pe_vs_coord.yaml] [--root DIR]
       [--set KEY=VALUE ...] [--json PATH]
Needs the bench extra (psutil): pip install -e ".[bench]"
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "emodb"
#: the paper's input size and student, every fold, every arm; epochs reduced to keep the
#: CPU run short (memory does not grow with epochs: weights and features are reused)
SETTINGS = [
    "data.n_mels=128",
    "data.frames=128",
    "protocol.max_folds=0",
    "model.dim=256",
    "model.heads=5",
    "model.dim_head=64",
    "model.mlp_dim=512",
    "train.epochs=1",
]
GIB = 1024**3


def tree_memory(proc: psutil.Process) -> tuple[int, int, int, int]:
    """(RSS of ``proc`` and its descendants summed, their PSS summed, RSS of ``proc``
    alone, in bytes; the number of processes). Forked workers share pages with their
    parent, which a sum of RSS counts once per process; PSS splits each shared page among
    its sharers, so its sum is the memory the tree really holds."""
    rss = pss = own = 0
    tree = [proc, *proc.children(recursive=True)]
    for p in tree:
        try:
            info = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss, pss = rss + info.rss, pss + info.pss
        own = info.rss if p.pid == proc.pid else own
    return rss, pss, own, len(tree)


def measure(study: Path, overrides: list[str], workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        command = [
            str(Path(sys.executable).with_name("ablate")),
            "run",
            str(study),
            *overrides,
            "--storage",
            f"sqlite:///{tmp / 'optuna.db'}",
            "--tracking-uri",
            f"sqlite:///{tmp / 'mlflow.db'}",
            "--run-dir",
            str(tmp / "run"),
            "--workers",
            str(workers),
        ]
        start = time.perf_counter()
        # an empty feature cache: the run extracts the log-Mels in forked workers first
        env = {**os.environ, "ABLATE_CACHE_DIR": str(tmp / "cache")}
        child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, env=env)
        proc = psutil.Process(child.pid)
        peak_tree = peak_pss = peak_main = processes = 0
        while child.poll() is None:
            try:
                total, pss, own, count = tree_memory(proc)
            except psutil.NoSuchProcess:
                break
            peak_tree, peak_pss = max(peak_tree, total), max(peak_pss, pss)
            peak_main, processes = max(peak_main, own), max(processes, count)
            time.sleep(0.1)
        code = child.wait()
        wall = time.perf_counter() - start
    if code:
        raise SystemExit(f"ablate run failed with exit code {code}")
    # ru_maxrss of RUSAGE_CHILDREN: the largest waited-for descendant, KiB on Linux
    maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    command_text = " ".join(["ablate", "run", str(study.relative_to(ROOT)), *overrides])
    return {
        "command": command_text + (f" --workers {workers}" if workers > 1 else ""),
        "workers": workers,
        "wall_seconds": wall,
        "most_processes": processes,
        "peak_tree_rss_bytes": peak_tree,
        "peak_tree_pss_bytes": peak_pss,
        "peak_main_rss_bytes": peak_main,
        "ru_maxrss_children_bytes": maxrss,
        "target_bytes": 2 * GIB,
        "under_target": max(peak_pss, maxrss) < 2 * GIB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=ROOT / "studies" / "pe_vs_coord.yaml")
    parser.add_argument("--root", type=Path, default=DEFAULT_DATA, help="EmoDB subset")
    parser.add_argument("--set", nargs="*", default=SETTINGS, help="overrides (see SETTINGS)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    args = parser.parse_args()
    overrides = ["data.dataset=emodb", f"data.root={args.root}", *args.set]
    row = measure(args.study.resolve(), overrides, args.workers)
    table = Table(title=row["command"])
    columns = (
        "processes",
        "peak PSS, tree",
        "peak RSS, tree",
        "peak RSS, main",
        "ru_maxrss",
        "wall",
        "< 2 GiB",
    )
    for column in columns:
        table.add_column(column, justify="right")
    table.add_row(
        str(row["most_processes"]),
        f"{row['peak_tree_pss_bytes'] / GIB:.2f} GiB",
        f"{row['peak_tree_rss_bytes'] / GIB:.2f} GiB",
        f"{row['peak_main_rss_bytes'] / GIB:.2f} GiB",
        f"{row['ru_maxrss_children_bytes'] / GIB:.2f} GiB",
        f"{row['wall_seconds']:.0f} s",
        "yes" if row["under_target"] else "NO",
    )
    Console(width=170).print(table)
    if args.json:
        args.json.write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
