"""Built-in distillation losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ablate.errors import AblateError
from ablate.models.parts import DistillShape
from ablate.plugins import get_registry

FEATURE_LOSSES = ("feature_l1", "feature_mse", "cosine")
ALL = (*FEATURE_LOSSES, "logit_kl", "hard", "none")


def loss(name: str, student_dim: int = 16, teacher_dim: int = 16, **args):
    shape = DistillShape(student_dim, teacher_dim, num_classes=4)
    return get_registry().get("distill_loss", name).build(shape, args)


def batch(student_dim=16, teacher_dim=16):
    torch.manual_seed(0)
    return (
        torch.randn(8, student_dim, requires_grad=True),
        torch.randn(8, teacher_dim, requires_grad=True),
        torch.randn(8, 4, requires_grad=True),
        torch.randn(8, 4, requires_grad=True),
    )


def test_the_issue_s_losses_are_registered():
    assert set(get_registry().names("distill_loss")) >= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_every_loss_is_a_finite_scalar(name):
    value = loss(name)(*batch())
    assert value.shape == ()
    assert torch.isfinite(value)
    assert value.item() >= 0


@pytest.mark.parametrize("name", FEATURE_LOSSES)
def test_feature_losses_vanish_when_student_equals_teacher(name):
    s, _, s_logits, t_logits = batch()
    assert loss(name)(s, s.detach().clone(), s_logits, t_logits).item() == pytest.approx(
        0, abs=1e-6
    )
    assert loss(name)(*batch()).item() > 0.1


@pytest.mark.parametrize("name", FEATURE_LOSSES)
def test_gradients_reach_the_student_only(name):
    s, t, s_logits, t_logits = batch()
    loss(name)(s, t, s_logits, t_logits).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None


def test_feature_values():
    s, t, s_logits, t_logits = batch()
    torch.testing.assert_close(loss("feature_l1")(s, t, s_logits, t_logits), (s - t).abs().mean())
    torch.testing.assert_close(loss("feature_mse")(s, t, s_logits, t_logits), ((s - t) ** 2).mean())
    cosine = 1 - (F.normalize(s, dim=-1) * F.normalize(t, dim=-1)).sum(-1)
    torch.testing.assert_close(loss("cosine")(s, t, s_logits, t_logits), cosine.mean())


@pytest.mark.parametrize("name", FEATURE_LOSSES)
def test_a_learned_projection_bridges_different_sizes_and_says_so(name):
    same = loss(name)
    assert same.note is None
    assert list(same.parameters()) == []
    module = loss(name, student_dim=12, teacher_dim=16)
    assert isinstance(module.projection, torch.nn.Linear)
    assert (module.projection.in_features, module.projection.out_features) == (12, 16)
    assert "learned projection 12 -> 16" in module.note
    value = module(*batch(12, 16))
    value.backward()
    assert module.projection.weight.grad.abs().sum() > 0


def test_logit_kl_temperature():
    s, t, s_logits, t_logits = batch()
    assert loss("logit_kl").temperature == 4.0
    for temperature in (1.0, 2.5):
        value = loss("logit_kl", temperature=temperature)(s, t, s_logits, t_logits)
        p_teacher = F.softmax(t_logits / temperature, dim=-1)
        log_p_student = F.log_softmax(s_logits / temperature, dim=-1)
        expected = (p_teacher * (p_teacher.log() - log_p_student)).sum(-1).mean()
        torch.testing.assert_close(value, expected * temperature**2)
    assert loss("logit_kl")(s, t, s_logits, s_logits.detach()).item() == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        loss("logit_kl", temperature=0.0)
    with pytest.raises(AblateError, match=r"temperature: expected float"):
        loss("logit_kl", temperature="hot")


def test_none_is_inactive_and_zero():
    none = loss("none")
    assert none.active is False
    assert all(loss(name).active for name in ALL if name != "none")
    assert none(*batch()).item() == 0.0


def test_hard_distillation_is_cross_entropy_on_the_teachers_argmax():
    s_logits = torch.randn(5, 4, requires_grad=True)
    t_logits = torch.randn(5, 4)
    value = loss("hard")(torch.zeros(5, 16), torch.zeros(5, 16), s_logits, t_logits)
    expected = F.cross_entropy(s_logits, t_logits.argmax(-1))
    torch.testing.assert_close(value, expected)
    # the teacher's confidence does not matter, only its decision
    same = loss("hard")(torch.zeros(5, 16), torch.zeros(5, 16), s_logits, t_logits * 10)
    torch.testing.assert_close(same, expected)
