"""The study's answer on its parent run, rewritten each time a trial finishes.

The parent run's description is the ranked table ``ablate compare --format markdown``
prints (95% intervals, paired tests, Holm-corrected verdicts) under the answer line: the
arm detectably better than every other, or "no arm differs detectably (MDE 0.09); top
estimate X". The run name says the same; the tags ``ablate.answer`` (that line),
``ablate.best_arm`` (the detectably best arm, "none detectably (top: X)", or "one arm
(top: X)" for a study of one arm),
``ablate.top_arm`` and ``ablate.best_ci95`` (the top estimate) carry it for the runs table
and the UI; the compare table (markdown and CSV) and figure are its artifacts under
``compare/``. The experiment's description says the same, so the experiment page shows
the answer without a click.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ablate.tracking import views
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
    from ablate.identity import identity
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


def compare_markdown(analysis: Any, title: str) -> str:
    """What ``ablate compare --format markdown`` prints: the answer line, every column of
    the arms table with its caption, and the notes."""
    from ablate.tracking.arms_table import caption, rows
    from ablate.tracking.compare import headline
    from ablate.tracking.tables import markdown

    notes = "".join(f"\nNote: {n}\n" for n in analysis.notes)
    return (
        f"**{title}: {headline(analysis)}**\n\n{markdown(rows(analysis), caption(analysis))}{notes}"
    )


#: the columns of the verdict table that leads a study run's description
VERDICT_COLUMNS = ("arm", "[95% CI]", "diff [95% CI]", "verdict", "MDE")


def verdict_table(analysis: Any) -> list[dict[str, str]]:
    """Each arm's interval, its difference from the reference with its interval, the
    verdict and the minimum detectable effect, as text: the table a person reads first."""
    from ablate.tracking.arms_table import rows
    from ablate.tracking.narrow import narrow

    table = narrow(rows(analysis), analysis.metric)
    kept = [h for h in table[0] if h in VERDICT_COLUMNS or h.endswith(VERDICT_COLUMNS[1])]
    return [{h: row[h] for h in kept} for row in table]


def answer_markdown(analysis: Any, key: str, command: str = "") -> str:
    """The answer line, then the verdict table (each arm's interval, its difference from
    the reference with its interval, the verdict and the minimum detectable effect),
    narrow enough for the run page; every column is in the artifact ``compare/compare.md``
    (what ``ablate compare --format markdown`` prints)."""
    from ablate.tracking.compare import headline
    from ablate.tracking.narrow import markdown

    short = markdown(verdict_table(analysis))
    reference = analysis.reference.arm.name
    how = "the top arm" if analysis.post_hoc else "named"
    notes = "".join(f"\nNote: {n}\n" for n in analysis.notes)
    return (
        f"**{key}: {headline(analysis)}**\n\n{short}\n"
        f"*diff: each arm minus the reference ({how}: {reference}), paired over the test "
        "units both have; verdict: better, worse, equivalent (inside the margin) or "
        "inconclusive, Holm-corrected; MDE: the difference each comparison detects with 80% "
        "power.* Every column, with its caption: the artifact `compare/compare.md` "
        f"(`{command or f'ablate compare {key}'} --format markdown`).\n{notes}"
    )


def publish(store: Store, parent: Any, objective: str) -> str | None:
    """Rewrite the answer on ``parent`` (a study run) from its finished trials, and on its
    question's pooled run when the study was also run with other seeds; save the
    question's view. The detectably best arm's label, "none detectably (top: X)", "one arm
    (top: X)", or None while no trial has finished."""
    from ablate.errors import AblateError
    from ablate.tracking.compare import analyse
    from ablate.tracking.mlflow_store import STUDY_KEY_TAG
    from ablate.tracking.questions import QUESTION_TAG, question_of

    key = parent.data.tags[STUDY_KEY_TAG]
    metric = compare_metric(objective)
    try:
        analysis = analyse(store, [key], metric)
    except AblateError:  # no finished trial yet
        return None
    shown = _write(store, parent.info.run_id, analysis, key)
    question = question_of(store, parent)
    store.set_tags(parent.info.run_id, {QUESTION_TAG: question.id})
    experiment = parent.info.experiment_id
    pooled = _publish_pooled(store, question, metric, experiment) if question.pooled else None
    swept = sorted(k.removeprefix("space.") for k in parent.data.params if k.startswith("space."))
    if pooled is None:
        search = f"tags.`{STUDY_KEY_TAG}` = '{key}' and tags.`ablate.kind` != 'fold'"
        _rank_trials(store, parent, analysis)
    else:
        search = f"tags.`{QUESTION_TAG}` = '{question.id}' and tags.`ablate.kind` != 'study'"
    state = views.view_state(f"{metric}_mean", "maximize", swept, search, views.RANK)
    views.set_view(store.client, experiment, question.id, state)
    _experiment_note(store, experiment)
    return shown


def _write(store: Store, run_id: str, analysis: Any, key: str, command: str = "") -> str:
    """The answer of ``analysis`` on run ``run_id``: its description (the verdict table),
    name, tags, the top arm's metrics and the compare artifacts (every column, CSV, the
    arms figure); the detectably best arm's label, "none detectably (top: X)", or "one arm
    (top: X)" when the study has one."""
    from ablate.tracking.arms_table import rows
    from ablate.tracking.compare import detectably_best, headline, label
    from ablate.tracking.figures import arms_figure
    from ablate.tracking.tables import to_csv

    top, best = analysis.verdicts[0], detectably_best(analysis)
    interval = top.interval
    ci = f"[{cell(interval.low)}, {cell(interval.high)}]" if interval.n > 1 else "(1 fold)"
    if len(analysis.verdicts) == 1:  # nothing to compare with: no "best"
        shown, name = f"one arm (top: {label(top.arm)})", f"one arm, {label(top.arm)}"
    elif best:
        shown, name = label(best.arm), f"best {label(best.arm)}"
    else:
        shown = f"none detectably (top: {label(top.arm)})"
        name = f"no arm detectably best; top {label(top.arm)}"
    metrics = _best_metrics(analysis)
    store.set_tags(
        run_id,
        {
            NOTE_TAG: answer_markdown(analysis, key, command),
            "ablate.answer": headline(analysis),
            "ablate.best_arm": shown,
            "ablate.top_arm": label(top.arm),
            "ablate.best_ci95": f"{cell(interval.mean)} {ci}",
            "mlflow.runName": f"{key}: {name} {cell(interval.mean)} {ci}",
            views.VERDICT: name,
            **views.display_tags(metrics),
        },
    )
    store.log_metrics(run_id, metrics)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "compare.md").write_text(compare_markdown(analysis, key))
        (out / "compare.csv").write_text(to_csv(rows(analysis)))
        arms_figure(analysis, out / "compare.png")
        store.log_dir(run_id, out, "compare")
    return shown


def verdict_text(row: Mapping[str, Any]) -> str:
    """An arm's verdict against the reference with its difference, for a runs-table
    column: ``inconclusive, -0.004 [-0.074, 0.066]``, or ``reference``."""
    from ablate.tracking.tables import Range

    verdict, diff, ci = row.get("verdict") or "", row.get("diff"), row.get("diff_ci95")
    if diff is None or not isinstance(ci, Range):
        return str(verdict)
    return f"{verdict}, {diff:+.3f} [{ci.low:+.3f}, {ci.high:+.3f}]"


def _rank_trials(store: Store, parent: Any, analysis: Any) -> None:
    """The answer's order on the study run (0) and its finished trials (their arm's rank:
    trials of one arm share it), which the question's view sorts by, and each trial's
    verdict (its arm's)."""
    import json

    from ablate.tracking.arms_table import rows

    ranked = {
        json.dumps(v.arm.swept, sort_keys=True): (rank, verdict_text(row))
        for rank, (v, row) in enumerate(zip(analysis.verdicts, rows(analysis), strict=True), 1)
        if not v.arm.teacher
    }
    store.log_metrics(parent.info.run_id, {views.RANK: 0})
    for trial in store.children(parent.info.run_id, parent.info.experiment_id, "FINISHED"):
        swept = json.loads(trial.data.tags.get("ablate.swept", "{}") or "{}")
        found = ranked.get(json.dumps(swept, sort_keys=True))
        if found is not None:
            store.log_metrics(trial.info.run_id, {views.RANK: found[0]})
            store.set_tags(trial.info.run_id, {views.VERDICT: found[1]})


def _seeds(question: Any) -> str:
    """``seeds 0, 1``: the seeds of a question's study runs, from their params."""
    import json

    seeds: set[int] = set()
    for parent in question.parents:
        text = parent.data.params.get("optuna.seeds") or parent.data.params.get("train.seed")
        found = json.loads(text) if text else []
        seeds.update(found if isinstance(found, list) else [found])
    return f"seed{'s' if len(seeds) != 1 else ''} {', '.join(map(str, sorted(seeds)))}"


def _publish_pooled(store: Store, question: Any, metric: str, experiment: str) -> str | None:
    """The pooled answer of a question's study runs on its pooled run, and one arm run per
    arm; the pooled run's id, or None when ``--pool-seeds`` would not pool them."""
    from ablate.errors import AblateError
    from ablate.tracking.arms_table import rows
    from ablate.tracking.compare import analyse, label
    from ablate.tracking.questions import QUESTION_TAG, arm_runs, pooled_run

    try:
        analysis = analyse(store, list(question.keys), metric, pool_seeds=True)
    except AblateError:
        return None
    if len({v.arm.study for v in analysis.verdicts}) > 1:  # they differ in more than seeds
        return None
    seeds = _seeds(question)
    run_id = pooled_run(store, question, experiment)
    command = f"ablate compare {' '.join(question.keys)} --pool-seeds"
    _write(store, run_id, analysis, f"{question.name} ({seeds} pooled)", command)
    store.log_metrics(run_id, {views.RANK: 0})
    store.set_tags(run_id, {"ablate.study_keys": ", ".join(question.keys)})
    arms = []
    for verdict, row in zip(analysis.verdicts, rows(analysis), strict=True):
        metrics = {**_arm_metrics(analysis, verdict, row), views.RANK: len(arms) + 1}
        name = f"{label(verdict.arm)}, {seeds} pooled"
        tags = {"mlflow.runName": name, QUESTION_TAG: question.id, **views.display_tags(metrics),
                views.VERDICT: verdict_text(row)}  # fmt: skip
        arms.append({"name": label(verdict.arm), "params": verdict.arm.swept, "metrics": metrics,
                     "tags": tags})  # fmt: skip
    arm_runs(store, run_id, experiment, arms)
    if store.client.get_run(run_id).info.status == "RUNNING":
        store.client.set_terminated(run_id, "FINISHED")
    return run_id


def _experiment_note(store: Store, experiment_id: str) -> None:
    """The experiment's description: each question's answer line (a pooled run's for a
    study run once per seed), newest first."""
    from ablate.tracking.questions import KIND_TAG, POOLED

    pooled = store.search([experiment_id], f"tags.`{KIND_TAG}` = '{POOLED}'")
    covered = {k for run in pooled for k in run.data.tags.get("ablate.study_keys", "").split(", ")}
    runs = [*pooled, *(r for r in store.parents([experiment_id]) if r.data.tags.get(
        "ablate.study_key") not in covered)]  # fmt: skip
    heads = [run.data.tags[NOTE_TAG].split("\n", 1)[0] for run in runs if NOTE_TAG in run.data.tags]
    text = "\n\n".join(heads) + "\n\nThe ranked table of each: its study run's description."
    store.client.set_experiment_tag(experiment_id, NOTE_TAG, text)


def _arm_metrics(analysis: Any, verdict: Any, row: Mapping[str, Any]) -> dict[str, float]:
    """An arm's numbers under the trial runs' column names: the metric's mean and 95%
    interval, the other test metrics' means (``row``: the arm's row of the table)."""
    interval, base = verdict.interval, analysis.metric
    metrics = {
        f"{base}_mean": interval.mean,
        f"{base}_ci95_low": interval.low,
        f"{base}_ci95_high": interval.high,
    }
    for other in ("test_uar", "test_war", "test_f1"):
        if other != base and row.get(other) is not None:
            metrics[f"{other}_mean"] = row[other].mean
    return metrics


def _best_metrics(analysis: Any) -> Mapping[str, float]:
    """The top estimate's numbers, so the parent's row in the runs table reads as the top
    arm's."""
    from ablate.tracking.arms_table import rows

    return _arm_metrics(analysis, analysis.verdicts[0], rows(analysis)[0])
