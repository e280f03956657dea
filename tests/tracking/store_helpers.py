"""Shared by the tracking tests: the committed stores' study keys, their per-fold scores
read straight from MLflow (independently of ablate's own reader), and the CLI."""

from __future__ import annotations

import csv
import io
import re
import statistics
from pathlib import Path

from mlflow import MlflowClient

from ablate.cli.main import main

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
PE = "pe_vs_coord-630e2cfed6"  # leave-one-speaker-out, 3 seeds
LEAKY = "pe_vs_coord-3dc61054b4"  # random 8-fold splits of an augmented corpus, 1 seed
PRESETS = "presets-ffcf6905e6"
PATCH_SHAPE = "patch_shape-a731e92086"


def raw_scores(uri: str, study_key: str, metric: str = "uar") -> dict[str, dict]:
    """``{swept tag: {(seed, fold): score}}`` of a study key's finished trials."""
    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    (parent,) = client.search_runs(
        experiments, f"tags.`ablate.study_key` = '{study_key}' and tags.`ablate.kind` = 'study'"
    )
    children = client.search_runs(
        experiments, f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    pattern = re.compile(rf"^seed(\d+)/fold(\d+)/test_{metric}$")
    scores: dict[str, dict] = {}
    for run in children:
        if run.info.status != "FINISHED":
            continue
        arm = scores.setdefault(run.data.tags["ablate.swept"], {})
        for key, value in run.data.metrics.items():
            if match := pattern.match(key):
                arm[(int(match[1]), int(match[2]))] = value
    return scores


def by_hand(scores: dict) -> dict[int, float]:
    """Fold -> mean over that fold's seeds."""
    folds: dict[int, list[float]] = {}
    for (_, fold), value in scores.items():
        folds.setdefault(fold, []).append(value)
    return {fold: statistics.fmean(values) for fold, values in folds.items()}


def run(capsys, *args) -> tuple[int, str, str]:
    """``ablate ARGS`` in this process: exit code, stdout, stderr."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def compare_csv(capsys, store: str, *args: str) -> dict[str, dict[str, str]]:
    code, out, err = run(capsys, "compare", *args, "--tracking-uri", store, "--format", "csv")
    assert code == 0, err
    return {row["arm"]: row for row in csv.DictReader(io.StringIO(out))}
