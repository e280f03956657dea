"""End to end: simulated per-fold, per-seed and per-speaker scores written to a real MLflow
store as trials write them, read back by ``ablate compare`` (fold identity, pairing, seed
averaging, pooling by name, missing folds, speakers as units, the declared margin) give
the numbers and verdicts of the calibrated path (tests/tracking/test_calibration.py)
exactly; and, slow, the false-positive rate through the store is the nominal 5%."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sim_store import write_study
from store_helpers import compare_csv, run

from ablate.tracking.arms import Arm
from ablate.tracking.arms_table import rows
from ablate.tracking.compare import analyse_arms
from ablate.tracking.mlflow_store import Store

NOMINAL = 0.05
COLUMNS = ("test_uar", "ci95_low", "ci95_high", "diff", "diff_ci95_low", "diff_ci95_high",
           "p", "p_holm", "p_equivalent", "mde", "sd_seeds")  # fmt: skip
#: the test speakers of each of four folds: speaker k-fold, several per fold
FOLDS = [["03", "08"], ["09", "10", "11"], ["12", "13"], ["14", "15"]]


def simulated(rng, arms: list[str], seeds: list[int], missing: dict[str, set[int]]):
    """Per arm its (seed, fold) scores and each test speaker's, with a fold-shared part."""
    scores, speakers = {}, {}
    for shift, arm in enumerate(arms):
        scores[arm], speakers[arm] = {}, {}
        for fold, members in enumerate(FOLDS):
            if fold in missing.get(arm, set()):
                continue
            for seed in seeds:
                shared = rng.normal(0, 0.03)
                each = {s: 0.55 + 0.02 * shift + shared + rng.normal(0, 0.08) for s in members}
                scores[arm][(seed, fold)] = float(np.mean(list(each.values())))
                speakers[arm].update({(seed, fold, s): float(v) for s, v in each.items()})
    return scores, speakers


def direct(scores, speakers, margin, reference) -> dict[str, dict]:
    """The same numbers as Arm objects, analysed without any store."""
    arms = [
        Arm(
            f"pos_encoding={arm}",
            "sim",
            values={"uar": {(s, f"f{f}"): v for (s, f), v in scores[arm].items()}},
            speakers={"uar": {(s, f"f{f}", sp): v for (s, f, sp), v in speakers[arm].items()}},
        )
        for arm in scores
    ]
    analysis = analyse_arms(arms, reference=reference, margin=margin)
    return {row["arm"]: row for row in rows(analysis)}, analysis


def same(stored: dict[str, dict], expected: dict[str, dict]) -> None:
    assert set(stored) == set(expected)
    for arm, row in expected.items():
        assert stored[arm]["verdict"] == row["verdict"], arm
        for column in COLUMNS:
            value = row.get(column.removesuffix("_low").removesuffix("_high"))
            if column.endswith(("_low", "_high")) and value is not None:
                value = value.low if column.endswith("_low") else value.high
            if value is None or (isinstance(value, float) and math.isnan(value)):
                assert stored[arm].get(column, "") == "", (arm, column)
            else:
                assert float(stored[arm][column]) == pytest.approx(float(value), abs=1e-12)


@pytest.fixture
def store(tmp_path, mlflow_template, monkeypatch):
    """An empty store in ``tmp_path``, the working directory: MLflow puts a new
    experiment's artifacts under ./mlruns (they landed in the repository's)."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "mlflow.db"
    path.write_bytes(mlflow_template.read_bytes())
    return f"sqlite:///{path}"


def test_speakers_missing_folds_and_the_declared_margin_read_back_exactly(store, capsys):
    """Three arms on 4 folds of 2-3 test speakers, 2 seeds; one arm lacks a fold. Read
    back: speakers are the units (clustered by fold), the arm without its fold is named,
    the study's declared margin judges equivalence, --margin overrides it."""
    rng = np.random.default_rng(0)
    scores, speakers = simulated(rng, ["a", "b", "c"], [0, 1], {"c": {3}})
    write_study(Store(store), "sim", "sim-1", scores, FOLDS, speakers, margin=0.1)
    stored = compare_csv(capsys, store, "sim-1", "--reference", "=a")
    expected, analysis = direct(scores, speakers, 0.1, "=a")
    assert analysis.unit == "speaker" and "sd_speakers" in next(iter(stored.values()))
    same(stored, expected)
    _, _, err = run(capsys, "compare", "sim-1", "--tracking-uri", store, "--format", "csv")
    assert "pos_encoding=c lacks 1 of the 4 test folds" in err
    overridden = compare_csv(capsys, store, "sim-1", "--reference", "=a", "--margin", "0.01")
    same(overridden, direct(scores, speakers, 0.01, "=a")[0])


def test_a_study_run_once_per_seed_pools_by_name_and_a_changed_corpus_does_not(store, capsys):
    rng = np.random.default_rng(1)
    scores, speakers = simulated(rng, ["a", "b"], [0, 1], {})
    for seed in (0, 1):
        part = {arm: {k: v for k, v in s.items() if k[0] == seed} for arm, s in scores.items()}
        spk = {arm: {k: v for k, v in s.items() if k[0] == seed} for arm, s in speakers.items()}
        write_study(Store(store), "simp", f"simp-{seed}", part, FOLDS, spk)
    pooled = compare_csv(capsys, store, "simp", "--pool-seeds", "--reference", "=a")
    same(pooled, direct(scores, speakers, None, "=a")[0])
    assert {row["seeds"] for row in pooled.values()} == {"2"}
    other = {"a": {(2, 0): 0.5}}
    write_study(Store(store), "simp", "simp-2", other, FOLDS, fingerprint="corpus-2")
    code, _, err = run(capsys, "compare", "simp", "--pool-seeds", "--tracking-uri", store)
    assert code == 2 and err.count("\n") == 1
    assert "--pool-seeds 'simp': its 3 study keys do not pool into one study" in err
    assert "differ in corpus (data fingerprint)" in err


@pytest.mark.slow
def test_through_the_store_5_percent_of_null_comparisons_are_called_different(
    tmp_path, mlflow_template, capsys
):
    """400 two-arm null studies (6 speaker folds, one seed), each written to its own store
    and read back by ``ablate compare``: the share called better or worse is the nominal
    5%, within 3 binomial standard errors (minutes: marked slow)."""
    rng = np.random.default_rng(2)
    n, hits = 400, 0
    for i in range(n):
        path = tmp_path / f"null{i}.db"
        path.write_bytes(mlflow_template.read_bytes())
        uri = f"sqlite:///{path}"
        fold = rng.normal(0, 0.10, 6)
        arms = {
            arm: {(0, f): float(0.55 + fold[f] + rng.normal(0, 0.06)) for f in range(6)}
            for arm in ("a", "b")
        }
        write_study(Store(uri), "null", "null-1", arms, [[f"s{f}"] for f in range(6)], light=True)
        found = compare_csv(capsys, uri, "null-1", "--reference", "=a")
        hits += found["pos_encoding=b"]["verdict"] in ("better", "worse")
    assert abs(hits / n - NOMINAL) <= 3 * math.sqrt(NOMINAL * (1 - NOMINAL) / n), hits / n
