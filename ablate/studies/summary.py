"""The end-of-run summary: one row per trial that reached a verdict, best first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from optuna.trial import FrozenTrial, TrialState


def verdict_rows(trials: Iterable[FrozenTrial], direction: str) -> list[dict[str, Any]]:
    """Trial, state, value, parameters, seconds and the failure note of each trial with a
    verdict (discarded, running and waiting trials are left out), best first."""
    rows = []
    for t in trials:
        if t.user_attrs.get("discarded") or t.state in (TrialState.RUNNING, TrialState.WAITING):
            continue
        seconds = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name,
                "value": t.value,
                **t.params,
                "seconds": seconds,
                "note": t.user_attrs.get("fail_reason", ""),
            }
        )
    sign = -1 if direction == "maximize" else 1
    rows.sort(key=lambda r: (r["value"] is None, sign * (r["value"] or 0.0), r["trial"]))
    return rows
