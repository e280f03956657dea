"""The study's answer on its parent run, rewritten each time a trial finishes.

The parent run's description is the ranked table ``ablate compare --format markdown``
prints (95% intervals, paired tests, Holm verdicts); its run name and the tags
``ablate.best_arm`` / ``ablate.best_ci95`` name the best arm; the compare table (markdown
and CSV) and figure are its artifacts under ``compare/``. The experiment's description says
the same, so the experiment page shows the answer without a click.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ablate.tracking.mlflow_store import Store
from ablate.tracking.tables import cell

NOTE_TAG = "mlflow.note.content"


def compare_metric(objective: str) -> str:
    """The test metric ``ablate compare`` ranks by for a study optimising ``objective``
    (``test_uar_mean`` -> ``test_uar``; a validation objective is judged on test UA)."""
    base = objective.removesuffix("_mean")
    return base if base in ("test_uar", "test_war", "test_f1") else "test_uar"


def study_params(study: Any) -> dict[str, Any]:
    """The parent run's params: each fixed setting (operational keys left out) and each
    swept factor with its values (``space.model.pos_encoding = [learned, coordinate]``)."""
    from ablate.config import identity
    from ablate.tracking.params import without_off

    swept = {dim.key for dim in study.space.dims}
    params: dict[str, Any] = {
        k: v
        for k, v in without_off(identity(study.base)).items()
        if k not in swept and not any(k.startswith(f"{s}.") for s in swept)
    }
    for dim in study.space.dims:
        values = list(dim.choices) if dim.kind == "choice" else [dim.low, dim.high]
        params[f"space.{dim.key}"] = values
    if study.settings.seeds is not None:  # else train.seed, a fixed setting or a factor
        params["optuna.seeds"] = list(study.settings.seeds)
    params["optuna.metric"] = study.settings.metric
    params["optuna.sampler"] = study.settings.sampler
    return params


def answer_markdown(analysis: Any, key: str) -> str:
    """A line naming the best arm, the arms in the terminal's few columns, then the full
    table ``ablate compare --format markdown`` prints, with its caption and notes."""
    from ablate.tracking.compare import caption, label, rows
    from ablate.tracking.narrow import markdown as narrow_markdown
    from ablate.tracking.narrow import narrow
    from ablate.tracking.tables import markdown

    best = analysis.verdicts[0]
    interval = best.interval
    head = (
        f"**{key}: best arm {label(best.arm)}**, {analysis.metric} {cell(interval.mean)} "
        f"({_interval(interval)})\n\n"
    )
    notes = "".join(f"\nNote: {n}\n" for n in analysis.notes)
    table = rows(analysis)
    short = narrow_markdown(narrow(table, analysis.metric))
    full = markdown(table, caption(analysis))
    return (
        f"{head}{short}\nEvery column (`ablate compare {key} --format markdown`):\n\n{full}{notes}"
    )


def _interval(interval: Any) -> str:
    folds = f"{interval.n} test fold{'s' if interval.n != 1 else ''}"
    if interval.n < 2:
        return f"{folds}: no interval"
    return f"95% CI {cell(interval.low)} to {cell(interval.high)}, {folds}"


def publish(store: Store, parent: Any, objective: str) -> str | None:
    """Rewrite the answer on ``parent`` (a run) from its finished trials; the best arm's
    label, or None while no trial has finished."""
    from ablate.errors import AblateError
    from ablate.tracking.compare import analyse, label, rows
    from ablate.tracking.figures import arms_figure
    from ablate.tracking.mlflow_store import STUDY_KEY_TAG
    from ablate.tracking.tables import to_csv

    key = parent.data.tags[STUDY_KEY_TAG]
    try:
        analysis = analyse(store, [key], compare_metric(objective))
    except AblateError:  # no finished trial yet
        return None
    text = answer_markdown(analysis, key)
    best = analysis.verdicts[0]
    interval = best.interval
    ci = f"[{cell(interval.low)}, {cell(interval.high)}]" if interval.n > 1 else "(1 fold)"
    run_id = parent.info.run_id
    store.set_tags(
        run_id,
        {
            NOTE_TAG: text,
            "ablate.best_arm": label(best.arm),
            "ablate.best_ci95": f"{cell(interval.mean)} {ci}",
            "mlflow.runName": f"{key}: best {label(best.arm)} {cell(interval.mean)} {ci}",
        },
    )
    store.log_metrics(run_id, _best_metrics(analysis))
    _experiment_note(store, parent.info.experiment_id)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "compare.md").write_text(text)
        (out / "compare.csv").write_text(to_csv(rows(analysis)))
        arms_figure(analysis, out / "compare.png")
        store.log_dir(run_id, out, "compare")
    return label(best.arm)


def _experiment_note(store: Store, experiment_id: str) -> None:
    """The experiment's description: each study's answer line, newest first (an
    experiment holds every study key of one name)."""
    heads = [
        run.data.tags[NOTE_TAG].split("\n", 1)[0]
        for run in store.parents([experiment_id])
        if NOTE_TAG in run.data.tags
    ]
    text = "\n\n".join(heads) + "\n\nThe ranked table of each: its study run's description."
    store.client.set_experiment_tag(experiment_id, NOTE_TAG, text)


def _best_metrics(analysis: Any) -> Mapping[str, float]:
    """The best arm's numbers under the trial runs' column names, so the parent's row in
    the runs table reads as the winner's."""
    interval = analysis.verdicts[0].interval
    base = analysis.metric
    return {
        f"{base}_mean": interval.mean,
        f"{base}_ci95_low": interval.low,
        f"{base}_ci95_high": interval.high,
    }
