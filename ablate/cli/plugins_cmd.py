"""``ablate plugins``: every registered component, and any plugin that failed to load."""

from __future__ import annotations

import warnings

import click
from rich.markup import escape
from rich.table import Table

from ablate.cli.output import console, errors, print_json
from ablate.errors import AblateError
from ablate.plugins import PluginFailure, PluginWarning, get_registry


def _failure(failure: PluginFailure) -> str:
    where = f" ({failure.location})" if failure.location else ""
    return f"{failure}{where}"


@click.command(epilog="Example: ablate plugins --json")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option(
    "--strict", is_flag=True, help="Exit with code 2 when any plugin failed to load (for CI)."
)
def plugins(as_json: bool, strict: bool) -> None:
    """List every registered plugin component with its parameters, package and version."""
    with warnings.catch_warnings():  # the failures are listed below, once
        warnings.simplefilter("ignore", PluginWarning)
        registry = get_registry()
    rows = [
        {
            "kind": c.kind,
            "name": c.name,
            "package": c.package,
            "version": c.version,
            "plugin": c.plugin,
            "description": c.description,
            "params": {p.name: {"type": p.type_name, "default": p.default} for p in c.params},
        }
        for c in registry.all()
    ]
    if as_json:
        print_json(rows)  # stdout stays pure JSON; failures still go to stderr
        for failure in registry.failures:
            errors.print(f"failed: {_failure(failure)}", markup=False, soft_wrap=True)
        _strict(strict, registry.failures)
        return
    table = Table(title="ablate plugins")
    for column in ("kind", "name", "parameters", "package", "description"):
        table.add_column(column)
    for row in rows:
        params = ", ".join(f"{k}: {v['type']} = {v['default']!r}" for k, v in row["params"].items())
        package = f"{row['package']} {row['version']}"
        table.add_row(row["kind"], row["name"], escape(params), package, escape(row["description"]))
    console.print(table)
    for failure in registry.failures:
        errors.print(f"[red]failed:[/red] {escape(_failure(failure))}", soft_wrap=True)
    _strict(strict, registry.failures)


def _strict(strict: bool, failures: list[PluginFailure]) -> None:
    if strict and failures:
        raise AblateError(f"--strict: {len(failures)} plugin(s) failed to load (listed above)")
