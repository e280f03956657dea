"""``ablate predict``: the emotion of audio files, by a saved model; a bad file is named
and the others are still predicted."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from ablate.cli.output import console, errors, print_json


@click.command(
    epilog="Example: ablate predict models/coord 03a01Fa.wav 03a01Wa.wav --all\n\n"
    "A model trained with data.norm=speaker normalises each file by the training set's "
    "statistics unless told the speaker: --speaker 03 (the files are one speaker's, "
    "normalised together) or --enrol FILE (other utterances of that speaker). A file that "
    "cannot be read is named on stderr with its reason and the others are still "
    "predicted; the exit code is then 2."
)
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--speaker",
    help="data.norm=speaker models: all FILES are this one speaker's; they are normalised "
    "together by their statistics.",
)
@click.option(
    "--enrol",
    multiple=True,
    type=click.Path(path_type=Path),
    help="data.norm=speaker models: an utterance of the files' one speaker to take the "
    "statistics from (repeat for more); the FILES then do not affect each other.",
)
@click.option(
    "--all", "--probabilities", "every", is_flag=True, help="Print every class's probability."
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def predict(
    model_dir: Path,
    files: tuple[Path, ...],
    speaker: str | None,
    enrol: tuple[Path, ...],
    every: bool,
    as_json: bool,
) -> None:
    """Label and class probabilities for each audio file."""
    from ablate.plugins import get_registry
    from ablate.training.saved import SavedModel

    saved = SavedModel.load(model_dir, get_registry())
    rows = saved.predict_files(list(files), speaker, enrol)
    failed = [row for row in rows if "error" in row]
    if as_json:
        print_json(rows)
    else:
        _predictions([row for row in rows if "error" not in row], saved.label_names, every)
    for row in failed:
        errors.print(f"error: {row['file']}: {row['error']}", soft_wrap=True)
    if len(rows) > 1 and failed:  # one file's own line says it all
        errors.print(f"error: {len(failed)} of {len(rows)} files could not be predicted")
    if failed:
        sys.exit(2)


def _predictions(rows: list[dict], labels: list[str], every: bool) -> None:
    """The label and its probability per file (``every`` class's too), and how the files
    were normalised."""
    if not rows:
        return
    table = Table(title="predictions")
    table.add_column("file", overflow="fold")
    table.add_column("label", no_wrap=True)
    for column in labels if every else ["p"]:
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        probabilities = row["probabilities"]
        shown = [probabilities[n] for n in labels] if every else [max(probabilities.values())]
        table.add_row(row["file"], row["label"], *(f"{p:.3f}" for p in shown))
    console.print(table)
    console.print(f"normalised by {rows[0]['normalisation']}", soft_wrap=True)
