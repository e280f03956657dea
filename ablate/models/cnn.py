"""The reference CNN many SER practitioners use instead of a ViT."""

from __future__ import annotations

import torch
from torch import nn

#: channels of the four conv blocks; the last is the pooled feature's size
WIDTHS = (32, 64, 128, 256)


class ReferenceCNN(nn.Module):
    """4 x [conv3x3, BatchNorm, GELU, max-pool 2], channels 32-64-128-256, GAP, linear head.

    ``forward`` returns ``(logits, pooled_feature)`` like the ViT, so it can be distilled
    from or into and evaluated by the same engine.
    """

    def __init__(self, num_classes: int, in_channels: int = 1, widths=WIDTHS):
        super().__init__()
        layers, c_in = [], in_channels
        for c_out in widths:
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.GELU()]
            layers.append(nn.MaxPool2d(2))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, num_classes)
        self.feature_dim = c_in

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.features(x).mean(dim=(2, 3))
        return self.head(pooled), pooled
