"""Study overhead: the share of a trial's wall time not spent in the model's forward/backward.

A trial's wall time splits into the training steps (``compute_seconds``: forward, loss,
backward, clipping, optimiser and schedule steps), the forward passes outside them
(``eval_seconds``: validation after each epoch, test evaluation, a distillation teacher's
targets) and the rest, which is the framework's overhead: batching, augmentation, fold
set-up, model building, Optuna, MLflow logging and plots. Both times are recorded by the
engine and logged with every trial.

Two measurements on the synthetic corpus:

1. One trial in process (``run_trial``), after a one-epoch warm-up trial (the first
   forward passes in a process set up torch's kernels and thread pool), with the rest
   broken down by wrapping the trial's helpers with timers.
2. A whole ``ablate run`` of a study (a subprocess, with its own Optuna storage and MLflow
   store in a temporary directory): each trial's Optuna duration (datetime_start to
   datetime_complete, which includes MLflow logging and plots) against the times the
   trial logged, and the process's wall time against both.

Target: overhead (time in neither training steps nor forward passes) under 10% of a
trial's wall time. Also printed: the share outside the training steps alone, and how fast
the evaluation forward passes run (FLOP/s of ``predict`` on 64 utterances at its batch
size, against a float32 matmul's, both at the trial's thread count).

Usage: python benchmarks/study_overhead.py [--study studies/pe_vs_coord.yaml]
       [--set KEY=VALUE ...] [--skip-run] [--json PATH]
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import tempfile
import time
import types
from collections import defaultdict
from pathlib import Path

from common import matmul_peak, time_interleaved
from rich.console import Console
from rich.table import Table

from ablate.config import resolve_model
from ablate.plugins import get_registry

ROOT = Path(__file__).resolve().parents[1]
#: the trial measured in process: the student at the paper's 128 x 128 on the synthetic
#: corpus, 2 speaker folds, a few epochs (a study trial in miniature).
TRIAL = [
    "data.dataset=synthetic",
    "data.n_mels=128",
    "data.frames=128",
    "protocol.split=speaker_kfold",
    "protocol.folds=4",
    "protocol.max_folds=2",
    "model.preset=student",
    "train.epochs=4",
    "train.batch_size=32",
]
#: the times every trial logs to MLflow
TIMES = ("seconds", "compute_seconds", "eval_seconds")


def _timed(table: dict, key: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            table[key] += time.perf_counter() - start

    return wrapper


def trial_breakdown(overrides: list[str]) -> dict:
    """Run one trial in process with timers around its framework parts."""
    from ablate.config import make_config
    from ablate.data.pipeline import load_corpus
    from ablate.training import engine, fold, trial

    config = make_config(dotlist=overrides)
    start = time.perf_counter()
    corpus = load_corpus(config.data, progress=False, registry=get_registry())
    loading = time.perf_counter() - start
    warm = make_config(dotlist=[*overrides, "train.epochs=1", "protocol.max_folds=1"])
    warm_up = trial.run_trial(warm, corpus=corpus, registry=get_registry()).seconds
    spent: dict[str, float] = defaultdict(float)
    patches = {
        (trial, "forward_flops"): "FLOP count",
        (trial, "_to_cpu"): "fold weights to CPU",
        (trial, "make_folds"): "fold split",
    }
    saved = {}
    for (module, name), label in patches.items():
        saved[(module, name)] = getattr(module, name)
        setattr(module, name, _timed(spent, label, getattr(module, name)))
    init = fold.FoldRun.__init__
    fold.FoldRun.__init__ = _timed(spent, "fold set-up (augment, normalise)", init)
    # engine calls copy.deepcopy(model.state_dict()) on each new best epoch
    engine.copy = types.SimpleNamespace(
        deepcopy=_timed(spent, "best-weights deepcopy", engine.copy.deepcopy)
    )
    try:
        result = trial.run_trial(config, corpus=corpus, registry=get_registry())
    finally:
        for (module, name), fn in saved.items():
            setattr(module, name, fn)
        fold.FoldRun.__init__ = init
        engine.copy = sys.modules["copy"]
    measured = result.compute_seconds + result.eval_seconds + sum(spent.values())
    spent["other (batch gather, augment, loss.item, model build)"] = result.seconds - measured
    return {
        "config": overrides,
        "corpus_load_seconds": loading,
        "warm_up_trial_seconds": warm_up,
        "trial_seconds": result.seconds,
        "compute_seconds": result.compute_seconds,
        "eval_seconds": result.eval_seconds,
        "overhead_share": overhead(result.seconds, result.compute_seconds, result.eval_seconds),
        "outside_training_steps_share": overhead(result.seconds, result.compute_seconds),
        "breakdown_seconds": dict(spent),
    }


def evaluation_efficiency(overrides: list[str], n: int = 64, reps: int = 5) -> dict:
    """GFLOP/s of the evaluation forward passes, and that share of the matmul peak."""
    import torch

    from ablate.config import make_config
    from ablate.models.build import build_model
    from ablate.models.flops import forward_flops
    from ablate.training.engine import predict

    config = make_config(dotlist=overrides)
    data, batch = config.data, config.train.batch_size * 2  # as engine.evaluate
    model = build_model(
        resolve_model(config.model), data.n_mels, data.frames, 7, registry=get_registry()
    )
    x = torch.randn(n, 1, data.n_mels, data.frames)
    cpu = torch.device("cpu")
    times = time_interleaved({"predict": lambda: predict(model, x, batch)}, cpu, reps)
    best = min(times["predict"])
    achieved = forward_flops(model, data.n_mels, data.frames) * n / best
    peak = matmul_peak(cpu)
    return {
        "threads": torch.get_num_threads(),
        "utterances_per_second": n / best,
        "gflops_per_second": achieved / 1e9,
        "matmul_peak_gflops_per_second": peak / 1e9,
        "share_of_peak": achieved / peak,
    }


def overhead(wall: float, *model_seconds: float) -> float:
    """The share of ``wall`` not spent in ``model_seconds``."""
    return 1 - sum(model_seconds) / wall


def study_run(study: Path, overrides: list[str], n_trials: int | None) -> dict:
    """``ablate run`` in a subprocess; per-trial Optuna durations against compute seconds."""
    import mlflow
    import optuna

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        storage = f"sqlite:///{tmp / 'optuna.db'}"
        tracking = f"sqlite:///{tmp / 'mlflow.db'}"
        command = [
            str(Path(sys.executable).with_name("ablate")),
            "run",
            str(study),
            *overrides,
            "--storage",
            storage,
            "--tracking-uri",
            tracking,
            "--run-dir",
            str(tmp / "run"),
            *(["--n-trials", str(n_trials)] if n_trials else []),
        ]
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        client = mlflow.MlflowClient(tracking_uri=tracking)
        trials = []
        for name in optuna.study.get_all_study_names(storage):
            for t in optuna.load_study(study_name=name, storage=storage).get_trials():
                if not (t.datetime_start and t.datetime_complete):
                    continue
                run_id = t.user_attrs.get("mlflow_run_id")
                metrics = client.get_run(run_id).data.metrics if run_id else {}
                trials.append(
                    {
                        "trial": t.number,
                        "state": t.state.name,
                        "optuna_seconds": (t.datetime_complete - t.datetime_start).total_seconds(),
                        **{key: metrics.get(key) for key in TIMES},
                    }
                )
    total = {key: sum(t[key] or 0.0 for t in trials) for key in ("optuna_seconds", *TIMES)}
    model = total["compute_seconds"], total["eval_seconds"]
    return {
        "command": " ".join(["ablate", "run", str(study.relative_to(ROOT)), *overrides]),
        "process_wall_seconds": wall,
        "trials": trials,
        "totals": total,
        "overhead_share_per_trial": overhead(total["optuna_seconds"], *model),
        "outside_training_steps_share_per_trial": overhead(total["optuna_seconds"], model[0]),
        "overhead_share_whole_run": overhead(wall, *model),
    }


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%"


def print_trial(console: Console, t: dict) -> None:
    table = Table(title=f"One trial in process: {' '.join(t['config'])}")
    table.add_column("where the wall time went")
    table.add_column("seconds", justify="right")
    table.add_column("share of trial", justify="right")
    rows = {
        "training steps (forward, backward, optimiser)": t["compute_seconds"],
        "forward passes: validation each epoch, test": t["eval_seconds"],
        **dict(sorted(t["breakdown_seconds"].items(), key=lambda kv: -kv[1])),
    }
    for key, seconds in rows.items():
        table.add_row(key, f"{seconds:.2f}", _percent(seconds / t["trial_seconds"]))
    table.add_row(
        "[b]trial total / overhead[/b]",
        f"{t['trial_seconds']:.1f}",
        f"[b]{_percent(t['overhead_share'])}[/b]",
    )
    console.print(table)
    console.print(
        f"outside the training steps: {_percent(t['outside_training_steps_share'])}; "
        f"before the trial: corpus load {t['corpus_load_seconds']:.1f} s, "
        f"one-epoch warm-up trial {t['warm_up_trial_seconds']:.1f} s"
    )


def print_run(console: Console, r: dict) -> None:
    table = Table(title=r["command"])
    columns = ("trial", "state", "optuna s", "trial s", "compute s", "eval s", "overhead")
    for column in columns:
        table.add_column(column, justify="right")
    for row in r["trials"]:
        compute, evaluating = row["compute_seconds"] or 0.0, row["eval_seconds"] or 0.0
        table.add_row(
            str(row["trial"]),
            row["state"],
            f"{row['optuna_seconds']:.1f}",
            f"{row['seconds'] or 0:.1f}",
            f"{compute:.1f}",
            f"{evaluating:.1f}",
            _percent(overhead(row["optuna_seconds"], compute, evaluating)),
        )
    console.print(table)
    total = r["totals"]
    console.print(
        f"whole run: {r['process_wall_seconds']:.1f} s wall, "
        f"{total['optuna_seconds']:.1f} s in trials, {total['compute_seconds']:.1f} s "
        f"training steps, {total['eval_seconds']:.1f} s evaluation; overhead per trial "
        f"{_percent(r['overhead_share_per_trial'])} (outside the training steps "
        f"{_percent(r['outside_training_steps_share_per_trial'])}), whole run "
        f"{_percent(r['overhead_share_whole_run'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=ROOT / "studies" / "pe_vs_coord.yaml")
    parser.add_argument("--set", nargs="*", default=[], help="overrides for the ablate run")
    parser.add_argument("--n-trials", type=int, help="trials of the ablate run (default all)")
    parser.add_argument("--skip-run", action="store_true", help="only the in-process trial")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    console = Console(width=170)
    out = {"trial": trial_breakdown(TRIAL), "evaluation": evaluation_efficiency(TRIAL)}
    print_trial(console, out["trial"])
    e = out["evaluation"]
    console.print(
        f"evaluation forward passes: {e['utterances_per_second']:.0f} utterances/s, "
        f"{e['gflops_per_second']:.1f} GFLOP/s = {_percent(e['share_of_peak'])} of a float32 "
        f"matmul's {e['matmul_peak_gflops_per_second']:.1f} ({e['threads']} threads)"
    )
    if not args.skip_run:
        out["run"] = study_run(args.study.resolve(), args.set, args.n_trials)
        print_run(console, out["run"])
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
