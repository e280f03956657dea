"""Feature extraction throughput on the real EmoDB subset: utterances/s, cold and cached.

Usage: python benchmarks/features.py [--root ../shared/data/emodb] [--workers 1 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ablate.config import make_config
from ablate.data.pipeline import load_corpus
from ablate.plugins import get_registry

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "emodb"


def measure(root: Path, workers: int) -> dict:
    """Seconds and utterances/s for a cold (empty cache) and a cached load."""
    with tempfile.TemporaryDirectory() as cache:
        data = make_config(
            dotlist=[
                "data.dataset=emodb",
                f"data.root={root}",
                f"data.workers={workers}",
                f"data.cache_dir={cache}",
            ]
        ).data
        row = {"workers": workers}
        for phase in ("cold", "cached"):
            start = time.perf_counter()
            corpus = load_corpus(data, progress=False, registry=get_registry())
            seconds = time.perf_counter() - start
            row["utterances"] = len(corpus)
            row[f"{phase}_s"] = round(seconds, 3)
            row[f"{phase}_utt_per_s"] = round(len(corpus) / seconds, 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = [measure(args.root, workers) for workers in args.workers]
    table = Table(title=f"log-Mel extraction, EmoDB subset ({rows[0]['utterances']} files)")
    for column in ("workers", "cold s", "cold utt/s", "cached s", "cached utt/s"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            str(row["workers"]),
            f"{row['cold_s']:.2f}",
            f"{row['cold_utt_per_s']:.0f}",
            f"{row['cached_s']:.2f}",
            f"{row['cached_utt_per_s']:.0f}",
        )
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
