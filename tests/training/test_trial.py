"""A real trial on the tiny synthetic corpus: reproducibility, failure, distillation."""

from __future__ import annotations

import pytest
import torch

from ablate.plugins import get_registry
from ablate.training.trial import TrialFailed, run_trial
from tests.training.conftest import tiny_config


class Recorder:
    def __init__(self):
        self.epochs, self.folds = [], []

    def epoch(self, fold, stage, epoch, metrics):
        self.epochs.append((fold, stage, epoch))

    def fold_done(self, result):
        self.folds.append(result.fold)


def test_same_seed_gives_identical_metrics_on_cpu(tiny_corpus):
    config = tiny_config("protocol.max_folds=1")
    first = run_trial(config, corpus=tiny_corpus, registry=get_registry())
    second = run_trial(config, corpus=tiny_corpus, registry=get_registry())
    assert first.summary == second.summary

    def timeless(history):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in history]

    assert timeless(first.folds[0].history) == timeless(second.folds[0].history)


def test_trial_reports_every_fold_and_summarises(tiny_corpus):
    recorder = Recorder()
    result = run_trial(
        tiny_config(), corpus=tiny_corpus, reporter=recorder, registry=get_registry()
    )
    assert recorder.folds == [0, 1]
    assert [e for e in recorder.epochs if e[0] == 0] == [(0, "train", 1), (0, "train", 2)]
    assert result.speaker_independent
    for fold, split in zip(result.folds, result.split, strict=True):
        assert set(fold.test_speakers) == set(split["test_speakers"])
        assert 0.0 <= fold.metrics["uar"] <= 1.0
        assert sum(map(sum, fold.confusion)) == split["test"]
    assert result.summary["test_uar_mean"] == pytest.approx(
        sum(f.metrics["uar"] for f in result.folds) / 2
    )
    assert result.params > 0 and result.gflops > 0
    assert result.compute_seconds > 0 and result.eval_seconds > 0
    assert result.compute_seconds + result.eval_seconds < result.seconds
    assert result.eval_seconds == pytest.approx(sum(f.eval_seconds for f in result.folds))


def test_non_finite_loss_fails_the_trial_with_a_reason(tiny_corpus):
    with pytest.raises(TrialFailed, match="non-finite loss"):
        run_trial(
            tiny_config("train.lr=1e30", "train.grad_clip=0"),
            corpus=tiny_corpus,
            registry=get_registry(),
        )


def test_distillation_trains_one_teacher_and_reuses_it(tiny_corpus, tmp_path):
    runs = []
    for loss in ("feature_l1", "logit_kl", "none"):
        recorder = Recorder()
        config = tiny_config("distill.enabled=true", f"distill.loss={loss}", "protocol.max_folds=1")
        result = run_trial(
            config,
            corpus=tiny_corpus,
            reporter=recorder,
            teacher_cache=tmp_path,
            registry=get_registry(),
        )
        runs.append((loss, [stage for _, stage, _ in recorder.epochs], result))
    stages = {loss: s for loss, s, _ in runs}
    assert stages["feature_l1"] == ["teacher", "feature", "finetune"]
    assert stages["logit_kl"] == ["feature", "finetune"]
    assert stages["none"] == ["finetune"]
    assert len(list(tmp_path.glob("teacher-*.pt"))) == 1
    teacher_uas = {r.summary["teacher_test_uar_mean"] for _, _, r in runs}
    assert len(teacher_uas) == 1, "every arm must see the same cached teacher"
    folds = [r.folds[0] for _, _, r in runs]
    assert folds[0].teacher_seconds > 0
    assert {f.teacher_seconds for f in folds} == {folds[0].teacher_seconds}, "from the cache"
    assert folds[0].teacher_wall_seconds >= folds[0].teacher_seconds, "trained in the first arm"
    assert all(0 < f.compute_seconds < f.seconds for f in folds), "the student's own time"
    assert all(0 < f.eval_seconds < f.seconds - f.compute_seconds for f in folds)
    assert set(folds[0].teacher_metrics) == {"uar", "war", "f1"}
    assert runs[0][2].teacher_params > 0 and runs[0][2].teacher_gflops > runs[0][2].gflops


def test_distilled_student_is_the_same_whether_its_teacher_was_trained_or_cached(
    tiny_corpus, tmp_path
):
    config = tiny_config(
        "distill.enabled=true",
        "distill.loss=feature_l1",
        "protocol.max_folds=1",
        "model.dropout=0.1",
    )
    cold = run_trial(config, corpus=tiny_corpus, teacher_cache=tmp_path, registry=get_registry())
    warm = run_trial(config, corpus=tiny_corpus, teacher_cache=tmp_path, registry=get_registry())
    assert cold.folds[0].metrics == warm.folds[0].metrics
    for name, weight in cold.folds[0].state_dict.items():
        assert torch.equal(weight, warm.folds[0].state_dict[name]), name
    assert cold.folds[0].teacher_metrics == warm.folds[0].teacher_metrics
    wider = tiny_config(
        "distill.enabled=true", "distill.loss=none", "protocol.max_folds=1", "model.dim=48"
    )
    other = run_trial(
        wider, corpus=tiny_corpus, teacher_cache=tmp_path / "other", registry=get_registry()
    )
    assert other.folds[0].teacher_metrics == cold.folds[0].teacher_metrics, (
        "the teacher must not depend on the student it is trained beside"
    )


def test_augment_before_split_leaks_copies_across_the_split(tiny_corpus):
    from ablate.data.augment import augment_before_split
    from ablate.data.splits import make_folds

    config = tiny_config(
        "data.augment=[noise]",
        "data.augment_copies=1",
        "protocol.split=random_kfold",
        "protocol.augment_before_split=true",
    )
    expanded = augment_before_split(tiny_corpus, config.data, seed=0, registry=get_registry())
    assert len(expanded) == 2 * len(tiny_corpus)
    fold = make_folds(expanded, config.protocol)[0]
    train_sources = {expanded.hashes[i] for i in fold.train}
    assert any(expanded.hashes[i] in train_sources for i in fold.test), "the leak it demonstrates"

    result = run_trial(config, corpus=tiny_corpus, registry=get_registry())
    assert not result.speaker_independent
    assert sum(s["train"] + s["val"] + s["test"] for s in result.split[:1]) == len(expanded)


def test_augment_before_split_needs_wave_augments(tiny_corpus):
    from ablate.errors import AblateError

    config = tiny_config("protocol.split=random_kfold", "protocol.augment_before_split=true")
    with pytest.raises(AblateError, match=r"augment_before_split: needs data\.augment"):
        run_trial(config, corpus=tiny_corpus, registry=get_registry())


def test_a_learned_projection_is_said_in_the_result(tiny_corpus, tmp_path):
    config = tiny_config("distill.enabled=true", "distill.teacher.dim=48", "protocol.max_folds=1")
    result = run_trial(config, corpus=tiny_corpus, teacher_cache=tmp_path, registry=get_registry())
    assert result.notes == [
        "distill_loss feature_l1: learned projection 32 -> 48 maps the student feature "
        "onto the teacher's"
    ]
    plain = run_trial(
        tiny_config("protocol.max_folds=1"), corpus=tiny_corpus, registry=get_registry()
    )
    assert plain.notes == []


@pytest.mark.parametrize("select", ["last", "best_val"])
def test_each_fold_scores_its_validation_speakers_with_the_weights_it_ends_with(
    tiny_corpus, select
):
    """What a nested recipe choice reads. Under select=last the fold ends with its last
    epoch, so its validation UA is the last epoch's, not the best epoch's (which the
    objective val_uar_mean used to report whatever the weights kept)."""
    from ablate.studies.seeds import aggregate

    config = tiny_config("train.epochs=6", f"train.select={select}", "train.lr=1e-2")
    result = run_trial(config, corpus=tiny_corpus, registry=get_registry())
    # the last epoch is not the best one here, so the two rules differ
    assert any(
        f.history[-1]["val_uar"] < max(h["val_uar"] for h in f.history) for f in result.folds
    )
    for fold in result.folds:
        rows = [h["val_uar"] for h in fold.history]
        expected = rows[-1] if select == "last" else max(rows)
        assert fold.val_metrics["uar"] == pytest.approx(expected, abs=1e-12)
        assert set(fold.val_metrics) == {"uar", "war", "f1"}
    metrics = aggregate([(0, result)])
    mean = sum(f.val_metrics["uar"] for f in result.folds) / len(result.folds)
    assert metrics["val_uar_mean"] == pytest.approx(mean, abs=1e-12)
    without = run_trial(tiny_config("protocol.val_fraction=0", "protocol.max_folds=1"),
                        corpus=tiny_corpus, registry=get_registry())  # fmt: skip
    assert without.folds[0].val_metrics == {} and "val_uar_mean" not in aggregate([(0, without)])
