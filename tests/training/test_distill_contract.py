"""Third-party distillation losses and the teacher cache key."""

from __future__ import annotations

import pytest

from ablate.errors import AblateError
from ablate.identity import OPERATIONAL_KEYS
from ablate.plugins import get_registry
from ablate.training.distill import teacher_key
from ablate.training.trial import run_trial
from tests.training.conftest import tiny_config

PLAIN_LOSSES = """
import torch.nn.functional as F
from torch import nn
from ablate import hookimpl


class PlainL1(nn.Module):
    '''Written from the hook spec alone: a module, no note, no active.'''

    def __init__(self, shape, scale: float = 1.0):
        super().__init__()
        self.projection = nn.Linear(shape.student_dim, shape.teacher_dim)
        self.scale = scale

    def forward(self, s_feat, t_feat, s_logits, t_logits):
        return self.scale * F.l1_loss(self.projection(s_feat), t_feat)


class PerExample(PlainL1):
    def forward(self, s_feat, t_feat, s_logits, t_logits):
        return (self.projection(s_feat) - t_feat).abs().mean(-1)


@hookimpl
def register_distill_losses(register):
    register("plain_l1", PlainL1, "L1 through a projection, as a plain module")
    register("per_example", PerExample, "forgets to reduce over the batch")
    register("function", lambda shape: F.l1_loss, "a function, not a module")
"""


@pytest.fixture
def plain_losses(plugin_module):
    plugin_module("plain_losses", PLAIN_LOSSES)


def test_a_plain_module_loss_distils_with_the_contract_s_defaults(
    plain_losses, tiny_corpus, tmp_path
):
    """Before: AttributeError 'PlainL1' object has no attribute 'note' in the trial."""
    config = tiny_config("distill.enabled=true", "distill.loss=plain_l1", "protocol.max_folds=1")
    stages = []

    class Recorder:
        def epoch(self, fold, stage, epoch, metrics):
            stages.append(stage)

        def fold_done(self, result):
            pass

    result = run_trial(
        config,
        corpus=tiny_corpus,
        reporter=Recorder(),
        teacher_cache=tmp_path,
        registry=get_registry(),
    )
    assert stages == ["teacher", "feature", "finetune"]  # active by default
    assert result.notes == []  # no note by default
    assert 0.0 <= result.summary["test_uar_mean"] <= 1.0


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        ("per_example", "distill.loss: distill_loss 'per_example' (plain_losses) returned (2,); "
         "expected a scalar tensor"),
        ("function", "distill.loss: distill_loss 'function' (plain_losses) returned function, "
         "not a torch.nn.Module (subclass DistillLoss)"),
    ],
)  # fmt: skip
def test_a_loss_that_breaks_the_contract_is_one_line_before_training(
    plain_losses, tiny_corpus, tmp_path, loss, message
):
    config = tiny_config("distill.enabled=true", f"distill.loss={loss}", "protocol.max_folds=1")
    with pytest.raises(AblateError) as info:
        run_trial(config, corpus=tiny_corpus, teacher_cache=tmp_path, registry=get_registry())
    assert str(info.value) == message


def test_the_teacher_key_ignores_the_operational_keys_a_study_key_ignores():
    """Before: changing data.cache_dir (or data.cache) silently retrained every teacher."""
    split = {"train": [0, 1], "val": [2]}
    base = teacher_key(tiny_config("distill.enabled=true"), "fp", split)
    changed = {
        "data.workers": "data.workers=7",
        "data.cache": "data.cache=false",
        "data.cache_dir": "data.cache_dir=/somewhere/else",
        "train.device": "train.device=cpu",
        "train.threads": "train.threads=3",
        "train.compile": "train.compile=true",
    }
    assert set(changed) == set(OPERATIONAL_KEYS)
    for override in changed.values():
        assert teacher_key(tiny_config("distill.enabled=true", override), "fp", split) == base
    for override in ("train.lr=0.1", "distill.teacher_epochs=3", "data.n_mels=16"):
        assert teacher_key(tiny_config("distill.enabled=true", override), "fp", split) != base
    assert teacher_key(tiny_config("train.epochs=99"), "fp", split) == base  # the student's
