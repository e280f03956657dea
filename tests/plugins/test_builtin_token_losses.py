"""Built-in distillation losses on intermediates: ``token_mse`` and ``attention_kl``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from ablate_plugins.distill_loss import onto_grid

from ablate.contracts import DistillShape, EncoderShape, Intermediates
from ablate.plugins import get_registry

STUDENT = EncoderShape(dim=8, depth=2, heads=2, tokens=9, prefix=1, grid=(1, 8))
TEACHER = EncoderShape(dim=12, depth=3, heads=3, tokens=17, prefix=1, grid=(1, 16))


def loss(name: str, student: EncoderShape = STUDENT, teacher: EncoderShape = TEACHER):
    shape = DistillShape(student.dim, teacher.dim, 4, student, teacher)
    return get_registry().get("distill_loss", name).build(shape, {})


def side(shape: EncoderShape, seed: int) -> Intermediates:
    generator = torch.Generator().manual_seed(seed)
    n = shape.tokens

    def draw(*size):
        return torch.randn(*size, generator=generator, requires_grad=True)

    maps = [draw(2, shape.heads, n, n).detach().softmax(-1) for _ in range(shape.depth)]
    attention = [m.requires_grad_() for m in maps]
    return Intermediates(draw(2, shape.dim), draw(2, 4), draw(2, n, shape.dim), None, attention)


def test_onto_grid_keeps_equal_grids_and_resamples_others_on_the_image():
    x = torch.randn(2, 6, 3)
    assert onto_grid(x, (2, 3), (2, 3)) is x
    frames = torch.arange(6.0).reshape(1, 6, 1)  # one row of 6 frames, one channel
    torch.testing.assert_close(  # shrinking: means over the frames each target covers
        onto_grid(frames, (1, 6), (1, 4))[0, :, 0], torch.tensor([0.5, 1.5, 3.5, 4.5])
    )
    square = onto_grid(frames, (1, 6), (2, 3))[0, :, 0].reshape(2, 3)
    torch.testing.assert_close(square, torch.tensor([[0.5, 2.5, 4.5]] * 2))  # rows: repeated
    two = torch.tensor([[[1.0], [3.0]]])
    torch.testing.assert_close(
        onto_grid(two, (1, 2), (1, 4))[0, :, 0], torch.tensor([1.0, 1, 3, 3])
    )


def test_token_mse_projects_the_student_s_patch_tokens_onto_the_resampled_teacher_s():
    token_mse = loss("token_mse")
    assert token_mse.needs == {"tokens"}
    assert token_mse.note == (
        "learned projection 8 -> 12 per token; teacher tokens resampled from its (1, 16) "
        "patch grid to the student's (1, 8)"
    )
    student, teacher = side(STUDENT, 0), side(TEACHER, 1)
    value = token_mse(student, teacher)
    projected = token_mse.projection(student.tokens[:, 1:])
    pairs = teacher.tokens[:, 1:].reshape(2, 8, 2, 12).mean(2)  # 16 frames -> 8: pair means
    torch.testing.assert_close(value, F.mse_loss(projected, pairs))
    value.backward()
    assert token_mse.projection.weight.grad.abs().sum() > 0
    assert teacher.tokens.grad is None
    assert student.tokens.grad[:, 0].eq(0).all()  # CLS is not compared


def _query_row(attention, query, prefix):
    row = attention.mean(1)[:, query, prefix:]
    return row / row.sum(-1, keepdim=True)


@pytest.mark.parametrize("prefix", [1, 2], ids=["cls", "distillation-token"])
def test_attention_kl_matches_the_last_layer_s_query_row_over_the_patches(prefix):
    student_shape = EncoderShape(8, 2, 2, 16 + prefix, prefix, (1, 16))
    teacher_shape = EncoderShape(12, 3, 3, 17, 1, (1, 16))
    attention_kl = loss("attention_kl", student_shape, teacher_shape)
    assert attention_kl.needs == {"attention"} and attention_kl.note is None
    student, teacher = side(student_shape, 0), side(teacher_shape, 1)
    value = attention_kl(student, teacher)
    s = _query_row(student.attention[-1], prefix - 1, prefix)  # CLS, or the distillation token
    t = _query_row(teacher.attention[-1], 0, 1)
    torch.testing.assert_close(value, (t * (t.log() - s.log())).sum(-1).mean())
    assert value > 0
    value.backward()
    assert teacher.attention[-1].grad is None
    assert student.attention[-1].grad.abs().sum() > 0
    copy = Intermediates(student.feature, student.logits, attention=[None, teacher.attention[-1]])
    if prefix == 1:
        assert attention_kl(copy, teacher).abs() < 1e-6  # the same map: nothing to learn


def test_attention_kl_resamples_the_teacher_s_map_onto_the_student_s_grid():
    square = EncoderShape(8, 1, 2, 5, 1, (2, 2))
    attention_kl = loss("attention_kl", square, TEACHER)
    assert "resampled from its (1, 16) patch grid to the student's (2, 2)" in attention_kl.note
    student, teacher = side(square, 0), side(TEACHER, 1)
    t = _query_row(teacher.attention[-1], 0, 1).reshape(2, 8, 2).mean(-1)  # 8 columns x 2
    t = torch.stack([t[:, 0:4].mean(1), t[:, 4:8].mean(1)], 1).repeat(1, 2)  # rows 1 -> 2
    t = t / t.sum(-1, keepdim=True)
    s = _query_row(student.attention[-1], 0, 1)
    expected = (t * (t.log() - s.log())).sum(-1).mean()
    torch.testing.assert_close(attention_kl(student, teacher), expected)


@pytest.mark.parametrize("name", ["token_mse", "attention_kl"])
def test_a_model_without_tokens_is_refused_by_the_loss(name):
    shape = DistillShape(8, 256, 4, STUDENT, None)
    with pytest.raises(ValueError, match="the student and the teacher must be ViTs"):
        get_registry().get("distill_loss", name).build(shape, {})
