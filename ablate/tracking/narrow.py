"""The ranked table in few columns, for people: a value and its interval share a cell.

The terminal (``ablate compare``) and the parent run's description show these columns; the
other metrics and costs are left to ``--format markdown`` and CSV. Every cell is text made
by the one cell formatter (:func:`ablate.tracking.tables.cell`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ablate.tracking.naming import LEAK
from ablate.tracking.tables import cell


def _joined(row: dict, keys: Sequence[str], sep: str = " ") -> str:
    return sep.join(v for v in (cell(row.get(k)) for k in keys) if v)


def marked(row: dict, name: str) -> str:
    """The arm or level, with the leak mark of its row."""
    leak = row.get("speaker_independent", "yes") != "yes"
    return f"{row[name]} ({LEAK})" if leak else str(row[name])


def _p(row: dict) -> str:
    p, holm = cell(row.get("p")), cell(row.get("p_holm"))
    return f"{p} ({holm})" if p else ""


def _spread(row: dict, unit: str) -> str:
    """The spread between units and between seeds, in the column of the row's unit."""
    return _joined(row, (unit, "sd_seeds"), "/") if unit in row else ""


def narrow(rows: Sequence[dict[str, Any]], metric: str) -> list[dict[str, str]]:
    """Each row as ``{header: text}`` in display order; a column no row fills is left out
    (``rank`` for effects, ``factor`` for arms, spreads when not computed)."""
    name = "arm" if "arm" in rows[0] else "level"
    columns: dict[str, Callable[[dict], str]] = {
        "rank": lambda r: cell(r.get("rank")),
        "factor": lambda r: cell(r.get("factor")),
        name: lambda r: marked(r, name),
        f"{metric} [95% CI]": lambda r: _joined(r, (metric, "ci95")),
        "sd folds/seeds": lambda r: _spread(r, "sd_folds"),
        "sd speakers/seeds": lambda r: _spread(r, "sd_speakers"),
        "folds x seeds": lambda r: _joined(r, ("folds", "seeds"), " x "),
        "speakers": lambda r: cell(r.get("speakers")),
        "diff [95% CI]": lambda r: _joined(r, ("diff", "diff_ci95")),
        "p (Holm)": _p,
        "verdict": lambda r: cell(r.get("verdict")),
        "MDE": lambda r: cell(r.get("mde")),
    }
    kept = {
        header: show
        for header, show in columns.items()
        if header in (name, f"{metric} [95% CI]") or any(show(r) for r in rows)
    }
    return [{header: show(row) for header, show in kept.items()} for row in rows]


def markdown(rows: Sequence[dict[str, str]]) -> str:
    """``narrow`` rows as a GitHub markdown table."""
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row[h] for h in headers) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_NAMES = ("rank", "factor", "arm", "level")


def _named(header: str, value: str) -> str:
    return f"{value}." if header == "rank" else f"{value}:" if header == "factor" else value


def stacked(rows: Sequence[dict[str, str]], width: int) -> list[str]:
    """One block per row for a narrow terminal: its name (rank and arm, factor and level,
    else the first cell) on the first line, then every other cell as ``header: value``,
    packed into lines of at most ``width`` characters (a cell is never split, so no number
    is cut)."""
    lines: list[str] = []
    for row in rows:
        names = [h for h in row if h in _NAMES] or list(row)[:1]
        lines.append(" ".join(_named(h, row[h]) for h in names if row[h]))
        fields = [f"{h}: {v}" for h, v in row.items() if h not in names and v]
        current = "  "
        for field in fields:
            if current.strip() and len(current) + 3 + len(field) > width:
                lines.append(current)
                current = "  "
            current += ("   " if current.strip() else "") + field
        if current.strip():
            lines.append(current)
        lines.append("")
    return lines
