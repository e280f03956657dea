"""``ablate compare``: verdicts on the arms of studies, and the effect of each design choice."""

from __future__ import annotations

from pathlib import Path

import click

from ablate.cli.numbers import FiniteRange
from ablate.cli.output import console, print_verdicts

#: the options ``ablate compare`` shares with ``ablate plan``
FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "markdown"]),
    default="table",
    show_default=True,
)
METRIC_OPTION = click.option(
    "--metric",
    type=click.Choice(["test_uar", "test_war", "test_f1"]),
    default="test_uar",
    show_default=True,
)


@click.command(
    epilog="Examples: ablate compare pe_vs_coord presets --reference preset=cnn --plot arms.png\n\n"
    "ablate compare patch_shape --effects --format markdown --margin 0.03\n\n"
    "ablate compare patch_shape@sqlite:///emodb.db patch_shape@sqlite:///ravdess.db --across "
    "--reference patching=vertical --pool-seeds"
)
@click.argument("studies", nargs=-1, required=True)
@click.option("--tracking-uri", default="sqlite:///mlflow.db", show_default=True)
@FORMAT_OPTION
@METRIC_OPTION
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
    "into one set of arms, their seeds averaged within each fold; a study name stands for "
    "every key of that name, which must all pool (else one line says why).",
)
@click.option(
    "--margin",
    type=FiniteRange(0, 1, min_open=True),
    help="The smallest difference that matters: a comparison whose difference is shown "
    "inside +-M is 'equivalent'. Default: the margin the studies declare (verdict: "
    "{margin: M}); without one, nothing is shown equivalent.",
)
@click.option(
    "--across",
    is_flag=True,
    help="Each STUDY (STUDY[,STUDY...][@TRACKING_URI]) is one corpus or study: compare "
    "each arm with --reference in every source, then combine the sources (random-effects "
    "and common-effect meta-analysis, heterogeneity, verdicts).",
)
@click.option(
    "--arm",
    "arms",
    multiple=True,
    metavar="ARM",
    help="With --across: an arm to combine, named by a part of its name in every source "
    "(repeatable). Default: every arm name found in two or more sources.",
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
    margin: float | None,
    across: bool,
    arms: tuple[str, ...],
    nested: bool,
) -> None:
    """Compare the arms of one or more STUDIES (study keys or experiment names).

    The unit is the test fold (a speaker or speaker group), or each test speaker where the
    folds hold several and their scores are recorded: each arm's seeds are averaged within
    a unit, then every arm gets its mean over units with a 95% interval inside [0, 1], the
    spread between units and between seeds. Each arm is compared with the reference arm by
    a paired t-test over the units both have; its difference comes with a 95% interval and
    a verdict, Holm-corrected over the table (alpha 0.05): better, worse, equivalent
    (within --margin) or inconclusive, with the minimum detectable effect (mde).

    Several studies on the same data merge into one table (arms pair on the folds that
    tested the same speakers). Studies are not pooled: two study keys with one name stay
    separate arms, labelled by the settings they differ in; --pool-seeds joins those that
    differ in their seeds alone. Arms whose test speakers were
    seen in training are marked speaker-dependent everywhere. The method and its checks:
    docs/studies.md, "Comparing"."""
    from ablate.errors import AblateError
    from ablate.studies import coverage
    from ablate.tracking import arms_table, tables
    from ablate.tracking import compare as verdicts
    from ablate.tracking.mlflow_store import STUDY_KEY_TAG, Store

    if across or arms:
        from ablate.cli.across_out import across_command

        if not across:
            raise AblateError("--arm names the arms to combine with --across")
        if effects or plot:
            raise AblateError(
                "--across prints a table per claim; --effects and --plot apply to one store"
            )
        across_command(studies, tracking_uri, fmt, metric, reference, pool_seeds, margin, arms)
        return
    if any("@" in study for study in studies):
        raise AblateError("STUDY@TRACKING_URI names a source of --across; add --across")
    target = _plot_target(plot) if plot else None  # a bad path fails before any work
    store = Store(tracking_uri, create=False)
    if nested:
        from ablate.cli.nested_out import nested_command

        nested_command(store, studies, fmt)
        return
    try:
        analysis = verdicts.analyse(store, list(studies), metric, reference, pool_seeds, margin)
    except AblateError as exc:  # nothing to show: say what the store lacks, if that is why
        notes = _coverage(store, studies)
        raise AblateError("; ".join([str(exc), *notes])) from None
    analysis.notes.extend(coverage.compare_notes(store, analysis.parents))
    table = arms_table.rows(analysis)
    answer = verdicts.headline(analysis)
    found = _effects(analysis) if effects else []
    if target:
        _plots(analysis, found, target)
    if fmt == "csv":
        for note in [f"answer: {answer}", *analysis.notes]:
            click.echo(f"note: {note}", err=True)
        from ablate.tracking.effects_table import rows

        effect_rows = [{"study": e.study, **row} for e in found for row in rows(e)]
        click.echo(tables.to_csv(effect_rows if effects else table), nl=False)
        return
    title = ", ".join(p.data.tags.get(STUDY_KEY_TAG, "") for p in analysis.parents)
    if fmt == "markdown":
        from ablate.tracking.answer import compare_markdown

        click.echo(compare_markdown(analysis, title), nl=False)
        for result in found:
            click.echo("\n" + _effects_markdown(result), nl=False)
        return
    print_verdicts(analysis, f"{title}: arms by {metric}", _OTHERS)
    console.print(f"answer: {answer}")
    for result in found:
        from ablate.tracking.effects_table import caption as effects_caption
        from ablate.tracking.effects_table import rows, summary

        _print(rows(result), f"{result.study}: effects", effects_caption(result), metric)
        for line in summary(result):
            console.print(line)
    for note in analysis.notes:
        console.print(f"note: {note}")


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
            found.append(effects(arms, analysis.metric, analysis.margin))
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
    from ablate.tracking.effects_table import caption, rows, summary

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
