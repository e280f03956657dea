"""``ablate evaluate``'s speakers: those the model was trained on are not a test.

A saved model's meta.json lists its training speakers. On the corpus it was trained on,
the speakers it never heard are the test and their scores lead; those it was trained on
are scored apart and named as what they are (304 of EmoDB's 408 utterances passed for a
test before). On any other corpus a speaker name says nothing about the training set,
and every speaker counts as unseen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ablate.cli.output import console

#: the metrics a group of speakers is scored by
SCORES = ("uar", "war", "f1")


def trained_on(saved: Any, dataset: str) -> set[str]:
    """The speakers ``saved`` was trained on, when ``dataset`` is its training corpus."""
    if dataset != saved.config.data.dataset:
        return set()
    return {str(s) for s in saved.meta.get("train_speakers") or []}


def split_by_training(
    speakers: Sequence[str],
    targets: np.ndarray,
    predictions: np.ndarray,
    seen: set[str],
    labels: list[str],
) -> dict[str, Any]:
    """Metrics of the unseen speakers (the test: the top-level keys) and, apart, of the
    seen ones; when every speaker was seen, their metrics with ``is_test`` false."""
    from ablate.training.metrics import classification_metrics

    was_seen = np.array([str(s) in seen for s in speakers], dtype=bool)
    groups = {"unseen": ~was_seen, "seen": was_seen}
    names = {g: sorted({str(s) for s, m in zip(speakers, mask, strict=True) if m})
             for g, mask in groups.items()}  # fmt: skip
    scored = {
        g: {**classification_metrics(targets[m], predictions[m], labels), "n": int(m.sum())}
        for g, m in groups.items()
        if m.any()
    }
    test = scored.get("unseen") or scored["seen"]
    seen_part = scored.get("seen") if "unseen" in scored else None
    return {
        **test,
        "is_test": "unseen" in scored,
        "speakers": names,
        "seen_in_training": None if seen_part is None else {
            **{k: seen_part[k] for k in SCORES}, "n": seen_part["n"]
        },
    }  # fmt: skip


def render(result: dict[str, Any], title: str) -> None:
    """The scores of ``ablate evaluate``: the unseen speakers as the test, the seen ones
    apart and marked, or a plain statement that nothing here is a test."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("speakers", "n", "UA", "WA", "macro-F1"):
        table.add_column(column, no_wrap=True)
    speakers = result["speakers"]
    first = "unseen (the test)" if result["is_test"] else "seen in training: not a test"
    table.add_row(first, str(result["n"]), *(f"{result[k]:.3f}" for k in SCORES))
    seen = result["seen_in_training"]
    if seen is not None:
        table.add_row("seen in training", str(seen["n"]), *(f"{seen[k]:.3f}" for k in SCORES))
    console.print(table)
    if speakers["seen"]:
        count = len(speakers["seen"])
        total = count + len(speakers["unseen"])
        console.print(
            f"{count} of {total} speakers were in the model's training set "
            f"({', '.join(speakers['seen'])}); their scores are not a test",
            soft_wrap=True,
        )
