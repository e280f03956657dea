"""The end-of-run summary: one row per trial that reached a verdict, best first, then the
trials still running in other processes; an interrupted trial is labelled as such, with
where it is retried."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from ablate.studies.budget import interrupted

#: the summary's label of a trial that did not count and is retried
INTERRUPTED = "INTERRUPTED"


def _note(trial: FrozenTrial, retries: dict[int, int]) -> str:
    if trial.state == TrialState.RUNNING:
        where = trial.user_attrs.get("host", "an unknown host")
        return f"still running elsewhere (pid {trial.user_attrs.get('pid', '?')} on {where})"
    if interrupted(trial):
        retry = retries.get(trial.number)
        return (
            f"not counted: retried as trial {retry}"
            if retry is not None
            else ("not counted: retried when the study resumes")
        )
    return trial.user_attrs.get("fail_reason", "")


def verdict_rows(trials: Iterable[FrozenTrial], direction: str) -> list[dict[str, Any]]:
    """Trial, state, value, parameters, seconds and a note (the failure's reason, the
    retry of an interrupted trial, where a running trial runs) of each trial with a
    verdict or still running in another process (discarded and queued trials are left
    out); best first, running ones last."""
    trials = list(trials)
    retries = {
        int(t.user_attrs["retry_of"]): t.number
        for t in reversed(trials)
        if t.user_attrs.get("retry_of") is not None and not t.user_attrs.get("discarded")
    }
    rows = []
    for t in trials:
        if t.user_attrs.get("discarded") or t.state == TrialState.WAITING:
            continue
        seconds = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        rows.append(
            {
                "trial": t.number,
                "state": INTERRUPTED if interrupted(t) else t.state.name,
                "value": t.value,
                **t.params,
                "seconds": seconds,
                "note": _note(t, retries),
            }
        )
    sign = -1 if direction == "maximize" else 1
    rows.sort(
        key=lambda r: (
            r["state"] == "RUNNING",
            r["value"] is None,
            sign * (r["value"] or 0.0),
            r["trial"],
        )
    )
    return rows
