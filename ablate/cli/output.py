"""Shared terminal output: a rich console on stderr-free stdout and JSON printing."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def print_rows(rows: list[dict[str, str]], title: str) -> None:
    """Rows of text as a table when it fits the terminal (80 columns when piped), else
    as one block per row of ``header: value`` fields, so no cell is ever cut or wrapped."""
    from rich import box
    from rich.measure import Measurement
    from rich.table import Table
    from rich.text import Text

    from ablate.tracking.narrow import stacked

    table = Table(title=title, box=box.SIMPLE_HEAD)
    for header in rows[0]:
        table.add_column(header, no_wrap=True)
    for row in rows:
        table.add_row(*(Text(row.get(header, "")) for header in rows[0]))
    natural = Measurement.get(console, console.options.update(max_width=10**6), table).maximum
    if natural <= console.width:
        console.print(table)
        return
    console.print(Text(title, style="italic"))
    for line in stacked(rows, console.width):
        console.print(Text(line))


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, nothing else."""
    print(json.dumps(data, indent=2, default=str))


def print_verdicts(analysis, title: str, more: str = "") -> None:
    """A comparison's arms in few columns (a value and its interval share a cell) and its
    caption (``more`` appended): what ``ablate compare`` and the end of ``ablate run``
    print."""
    from rich.text import Text

    from ablate.tracking.arms_table import caption, rows
    from ablate.tracking.narrow import narrow

    print_rows(narrow(rows(analysis), analysis.metric), title)
    console.print(Text(caption(analysis) + more))
