"""``ablate report``: studies' answers, figures and the provenance of every run, in one page.

Per study (a key or an experiment name; with ``pool_seeds``, every key of its question):
the answer line and the verdict table, every column of ``ablate compare`` (folded), the
arms figure, the effects figure of a study sweeping two or more factors, each test
speaker's score across the arms (a paired plot), each trial's learning curves and
confusion matrix as it logged them, and where every trial run came from: its git
commit, package versions, the plugin package behind each component, the data
fingerprint and the split. :mod:`ablate.tracking.report_html` makes it one
self-contained file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ablate.errors import AblateError
from ablate.tracking import report_html as h
from ablate.tracking.mlflow_store import Store
from ablate.tracking.tables import cell

#: MLflow's switch for its download progress bars
PROGRESS = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
#: the images of a trial run the report shows, as its run logged them
TRIAL_IMAGES = ("learning_curves.png", "confusion.png")


def write_report(
    store: Store, targets: list[str], out: Path, metric: str = "test_uar", pool_seeds: bool = False
) -> Path:
    """``out/index.html`` for ``targets`` (each its own section); its path."""
    with _store_folder(store.uri), tempfile.TemporaryDirectory() as tmp:
        sections = [_section(store, t, metric, pool_seeds, Path(tmp)) for t in targets]
    intro = (
        f'<p class="caption">From the tracking store <code>{h.text(store.uri)}</code>. Each '
        "number is over held-out test speakers (seeds averaged within each first); every "
        "figure is inside this file.</p>"
    )
    page = h.page(f"ablate report: {', '.join(targets)}", [intro, *sections])
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(page)
    return path


@contextlib.contextmanager
def _store_folder(uri: str) -> Iterator[None]:
    """In a SQLite store's folder (a committed store's relative artifact locations,
    ``<store>-artifacts/``, resolve there, as ``ablate ui`` serves them), with MLflow's
    download progress bars off (one per image, on the terminal)."""
    from ablate.tracking.mlflow_store import absolute_uri
    from ablate.tracking.sqlite_store import sqlite_path

    path = sqlite_path(absolute_uri(uri))
    bars = os.environ.get(PROGRESS)
    os.environ[PROGRESS] = "false"
    try:
        with contextlib.chdir(Path(path).parent) if path else contextlib.nullcontext():
            yield
    finally:
        if bars is None:
            os.environ.pop(PROGRESS)
        else:
            os.environ[PROGRESS] = bars


def _parents(store: Store, analysis: Any, pool_seeds: bool) -> list[Any]:
    """The study runs behind ``analysis``: with ``pool_seeds``, every key of each one's
    question (the runs of each seed)."""
    from ablate.tracking.questions import question_of

    found = {p.info.run_id: p for p in analysis.parents}
    if pool_seeds:
        for parent in analysis.parents:
            found.update({p.info.run_id: p for p in question_of(store, parent).parents})
    return list(found.values())


def _section(store: Store, target: str, metric: str, pool_seeds: bool, tmp: Path) -> str:
    from ablate.tracking.answer import verdict_table
    from ablate.tracking.arms_table import caption, rows
    from ablate.tracking.compare import analyse, headline

    analysis = analyse(store, [target], metric, pool_seeds=pool_seeds)
    parents = _parents(store, analysis, pool_seeds)
    keys = ", ".join(p.data.tags.get("ablate.study_key", "") for p in parents)
    full = [{k: cell(v) for k, v in row.items()} for row in rows(analysis)]
    parts = [
        f"<h2>{h.text(target)}</h2>",
        f'<p class="caption">study runs: {h.text(keys)}</p>',
        f'<p class="answer">{h.text(headline(analysis))}</p>',
        h.table(verdict_table(analysis)),
        "<details><summary>Every column (as <code>ablate compare --format markdown</code>)"
        f"</summary>{h.table(full, caption(analysis))}</details>",
        h.notes(analysis.notes),
        *_figures(analysis, target, tmp),
        *_trials(store, parents, tmp),
    ]
    return "".join(parts)


def _figures(analysis: Any, target: str, tmp: Path) -> list[str]:
    """The arms figure, the effects figure (two or more factors) and the paired plot."""
    from ablate.tracking.effects import effects
    from ablate.tracking.figures import arms_figure, chance, effects_figure, paired_figure

    folder = tmp / f"figures-{abs(hash(target))}"
    folder.mkdir()
    parts = ["<h3>Arms</h3>", h.image(arms_figure(analysis, folder / "arms.png").read_bytes(),
                                      "arms with 95% intervals")]  # fmt: skip
    arms = [v.arm for v in analysis.verdicts if not v.arm.teacher]
    try:
        result = effects(arms, analysis.metric)
    except AblateError as exc:  # a study of one factor: no effects to draw
        parts.append(f'<p class="note">No effects figure: {h.text(exc)}</p>')
    else:
        png = effects_figure(result, chance(analysis), folder / "effects.png").read_bytes()
        parts += ["<h3>Effects of each design choice</h3>", h.image(png, "effects")]
    png = paired_figure(analysis, folder / "paired.png").read_bytes()
    parts += ["<h3>Each test speaker across the arms</h3>", h.image(png, "paired per speaker")]
    return parts


def _trials(store: Store, parents: list[Any], tmp: Path) -> list[str]:
    """Each finished trial's curves and confusion matrix, then the provenance table."""
    runs = [
        run
        for parent in parents
        for run in store.children(parent.info.run_id, parent.info.experiment_id, "FINISHED")
    ]
    runs.sort(key=lambda r: -r.data.metrics.get("test_uar_mean", 0.0))
    parts = ["<h3>Trials: learning curves and confusion matrices</h3>"]
    for run in runs:
        figures = []
        for name in TRIAL_IMAGES:
            png = _artifact(store, run, name, tmp)
            shown = h.image(png, name) if png else "<p class='note'>not in the run's artifacts</p>"
            figures.append(f"<figure>{shown}<figcaption>{h.text(name)}</figcaption></figure>")
        title = f"{run.info.run_name} ({run.data.tags.get('test UA', '')})"
        parts.append(f"<h4>{h.text(title)}</h4><div class='pair'>{''.join(figures)}</div>")
    parts += ["<h3>Provenance of every run</h3>", h.table([provenance(r) for r in runs])]
    return parts


def _artifact(store: Store, run: Any, name: str, tmp: Path) -> bytes | None:
    """A trial's logged image, or None when the run has none (a lost artifact)."""
    if name not in {a.path for a in store.client.list_artifacts(run.info.run_id)}:
        return None
    target = tmp / run.info.run_id
    target.mkdir(exist_ok=True)
    return Path(store.client.download_artifacts(run.info.run_id, name, str(target))).read_bytes()


def provenance(run: Any) -> dict[str, str]:
    """Where a trial run came from, as its tags recorded it."""
    tags = run.data.tags
    commit = tags.get("ablate.git_commit", "unknown")[:12]
    dirty = " (uncommitted changes)" if tags.get("ablate.git_dirty") == "true" else ""
    versions = ", ".join(
        f"{k.removeprefix('ablate.version.')} {v}"
        for k, v in sorted(tags.items())
        if k.startswith("ablate.version.")
    )
    plugins = "; ".join(
        f"{k.removeprefix('ablate.plugin.')}: {v}"
        for k, v in sorted(tags.items())
        if k.startswith("ablate.plugin.")
    )
    return {
        "run": run.info.run_name,
        "run id": run.info.run_id[:12],
        "git commit": commit + dirty,
        "packages": versions or "not recorded",
        "plugins": plugins or "not recorded",
        "data fingerprint": tags.get("ablate.fingerprint", "not recorded")[:16],
        "split": _split(tags.get("ablate.split", "")),
    }


def _split(text: str) -> str:
    """``8 folds; test speakers 03 | 08 | ...``, or ``random folds`` without speakers."""
    try:
        folds = json.loads(text) or []
    except ValueError:
        return "not recorded"
    if not folds:
        return "not recorded"
    speakers = ["+".join(str(s) for s in f.get("test_speakers") or []) or "random" for f in folds]
    return f"{len(folds)} folds; test speakers {' | '.join(speakers)}"
