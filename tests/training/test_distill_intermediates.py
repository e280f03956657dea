"""Distillation losses that need intermediates: they get them from the student and the
teacher (computed only then), train a tiny student, and are refused with a CNN in one line
before anything trains."""

from __future__ import annotations

import pytest

from ablate.cli.main import main
from ablate.errors import AblateError
from ablate.models import vit
from ablate.plugins import get_registry
from ablate.training.fit_one import check_trainable
from ablate.training.preflight import check_config
from ablate.training.trial import run_trial
from tests.training.conftest import tiny_config

DISTIL = ["distill.enabled=true", "protocol.max_folds=1", "distill.feature_epochs=3"]
CNN = "distill.teacher.preset=cnn"

PROBE = """
import torch
from torch import nn
from ablate import hookimpl


class LayerProbe(nn.Module):
    '''A plain module asking for every block's tokens; records what it was handed.'''

    needs = frozenset({"layers"})
    seen = []

    def __init__(self, shape):
        super().__init__()
        self.shape = shape
        self.projection = nn.Linear(shape.student_dim, shape.teacher_dim)

    def forward(self, student, teacher):
        LayerProbe.seen.append((self.shape, student, teacher))
        s, t = self.projection(student.layers[-1][:, 0]), teacher.layers[-1][:, 0]
        return (s - t).pow(2).mean()


@hookimpl
def register_distill_losses(register):
    register("layer_probe", LayerProbe, "CLS of the last blocks, from the layers")
    register("layer_fn", lambda shape: LayerProbe(shape), "the same, from a function")
"""


@pytest.fixture
def calls(monkeypatch):
    """The ``intermediates`` each ViT forward was asked for, student and teacher alike."""
    asked = []
    real = vit.SpectrogramViT.forward

    def forward(self, x, intermediates=()):
        asked.append((self.training, frozenset(intermediates)))
        return real(self, x, intermediates)

    monkeypatch.setattr(vit.SpectrogramViT, "forward", forward)
    return asked


def test_a_loss_on_pooled_features_asks_no_model_for_intermediates(calls, tiny_corpus, tmp_path):
    run_trial(
        tiny_config(*DISTIL, "distill.loss=feature_l1"),
        corpus=tiny_corpus,
        teacher_cache=tmp_path,
        registry=get_registry(),
    )
    assert calls and {asked for _, asked in calls} == {frozenset()}


@pytest.mark.parametrize(
    ("loss", "needs"), [("token_mse", "tokens"), ("attention_kl", "attention")]
)
def test_the_new_losses_train_a_tiny_student_from_a_tiny_teacher(
    calls, tiny_corpus, tmp_path, loss, needs
):
    config = tiny_config(*DISTIL, f"distill.loss={loss}", "distill.teacher.depth=2")
    result = run_trial(config, corpus=tiny_corpus, teacher_cache=tmp_path, registry=get_registry())
    fold = result.folds[0]
    feature = [h["train_loss"] for h in fold.history if h["stage"] == "feature"]
    assert len(feature) == 3 and feature[-1] < feature[0]  # the student learns the teacher's
    assert 0.0 <= fold.metrics["uar"] <= 1.0
    training = {asked for trains, asked in calls if trains}
    assert training == {frozenset(), frozenset({needs})}  # the teacher's own training: none
    assert (False, frozenset({needs})) in calls  # the frozen teacher, on each batch


def test_a_plain_module_asking_for_layers_gets_both_models_intermediates(
    plugin_module, tiny_corpus, tmp_path
):
    plugin_module("probe", PROBE)
    from probe import LayerProbe

    config = tiny_config(*DISTIL, "distill.loss=layer_probe", "distill.teacher.depth=2")
    run_trial(config, corpus=tiny_corpus, teacher_cache=tmp_path, registry=get_registry())
    shape, student, teacher = LayerProbe.seen[-1]
    assert (shape.student.depth, shape.teacher.depth, shape.student.tokens) == (1, 2, 33)
    assert len(student.layers) == 1 and len(teacher.layers) == 2
    assert student.layers[0].shape == (16, 33, 32)
    assert student.tokens is None and student.attention is None
    assert student.feature.shape == (16, 32) and teacher.logits.shape == (16, 4)


MESSAGE = (
    "distill.loss: distill_loss 'attention_kl' (ablate) needs the teacher's attention, which "
    "distill.teacher.preset 'cnn' does not have (no tokens or attention); choose a ViT "
    "teacher or a loss on features or logits"
)


def test_a_loss_needing_attention_with_a_cnn_teacher_fails_in_one_line_before_training(
    tiny_corpus, tmp_path, capsys
):
    config = tiny_config(*DISTIL, "distill.loss=attention_kl", CNN)
    for check in (
        lambda: check_trainable(
            config, registry=get_registry()
        ),  # ablate train, before any data is loaded
        lambda: check_config(
            config, num_classes=4, registry=get_registry()
        ),  # every point of a study
        lambda: run_trial(
            config, corpus=tiny_corpus, teacher_cache=tmp_path, registry=get_registry()
        ),
    ):
        with pytest.raises(AblateError) as info:
            check()
        assert str(info.value) == MESSAGE
    assert list(tmp_path.iterdir()) == []  # no teacher was trained
    (tmp_path / "c.yaml").write_text("distill: {enabled: true, loss: attention_kl}\n")
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(tmp_path / "c.yaml"), CNN, "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'c.yaml'}: {MESSAGE}\n"


def test_a_function_factory_is_checked_once_built(plugin_module, tiny_corpus, tmp_path):
    """A function declares no ``needs``: what it builds is checked, still before training."""
    plugin_module("probe", PROBE)
    config = tiny_config(*DISTIL, "distill.loss=layer_fn", CNN)
    check_trainable(config, registry=get_registry())
    with pytest.raises(
        AblateError,
        match=r"^distill\.loss: distill_loss 'layer_fn' \(probe\) needs the teacher's layers",
    ):
        run_trial(
            config, corpus=tiny_corpus, teacher_cache=tmp_path / "teachers", registry=get_registry()
        )
    assert not (tmp_path / "teachers").exists()
