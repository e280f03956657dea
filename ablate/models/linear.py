"""A linear classifier: the classic baseline's model, trained by the same engine.

One linear layer on the flattened input (88 eGeMAPS functionals, or a whole image) under
cross-entropy is multinomial logistic regression; AdamW's weight decay is its L2 penalty.
"""

from __future__ import annotations

import torch
from torch import nn


class LinearClassifier(nn.Module):
    """Dropout (0 by default) then one linear layer over the flattened ``(B, 1, H, W)``
    input. ``forward`` returns ``(logits, flattened input)`` like the other models."""

    def __init__(self, in_features: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(in_features, num_classes)
        self.feature_dim = in_features

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.flatten(1)
        return self.head(self.dropout(flat)), flat
