"""``ablate compare``: the arms of a study ranked by a test metric, from the MLflow store."""

from __future__ import annotations

import math
from pathlib import Path

import click
from rich.table import Table

from ablate.cli.output import console


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


@click.command(
    epilog="Example: ablate compare pe_vs_coord reference_cnn --format markdown --plot arms.png"
)
@click.argument("studies", nargs=-1, required=True)
@click.option("--tracking-uri", default="sqlite:///mlflow.db", show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "markdown"]),
    default="table",
    show_default=True,
)
@click.option(
    "--metric",
    type=click.Choice(["test_uar", "test_war", "test_f1"]),
    default="test_uar",
    show_default=True,
)
@click.option("--plot", type=click.Path(dir_okay=False), help="Save a PNG of the metric per arm.")
def compare(
    studies: tuple[str, ...], tracking_uri: str, fmt: str, metric: str, plot: str | None
) -> None:
    """Rank the arms of one or more STUDIES (study keys or experiment names): mean +- std
    over folds and seeds, difference to the best arm, paired t-test over folds (alpha 0.05).

    Several studies on the same data and protocol merge into one table, e.g. a reference
    CNN study beside the ViT arms."""
    from ablate.studies.runner import table_csv, table_markdown
    from ablate.tracking.compare import arms, rows
    from ablate.tracking.mlflow_store import STUDY_KEY_TAG, Store

    parent, ranked = arms(Store(tracking_uri), list(studies), metric)
    table = rows(ranked, metric)
    if plot:
        from ablate.tracking.plots import arms_png

        arms_png(
            [a.name for a in ranked],
            [a.mean for a in ranked],
            [a.std for a in ranked],
            metric,
            Path(plot),
        )
    if fmt == "csv":
        click.echo(table_csv(table), nl=False)
    elif fmt == "markdown":
        click.echo(table_markdown(table, metric), nl=False)
    else:
        title = f"{parent.data.tags.get(STUDY_KEY_TAG)}: arms by {metric} (paired t-test vs best)"
        out = Table(title=title)
        for column in table[0]:
            out.add_column(column)
        for row in table:
            out.add_row(*(_cell(v) for v in row.values()))
        console.print(out)
