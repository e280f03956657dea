"""``ablate compare``: verdicts on the arms of studies, and the effect of each design choice."""

from __future__ import annotations

from pathlib import Path

import click

from ablate.cli.output import console, print_verdicts


@click.command(
    epilog="Examples: ablate compare pe_vs_coord presets --reference preset=cnn --plot arms.png\n\n"
    "ablate compare patch_shape --effects --format markdown"
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
@click.option(
    "--reference",
    metavar="ARM",
    help="The arm every other is compared with: its name as printed, or a part of it that "
    "names one arm (e.g. 'preset=cnn'). Default: the best arm, with Holm over all pairs.",
)
@click.option(
    "--effects",
    is_flag=True,
    help="Also print, per factor of a study sweeping 2+ factors, each level's mean over the "
    "other factors with its difference to the factor's best level, and the interaction "
    "test. With csv, the effects rows replace the arms rows.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    help="Save a PNG of the metric per arm with 95% intervals; with --effects also "
    "STEM-effects.png beside it (STEM-effects-STUDY.png for several studies).",
)
@click.option(
    "--nested",
    is_flag=True,
    help="For one recipe search run with validation speakers (protocol.val_fraction > 0): "
    "per outer fold, the trial that fold's validation speakers choose and its test UA there; "
    "their mean is the nested estimate of searching and training without the test speakers.",
)
@click.option(
    "--pool-seeds",
    is_flag=True,
    help="Join studies that differ in their seeds alone (one study run once per seed) "
    "into one set of arms, their seeds averaged within each fold.",
)
def compare(
    studies: tuple[str, ...],
    tracking_uri: str,
    fmt: str,
    metric: str,
    reference: str | None,
    effects: bool,
    plot: str | None,
    pool_seeds: bool,
    nested: bool,
) -> None:
    """Compare the arms of one or more STUDIES (study keys or experiment names).

    The unit is the test fold (a speaker or speaker group): each arm's seeds are averaged
    within a fold, then every arm gets its mean over folds with a 95% t-interval, the
    spread between folds and between seeds. Each arm is compared with the reference arm by
    a paired t-test over the fold means both have; its difference comes with a 95%
    interval, and significance is Holm-corrected over the table (alpha 0.05).

    Several studies on the same data merge into one table (arms pair on the folds that
    tested the same speakers). Studies are not pooled: two study keys with one name stay
    separate arms, labelled by the settings they differ in; --pool-seeds joins those that
    differ in their seeds alone. Arms whose test speakers were
    seen in training are marked speaker-dependent everywhere. The method and its checks:
    docs/studies.md, "Comparing"."""
    from ablate.errors import AblateError
    from ablate.studies import coverage
    from ablate.tracking import compare as verdicts
    from ablate.tracking import tables
    from ablate.tracking.mlflow_store import STUDY_KEY_TAG, Store

    target = _plot_target(plot) if plot else None  # a bad path fails before any work
    store = Store(tracking_uri)
    if nested:
        _nested(store, studies, fmt)
        return
    try:
        analysis = verdicts.analyse(store, list(studies), metric, reference, pool_seeds)
    except AblateError as exc:  # nothing to show: say what the store lacks, if that is why
        notes = _coverage(store, studies)
        raise AblateError("; ".join([str(exc), *notes])) from None
    analysis.notes.extend(coverage.compare_notes(store, analysis.parents))
    table, caption = verdicts.rows(analysis), verdicts.caption(analysis)
    found = _effects(analysis) if effects else []
    if target:
        _plots(analysis, found, target)
    if fmt == "csv":
        for note in analysis.notes:
            click.echo(f"note: {note}", err=True)
        from ablate.tracking.effects import rows

        effect_rows = [{"study": e.study, **row} for e in found for row in rows(e)]
        click.echo(tables.to_csv(effect_rows if effects else table), nl=False)
        return
    if fmt == "markdown":
        notes = "".join(f"\nNote: {n}\n" for n in analysis.notes)
        click.echo(tables.markdown(table, caption) + notes, nl=False)
        for result in found:
            click.echo("\n" + _effects_markdown(result), nl=False)
        return
    title = ", ".join(p.data.tags.get(STUDY_KEY_TAG, "") for p in analysis.parents)
    print_verdicts(analysis, f"{title}: arms by {metric}", _OTHERS)
    for result in found:
        from ablate.tracking.effects import caption as effects_caption
        from ablate.tracking.effects import rows, summary

        _print(rows(result), f"{result.study}: effects", effects_caption(result), metric)
        for line in summary(result):
            console.print(line)
    for note in analysis.notes:
        console.print(f"note: {note}")


def _nested(store, studies: tuple[str, ...], fmt: str) -> None:
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


def _coverage(store, studies) -> list[str]:
    """The coverage notes of the studies that exist in ``store``."""
    from ablate.errors import AblateError
    from ablate.studies.coverage import compare_notes
    from ablate.tracking.arms import find_parent

    parents = []
    for target in studies:
        try:
            parents.append(find_parent(store, target))
        except AblateError:
            continue
    return compare_notes(store, parents)


_OTHERS = " WA, F1 and costs per arm: --format markdown or csv."


def _print(rows: list[dict], title: str, caption: str, metric: str) -> None:
    """Effects in few columns (a value and its interval share a cell)."""
    from rich.text import Text

    from ablate.cli.output import print_rows
    from ablate.tracking.narrow import narrow

    print_rows(narrow(rows, metric), title)
    console.print(Text(caption))


def _effects(analysis) -> list:
    """The effects of every study in the table that sweeps two or more factors."""
    from ablate.errors import AblateError
    from ablate.tracking.effects import TooFewFactors, effects

    by_study: dict[str, list] = {}
    for verdict in analysis.verdicts:
        if not verdict.arm.teacher:
            by_study.setdefault(verdict.arm.study, []).append(verdict.arm)
    found, reasons = [], []
    for arms in by_study.values():
        try:
            found.append(effects(arms, analysis.metric))
        except TooFewFactors as exc:
            reasons.append((str(exc).removeprefix("--effects: "), False))
        except AblateError as exc:
            reasons.append((str(exc).removeprefix("--effects: "), True))
    if not found:
        raise AblateError(f"--effects: {'; '.join(reason for reason, _ in reasons)}")
    # a study of one factor beside a grid (a reference arm) needs no word; a broken grid does
    analysis.notes.extend(f"no effects table: {reason}" for reason, noted in reasons if noted)
    return found


def _effects_markdown(result) -> str:
    from ablate.tracking import tables
    from ablate.tracking.effects import caption, rows, summary

    lines = "".join(f"- {line}\n" for line in summary(result))
    return (
        f"Effects of each design choice in {result.study}:\n\n"
        + tables.markdown(rows(result), caption(result))
        + "\n"
        + lines
    )


def _plot_target(text: str) -> Path:
    """``--plot``'s file: a format matplotlib writes, its folder created when missing."""
    from matplotlib.figure import Figure

    from ablate.errors import AblateError

    path = Path(text)
    formats = sorted(Figure().canvas.get_supported_filetypes())
    if path.suffix.lower().lstrip(".") not in formats:
        raise AblateError(
            f"--plot {text}: unknown figure format '{path.suffix}'; "
            f"supported: {', '.join('.' + f for f in formats)}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AblateError(f"--plot {text}: cannot create {path.parent} ({exc.strerror})") from None
    return path


def _plots(analysis, found: list, path: Path) -> None:
    """The arms figure at ``path`` and each effects figure beside it; every file written is
    named on stderr (stdout may be a markdown or CSV file)."""
    from ablate.errors import AblateError
    from ablate.tracking.figures import arms_figure, chance, effects_figure

    try:
        written = [arms_figure(analysis, path)]
        for result in found:
            name = f"{path.stem}-effects" + (f"-{result.study}" if len(found) > 1 else "")
            target = path.with_name(name + path.suffix)
            written.append(effects_figure(result, chance(analysis), target))
    except OSError as exc:
        where = exc.filename or path
        raise AblateError(f"--plot {where}: cannot write ({exc.strerror or exc})") from None
    for figure in written:
        click.echo(f"wrote {figure}", err=True)
