"""The plugin's own tests: run with ``pytest`` from this directory after installing it."""

import ablate_rotary
import torch

from ablate.config import resolve_model
from ablate.contracts import ModelShape
from ablate.models.build import build_model, token_count
from ablate.plugins import get_registry, load_registry
from ablate.testing import check_plugin


def test_registered_through_the_entry_point():
    component = get_registry().get("pos_encoding", "rotary")
    assert component.package == "ablate-rotary"
    assert component.factory is ablate_rotary.Rotary
    assert component.defaults() == {"base": 10000.0}


def test_rotation_keeps_norms_leaves_cls_alone_and_scores_depend_on_offsets():
    shape = ModelShape(128, 128, 1, 8, num_tokens=5, heads=2, dim_head=8, prefix_tokens=1)
    rotary = ablate_rotary.Rotary(shape)
    q = torch.randn(8).expand(1, 2, 5, 8)  # the same query and key at every position
    k = torch.randn(8).expand(1, 2, 5, 8)
    turned_q, turned_k = rotary.rotate(q, k)
    torch.testing.assert_close(turned_q.norm(dim=-1), q.norm(dim=-1))
    torch.testing.assert_close(turned_q[:, :, 0], q[:, :, 0])  # CLS
    scores = (turned_q @ turned_k.transpose(-2, -1))[0, 0]
    torch.testing.assert_close(scores[1, 3], scores[2, 4])  # two patches apart, both
    assert not torch.allclose(scores[1, 3], scores[3, 1])  # the sign of the offset counts


def test_a_model_uses_it_in_attention():
    torch.manual_seed(0)
    spec = {"preset": "student", "depth": 1, "dim": 32, "heads": 2, "dim_head": 16}
    registry = get_registry()
    model = build_model(resolve_model(dict(spec, pos_encoding="rotary")), 128, 64, 4, registry)
    torch.manual_seed(0)
    plain = build_model(resolve_model(dict(spec, pos_encoding="none")), 128, 64, 4, registry)
    model.eval()
    plain.eval()
    x = torch.randn(2, 1, 128, 64)
    logits, feature = model(x)
    assert logits.shape == (2, 4) and feature.shape == (2, 32)
    assert not torch.allclose(logits, plain(x)[0])


def test_overlapping_windows_share_frames():
    patching = ablate_rotary.overlapping(ModelShape(4, 10, 1, 8), width=4, stride=2)
    assert patching.grid == (1, 4)  # windows at frames 0, 2, 4, 6
    x = torch.arange(40.0).reshape(1, 1, 4, 10)
    tokens = patching(x)
    assert tokens.shape == (1, 4, 16)
    torch.testing.assert_close(tokens[0, 1], x[0, 0, :, 2:6].reshape(-1))  # frames 2-5
    torch.testing.assert_close(tokens[0, 1, 2::4], tokens[0, 2, 0::4])  # frames 4-5 shared


def test_an_overlapping_model_is_built_and_checked():
    """Alone (autoload off): built-ins plus this module, installed or not."""
    registry = load_registry([("rotary", "ablate-rotary", ablate_rotary)], autoload=False)
    assert registry.failures == []
    spec = {"preset": "teacher", "patching": "overlapping", "depth": 1}  # coordinate channels
    spec.update(dim=32, heads=2, dim_head=16, stem_args={"width": 0.25})
    model = build_model(resolve_model(spec), 128, 64, num_classes=4, registry=registry)
    assert token_count(model) == (64 - 4) // 2 + 1 + 1  # 31 windows and CLS
    assert model.patching.patch_dim == 128 * 4 * 3  # the stem's channel + 2 coordinates
    logits, feature = model(torch.randn(2, 1, 128, 64))
    assert logits.shape == (2, 4) and feature.shape == (2, 32)


def test_the_engine_s_checks_pass():
    """ablate.testing runs the checks `ablate run` makes before training."""
    registry = load_registry([("rotary", "ablate-rotary", ablate_rotary)], autoload=False)
    encoding = check_plugin("pos_encoding", "rotary", {"base": 100.0}, registry=registry)
    assert isinstance(encoding, ablate_rotary.Rotary)
    patching = check_plugin("patching", "overlapping", {"width": 4}, registry=registry)
    assert patching.grid == (1, (16 - 4) // 2 + 1)  # in the 32 x 16 test input
