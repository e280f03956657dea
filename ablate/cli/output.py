"""Shared terminal output: a rich console on stderr-free stdout and JSON printing."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, nothing else."""
    print(json.dumps(data, indent=2, default=str))
