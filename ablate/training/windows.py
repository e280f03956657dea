"""Inputs wider than the model's window (``data.max_frames`` > ``data.frames``).

Training takes one random window of each utterance per step (a random crop, which is
also a time shift); evaluation covers the whole utterance with windows at half-window
hops and averages their logits and pooled features. An utterance no longer than the
window is used as it is (speech at the left, padding at the right).
"""

from __future__ import annotations

import torch
from torch import nn


def random_crop(
    x: torch.Tensor, lengths: torch.Tensor, window: int, generator: torch.Generator
) -> torch.Tensor:
    """A random ``window``-wide crop of each ``(B, C, H, W)`` row within its speech."""
    if x.shape[-1] <= window:
        return x
    room = (lengths.cpu() - window).clamp_min(0)
    start = (torch.rand(len(x), generator=generator) * (room + 1)).long().to(x.device)
    columns = start[:, None] + torch.arange(window, device=x.device)
    index = columns[:, None, None, :].expand(-1, x.shape[1], x.shape[2], -1)
    return x.gather(3, index)


def window_starts(length: int, window: int) -> list[int]:
    """Starts of the windows covering ``length`` frames at half-window hops."""
    if length <= window:
        return [0]
    hop = max(1, window // 2)
    starts = list(range(0, length - window + 1, hop))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def windowed(
    model: nn.Module,
    x: torch.Tensor,
    lengths: torch.Tensor,
    window: int,
    batch_size: int,
    run,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and features of each row of ``x``, averaged over its windows; ``run(model,
    chunk)`` returns one chunk's ``(logits, features)``."""
    pairs = [(i, s) for i, n in enumerate(lengths.tolist()) for s in window_starts(n, window)]
    owner = torch.tensor([i for i, _ in pairs], device=x.device)
    logits = features = None
    for first in range(0, len(pairs), batch_size):
        chunk = pairs[first : first + batch_size]
        batch = torch.stack([x[i, :, :, s : s + window] for i, s in chunk])
        out_logits, out_features = run(model, batch)
        if logits is None:
            logits = x.new_zeros(len(x), out_logits.shape[-1])
            features = x.new_zeros(len(x), out_features.shape[-1])
        rows = owner[first : first + len(chunk)]
        logits.index_add_(0, rows, out_logits.float())
        features.index_add_(0, rows, out_features.float())
    counts = torch.bincount(owner, minlength=len(x)).clamp_min(1)[:, None].float()
    return logits / counts, features / counts
