"""Before / after: one benchmark script run from two git revisions in turn, on one machine.

Each revision is exported (``git archive``) to a temporary directory and its own copy of
the script runs there with that revision's ``ablate`` first on the path, alternating
(A, B, A, B, ...) so that load from other processes hits both alike. Every run writes
JSON; the table shows each row's figures per revision (best and all rounds).

    python benchmarks/revisions.py 4a432d4 HEAD --rounds 2 \\
        --by threads patch model --keys fraction_of_peak samples_per_s \\
        -- cpu_efficiency.py --threads 2 --reps 6

The script's rows must be a JSON list of objects (cpu_efficiency.py, throughput.py) or
``{"summary": [...]}`` (allocator.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def export(revision: str, into: Path) -> Path:
    target = into / revision.replace("/", "_")
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def run(tree: Path, script: list[str], out: Path) -> list[dict]:
    env = os.environ | {"PYTHONPATH": str(tree)}
    for key in ("ABLATE_MALLOC", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):
        env.pop(key, None)  # each revision sets its own process policy
    argv = [sys.executable, str(tree / "benchmarks" / script[0]), *script[1:], "--json", str(out)]
    subprocess.run(argv, cwd=tree / "benchmarks", env=env, check=True, stdout=subprocess.DEVNULL)
    rows = json.loads(out.read_text())
    return rows["summary"] if isinstance(rows, dict) else rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], usage="%(prog)s BEFORE AFTER [options] -- SCRIPT ..."
    )
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--by", nargs="+", required=True, help="keys naming a row")
    parser.add_argument("--keys", nargs="+", required=True, help="figures to compare")
    parser.add_argument("--json", type=Path, help="also write every round's rows here")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, script = parser.parse_args(argv[:split]), argv[split + 1 :]
    if not script:
        parser.error("give the benchmark script and its arguments after --")
    from common import load
    from rich.console import Console
    from rich.table import Table

    results: dict[str, list[list[dict]]] = {args.before: [], args.after: []}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {rev: export(rev, Path(tmp)) for rev in results}
        for round_ in range(args.rounds):
            order = list(results) if round_ % 2 == 0 else list(results)[::-1]
            for rev in order:
                before = load()
                rows = run(trees[rev], script, Path(tmp) / f"{rev}-{round_}.json")
                results[rev].append([row | {"load_1min": f"{before}->{load()}"} for row in rows])
                if args.json:  # kept as it comes: a failure later loses nothing
                    args.json.write_text(json.dumps(results, indent=2))
    table = Table(title=f"{' '.join(script)}: {args.before} -> {args.after}, {args.rounds} rounds")
    for column in (*args.by, *(f"{k} {rev}" for k in args.keys for rev in results), "loads"):
        table.add_column(column, justify="right")
    for row in results[args.after][0]:
        name = tuple(row.get(k) for k in args.by)
        cells, loads = [], []
        for key in args.keys:
            for rounds in results.values():
                mine = [r for rows in rounds for r in rows if _name(r, args.by) == name]
                values = [r[key] for r in mine if key in r]
                cells.append(_cell(key, values))
        for rounds in results.values():
            loads += [r["load_1min"] for rows in rounds for r in rows if _name(r, args.by) == name]
        table.add_row(*map(str, name), *cells, ", ".join(loads))
    Console(width=200).print(table)


def _name(row: dict, by: list[str]) -> tuple:
    return tuple(row.get(k) for k in by)


def _cell(key: str, values: list) -> str:
    """The best (largest) value, then every round's."""
    if not values:
        return "-"

    def fmt(value: float) -> str:
        return f"{100 * value:.0f}%" if "fraction" in key or "share" in key else f"{value:.2f}"

    return f"{fmt(max(values))} ({', '.join(fmt(v) for v in values)})"


if __name__ == "__main__":
    main()
