"""The paper-settings GPU plan (studies/paper_gpu.py): its dry run, on the CPU, enumerates
every study at 50 epochs and three seeds and times it from the H200's measured figures."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies"))
import paper_gpu

STUDIES = ("pe_vs_coord", "presets", "distillation", "leak", "patch_shape")
#: arms added to the studies after the measured 20-epoch run
NEW_ARMS = ("rope", "alibi", "token_mse", "attention_kl")


def test_the_dry_run_plans_every_study_at_the_papers_settings(emodb_root, capsys):
    code = paper_gpu.main([str(emodb_root), "--dry-run"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("phase")]
    assert [row.split()[2] for row in rows] == list(STUDIES)
    for row in rows:
        assert "x 3 seeds x 8 folds, 50 epochs" in row
    trials = {row.split()[2]: int(row.split()[3]) for row in rows}
    assert trials == {  # rope, alibi; token_mse, attention_kl joined the studies since
        "pe_vs_coord": 6,
        "presets": 3,
        "distillation": 6,
        "leak": 6,
        "patch_shape": 4,
    }
    minutes = float(out.split("estimated wall time ")[1].split(" min")[0])
    assert code == (0 if minutes <= 10 else 1)
    assert ("does NOT fit" in out) == (code == 1)


def test_the_calculation_reproduces_the_measured_20_epoch_run(emodb_root):
    """The model is fitted on that run's trials; its phases' total must come out close."""
    rate = paper_gpu.throughput(paper_gpu.RESULTS / "throughput-h200.json")
    cost_of = partial(paper_gpu.matching_cost, rate, str(emodb_root))
    cal = paper_gpu.calibration(paper_gpu.RESULTS / "emodb-h200.db", cost_of)
    work = {  # the arms that run had (the studies have grown since)
        study: [t for t in trials if not any(new in t.label for new in NEW_ARMS)]
        for study, trials in paper_gpu.trials_at(rate, str(emodb_root), 20, 1).items()
    }
    predicted = paper_gpu.simulate(paper_gpu.plan(str(emodb_root), 20, "0"), work, cal)
    assert predicted == pytest.approx(paper_gpu.MEASURED_20_EPOCH_S, rel=0.25)


def _trial(study: str, cost: float) -> paper_gpu.Trial:
    return paper_gpu.Trial(study, "arm", cost, epochs=1, folds=1, seeds=1)


@pytest.mark.parametrize(("a", "expected"), [(0.0, 100.0), (1.0, 200.0)])
def test_the_schedule_shares_the_gpu_as_measured(a, expected):
    """Two 100-s trials at once: with perfect scaling (a = 0) they take 100 s, with none
    (a = 1: two at once are each half as fast) 200 s; plus the phase's fixed overhead."""
    runs = [paper_gpu.StudyRun("s", "s.yaml", (), workers=2, phase=1)]
    cal = {"c": 1.0, "a": a, "max_n": 16, "wall": 1.0}
    seconds = paper_gpu.simulate(runs, {"s": [_trial("s", 100), _trial("s", 100)]}, cal)
    assert seconds == pytest.approx(expected + paper_gpu.PHASE_OVERHEAD_S)


def test_a_worker_takes_the_next_trial_when_one_finishes():
    runs = [paper_gpu.StudyRun("s", "s.yaml", (), workers=1, phase=1)]
    cal = {"c": 1.0, "a": 0.0, "max_n": 16, "wall": 1.5}
    seconds = paper_gpu.simulate(runs, {"s": [_trial("s", 10), _trial("s", 30)]}, cal)
    assert seconds == pytest.approx(1.5 * 40 + paper_gpu.PHASE_OVERHEAD_S)
