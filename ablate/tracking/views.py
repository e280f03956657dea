"""How a study's experiment opens in the MLflow UI: on its runs, with the answer in view.

MLflow 3 opens an experiment without a kind in its GenAI mode (an empty traces page); the
experiment tag ``mlflow.experimentKind = custom_model_development`` makes it open on the
classic runs table ("Model training"). MLflow 2.x ignores the tag and always opens there.

The runs table shows no metric or parameter column until one is picked, so each study's
experiment also carries shared views (the tag ``mlflow.sharedViewState.<key>``, which the
UI's Share button writes, MLflow 2.16 and later), one per question it holds
(:mod:`ablate.tracking.questions`): that question's runs alone (a study run and its trials,
or a pooled run and its arm runs), the study or pooled run first and then its arms, best
first (the metric :data:`RANK`), with the headline columns shown; numbers as a person reads
them (three decimals, :func:`display_tags`), the metrics keeping full precision for
sorting. The view keyed ``ablate`` is the question answered last. ``ablate ui`` prints the
URL of each.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

#: what MLflow 3 reads to open an experiment on its runs
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
#: the share key of ablate's view of an experiment's runs
VIEW_KEY = "ablate"
VIEW_PREFIX = "mlflow.sharedViewState."
VIEW_TAG = f"{VIEW_PREFIX}{VIEW_KEY}"
#: the display copies of the test metrics: a tag each, ``0.649 [0.573, 0.724]``
DISPLAY = {"test UA": "test_uar", "test WA": "test_war", "test F1": "test_f1"}
#: a trial or arm run's verdict against the reference, with its difference
VERDICT = "verdict"


#: the study and trial runs, without the fold runs nested under each trial
SEARCH = "tags.`ablate.kind` != 'fold'"


def display_tags(metrics: Mapping[str, float]) -> dict[str, str]:
    """Each test metric's mean and 95% interval to three decimals, as text
    (``0.649 [0.573, 0.724]``): the runs table showed the metrics to 12 digits."""
    tags = {}
    for tag, base in DISPLAY.items():
        mean = metrics.get(f"{base}_mean")
        if mean is None or not math.isfinite(mean):
            continue
        ends = [metrics.get(f"{base}_ci95_{end}") for end in ("low", "high")]
        shown = all(e is not None and math.isfinite(e) for e in ends)
        tags[tag] = f"{mean:.3f}" + (f" [{ends[0]:.3f}, {ends[1]:.3f}]" if shown else "")
    return tags


def _column(kind: str, key: str) -> str:
    return f"{kind}.`{key}`"


#: the runs table's run-name column (an arm's name and seed count need the room)
NAME_COLUMN = _column("attributes", "Run Name")


def _width(column: str) -> int:
    """Pixels: a value with its interval, a param's value, a verdict with its difference,
    the best arm's name."""
    if any(column == _column("tags", tag) for tag in DISPLAY):
        return 170
    return 180 if column.startswith("params") else 280


#: the answer's order: 0 on the study (or pooled) run, then each arm's rank (a metric, so
#: the runs table sorts by it; a shared view cannot pin a run to the top)
RANK = "rank"


def view_state(
    metric: str,
    direction: str,
    swept: Sequence[str],
    search: str = SEARCH,
    order: str | None = None,
) -> dict[str, Any]:
    """The runs table: the runs ``search`` finds, best first by ``metric`` (or in the
    ascending ``order`` metric: :data:`RANK`), showing the test metrics as text (three
    decimals; the metrics themselves show 12 digits), the swept params and the answer."""
    first, *others = DISPLAY  # test UA, its verdict, then WA and F1
    columns = [_column("tags", tag) for tag in (first, VERDICT, *others)]
    columns += [_column("params", key) for key in swept]
    columns += [_column("tags", "ablate.best_arm")]
    return {
        "searchFilter": search,
        "orderByKey": _column("metrics", order or metric),
        "orderByAsc": order is not None or direction != "maximize",
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": columns,
        "columnOrder": [NAME_COLUMN, *columns],  # MLflow sizes only the columns listed here
        "columnWidths": {NAME_COLUMN: 430, **{c: _width(c) for c in columns}},
        "runListHidden": False,
        "viewMaximized": False,
    }


def set_up(client: Any, experiment_id: str, metric: str, direction: str, swept: Sequence[str]):
    """Tag the experiment so the UI opens it on its runs, with ablate's view saved (until
    a question's view replaces it: :func:`set_view`)."""
    client.set_experiment_tag(experiment_id, KIND_TAG, KIND)
    if VIEW_TAG not in client.get_experiment(experiment_id).tags:
        state = view_state(metric, direction, swept)
        client.set_experiment_tag(experiment_id, VIEW_TAG, json.dumps(state))


def set_view(client: Any, experiment_id: str, key: str, state: dict[str, Any]) -> None:
    """Save ``state`` as the view ``key`` of the experiment, and as its default view."""
    client.set_experiment_tag(experiment_id, KIND_TAG, KIND)
    for name in (key, VIEW_KEY):
        client.set_experiment_tag(experiment_id, f"{VIEW_PREFIX}{name}", json.dumps(state))


def runs_url(base: str, experiment_id: str, view: str | None = VIEW_KEY) -> str:
    """The page of an experiment's runs, in the shared view ``view`` (None: no view).
    ``workflowType`` is for MLflow 3 releases whose UI picks GenAI or classic mode per
    browser rather than from the experiment's kind (3.17 does)."""
    query = "workflowType=machine_learning" + (f"&viewStateShareKey={view}" if view else "")
    return f"{base}/#/experiments/{experiment_id}/runs?{query}"
