"""The paper-settings evidence on one GPU: every study, 50 epochs per stage, three seeds.

    python studies/paper_gpu.py EMODB_ROOT --dry-run     # the plan and its time, on any CPU
    python studies/paper_gpu.py EMODB_ROOT [--budget-s 600] [--mps]   # on the GPU box

The studies are evidence.sh's gpu profile at the paper's settings (``EPOCHS=50
SEEDS=0,1,2``): pe_vs_coord, presets, distillation (50 teacher + 25 feature-matching + 50
fine-tuning epochs) and the leak demonstration at once, one worker process per trial, then
patch_shape; every study with seeds 0, 1 and 2 (evidence.sh's separate seeds phase is
pe_vs_coord again and is left out). Each ``ablate run`` is stopped at the budget as by
Ctrl-C, and the same command resumes it, here or on another box given ``mlflow.db`` and
``runs/``. ``--mps`` starts an MPS daemon first, so that the workers' kernels can share the
GPU at the same time instead of taking turns.

``--dry-run`` trains nothing: it enumerates every trial (grid x seeds x folds, folds made
by ablate's own splitter on the scanned corpus), counts the training samples of each
stage, and simulates the schedule with the H200's measured figures:

1. single-process training samples/s per model (docs/results/throughput-h200.json,
   ``benchmarks/gpu.sh``; the median, bf16, batch 32);
2. how much the aggregate grows with N processes at once, and the ratio of a trial's wall
   time to its training-step time (evaluation, MLflow, start-up), both fitted on the
   20-epoch run of these studies in docs/results/emodb-h200.db (each trial's
   ``compute_seconds`` against its training samples; N = the trials it overlapped).

Assumptions it states: a distillation arm waits for its fold's teacher as long as the
teacher trains and counts as running meanwhile (conservative); no speed-up beyond the
largest concurrency measured; a fixed overhead per phase (imports, feature extraction,
summaries). The same calculation for the 20-epoch run is printed beside what it took.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from gpu_estimate import (
    PHASE_OVERHEAD_S,
    ROOT,
    Trial,
    calibration,
    measured_sharing,
    simulate,
    speedup_at,
    throughput,
    trials,
)

RESULTS = ROOT / "docs" / "results"
__all__ = ["PHASE_OVERHEAD_S", "Trial", "calibration", "plan", "simulate", "throughput"]
#: that run's measured phases (seed 0, 20 epochs; its third phase is pe_vs_coord again)
MEASURED_20_EPOCH_S = 188.0 + 86.0


def overrides(root: str, epochs: int, seeds: str) -> dict[str, list[str]]:
    """evidence.sh's gpu profile: the shared settings, the ViT sizes, the teacher's."""
    common = [
        "data.dataset=emodb", f"data.root={root}", "data.n_mels=128", "data.frames=128",
        "data.hop_length=256", "protocol.split=loso", "protocol.max_folds=0",
        f"train.epochs={epochs}", "train.lr=5.0e-4", f"optuna.seeds=[{seeds}]",
    ]  # fmt: skip
    vit = ["model.dim=256", "model.depth=3", "model.heads=5", "model.dim_head=64"]
    teacher = [
        "distill.teacher.dim=256", "distill.teacher.depth=6", "distill.teacher.heads=5",
        "distill.teacher.dim_head=64", "distill.teacher.mlp_dim=512",
        f"distill.teacher_epochs={epochs}", f"distill.feature_epochs={epochs // 2}",
        f"distill.finetune_epochs={epochs}",
    ]  # fmt: skip
    return {"common": common, "vit": [*vit, "model.mlp_dim=512"], "teacher": teacher}


@dataclass(frozen=True)
class StudyRun:
    label: str
    path: str
    args: tuple[str, ...]
    workers: int
    phase: int
    run_dir: str | None = None


def plan(root: str, epochs: int = 50, seeds: str = "0,1,2") -> list[StudyRun]:
    o = overrides(root, epochs, seeds)
    common, vit = o["common"], o["common"] + o["vit"]
    leak = [
        "protocol.split=random_kfold", "protocol.folds=8", "data.augment=[noise,time_shift]",
        "data.augment_copies=2", "protocol.augment_before_split=true",
    ]  # fmt: skip
    return [
        StudyRun("pe_vs_coord", "studies/pe_vs_coord.yaml", tuple(vit), 4, 1),
        StudyRun("presets", "studies/presets.yaml", tuple(common), 3, 1),
        StudyRun("distillation", "studies/distillation.yaml", (*vit, *o["teacher"]), 5, 1),
        StudyRun("leak", "studies/pe_vs_coord.yaml", (*vit, *leak), 4, 1, "runs/leak"),
        StudyRun("patch_shape", "studies/patch_shape.yaml", tuple(vit), 12, 2),
    ]


_CACHE: dict = {}


def trials_at(rate: dict[str, float], root: str, epochs: int, seeds: int) -> dict:
    """:func:`trials` of the plan at other epochs and seeds (computed once)."""
    key = (root, epochs, seeds)
    if key not in _CACHE:
        _CACHE[key] = trials(plan(root, epochs, ",".join(map(str, range(seeds)))), rate)
    return _CACHE[key]


def matching_cost(rate, root, name, label, epochs, seeds) -> float | None:
    """The cost of the plan's trial ``label`` of study ``name`` at these epochs and seeds."""
    found = [t.cost for t in trials_at(rate, root, epochs, seeds).get(name, []) if t.label == label]
    return found[0] if found else None


# --- running it ------------------------------------------------------------------------


def start_mps(workdir: Path) -> bool:
    if shutil.which("nvidia-cuda-mps-control") is None:
        print("--mps: nvidia-cuda-mps-control not found; workers will take turns on the GPU")
        return False
    os.environ["CUDA_MPS_PIPE_DIRECTORY"] = str(workdir / "mps-pipe")
    os.environ["CUDA_MPS_LOG_DIRECTORY"] = str(workdir / "mps-log")
    for key in ("CUDA_MPS_PIPE_DIRECTORY", "CUDA_MPS_LOG_DIRECTORY"):
        Path(os.environ[key]).mkdir(parents=True, exist_ok=True)
    return subprocess.run(["nvidia-cuda-mps-control", "-d"], check=False).returncode == 0


def execute(runs: list[StudyRun], budget: float, mps: bool) -> None:
    deadline = time.monotonic() + budget
    started = mps and start_mps(Path.cwd())
    try:
        for phase in sorted({r.phase for r in runs}):
            with contextlib.ExitStack() as logs:
                procs = []
                for run in (r for r in runs if r.phase == phase):
                    left = max(1, int(deadline - time.monotonic()))
                    argv = ["timeout", "--signal=INT", str(left), sys.executable, "-m", "ablate"]
                    argv += ["run", str(ROOT / run.path), *run.args]
                    argv += ["--workers", str(run.workers)]
                    argv += ["--run-dir", run.run_dir] if run.run_dir else []
                    log = logs.enter_context(Path(f"{run.label}.log").open("w"))
                    procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))
                for proc in procs:
                    proc.wait()
            if time.monotonic() >= deadline:
                print("budget spent: run the same command again to resume")
                return
    finally:
        if started:
            subprocess.run(["nvidia-cuda-mps-control"], input="quit\n", text=True, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="the EmoDB directory")
    parser.add_argument("--dry-run", action="store_true", help="plan and time it; train nothing")
    parser.add_argument("--budget-s", type=float, default=600.0, help="GPU seconds (10 min)")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--mps", action="store_true", help="share the GPU through MPS")
    parser.add_argument("--throughput", type=Path, default=RESULTS / "throughput-h200.json")
    parser.add_argument("--calibration", type=Path, default=RESULTS / "emodb-h200.db")
    parser.add_argument(
        "--concurrency",
        type=Path,
        help="a benchmarks/concurrency.py JSON (e.g. with MPS): how N processes share the GPU",
    )
    args = parser.parse_args(argv)
    runs = plan(args.root, args.epochs, args.seeds)
    if not args.dry_run:
        execute(runs, args.budget_s, args.mps)
        return 0
    return dry_run(args, runs)


def dry_run(args: argparse.Namespace, runs: list[StudyRun]) -> int:
    rate = throughput(args.throughput)
    work = trials(runs, rate)
    cal = calibration(args.calibration, partial(matching_cost, rate, args.root))
    source = "fitted on the 20-epoch run"
    if args.concurrency:
        cal = measured_sharing(json.loads(args.concurrency.read_text()), cal)
        source = f"measured in {args.concurrency}"
    for run in runs:
        mine = work[run.label]
        epochs, seeds, folds = mine[0].epochs, mine[0].seeds, mine[0].folds
        cost = sum(t.cost for t in mine)
        print(
            f"phase {run.phase}  {run.label:13s} {len(mine):2d} trials x {seeds} seeds x "
            f"{folds} folds, {epochs} epochs, {run.workers:2d} workers: "
            f"{cost:7.0f} s of one process's training steps"
        )
    speedups = ", ".join(f"{n}: {speedup_at(n, cal):.1f}x" for n in (1, 4, 8, 12, 16))
    print(f"aggregate speed-up with N trials at once ({source}): {speedups}")
    print(f"trial wall time / training-step time (the same run): {cal['wall']:.2f}")
    check = simulate(plan(args.root, 20, "0"), trials_at(rate, args.root, 20, 1), cal)
    print(
        f"the same calculation for the 20-epoch, seed-0 run: {check / 60:.1f} min; "
        f"it took {MEASURED_20_EPOCH_S / 60:.1f} min"
    )
    longest = max((t for mine in work.values() for t in mine), key=lambda t: t.cost)
    floor = longest.cost * cal["wall"] / speedup_at(1, cal)
    print(
        f"longest trial: {longest.study} {longest.label}, {floor / 60:.1f} min even alone on "
        "the GPU (its seeds and folds run one after another in one process)"
    )
    estimate = simulate(runs, work, cal)
    fits = estimate <= args.budget_s
    verdict = "fits" if fits else f"does NOT fit: {math.ceil(estimate / args.budget_s)} windows"
    budget = args.budget_s / 60
    print(f"estimated wall time {estimate / 60:.1f} min; budget {budget:.1f} min: {verdict}")
    if not fits:
        need = estimate / args.budget_s
        print(f"to fit one window the GPU must train {need:.1f}x faster than measured")
    return 0 if fits else 1


if __name__ == "__main__":
    sys.exit(main())
