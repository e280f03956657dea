"""``ablate report``: studies' answers, figures and provenance as one HTML page to share."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(
    epilog="Example: ablate report pe_vs_coord patch_shape --out report --pool-seeds\n\n"
    "Then open report/index.html in any browser: it needs no server and no network."
)
@click.argument("studies", nargs=-1, required=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for index.html (created when missing; an index.html in it is replaced).",
)
@click.option("--tracking-uri", default="sqlite:///mlflow.db", show_default=True)
@click.option(
    "--metric",
    type=click.Choice(["test_uar", "test_war", "test_f1"]),
    default="test_uar",
    show_default=True,
)
@click.option(
    "--pool-seeds",
    is_flag=True,
    help="Each study with its runs of other seeds, pooled as ablate compare --pool-seeds.",
)
def report(
    studies: tuple[str, ...], out: Path, tracking_uri: str, metric: str, pool_seeds: bool
) -> None:
    """Write one self-contained HTML page on STUDIES (study keys or experiment names): per
    study its answer and verdict table, every column of ablate compare, the arms, effects
    and per-speaker figures, each trial's learning curves and confusion matrix, and the
    provenance of every run (git commit, package versions, plugin packages, data
    fingerprint, split)."""
    from ablate.errors import AblateError
    from ablate.tracking.mlflow_store import Store
    from ablate.tracking.report import write_report

    if out.exists() and not out.is_dir():
        raise AblateError(f"--out {out}: is a file; give a folder for the report")
    store = Store(tracking_uri, create=False)  # a missing store is one line, not a new one
    try:
        path = write_report(store, list(studies), out.resolve(), metric, pool_seeds)
    except OSError as exc:
        raise AblateError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    size = path.stat().st_size / 1e6
    click.echo(f"wrote {path} ({size:.1f} MB, every figure inside): open it in a browser")
