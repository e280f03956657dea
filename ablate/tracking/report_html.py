"""HTML for ``ablate report``: one page that opens without a server.

Every figure is a PNG inlined as a ``data:`` URI, the style sheet is in the page, nothing is
fetched: the file can be mailed, attached to a review or opened from a USB stick.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #1b1b1b; }
h1 { font-size: 1.6em; } h2 { margin-top: 2.2em; border-bottom: 1px solid #ccc; }
h3 { margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; font-size: 13px; }
th, td { border: 1px solid #d5d5d5; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.answer { font-size: 1.15em; font-weight: 600; margin: .6em 0; }
.caption, .note { color: #555; font-size: 12.5px; max-width: 70em; }
img { max-width: 100%; border: 1px solid #eee; margin: .3em 0; }
.pair { display: flex; gap: 1em; flex-wrap: wrap; align-items: flex-start; }
.pair figure { margin: 0; } figcaption { font-size: 12px; color: #555; }
details { margin: .6em 0; } summary { cursor: pointer; color: #0b5cad; }
code { font-size: 12px; }
"""


def text(value: object) -> str:
    """``value`` as escaped HTML text."""
    return html.escape(str(value))


def image(png: bytes, alt: str) -> str:
    """An ``<img>`` holding ``png`` itself (a data URI): no file beside the page."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{text(alt)}" src="data:image/png;base64,{data}">'


def _numeric(cell: str) -> bool:
    return bool(cell) and cell.lstrip("-<[").replace(".", "", 1)[:1].isdigit()


def table(rows: Sequence[Mapping[str, str]], caption: str = "") -> str:
    """Rows of text as an HTML table (numbers right-aligned), with its caption below."""
    if not rows:
        return ""
    headers = list(rows[0])
    head = "".join(f"<th>{text(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{text(row.get(h, ""))}</td>'
            if _numeric(row.get(h, ""))
            else f"<td>{text(row.get(h, ''))}</td>"
            for h in headers
        )
        + "</tr>"
        for row in rows
    )
    note = f'<p class="caption">{text(caption)}</p>' if caption else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def notes(lines: Iterable[str]) -> str:
    return "".join(f'<p class="note">Note: {text(line)}</p>' for line in lines)


def page(title: str, parts: Iterable[str]) -> str:
    """The whole document."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{text(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{text(title)}</h1>{''.join(parts)}</body></html>\n"
    )
