"""The recipe levers in real trials on the tiny synthetic corpus: normalisation, windows,
weight averaging, the fixed schedule, stochastic depth and distillation from any preset."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ablate.config import resolve_model
from ablate.data.pipeline import load_corpus
from ablate.data.splits import make_folds
from ablate.models.vit import DropPath
from ablate.plugins import get_registry
from ablate.training.averaging import WeightAverage
from ablate.training.fold import FoldRun
from ablate.training.trial import run_trial
from tests.training.conftest import tiny_config


def _fold_run(config, corpus):
    return FoldRun(config, corpus, make_folds(corpus, config.protocol)[0], get_registry())


@pytest.mark.parametrize("norm", ["utterance", "speaker"])
def test_norm_choice_changes_the_inputs_and_trains(tiny_corpus, norm):
    base = _fold_run(tiny_config(), tiny_corpus)
    run = _fold_run(tiny_config(f"data.norm={norm}"), tiny_corpus)
    assert not torch.allclose(run.test.x, base.test.x)
    result = run_trial(
        tiny_config(f"data.norm={norm}", "protocol.max_folds=1"),
        corpus=tiny_corpus,
        registry=get_registry(),
    )
    assert 0.0 <= result.summary["test_uar_mean"] <= 1.0


def test_speaker_norm_reads_no_test_label(tiny_corpus):
    config = tiny_config("data.norm=speaker")
    run = _fold_run(config, tiny_corpus)
    shuffled = tiny_corpus.labels.clone()
    shuffled[run.fold.test] = shuffled[run.fold.test].flip(0)
    relabelled = type(tiny_corpus)(**{**vars(tiny_corpus), "labels": shuffled})
    other = _fold_run(config, relabelled)
    torch.testing.assert_close(other.test.x, run.test.x)
    # and a test speaker is normalised by its own statistics: per-bin mean ~0
    assert run.test.x.mean(dim=(0, 1, 3)).abs().max() < 1e-4


def test_no_validation_split_trains_a_fixed_schedule(tiny_corpus):
    result = run_trial(
        tiny_config("protocol.val_fraction=0", "train.epochs=3", "protocol.max_folds=1"),
        corpus=tiny_corpus,
        registry=get_registry(),
    )
    fold = result.folds[0]
    assert result.split[0]["val"] == 0
    assert fold.best_epoch == 3
    assert [h["epoch"] for h in fold.history] == [1, 2, 3]
    assert all(h["train_loss"] > 0 and "val_uar" not in h for h in fold.history)
    assert result.summary["train_loss_final_mean"] == fold.history[-1]["train_loss"]


def test_select_last_keeps_the_last_epoch_and_still_records_validation(tiny_corpus):
    result = run_trial(
        tiny_config("train.select=last", "train.epochs=3", "protocol.max_folds=1"),
        corpus=tiny_corpus,
        registry=get_registry(),
    )
    fold = result.folds[0]
    assert fold.best_epoch == 3
    assert all("val_uar" in h and "train_loss" in h for h in fold.history)


def test_unknown_selection_is_a_one_line_error(tiny_corpus):
    from ablate.errors import AblateError

    with pytest.raises(AblateError, match=r"train\.select: expected one of best_val, last"):
        run_trial(
            tiny_config("train.select=best", "protocol.max_folds=1"),
            corpus=tiny_corpus,
            registry=get_registry(),
        )


def test_weight_average_is_the_exponential_moving_average_with_a_warm_up():
    model = nn.Linear(2, 1)
    start = model.weight.detach().clone()
    average = WeightAverage(model, 0.9)
    with torch.no_grad():
        model.weight.add_(11.0)
    average.update(model)  # warm-up decay min(0.9, 2 / 11): mostly the new weights
    torch.testing.assert_close(average.model.weight, start + 11.0 * 9 / 11)
    for _ in range(200):
        average.update(model)  # then 0.9 per step
    torch.testing.assert_close(average.model.weight, model.weight, atol=1e-5, rtol=0)
    assert average.decay == 0.9 and average.updates == 201


def test_ema_trial_ends_with_the_averaged_weights(tiny_corpus):
    plain = run_trial(
        tiny_config("train.select=last", "protocol.max_folds=1"),
        corpus=tiny_corpus,
        registry=get_registry(),
    )
    ema = run_trial(
        tiny_config("train.select=last", "train.ema=0.9", "protocol.max_folds=1"),
        corpus=tiny_corpus,
        registry=get_registry(),
    )
    # the same steps (same seed): the live weights match, the saved ones are the average
    assert plain.folds[0].history[0]["train_loss"] == ema.folds[0].history[0]["train_loss"]
    weights = [k for k in plain.folds[0].state_dict if k.endswith("weight")]
    assert any(
        not torch.equal(plain.folds[0].state_dict[k], ema.folds[0].state_dict[k]) for k in weights
    )


def test_drop_path_drops_whole_examples_and_keeps_the_mean():
    layer = DropPath(0.5)
    x = torch.ones(4000, 3, 2)
    torch.manual_seed(0)
    out = layer(x)
    per_example = out.flatten(1)
    assert set(per_example.unique().tolist()) == {0.0, 2.0}
    assert (per_example.min(1).values == per_example.max(1).values).all()
    assert abs(out.mean().item() - 1.0) < 0.05
    assert torch.equal(layer.eval()(x), x)


def test_stochastic_depth_rises_over_the_blocks_and_trains(tiny_corpus):
    from ablate.models.build import build_model

    model = build_model(
        resolve_model({"preset": "student", "depth": 3, "drop_path": 0.3}),
        32,
        32,
        4,
        registry=get_registry(),
    )
    assert [d.p for d in model.transformer.drops] == pytest.approx([0.1, 0.2, 0.3])
    result = run_trial(
        tiny_config("model.drop_path=0.2", "protocol.max_folds=1"),
        corpus=tiny_corpus,
        registry=get_registry(),
    )
    assert 0.0 <= result.summary["test_uar_mean"] <= 1.0


def test_long_utterances_train_on_crops_and_test_on_every_window(tmp_path):
    config = tiny_config(
        "data.dataset_args.seconds=1.0", "data.max_frames=64", f"data.cache_dir={tmp_path}"
    )
    corpus = load_corpus(config.data, progress=False, registry=get_registry())
    assert corpus.features.shape[-1] == 64
    run = _fold_run(config, corpus)
    assert run.train.wide and run.test.wide and run.train.window == 32
    result = run_trial(config.copy(), corpus=corpus, registry=get_registry())
    assert all(0.0 <= f.metrics["uar"] <= 1.0 for f in result.folds)


def test_max_frames_needs_padding_fit(tmp_path):
    from ablate.errors import AblateError

    config = tiny_config("data.max_frames=64", "data.fit=resize", f"data.cache_dir={tmp_path}")
    with pytest.raises(AblateError, match=r"data\.max_frames: sliding windows need data\.fit=pad"):
        load_corpus(config.data, progress=False, registry=get_registry())


@pytest.mark.parametrize("loss", ["logit_kl", "hard"])
def test_the_cnn_can_teach_a_vit_with_logit_losses(tiny_corpus, tmp_path, loss):
    config = tiny_config(
        "distill.enabled=true",
        "distill.teacher.preset=cnn",
        "distill.teacher.dim=null",
        "distill.teacher.depth=null",
        "distill.teacher.heads=null",
        "distill.teacher.dim_head=null",
        "distill.teacher.mlp_dim=null",
        "distill.teacher.stem_args={}",
        f"distill.loss={loss}",
        "distill.feature_epochs=0",
        "distill.finetune_epochs=2",
        "protocol.max_folds=1",
    )
    result = run_trial(config, corpus=tiny_corpus, teacher_cache=tmp_path, registry=get_registry())
    fold = result.folds[0]
    assert set(fold.teacher_metrics) == {"uar", "war", "f1"}
    assert [h["stage"] for h in fold.history] == ["finetune", "finetune"]
    assert result.teacher_params > 0 and result.teacher_params != result.params
