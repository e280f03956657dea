"""Study overhead: the share of wall time not spent in training forward/backward/step.

Two measurements on the synthetic corpus:

1. One trial in process (``run_trial``): ``TrialResult.seconds`` against
   ``compute_seconds`` (the engine's timed forward + backward + optimiser steps), with the
   rest broken down by wrapping the trial's helpers with timers: corpus loading, fold
   set-up, per-epoch validation, best-weights copies, test evaluation, FLOP counting.
2. A whole ``ablate run`` of a study (a subprocess, with its own Optuna storage and MLflow
   store in a temporary directory): each trial's Optuna duration (datetime_start to
   datetime_complete, which includes MLflow logging and plots) against the
   ``compute_seconds`` the trial logged, and the process's wall time against both.

Target: overhead under 10% of a trial's wall time.

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

from rich.console import Console
from rich.table import Table

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
    """Run one trial in process with timers around its non-training parts."""
    from ablate.config import make_config
    from ablate.data.pipeline import load_corpus
    from ablate.training import engine, trial

    config = make_config(dotlist=overrides)
    spent: dict[str, float] = defaultdict(float)
    start = time.perf_counter()
    corpus = load_corpus(config.data, progress=False)
    spent["corpus load (before the trial)"] = time.perf_counter() - start
    patches = {
        (engine, "evaluate"): "validation each epoch",
        (trial, "evaluate"): "test evaluation",
        (trial, "forward_flops"): "FLOP count",
        (trial, "_to_cpu"): "fold weights to CPU",
        (trial, "make_folds"): "fold split",
    }
    saved = {}
    for (module, name), label in patches.items():
        saved[(module, name)] = getattr(module, name)
        setattr(module, name, _timed(spent, label, getattr(module, name)))
    init = trial.FoldRun.__init__
    trial.FoldRun.__init__ = _timed(spent, "fold set-up (augment, normalise)", init)
    # engine calls copy.deepcopy(model.state_dict()) on each new best epoch
    engine.copy = types.SimpleNamespace(
        deepcopy=_timed(spent, "best-weights deepcopy", engine.copy.deepcopy)
    )
    try:
        result = trial.run_trial(config, corpus=corpus)
    finally:
        for (module, name), fn in saved.items():
            setattr(module, name, fn)
        trial.FoldRun.__init__ = init
        engine.copy = sys.modules["copy"]
    # test evaluation calls engine.evaluate through trial.evaluate: count it once
    spent["validation each epoch"] -= spent["test evaluation"]
    other = (
        result.seconds
        - result.compute_seconds
        - sum(v for k, v in spent.items() if k != "corpus load (before the trial)")
    )
    spent["other (batching, augment, loss.item, schedule, build)"] = other
    return {
        "config": overrides,
        "trial_seconds": result.seconds,
        "compute_seconds": result.compute_seconds,
        "overhead_share": 1 - result.compute_seconds / result.seconds,
        "breakdown_seconds": dict(spent),
    }


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
                        "trial_seconds": metrics.get("seconds"),
                        "compute_seconds": metrics.get("compute_seconds"),
                    }
                )
    optuna_total = sum(t["optuna_seconds"] for t in trials)
    compute_total = sum(t["compute_seconds"] or 0.0 for t in trials)
    return {
        "command": " ".join(["ablate", "run", str(study.relative_to(ROOT)), *overrides]),
        "process_wall_seconds": wall,
        "trials": trials,
        "trials_optuna_seconds": optuna_total,
        "trials_compute_seconds": compute_total,
        "overhead_share_per_trial": 1 - compute_total / optuna_total if optuna_total else None,
        "overhead_share_whole_run": 1 - compute_total / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=ROOT / "studies" / "pe_vs_coord.yaml")
    parser.add_argument("--set", nargs="*", default=[], help="overrides for the ablate run")
    parser.add_argument("--n-trials", type=int, help="trials of the ablate run (default all)")
    parser.add_argument("--skip-run", action="store_true", help="only the in-process trial")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    console = Console(width=170)
    out = {"trial": trial_breakdown(TRIAL)}
    t = out["trial"]
    table = Table(title=f"One trial in process: {' '.join(TRIAL)}")
    table.add_column("where the wall time went")
    table.add_column("seconds", justify="right")
    table.add_column("share of trial", justify="right")
    table.add_row("forward + backward + step", f"{t['compute_seconds']:.1f}", "")
    for key, seconds in sorted(t["breakdown_seconds"].items(), key=lambda kv: -kv[1]):
        share = "" if key.startswith("corpus") else f"{100 * seconds / t['trial_seconds']:.1f}%"
        table.add_row(key, f"{seconds:.2f}", share)
    table.add_row(
        "[b]trial total / overhead[/b]",
        f"{t['trial_seconds']:.1f}",
        f"[b]{100 * t['overhead_share']:.1f}%[/b]",
    )
    console.print(table)
    if not args.skip_run:
        out["run"] = r = study_run(args.study.resolve(), args.set, args.n_trials)
        table = Table(title=r["command"])
        for column in ("trial", "state", "optuna s", "trial s", "compute s", "overhead"):
            table.add_column(column, justify="right")
        for row in r["trials"]:
            compute = row["compute_seconds"]
            table.add_row(
                str(row["trial"]),
                row["state"],
                f"{row['optuna_seconds']:.1f}",
                f"{row['trial_seconds'] or 0:.1f}",
                f"{compute or 0:.1f}",
                f"{100 * (1 - (compute or 0) / row['optuna_seconds']):.1f}%",
            )
        console.print(table)
        console.print(
            f"whole run: {r['process_wall_seconds']:.1f} s wall, "
            f"{r['trials_optuna_seconds']:.1f} s in trials, "
            f"{r['trials_compute_seconds']:.1f} s compute; overhead per trial "
            f"{100 * (r['overhead_share_per_trial'] or 0):.1f}%, whole run "
            f"{100 * r['overhead_share_whole_run']:.1f}%"
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
