"""Result rows as Markdown and CSV tables (a study's summary, ``ablate compare``)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for row in rows for key in row))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return "" if value is None else str(value)


def table_markdown(rows: list[dict[str, Any]], metric: str) -> str:
    columns = _columns(rows)
    names = [metric if c == "value" else c for c in columns]
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def table_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(rows))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
