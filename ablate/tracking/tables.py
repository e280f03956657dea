"""Rows of plain dicts as a markdown table or CSV, through one cell formatter.

A row value is a number, a string, ``None`` (empty), a :class:`Range` (a confidence
interval), a :class:`MeanSd` or a :class:`PValue`; CSV splits the first two into one
column per field and keeps full precision.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any, NamedTuple


class Range(NamedTuple):
    """A confidence interval."""

    low: float
    high: float


class MeanSd(NamedTuple):
    """A mean and the standard deviation around it."""

    mean: float
    sd: float


class PValue(float):
    """A p-value: printed with three decimals, or as ``<0.001``."""


def _number(value: float) -> str:
    """Three decimals; thousands as whole numbers; a value three decimals would show as
    0.000, or one of 1e15 or more, in three significant digits (1e-05, 1e+30)."""
    if math.isnan(value):
        return ""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value and (abs(value) < 5e-4 or abs(value) >= 1e15):
        return f"{value:.3g}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3f}"


def cell(value: Any) -> str:
    """The text of one table cell."""
    if value is None:
        return ""
    if isinstance(value, PValue):
        return "" if math.isnan(value) else "<0.001" if value < 0.001 else f"{value:.3f}"
    if isinstance(value, Range):
        if math.isnan(value.low):
            return ""
        return f"[{_number(value.low)}, {_number(value.high)}]"
    if isinstance(value, MeanSd):
        if math.isnan(value.mean):
            return ""
        sd = "" if math.isnan(value.sd) else f" ± {_number(value.sd)}"
        return f"{_number(value.mean)}{sd}"
    if isinstance(value, float):
        return _number(value)
    return str(value)


def columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for row in rows for key in row))


def markdown(rows: Sequence[dict[str, Any]], caption: str = "") -> str:
    """A GitHub markdown table, with ``caption`` as an italic paragraph below it."""
    names = columns(rows)
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in names) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    return f"{text}\n*{caption}*\n" if caption else text


def _csv_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return ""
    return float(value) if isinstance(value, PValue) else value


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """CSV with a header; intervals and mean/sd pairs as one column per field."""
    flat = []
    for row in rows:
        out: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(value, Range | MeanSd):
                for part, number in zip(value._fields, value, strict=True):
                    out[f"{key}_{part}"] = _csv_value(number)
            elif value is None:
                continue  # empty; its column may be split into fields by other rows
            else:
                out[key] = _csv_value(value)
        flat.append(out)
    names: list[str] = []
    for key in columns(rows):
        fields = _fields(rows, key)
        names += [f"{key}_{part}" for part in fields] if fields else [key]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return buffer.getvalue()


def _fields(rows: Sequence[dict[str, Any]], key: str) -> tuple[str, ...] | None:
    for row in rows:
        value = row.get(key)
        if isinstance(value, Range | MeanSd):
            return value._fields
    return None
