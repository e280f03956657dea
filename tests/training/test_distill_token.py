"""DeiT's distillation token and the LayerNorm-free patch embedding: the model's two
heads, the losses' use of them, the config checks, and real distilled trials."""

from __future__ import annotations

import pytest
import torch

from ablate.config import resolve_model
from ablate.errors import AblateError
from ablate.models.build import build_model, token_count
from ablate.plugins import get_registry
from ablate.training.distill import check_distill_token, finetune_loss, matching_loss
from ablate.training.fit_one import check_trainable
from ablate.training.trial import run_trial
from tests.training.conftest import tiny_config

SMALL = dict(preset="student", dim=32, depth=1, heads=2, dim_head=16, mlp_dim=64)
DISTIL = ["distill.enabled=true", "model.distill_token=true", "protocol.max_folds=1"]


def test_the_token_adds_a_head_trained_apart_and_averaged_in_evaluation():
    model = build_model(
        resolve_model({**SMALL, "distill_token": True}), 16, 8, 4, registry=get_registry()
    )
    plain = build_model(resolve_model(SMALL), 16, 8, 4, registry=get_registry())
    assert token_count(model) == token_count(plain) + 1 == 10
    x = torch.randn(3, 1, 16, 8)
    logits, feature = model.train()(x)
    assert logits.shape == (3, 2, 4) and feature.shape == (3, 2, 32)
    model.eval()
    with torch.no_grad():
        mean_logits, pooled = model(x)
        encoded = model.transformer(
            torch.cat(
                [
                    model.cls_token.expand(3, -1, -1),
                    model.dist_token.expand(3, -1, -1),
                    model.embed(model.patching(x)),
                ],
                1,
            )
        )
    torch.testing.assert_close(pooled, encoded[:, 0])
    expected = (model.head(encoded[:, 0]) + model.dist_head(encoded[:, 1])) / 2
    torch.testing.assert_close(mean_logits, expected)


def test_labels_train_the_class_head_and_the_teacher_the_token():
    """Cross-entropy reads only the class head; the distillation loss only the token's."""
    t_feature, t_logits = torch.randn(2, 32), torch.randn(2, 4)

    def targets(x, index):
        return t_feature, t_logits

    seen = {}

    def loss(s_feat, t_feat, s_logits, t_logit):
        seen.update(feat=s_feat, logits=s_logits)
        return s_logits.new_zeros(())

    logits = torch.randn(2, 2, 4, requires_grad=True)
    feature = torch.randn(2, 2, 32)
    labels = torch.eye(4)[:2]
    total = finetune_loss(loss, targets, 1.0, 0.0)(None, None, logits, feature, labels)
    total.backward()
    assert logits.grad[:, 1].abs().sum() == 0 and logits.grad[:, 0].abs().sum() > 0
    torch.testing.assert_close(seen["logits"], logits[:, 1].detach())
    torch.testing.assert_close(seen["feat"], feature[:, 1])
    matching_loss(loss, targets)(None, None, logits, feature, labels)
    torch.testing.assert_close(seen["feat"], feature[:, 1])


@pytest.mark.parametrize("loss", ["feature_l1", "hard"])
def test_a_student_with_a_token_distils_in_a_real_trial(tiny_corpus, tmp_path, loss):
    config = tiny_config(*DISTIL, f"distill.loss={loss}")
    result = run_trial(config, corpus=tiny_corpus, teacher_cache=tmp_path, registry=get_registry())
    fold = result.folds[0]
    assert [h["stage"] for h in fold.history] == ["feature", "finetune"]
    assert all(h["train_loss"] > 0 for h in fold.history)
    assert 0.0 <= fold.metrics["uar"] <= 1.0
    plain = run_trial(
        tiny_config(*DISTIL[::2], f"distill.loss={loss}"),
        corpus=tiny_corpus,
        teacher_cache=tmp_path,
        registry=get_registry(),
    )
    assert result.params == plain.params + 32 + 32 * 4 + 4


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.distill_token=true"], r"model\.distill_token: needs distill\.enabled=true"),
        (
            ["model.distill_token=true", "distill.enabled=true", "distill.loss=none"],
            r"model\.distill_token: distill\.loss 'none' gives the token no signal",
        ),
        (
            ["distill.teacher.distill_token=true", "distill.enabled=true"],
            r"distill\.teacher\.distill_token: a teacher has no teacher",
        ),
    ],
)
def test_a_token_without_a_teacher_signal_is_a_one_line_error(overrides, message):
    config = tiny_config(*overrides)
    with pytest.raises(AblateError, match=message):
        check_distill_token(config, registry=get_registry())
    with pytest.raises(AblateError, match=f"^study.yaml: {message}"):
        check_trainable(config, get_registry(), "study.yaml: ")


def test_the_cnn_has_no_token_to_add():
    with pytest.raises(AblateError, match=r"^model\.distill_token: the cnn preset has no tokens"):
        tiny_config("model.preset=cnn", "model.distill_token=true")


def test_without_the_first_layernorm_a_patch_keeps_its_energy():
    """The paper's embedding normalises each raw 128x1 frame, so a frame and the same frame
    ten times louder embed alike; ``patch_norm=false`` tells them apart."""
    frame = torch.randn(1, 1, 16, 1).expand(1, 1, 16, 8).contiguous()
    louder = frame * 10
    paper = build_model(resolve_model(SMALL), 16, 8, 4, registry=get_registry())
    plain = build_model(
        resolve_model({**SMALL, "patch_norm": False}), 16, 8, 4, registry=get_registry()
    )
    assert isinstance(plain.embed[0], torch.nn.Identity)
    assert paper.state_dict().keys() - plain.state_dict().keys() == {
        "embed.0.weight",
        "embed.0.bias",
    }
    for model, same in ((paper, True), (plain, False)):
        a, b = (model.embed(model.patching(v)) for v in (frame, louder))
        assert torch.allclose(a, b, atol=1e-3) is same


def test_patch_norm_off_trains(tiny_corpus):
    result = run_trial(
        tiny_config("model.patch_norm=false", "protocol.max_folds=1"),
        corpus=tiny_corpus,
        registry=get_registry(),
    )
    assert 0.0 <= result.summary["test_uar_mean"] <= 1.0


def test_a_plain_config_passes_the_token_check():
    check_distill_token(tiny_config(), registry=get_registry())
    check_distill_token(tiny_config("distill.enabled=true"), registry=get_registry())
