"""``ablate compare --nested``: a nested search's per-fold choices and its estimate, in the
format asked for."""

from __future__ import annotations

from typing import Any

import click

from ablate.cli.output import console


def nested_command(store: Any, studies: tuple[str, ...], fmt: str) -> None:
    """``--nested``: the per-fold choices of one search study and its nested estimate."""
    from ablate.errors import AblateError
    from ablate.tracking import nested, tables

    if len(studies) != 1:
        raise AblateError(f"--nested: takes one search study, got {len(studies)}")
    result = nested.nested(store, studies[0])
    table, lines = nested.rows(result), nested.summary(result)
    if fmt == "csv":
        for line in [*lines, *result.notes]:
            click.echo(f"note: {line}", err=True)
        click.echo(tables.to_csv(table), nl=False)
        return
    if fmt == "markdown":
        text = "".join(f"- {line}\n" for line in lines)
        notes = "".join(f"\nNote: {n}\n" for n in result.notes)
        click.echo(tables.markdown(table, nested.CAPTION) + "\n" + text + notes, nl=False)
        return
    from ablate.cli.output import print_rows
    from ablate.tracking.tables import cell

    print_rows([{k: cell(v) for k, v in row.items()} for row in table], f"{result.study}: nested")
    console.print(nested.CAPTION)
    for line in [*lines, *(f"note: {n}" for n in result.notes)]:
        console.print(line)
