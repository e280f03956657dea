"""How a study's experiment opens in the MLflow UI: on its runs, with the answer in view.

MLflow 3 opens an experiment without a kind in its GenAI mode (an empty traces page); the
experiment tag ``mlflow.experimentKind = custom_model_development`` makes it open on the
classic runs table ("Model training"). MLflow 2.x ignores the tag and always opens there.

The runs table shows no metric or parameter column until one is picked, so each study's
experiment also carries a shared view (the tag ``mlflow.sharedViewState.<key>``, which the
UI's Share button writes, MLflow 2.16 and later): the runs sorted by the study's metric,
best first, with the headline columns shown. ``ablate ui`` prints the URL that opens it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

#: what MLflow 3 reads to open an experiment on its runs
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
#: the share key of ablate's view of an experiment's runs
VIEW_KEY = "ablate"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
#: the other test metrics shown after the study's own
OTHERS = ("test_uar_mean", "test_war_mean", "test_f1_mean")


#: the study and trial runs, without the fold runs nested under each trial
SEARCH = "tags.`ablate.kind` != 'fold'"


def _column(kind: str, key: str) -> str:
    return f"{kind}.`{key}`"


#: the runs table's run-name column (an arm's name and seed count need the room)
NAME_COLUMN = _column("attributes", "Run Name")


def _width(column: str) -> int:
    """Pixels: room for a metric's first digits, a param's value, the best arm's name."""
    return 125 if column.startswith("metrics") else 180 if column.startswith("params") else 330


def headline_metrics(metric: str) -> list[str]:
    """The run metrics shown first: the study's metric with its 95% interval, then UA, WA
    and F1 (each once)."""
    base = metric.removesuffix("_mean")
    first = [metric, f"{base}_ci95_low", f"{base}_ci95_high"]
    return first + [m for m in OTHERS if m not in first]


def view_state(metric: str, direction: str, swept: Sequence[str]) -> dict[str, Any]:
    """The runs table: best first by ``metric``, showing the headline metrics, the swept
    params and the best arm (on the study's parent run)."""
    columns = [_column("metrics", m) for m in headline_metrics(metric)]
    columns += [_column("params", key) for key in swept]
    columns += [_column("tags", "ablate.best_arm")]
    return {
        "searchFilter": SEARCH,
        "orderByKey": _column("metrics", metric),
        "orderByAsc": direction != "maximize",
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": columns,
        "columnOrder": columns,
        "columnWidths": {NAME_COLUMN: 430, **{c: _width(c) for c in columns}},
        "runListHidden": False,
        "viewMaximized": False,
    }


def set_up(client: Any, experiment_id: str, metric: str, direction: str, swept: Sequence[str]):
    """Tag the experiment so the UI opens it on its runs, with ablate's view saved."""
    client.set_experiment_tag(experiment_id, KIND_TAG, KIND)
    state = view_state(metric, direction, swept)
    client.set_experiment_tag(experiment_id, VIEW_TAG, json.dumps(state))


def runs_url(base: str, experiment_id: str, view: bool = True) -> str:
    """The page of an experiment's runs, in ablate's view if it has one. ``workflowType``
    is for MLflow 3 releases whose UI picks GenAI or classic mode per browser rather than
    from the experiment's kind (3.17 does)."""
    query = "workflowType=machine_learning" + (f"&viewStateShareKey={VIEW_KEY}" if view else "")
    return f"{base}/#/experiments/{experiment_id}/runs?{query}"
