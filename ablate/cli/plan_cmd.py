"""``ablate plan``: how many speakers, seeds and hours a study needs to resolve a margin."""

from __future__ import annotations

import click

from ablate.cli.compare_cmd import FORMAT_OPTION, METRIC_OPTION
from ablate.cli.numbers import FiniteRange
from ablate.cli.output import console


@click.command(
    epilog="Example: ablate plan pe_vs_coord --margin 0.03 --reference pos_encoding=none "
    "--pool-seeds --tracking-uri sqlite:///docs/results/emodb-recipe-cpu.db"
)
@click.argument("studies", nargs=-1, required=True)
@click.option("--tracking-uri", default="sqlite:///mlflow.db", show_default=True)
@click.option(
    "--margin",
    type=FiniteRange(0, 1, min_open=True),
    help="The smallest difference that matters. Default: the margin the studies declare.",
)
@click.option(
    "--power",
    type=FiniteRange(0.5, 1, max_open=True),
    default=0.8,
    show_default=True,
    help="The chance to find a difference of the margin, and to show equal arms "
    "equivalent within it.",
)
@click.option(
    "--reference",
    metavar="ARM",
    help="The arm the others are compared with (Holm over k - 1); default: the best arm, "
    "Holm over all pairs, as in ablate compare.",
)
@METRIC_OPTION
@click.option("--pool-seeds", is_flag=True, help="Join studies that differ in their seeds alone.")
@FORMAT_OPTION
def plan(
    studies: tuple[str, ...],
    tracking_uri: str,
    margin: float | None,
    power: float,
    reference: str | None,
    metric: str,
    pool_seeds: bool,
    fmt: str,
) -> None:
    """From stored STUDIES (a pilot, or a finished study): what their design can resolve,
    and how many test speakers (folds), seeds and hours of compute it takes to resolve a
    margin, both ways: to find a difference of the margin, and to show two equal arms
    equivalent within it, each with --power.

    The paired difference of two arms per fold splits into a speaker part (how much an
    arm's advantage changes between speakers: only more speakers average it down) and a
    seed part (how a difference changes from seed to seed, divided by the seeds per arm),
    estimated from the studies' per-fold, per-seed scores; the tests are those of ablate
    compare, at Holm's first-step level. Method: docs/studies.md, "Planning"."""
    from ablate.errors import AblateError
    from ablate.tracking import plan as planning
    from ablate.tracking import tables
    from ablate.tracking.compare import analyse
    from ablate.tracking.mlflow_store import Store

    store = Store(tracking_uri, create=False)  # a missing store is one line, not a new one
    analysis = analyse(store, list(studies), metric, reference, pool_seeds, margin)
    margin = margin if margin is not None else analysis.margin
    if margin is None:
        raise AblateError(
            "ablate plan needs the smallest difference that matters: --margin M, or "
            "verdict: {margin: M} in the study file"
        )
    if len(analysis.verdicts) < 2:
        raise AblateError("ablate plan needs two or more arms: it plans their comparisons")
    c = planning.components(analysis)
    rows = planning.rows(c, margin, power)
    if fmt == "csv":
        click.echo(tables.to_csv(rows), nl=False)
        return
    lines = _summary(c, margin, power, analysis)
    if fmt == "markdown":
        click.echo("\n".join(f"- {line}" for line in lines) + "\n\n" + tables.markdown(rows))
        return
    for line in lines:
        console.print(line)
    from ablate.cli.output import print_rows

    print_rows([{k: tables.cell(v) for k, v in row.items()} for row in rows], "designs")


def _summary(c, margin: float, power: float, analysis) -> list[str]:
    from ablate.tracking import plan as planning
    from ablate.tracking.tables import cell

    found, equal = planning.resolvable(c, power)
    how = (
        "the best arm picked after looking, so all pairs"
        if c.post_hoc
        else f"against {analysis.reference.arm.name}"
    )
    seeds = f"{c.seeds}" if c.most_seeds <= c.seeds else f"{c.seeds}-{c.most_seeds}"
    if c.seed == c.seed:
        per = "each pair's seeds" if c.most_seeds > c.seeds else f"{c.seeds}"
        parts = (
            f"speakers {c.speaker:.5f} (sd {cell(c.speaker**0.5)}) + seeds {c.seed:.5f} / "
            f"{per} (sd of a per-seed difference {cell(c.seed**0.5)})"
        )
        if c.speaker == 0:
            parts += "; the speaker part is estimated at 0 (seeds explain all the observed "
            parts += "variance): a noisy estimate, so read the plan as optimistic"
    else:
        parts = "speakers and seeds together: one seed per fold (or no seed both arms "
        parts += "trained) cannot separate them"
    return [
        f"design: {c.arms} trials x {c.folds} test folds x {seeds} seed(s); Holm family "
        f"of {c.family} ({how}); power {power:g}, margin ±{margin:g}",
        f"variance of a paired difference per fold: {c.observed:.5f} observed = {parts}",
        f"this design resolves: a difference of {cell(found)} (MDE), equivalence within "
        f"±{cell(equal)} for equal arms",
        f"to resolve ±{margin:g} (per seed count: folds are test speakers under "
        f"leave-one-speaker-out; hours at {cell(c.seconds)} s per trial, fold and seed, "
        "as measured):",
    ]
