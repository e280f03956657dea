"""``ablate compare --nested``: a real search with validation speakers, its per-fold choices
recomputed by hand from the fold runs in the MLflow store; stores without validation
scores and adaptive samplers are said."""

from __future__ import annotations

import csv
import io
import statistics

import pytest
from mlflow import MlflowClient
from scipy import stats
from store_helpers import PE
from study_helpers import TINY, _cli

from ablate.cli.main import main

SEARCH = """\
name: search
model: {{patching: vertical, pos_encoding: none}}
protocol: {{split: speaker_kfold, folds: 3, val_fraction: 0.25}}
train: {{select: last, lr: 1.0e-3}}
space:
  train.lr: {{float: [1.0e-4, 1.0e-2], log: true}}
optuna: {{sampler: {sampler}, n_trials: 3, metric: val_uar_mean, seeds: [0]}}
"""
ARGS = [a for a in TINY if not a.startswith("protocol.max_folds")]


def nested_csv(capsys, *args):
    capsys.readouterr()
    main(["compare", *args, "--nested", "--format", "csv"])
    captured = capsys.readouterr()
    return list(csv.DictReader(io.StringIO(captured.out))), captured.err


def by_hand(tmp_path) -> dict[str, dict[int, tuple[float, float]]]:
    """{test speakers: {trial: (val_uar, test_uar)}} straight from the fold runs."""
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("search").experiment_id])
    trials = {
        r.info.run_id: int(r.data.tags["ablate.trial"])
        for r in runs
        if "ablate.trial" in r.data.tags
    }
    out: dict[str, dict[int, tuple[float, float]]] = {}
    for run in runs:
        if run.data.tags.get("ablate.kind") == "fold":
            trial = trials[run.data.tags["mlflow.parentRunId"]]
            metrics = run.data.metrics
            out.setdefault(run.data.tags["ablate.test_speakers"], {})[trial] = (
                metrics["val_uar"],
                metrics["test_uar"],
            )
    return out


def test_each_outer_fold_is_scored_by_the_trial_its_validation_speakers_chose(workdir, capsys):
    (workdir / "study.yaml").write_text(SEARCH.format(sampler="random"))
    _cli(["run", workdir / "study.yaml", *ARGS])
    rows, notes = nested_csv(capsys, "search")
    scores = by_hand(workdir)
    assert len(rows) == 3 and {r["test_speakers"] for r in rows} == set(scores)
    chosen_tests = []
    for row in rows:
        fold = scores[row["test_speakers"]]
        assert len(fold) == 3 and row["candidates"] == "3"
        best = max(fold, key=lambda t: (fold[t][0], -t))  # best validation, earlier on ties
        assert int(row["chosen_trial"]) == best
        assert float(row["val_uar"]) == pytest.approx(fold[best][0], abs=1e-12)
        assert float(row["test_uar"]) == pytest.approx(fold[best][1], abs=1e-12)
        assert float(row["best_test_uar_on_fold"]) == max(t for _, t in fold.values())
        chosen_tests.append(fold[best][1])
    mean = statistics.fmean(chosen_tests)
    half = stats.t.ppf(0.975, 2) * statistics.stdev(chosen_tests) / 3**0.5
    assert f"test UA {mean:.3f} (95% CI {mean - half:.3f} to {mean + half:.3f}) over 3" in notes
    # the trial a search would report by looking at test UA, against the nested choices
    tests = {t: statistics.fmean(scores[f][t][1] for f in scores) for t in range(3)}
    by_test = max(tests, key=lambda t: (tests[t], -t))
    gaps = [scores[r["test_speakers"]][by_test][1] - float(r["test_uar"]) for r in rows]
    gap, half = statistics.fmean(gaps), stats.t.ppf(0.975, 2) * statistics.stdev(gaps) / 3**0.5
    assert f"trial {by_test} " in notes and f"over 3 folds): {gap:+.3f} (95% CI" in notes
    assert f"{gap - half:+.3f} to {gap + half:+.3f})" in notes
    assert "sampler" not in notes  # random proposals are blind to every score
    main(["compare", "search", "--nested"])  # the terminal table
    assert "nested estimate" in capsys.readouterr().out


def test_an_adaptive_sampler_is_said(workdir, capsys):
    (workdir / "study.yaml").write_text(SEARCH.format(sampler="tpe"))
    _cli(["run", workdir / "study.yaml", *ARGS, "optuna.n_trials=2"])
    rows, notes = nested_csv(capsys, "search")
    assert len(rows) == 3
    assert "the tpe sampler proposed trials from val_uar_mean over all folds" in notes


def test_a_store_without_validation_scores_is_one_line(gpu_store, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["compare", PE, "--nested", "--tracking-uri", gpu_store])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --nested: study") and "val_fraction > 0" in err
    assert "\n" not in err
