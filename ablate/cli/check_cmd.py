"""``ablate check``: every check ``ablate run`` makes before its first trial, and no more."""

from __future__ import annotations

import click

from ablate.cli.output import console


@click.command(
    epilog="Example: ablate check studies/pe_vs_coord.yaml data.dataset=emodb data.root=DIR"
)
@click.argument("study_file", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
def check(study_file: str, overrides: tuple[str, ...]) -> None:
    """Check STUDY_FILE with KEY=VALUE overrides as `ablate run` would before its first
    trial: every key, value and plugin name; the corpus and the folds of every swept
    protocol; every point's plugins built and run on a small batch. Nothing is trained
    or recorded; a problem is one line and exit code 2."""
    from ablate.plugins import get_registry
    from ablate.studies.preflight import check_study, points
    from ablate.studies.spec import load_study

    registry = get_registry()
    study = load_study(study_file, registry, overrides)
    corpus = check_study(study, registry)
    speakers = len(set(corpus.speakers))
    checked = sum(1 for _ in points(study))
    console.print(
        f"study {study.key}: {study.settings.n_trials} trials ({study.settings.sampler}); "
        f"corpus {study.base.data.dataset}: {len(corpus)} utterances, {speakers} speakers, "
        f"{len(corpus.label_names)} classes; {checked} point(s) of the space built and run. "
        "Nothing was trained or recorded.",
        soft_wrap=True,
    )
