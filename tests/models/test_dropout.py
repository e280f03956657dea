"""Fast CPU dropout: same statistics and gradient as nn.Dropout, seeded, checked inputs."""

from __future__ import annotations

import pytest
import torch

from ablate.models.dropout import Dropout, dropout


def test_drops_the_requested_share_and_keeps_the_mean():
    torch.manual_seed(0)
    x = torch.ones(1_000_003)  # not a multiple of four draws per word
    y = dropout(x, 0.1)
    dropped = (y == 0).float().mean().item()
    assert dropped == pytest.approx(0.1, abs=0.002)
    assert y[y != 0].unique().tolist() == pytest.approx([65536 / (65536 - 6554)])
    assert y.mean().item() == pytest.approx(1.0, abs=0.005)


def test_each_16_bit_slice_of_a_word_is_unbiased():
    torch.manual_seed(1)
    y = dropout(torch.ones(400_000), 0.5).view(-1, 4)
    assert (y == 0).float().mean(0).tolist() == pytest.approx([0.5] * 4, abs=0.01)


def test_gradient_is_the_same_mask_and_scale():
    torch.manual_seed(2)
    x = torch.randn(64, 33, requires_grad=True)
    y = dropout(x, 0.25)
    y.sum().backward()
    kept = y.detach() != 0
    assert torch.equal(x.grad != 0, kept)
    assert torch.allclose(x.grad[kept], torch.tensor(1 / 0.75))


def test_same_seed_same_mask():
    x = torch.ones(10_000)
    torch.manual_seed(3)
    a = dropout(x, 0.3)
    torch.manual_seed(3)
    assert torch.equal(a, dropout(x, 0.3))
    assert not torch.equal(a, dropout(x, 0.3))


def test_edges_and_evaluation():
    x = torch.randn(8, 8)
    assert torch.equal(dropout(x, 0.0), x)
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    module = Dropout(0.5).eval()
    assert torch.equal(module(x), x)
    assert repr(module) == "Dropout(p=0.5)"


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_rejects_a_probability_outside_0_1(p):
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\]"):
        Dropout(p)
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\]"):
        dropout(torch.ones(3), p)
