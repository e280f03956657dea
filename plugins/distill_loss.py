"""Distillation losses: on the pooled feature (L1, MSE, cosine), on the logits (KL with a
temperature; hard teacher labels), on the patch tokens (MSE through a projection), on the
last layer's attention map (KL), none."""

import torch
import torch.nn.functional as F
from torch import nn

from ablate import hookimpl
from ablate.contracts import DistillLoss, DistillShape, EncoderShape, Intermediates


class FeatureLoss(DistillLoss):
    """Compares pooled features, through a learned projection when sizes differ."""

    def __init__(self, shape: DistillShape):
        super().__init__()
        self.projection: nn.Module = nn.Identity()
        if shape.student_dim != shape.teacher_dim:
            self.projection = nn.Linear(shape.student_dim, shape.teacher_dim)
            self.note = (
                f"learned projection {shape.student_dim} -> {shape.teacher_dim} maps the "
                "student feature onto the teacher's"
            )

    def forward(self, s_feat, t_feat, s_logits, t_logits) -> torch.Tensor:
        return self.distance(self.projection(s_feat), t_feat.detach())

    def distance(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class FeatureL1(FeatureLoss):
    def distance(self, s, t):
        return F.l1_loss(s, t)


class FeatureMSE(FeatureLoss):
    def distance(self, s, t):
        return F.mse_loss(s, t)


class Cosine(FeatureLoss):
    def distance(self, s, t):
        return (1.0 - F.cosine_similarity(s, t, dim=-1)).mean()


class LogitKL(DistillLoss):
    """Hinton et al.: KL between temperature-softened class distributions, scaled by T^2."""

    def __init__(self, shape: DistillShape, temperature: float = 4.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, s_feat, t_feat, s_logits, t_logits) -> torch.Tensor:
        t = self.temperature
        log_p = F.log_softmax(s_logits / t, dim=-1)
        log_q = F.log_softmax(t_logits.detach() / t, dim=-1)
        return F.kl_div(log_p, log_q, log_target=True, reduction="batchmean") * t * t


class HardLabels(DistillLoss):
    """DeiT's hard distillation: cross-entropy against the teacher's argmax as a label."""

    def __init__(self, shape: DistillShape):
        super().__init__()

    def forward(self, s_feat, t_feat, s_logits, t_logits) -> torch.Tensor:
        return F.cross_entropy(s_logits, t_logits.detach().argmax(dim=-1))


class NoDistillation(DistillLoss):
    """No teacher signal: the student trains on labels alone."""

    active = False

    def __init__(self, shape: DistillShape):
        super().__init__()

    def forward(self, s_feat, t_feat, s_logits, t_logits) -> torch.Tensor:
        return s_logits.new_zeros(())


def onto_grid(x: torch.Tensor, source: tuple[int, int], target: tuple[int, int]) -> torch.Tensor:
    """``(B, rows * cols, C)`` values of the patch tokens on the row-major ``source`` grid,
    resampled onto the ``target`` grid, both spanning the same image: adaptive average
    pooling along each axis, so target patch ``i`` of ``m`` on an axis of ``n`` source
    patches is the mean of source patches ``floor(i n / m)`` to ``ceil((i + 1) n / m) - 1``
    (the source patch it lies in, where the target has more). Unchanged when equal."""
    if source == target:
        return x
    b, _, c = x.shape
    image = x.transpose(1, 2).reshape(b, c, *source)
    return F.adaptive_avg_pool2d(image, target).flatten(2).transpose(1, 2)


def _encoders(shape: DistillShape, name: str) -> tuple[EncoderShape, EncoderShape]:
    if shape.student is None or shape.teacher is None:
        raise ValueError(f"{name} compares tokens: the student and the teacher must be ViTs")
    return shape.student, shape.teacher


class TokenMSE(DistillLoss):
    """Mean squared error between the patch tokens of the two encoders' outputs (after
    their final LayerNorm; CLS and distillation tokens left out): the student's through a
    learned linear projection to the teacher's width, the teacher's resampled onto the
    student's patch grid (:func:`onto_grid`) when the grids differ."""

    needs = frozenset({"tokens"})

    def __init__(self, shape: DistillShape):
        super().__init__()
        self.student, self.teacher = _encoders(shape, "token_mse")
        self.projection = nn.Linear(self.student.dim, self.teacher.dim)
        self.note = f"learned projection {self.student.dim} -> {self.teacher.dim} per token"
        if self.student.grid != self.teacher.grid:
            self.note += (
                f"; teacher tokens resampled from its {self.teacher.grid} patch grid to the "
                f"student's {self.student.grid}"
            )

    def forward(self, student: Intermediates, teacher: Intermediates) -> torch.Tensor:
        s = self.projection(student.tokens[:, self.student.prefix :].float())
        t = teacher.tokens[:, self.teacher.prefix :].detach().float()
        return F.mse_loss(s, onto_grid(t, self.teacher.grid, self.student.grid))


def query_attention(attention: torch.Tensor, query: int, prefix: int) -> torch.Tensor:
    """``(B, patches)``: the ``query`` token's attention over the patch tokens, averaged
    over heads and renormalised to sum to 1 (the weight on the prefix tokens left out)."""
    row = attention[:, :, query, prefix:].float().mean(1)
    return row / row.sum(-1, keepdim=True).clamp_min(1e-12)


class AttentionKL(DistillLoss):
    """KL(teacher || student) between the last layer's attention maps over the patch
    tokens: the query is the teacher's CLS token and the student's distillation token when
    it has one (its CLS token otherwise); each map is averaged over heads and renormalised
    over the patches (:func:`query_attention`), the teacher's resampled onto the student's
    patch grid (:func:`onto_grid`) when the grids differ and renormalised again."""

    needs = frozenset({"attention"})

    def __init__(self, shape: DistillShape):
        super().__init__()
        self.student, self.teacher = _encoders(shape, "attention_kl")
        if self.student.grid != self.teacher.grid:
            self.note = (
                f"teacher attention resampled from its {self.teacher.grid} patch grid to the "
                f"student's {self.student.grid}"
            )

    def forward(self, student: Intermediates, teacher: Intermediates) -> torch.Tensor:
        s = query_attention(student.attention[-1], self.student.prefix - 1, self.student.prefix)
        t = query_attention(teacher.attention[-1].detach(), 0, self.teacher.prefix)
        t = onto_grid(t[..., None], self.teacher.grid, self.student.grid)[..., 0].clamp_min(0)
        t = t / t.sum(-1, keepdim=True)
        return F.kl_div(s.clamp_min(1e-12).log(), t, reduction="batchmean")


@hookimpl
def register_distill_losses(register):
    register("feature_l1", FeatureL1, "L1 between pooled features (the paper's)")
    register("feature_mse", FeatureMSE, "Mean squared error between pooled features")
    register("cosine", Cosine, "1 - cosine similarity of pooled features")
    register("logit_kl", LogitKL, "KL of temperature-softened logits, times T^2 (Hinton)")
    register("hard", HardLabels, "Cross-entropy on the teacher's argmax (DeiT hard)")
    register("token_mse", TokenMSE, "MSE between patch tokens, student's projected (ViT teacher)")
    register("attention_kl", AttentionKL, "KL between last-layer CLS attention maps (ViT teacher)")
    register("none", NoDistillation, "No distillation: student trained on labels only")
