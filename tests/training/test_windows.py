"""Random crops in training and sliding-window evaluation over long utterances."""

from __future__ import annotations

import torch
from torch import nn

from ablate.training.engine import predict
from ablate.training.windows import random_crop, window_starts


class FirstFrame(nn.Module):
    """Logits = the first frame's first two bins; feature = the window's mean."""

    def forward(self, x):
        return x[:, 0, :2, 0], x.mean(dim=(1, 2, 3))[:, None]


def test_window_starts_cover_the_utterance_at_half_window_hops():
    assert window_starts(5, 8) == [0]
    assert window_starts(8, 8) == [0]
    assert window_starts(20, 8) == [0, 4, 8, 12]
    assert window_starts(21, 8) == [0, 4, 8, 12, 13]


def test_random_crop_stays_inside_each_rows_speech():
    x = torch.arange(20.0).repeat(4, 1, 2, 1)  # (4, 1, 2, 20): value = frame index
    lengths = torch.tensor([20, 12, 8, 5])
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        crop = random_crop(x, lengths, 8, g)
        assert crop.shape == (4, 1, 2, 8)
        starts = crop[:, 0, 0, 0]
        assert (starts + 8 <= lengths.clamp_min(8)).all()
        assert (crop[:, 0, 0, 1:] - crop[:, 0, 0, :-1] == 1).all()  # contiguous frames
    assert len({int(random_crop(x, lengths, 8, g)[0, 0, 0, 0]) for _ in range(50)}) > 3


def test_evaluation_averages_the_logits_of_every_window():
    x = torch.arange(20.0).repeat(2, 1, 2, 1)
    lengths = torch.tensor([20, 6])
    logits, features = predict(FirstFrame(), x, batch_size=3, lengths=lengths, window=8)
    # row 0: windows at 0, 4, 8, 12 -> first frames 0, 4, 8, 12 -> mean 6
    assert logits[0].tolist() == [6.0, 6.0]
    # row 1 is shorter than the window: one window at 0
    assert logits[1].tolist() == [0.0, 0.0]
    assert features.shape == (2, 1)
    plain, _ = predict(FirstFrame(), x[..., :8], batch_size=3)
    assert plain[:, 0].tolist() == [0.0, 0.0]
