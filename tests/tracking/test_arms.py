"""Reading arms: the one per-fold reader, what a fold tested, repeated trials, study labels."""

from __future__ import annotations

import json
from types import SimpleNamespace

from ablate.tracking.arms import Arm, _add_run, _study_labels
from ablate.tracking.folds import fold_values


def trial(metrics, speakers=(("03",), ("08",)), independent=True, swept=None, params=None):
    split = [{"fold": i, "test_speakers": list(s)} for i, s in enumerate(speakers)]
    tags = {
        "ablate.split": json.dumps(split),
        "ablate.speaker_independent": str(independent).lower(),
        "ablate.label_names": json.dumps(["a", "b", "c", "d"]),
        "ablate.fingerprint": "f" * 64,
        "ablate.swept": json.dumps(swept or {}),
        "ablate.seeds": "[0]",
    }
    params = {"data.dataset": "emodb", **(params or {})}
    return SimpleNamespace(data=SimpleNamespace(metrics=metrics, tags=tags, params=params))


def test_fold_values_reads_model_and_teacher_scores_and_nothing_else():
    run = trial(
        {
            "seed0/fold1/test_uar": 0.5,
            "seed2/fold0/teacher_test_f1": 0.4,
            "seed0/fold1/train/val_uar": 0.9,
            "test_uar_mean": 0.5,
        }
    )
    assert fold_values(run) == {("", "uar"): {(0, 1): 0.5}, ("teacher", "f1"): {(2, 0): 0.4}}


def test_folds_pair_by_what_they_tested():
    """The same test speaker in two studies is one fold; a random fold is not a speaker."""
    a, b = Arm("a", "s1"), Arm("b", "s2")
    _add_run(a, trial({"seed0/fold0/test_uar": 0.5}, speakers=[("03",)]))
    _add_run(b, trial({"seed0/fold3/test_uar": 0.6}, speakers=[("x",)] * 3 + [("03",)]))
    assert set(a.fold_means("uar")) == set(b.fold_means("uar"))
    assert list(a.folds.values()) == ["03"] and a.classes == 4
    leaky = Arm("c", "s3")
    _add_run(leaky, trial({"seed0/fold0/test_uar": 0.9}, speakers=[()], independent=False))
    assert not set(leaky.fold_means("uar")) & set(a.fold_means("uar"))
    assert not leaky.speaker_independent


def test_a_repeated_trial_of_an_arm_is_averaged_not_overwritten():
    arm = Arm("a", "s1")
    _add_run(arm, trial({"seed0/fold0/test_uar": 0.5}))
    _add_run(arm, trial({"seed0/fold0/test_uar": 0.7}))
    assert list(arm.fold_means("uar").values()) == [0.6] and arm.runs == 2


def test_two_keys_of_one_name_are_labelled_by_what_differs():
    def parent(key):
        tags = {"ablate.study": "pe", "ablate.study_key": key}
        return SimpleNamespace(data=SimpleNamespace(tags=tags), info=SimpleNamespace(run_name=key))

    swept = {"model.pos_encoding": "none"}
    runs = {
        "pe-1": [trial({}, swept=swept, params={"protocol.split": "loso", "train.lr": "0.1"})],
        "pe-2": [
            trial({}, swept=swept, params={"protocol.split": "random_kfold", "train.lr": "0.2"})
        ],
    }
    notes: list[str] = []
    labels = _study_labels({k: parent(k) for k in runs}, runs, notes)
    assert labels == {
        "pe-1": "pe [split=loso, +1 more]",
        "pe-2": "pe [split=random_kfold, +1 more]",
    }
    assert notes == [
        "pe-1, pe-2 are different studies named 'pe', kept apart; they differ in "
        "protocol.split, train.lr"
    ]


def test_arm_names_round_sampled_floats():
    """TPE's floats made a 24-trial table's arm column unreadable (0.0010450742963586343)."""
    from ablate.tracking.naming import arm_name

    swept = {"train.lr": 0.0010450742963586343, "model.patch_norm": False, "train.ema": 0.995}
    assert arm_name(swept) == "lr=0.001045, patch_norm=False, ema=0.995"
    assert arm_name({"train.lr": 1.0e-4, "model.dim": 64}) == "lr=0.0001, dim=64"
    assert arm_name({}) == "base config"
