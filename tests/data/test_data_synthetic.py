"""The synthetic corpus' design: classes separable with positions, order-only pairs not
separable from time-averaged features."""

from __future__ import annotations

import torch

from ablate.data.features import fit_normalizer
from ablate.data.pipeline import load_corpus
from ablate.data.synthetic import ORDER_PAIRS
from ablate.plugins import get_registry


def probe_accuracy(train_x, train_y, test_x, test_y) -> float:
    """Test accuracy of a linear probe (logistic regression) trained on the training part."""
    torch.manual_seed(0)
    classes, targets = torch.unique(train_y, return_inverse=True)
    weight = torch.zeros(train_x.shape[1], len(classes), requires_grad=True)
    bias = torch.zeros(len(classes), requires_grad=True)
    optimiser = torch.optim.Adam([weight, bias], lr=0.01)
    for _ in range(200):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(train_x @ weight + bias, targets)
        (loss + 1e-3 * weight.pow(2).sum()).backward()
        optimiser.step()
    predicted = classes[(test_x @ weight + bias).argmax(1)]
    return float((predicted == test_y).float().mean())


def test_order_only_pairs_need_positional_information(small_data):
    data = small_data(
        "synthetic",
        None,
        "data.dataset_args={speakers: 4, per_class: 4, classes: 4, seconds: 1.0}",
        "data.frames=64",
        "data.hop_length=256",
    )
    corpus = load_corpus(data, progress=False, registry=get_registry())
    test = torch.tensor([speaker == "s02" for speaker in corpus.speakers])
    mean, std = fit_normalizer(corpus.features[~test])
    x = (corpus.features - mean) / std
    with_time = torch.nn.functional.avg_pool2d(x[:, None], 4)[:, 0].flatten(1)
    time_averaged = x.mean(-1)
    for pair in ORDER_PAIRS:
        keep = torch.tensor([corpus.label_names[i] in pair for i in corpus.labels])
        tr, te = keep & ~test, keep & test
        y = corpus.labels
        positional = probe_accuracy(with_time[tr], y[tr], with_time[te], y[te])
        averaged = probe_accuracy(time_averaged[tr], y[tr], time_averaged[te], y[te])
        assert positional >= 0.9, pair
        assert averaged <= 0.75, pair
