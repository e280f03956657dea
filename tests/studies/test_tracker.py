"""The study's parent run: what it says when it cannot be updated."""

from __future__ import annotations

from study_helpers import _study

from ablate.plugins import get_registry
from ablate.studies import tracker as tracker_module
from ablate.studies.spec import load_study
from ablate.studies.tracker import Tracker


def test_an_answer_that_cannot_be_published_is_one_line_and_the_run_goes_on(
    workdir,
    monkeypatch,
    capsys,
):
    """Before: the store's exception, SQL and parameters included, took 5 lines of stderr."""
    study = load_study(_study(workdir), get_registry())
    tracker = Tracker(study, "sqlite:///mlflow.db", "sqlite:///optuna.db")

    def refused(*_args):
        raise RuntimeError("attempt to write a readonly database\n[SQL: INSERT INTO metrics]")

    monkeypatch.setattr(tracker_module, "publish", refused)
    tracker.publish()
    assert capsys.readouterr().err == (
        "warning: the study's answer on its parent run was not updated: "
        "attempt to write a readonly database\n"
    )
