"""Chaos soak: a grid study worked by several `ablate run` commands (each with worker
processes) on one PostgreSQL storage and one real `mlflow server`, while processes are
killed and stopped at random and the storage and tracking servers restart; then checked
from the stores.

Events, one every ``--every`` seconds or so, drawn at random (weights in ``WEIGHTS``; one
that finds nothing to hit, no worker alive, is drawn again at once): SIGKILL of a worker
training a trial (as the storage says) or of a command's parent
process, SIGSTOP of a process (one training, when there is one) for 3-15 s (past the
heartbeat grace, set to ``--grace`` s, when long enough) then SIGCONT, a PostgreSQL
restart (down 2-6 s), an MLflow server restart. A command that exits, for whatever
reason, is started again. After ``--kills`` SIGKILLs (or ``--minutes``), the chaos stops,
the processes still running finish, and one last `ablate run` (the same command)
completes the study. Then, from the stores: exactly ``n_trials`` counted trials; every
grid point COMPLETE once (lost: none; duplicated: none); one FINISHED MLflow run per
COMPLETE trial; nothing RUNNING or WAITING in Optuna and no trial run RUNNING in MLflow
(stuck: none). Each command's output and each worker's log is searched for tracebacks
(every failure should be one line).

Tiny trials (the synthetic corpus, a 1-layer 32-wide model, ``--epochs`` 8): a soak with
20 SIGKILLs takes several minutes on 2 cores. It is CPU heavy: run it under ``nice``.

Usage: nice -n 10 python benchmarks/chaos_soak.py [--commands 2] [--workers 2]
       [--kills 20] [--every 3] [--grace 8] [--seeds 8] [--epochs 8] [--minutes 9]
       [--seed 0] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from optuna.trial import TrialState  # noqa: E402
from servers import MlflowServer, available, cluster  # noqa: E402

TINY = [
    "model.dim=32",
    "model.depth=1",
    "model.heads=2",
    "model.dim_head=16",
    "model.mlp_dim=32",
    "data.n_mels=32",
    "data.frames=32",
    "protocol.max_folds=1",
    "train.threads=1",
]
ENCODINGS = ["coordinate", "learned", "sinusoidal", "none"]
#: how often each event is drawn
WEIGHTS = {
    "kill worker": 4,
    "kill parent": 1,
    "stop": 2,
    "restart storage": 0.5,
    "restart tracking": 0.5,
}
TAG = "ABLATE_CHAOS_SOAK"  # in the environment of every process the soak started


def _study(folder: Path, seeds: int) -> Path:
    path = folder / "soak.yaml"
    path.write_text(
        "name: soak\nmodel: {patching: vertical}\nspace:\n"
        f"  model.pos_encoding: {{choice: {ENCODINGS}}}\n"
        f"  train.seed: {{choice: {list(range(seeds))}}}\n"
        "optuna: {sampler: grid}\n"
    )
    return path


def _tagged() -> list[int]:
    """Live processes (not zombies) started by the soak's commands, workers included."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as env:
                if f"{TAG}=1".encode() not in env.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(pid))
        except OSError:
            continue
    return found


class Soak:
    def __init__(self, args: argparse.Namespace, folder: Path, storage: str, tracking: str):
        self.args, self.folder = args, folder
        study = _study(folder, args.seeds)
        self.n_trials = len(ENCODINGS) * args.seeds
        options = {"--storage": storage, "--tracking-uri": tracking, "--workers": args.workers}
        self.command = [sys.executable, "-c", "from ablate.cli.main import main; main()"]
        self.command += ["run", str(study), *TINY, f"train.epochs={args.epochs}"]
        self.command += [str(part) for option in options.items() for part in option]
        self.env = {**os.environ, TAG: "1", "ABLATE_HEARTBEAT_GRACE_S": str(args.grace)}
        self.commands: list[subprocess.Popen | None] = []  # None: ended, not started again
        self.outputs: list[Path] = []
        self.events: Counter = Counter()
        self.exits: Counter = Counter()
        self.stopped: dict[int, float] = {}  # pid -> when to SIGCONT
        self.storage, self.study = storage, None

    def kills(self) -> int:
        return self.events["kill worker"] + self.events["kill parent"]

    def launch(self, index: int) -> subprocess.Popen:
        out = self.folder / f"command{index}-{len(self.outputs)}.log"
        self.outputs.append(out)
        run_dir = self.folder / f"run{index}"
        with out.open("w") as handle:
            return subprocess.Popen(
                [*self.command, "--run-dir", str(run_dir)],
                cwd=self.folder,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def tend(self, relaunch: bool) -> None:
        """Count the commands that ended, start them again; wake stopped processes due."""
        now = time.monotonic()
        for pid, due in list(self.stopped.items()):
            if now >= due:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
                del self.stopped[pid]
        for index, proc in enumerate(self.commands):
            if proc is not None and proc.poll() is not None:
                self.exits[proc.returncode] += 1
                self.commands[index] = self.launch(index) if relaunch else None

    def event(self, pg, mlflow: MlflowServer) -> bool:
        """One event; False when the one drawn found nothing to hit (drawn again soon)."""
        kind = random.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        victims = [p for p in _tagged() if p not in self.stopped]
        with contextlib.suppress(ProcessLookupError):  # a victim may end meanwhile
            return self._hit(kind, victims, pg, mlflow)
        return False

    def training(self) -> list[int]:
        """The processes training a trial now (its pid, from the storage)."""
        import optuna

        with contextlib.suppress(Exception):  # the storage may be restarting
            if self.study is None:
                (summary,) = optuna.get_all_study_summaries(self.storage)
                self.study = optuna.load_study(study_name=summary.study_name, storage=self.storage)
            trials = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            return [t.user_attrs["pid"] for t in trials if "mlflow_run_id" in t.user_attrs]
        return []

    def _hit(self, kind: str, victims: list[int], pg, mlflow: MlflowServer) -> bool:
        training = [p for p in self.training() if p in victims]
        parents = [p.pid for p in self.commands if p is not None]
        parents = [p for p in parents if p in victims]
        if kind == "kill worker" and training:
            os.kill(random.choice(training), signal.SIGKILL)
        elif kind == "kill parent" and parents:
            os.kill(random.choice(parents), signal.SIGKILL)
        elif kind == "stop" and (training or victims):
            pid = random.choice(training or victims)
            os.kill(pid, signal.SIGSTOP)
            self.stopped[pid] = time.monotonic() + random.uniform(3, 15)
        elif kind == "restart storage":
            pg.stop("fast")
            time.sleep(random.uniform(2, 6))
            pg.start()
        elif kind == "restart tracking":
            mlflow.stop()
            mlflow.start()
        else:
            return False  # nothing to hit
        self.events[kind] += 1
        return True


def _check(storage: str, tracking: str, n_trials: int) -> dict:
    """What the stores say after the soak."""
    import optuna
    from mlflow import MlflowClient

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    (summary,) = optuna.get_all_study_summaries(storage)
    trials = optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()
    counted = [
        t
        for t in trials
        if t.state.name in ("COMPLETE", "PRUNED")
        or (t.state.name == "FAIL" and t.user_attrs.get("counted"))
    ]
    points = Counter(tuple(sorted(t.params.items())) for t in trials if t.state.name == "COMPLETE")
    grid = {
        (("model.pos_encoding", e), ("train.seed", s))
        for e in ENCODINGS
        for s in range(n_trials // len(ENCODINGS))
    }
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("soak")
    runs = client.search_runs([experiment.experiment_id], max_results=50000)
    trial_runs = [r for r in runs if r.data.tags.get("ablate.kind") == "trial"]
    finished = Counter(
        r.data.tags["ablate.trial"] for r in trial_runs if r.info.status == "FINISHED"
    )
    complete = {str(t.number) for t in trials if t.state.name == "COMPLETE"}
    parents = [r for r in runs if r.data.tags.get("ablate.kind") == "study"]
    return {
        "trials": len(trials),
        "counted": len(counted),
        "states": dict(Counter(t.state.name for t in trials)),
        "lost": sorted(str(p) for p in grid - set(points)),
        "duplicated": sorted(str(p) for p, n in points.items() if n > 1),
        "stuck": [t.number for t in trials if t.state.name in ("RUNNING", "WAITING")]
        + [r.info.run_id for r in trial_runs if r.info.status == "RUNNING"],
        "runs_match": finished == Counter(complete),
        "parent_status": [r.info.status for r in parents],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs before the chaos ends")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--every", type=float, default=3.0)
    parser.add_argument("--grace", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=9.0, help="of chaos at most")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    why = available()
    if why:
        sys.exit(f"chaos soak: {why}")
    random.seed(args.seed)
    started = time.monotonic()
    deadline = started + args.minutes * 60
    folder = Path(tempfile.mkdtemp(prefix="ablate-soak-"))
    with cluster() as pg:
        storage = pg.create("soak")
        mlflow = MlflowServer(folder)
        mlflow.start()
        soak = Soak(args, folder, storage, mlflow.url)
        try:
            soak.commands = [soak.launch(i) for i in range(args.commands)]
            next_event = time.monotonic() + args.every
            while soak.kills() < args.kills and time.monotonic() < deadline:
                soak.tend(relaunch=True)
                if time.monotonic() >= next_event and soak.event(pg, mlflow):
                    next_event = time.monotonic() + random.uniform(0.5, 1.5) * args.every
                time.sleep(0.2)
            chaos_s = time.monotonic() - started
            for pid in list(soak.stopped):  # the chaos ends: everything runs to its end
                soak.stopped[pid] = 0
            while _tagged() and time.monotonic() < deadline + 300:
                soak.tend(relaunch=False)
                time.sleep(0.5)
            soak.tend(relaunch=False)
            final_out = folder / "final.log"
            with final_out.open("w") as handle:
                final = subprocess.run(
                    [*soak.command, "--run-dir", str(folder / "final")],
                    cwd=folder,
                    env=soak.env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    timeout=900,
                )
            soak.outputs.append(final_out)
            result = _check(storage, mlflow.url, soak.n_trials)
        finally:
            for pid in _tagged():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            mlflow.stop()
    logs = soak.outputs + sorted(folder.glob("run*/workers/*.log"))
    tracebacks = [str(p) for p in logs if "Traceback" in p.read_text(errors="replace")]
    result.update(
        events=dict(soak.events),
        kill_events=soak.kills(),
        taken_over=sum(p.read_text(errors="replace").count("was taken over by") for p in logs),
        exits=dict(soak.exits),
        final_exit=final.returncode,
        tracebacks=tracebacks,
        n_trials=soak.n_trials,
        chaos_seconds=round(chaos_s),
        total_seconds=round(time.monotonic() - started),
        folder=str(folder),
    )
    _print(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


def _print(r: dict) -> None:
    events = ", ".join(f"{k} {v}" for k, v in sorted(r["events"].items()))
    rows = [
        ("events", f"{sum(r['events'].values())}, {r['kill_events']} SIGKILLs ({events})"),
        ("trials", f"{r['trials']} made, {r['counted']} counted of {r['n_trials']}; {r['states']}"),
        ("lost", str(len(r["lost"]))),
        ("duplicated", str(len(r["duplicated"]))),
        ("stuck", str(len(r["stuck"]))),
        (
            "MLflow",
            f"one FINISHED run per COMPLETE trial: {r['runs_match']}; "
            f"study run {r['parent_status']}",
        ),
        ("exits", f"{r['exits']} during the soak; final run {r['final_exit']}"),
        ("taken over", f"{r['taken_over']} trials dropped by a process stopped past the grace"),
        ("tracebacks", str(len(r["tracebacks"]))),
        ("time", f"{r['chaos_seconds']} s of chaos, {r['total_seconds']} s in all"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
