"""Training throughput and kernel time with and without ablate's malloc policy, in one run.

Each measurement is a fresh child process (malloc's policy is per process) that trains one
preset (the reference CNN, the teacher and the student, vertical patches, 128 x 128,
batch 32, forward + backward + fused AdamW) for ``--seconds`` after two warm-up steps and
reports samples/s and, from ``getrusage``, its user and system CPU seconds and minor page
faults over the timed steps only. Children alternate policies (system, ablate, system, ...)
so that load from other processes hits both alike. Policies:

- ``system``: glibc as it comes (``ABLATE_MALLOC=system``);
- ``ablate``: what ``import ablate`` sets (``ablate/allocator.py``);
- ``tunables``: the same settings as glibc tunables in the environment (the re-exec
  alternative), for comparison;
- ``omp-default``: ablate's malloc policy with GNU OpenMP's default spin of idle threads
  (300,000 iterations; ablate sets 10,000, see ``ablate/threads.py``), which matters on a
  shared machine. Every other arm runs with ablate's spin.

Every child reads its policy back (``ablate.allocator.probe``) and the table shows it.
Usage: python benchmarks/allocator.py [--arms cnn teacher student] [--threads 2]
       [--seconds 15] [--reps 2] [--policies system ablate] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from ablate.config import resolve_model
from ablate.plugins import get_registry

HERE = Path(__file__).resolve().parent
ARMS = {"cnn": "cnn", "teacher": "teacher-vertical", "student": "student-vertical"}
TUNABLES = (
    "glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=18446744073709551615"
    ":glibc.malloc.top_pad=67108864"
)
POLICY_ENV = {
    "system": {"ABLATE_MALLOC": "system"},
    "ablate": {},
    "tunables": {"GLIBC_TUNABLES": TUNABLES},
    # not malloc: GNU OpenMP's own spin (ablate sets 10,000; ablate/threads.py), for comparison
    "omp-default": {"GOMP_SPINCOUNT": "300000"},
}


def child(arm: str, threads: int, seconds: float) -> dict:
    """Train ``arm`` for ``seconds`` in this process; samples/s and rusage of the timed part."""
    from ablate import allocator  # first, as the CLI does: before torch allocates

    probe = allocator.probe()  # before training, while the heap has little free space
    import torch
    from common import train_step
    from throughput import ARMS as PRESETS
    from throughput import BATCH, CLASSES, SIZE

    from ablate.models.build import build_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(
        resolve_model(PRESETS[ARMS[arm]]), SIZE, SIZE, CLASSES, registry=get_registry()
    )
    x, y = torch.randn(BATCH, 1, SIZE, SIZE), torch.randint(0, CLASSES, (BATCH,))
    step = train_step(model, x, y)
    for _ in range(2):
        step()
    before, start, steps = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), 0
    while (elapsed := time.perf_counter() - start) < seconds or steps < 3:
        step()
        steps += 1
    after = resource.getrusage(resource.RUSAGE_SELF)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    return {
        "arm": arm,
        "policy_in_effect": probe.policy,
        "keeps_memory": probe.keeps_memory,
        "threads": threads,
        "steps": steps,
        "seconds": elapsed,
        "samples_per_s": steps * BATCH / elapsed,
        "cpu_s_per_step": (user + system) / steps,
        "user_s": user,
        "system_s": system,
        "system_share": system / (user + system),
        "minor_faults": after.ru_minflt - before.ru_minflt,
    }


def run_child(arm: str, policy: str, threads: int, seconds: float) -> dict:
    skip = ("ABLATE_MALLOC", "GLIBC_TUNABLES", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY")
    env = {k: v for k, v in os.environ.items() if k not in skip and not k.startswith("MALLOC_")}
    env.update(POLICY_ENV[policy])
    argv = [sys.executable, __file__, "--child", arm, "--threads", str(threads)]
    out = subprocess.run(
        [*argv, "--seconds", str(seconds)], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{arm} / {policy} child failed:\n{out.stderr[-2000:]}")
    return {"policy": policy, **json.loads(out.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--policies", nargs="+", choices=list(POLICY_ENV))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15.0, help="timed seconds per child")
    parser.add_argument("--reps", type=int, default=2, help="children per arm and policy")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--child", choices=list(ARMS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path[:0] = [str(HERE), str(HERE.parent)]
        print(json.dumps(child(args.child, args.threads, args.seconds)))
        return
    from common import load
    from rich.console import Console
    from rich.table import Table

    policies = args.policies or ["system", "ablate"]
    runs = []
    for rep in range(args.reps):
        for arm in args.arms:
            order = policies if rep % 2 == 0 else policies[::-1]
            for policy in order:
                before = load()
                row = run_child(arm, policy, args.threads, args.seconds)
                runs.append(row | {"rep": rep, "load_1min": f"{before}->{load()}"})
    rows = summarise(runs, args.arms, policies)
    table = Table(
        title=f"CPU training, batch 32, 128x128, {args.threads} threads, float32: malloc policy "
        f"(best of {args.reps} children x {args.seconds:.0f} s, interleaved)"
    )
    columns = ("arm", "policy", "read back", "samples/s", f"vs {policies[0]}", "system time share")
    for column in (*columns, "CPU s/step", "minor faults/step", "load"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row["arm"],
            row["policy"],
            "keeps memory" if row["keeps_memory"] else "returns it",
            f"{row['samples_per_s']:.1f}",
            f"{row['speedup_vs_baseline']:.2f}x" if "speedup_vs_baseline" in row else "",
            f"{100 * row['system_share']:.1f}%",
            f"{row['cpu_s_per_step']:.2f}",
            f"{row['minor_faults_per_step']:,.0f}",
            row["loads"],
        )
    Console(width=160).print(table)
    if args.json:
        args.json.write_text(json.dumps({"summary": rows, "children": runs}, indent=2))


def summarise(runs: list[dict], arms: list[str], policies: list[str]) -> list[dict]:
    """Per arm and policy: the best child's samples/s, with that child's kernel share, and
    the speed-up over the first policy given (the baseline)."""
    rows = []
    for arm in arms:
        best = {}
        for policy in policies:
            mine = [r for r in runs if r["arm"] == arm and r["policy"] == policy]
            top = max(mine, key=lambda r: r["samples_per_s"])
            best[policy] = top
            rows.append(
                {
                    "arm": arm,
                    "policy": policy,
                    "keeps_memory": all(r["keeps_memory"] for r in mine),
                    "samples_per_s": top["samples_per_s"],
                    "samples_per_s_all": [round(r["samples_per_s"], 2) for r in mine],
                    "system_share": top["system_share"],
                    "system_share_all": [round(r["system_share"], 4) for r in mine],
                    "minor_faults_per_step": top["minor_faults"] / top["steps"],
                    "cpu_s_per_step": top["cpu_s_per_step"],
                    "loads": ", ".join(r["load_1min"] for r in mine),
                }
            )
        baseline = best[policies[0]]["samples_per_s"]
        for row in rows[-len(policies) :][1:]:
            row["speedup_vs_baseline"] = row["samples_per_s"] / baseline
    return rows


if __name__ == "__main__":
    main()
