"""Distillation losses: on the pooled feature (L1, MSE, cosine), on the logits (KL with a
temperature; hard teacher labels), none."""

import torch
import torch.nn.functional as F
from torch import nn

from ablate import hookimpl
from ablate.contracts import DistillLoss, DistillShape


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


@hookimpl
def register_distill_losses(register):
    register("feature_l1", FeatureL1, "L1 between pooled features (the paper's)")
    register("feature_mse", FeatureMSE, "Mean squared error between pooled features")
    register("cosine", Cosine, "1 - cosine similarity of pooled features")
    register("logit_kl", LogitKL, "KL of temperature-softened logits, times T^2 (Hinton)")
    register("hard", HardLabels, "Cross-entropy on the teacher's argmax (DeiT hard)")
    register("none", NoDistillation, "No distillation: student trained on labels only")
