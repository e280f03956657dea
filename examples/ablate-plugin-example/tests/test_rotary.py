"""The plugin's own tests: run with ``pytest`` from this directory after installing it."""

import ablate_rotary
import torch

from ablate.models.build import build_model
from ablate.models.parts import ModelShape
from ablate.plugins import get_registry


def test_registered_through_the_entry_point():
    component = get_registry().get("pos_encoding", "rotary")
    assert component.package == "ablate-rotary"
    assert component.factory is ablate_rotary.Rotary
    assert component.defaults() == {"base": 10000.0}


def test_rotation_keeps_norms_and_leaves_cls_alone():
    rotary = ablate_rotary.Rotary(ModelShape(128, 128, 1, 8, 5))
    tokens = torch.randn(2, 5, 8)
    out = rotary.tokens(tokens)
    torch.testing.assert_close(out.norm(dim=-1), tokens.norm(dim=-1))
    torch.testing.assert_close(out[:, 0], tokens[:, 0])
    assert not torch.allclose(out[:, 1:], tokens[:, 1:])


def test_a_model_uses_it():
    spec = {"preset": "student", "pos_encoding": "rotary", "depth": 1}
    logits, feature = build_model(spec, 128, 64, num_classes=4)(torch.randn(2, 1, 128, 64))
    assert logits.shape == (2, 4)
    assert feature.shape == (2, 256)
