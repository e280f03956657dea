"""What the terminal shows at 80 columns: the run's answer, progress bars that keep their
numbers, paths and links that are never broken, no library warnings."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time

import pytest
from rich.console import Console
from study_helpers import ENTRY, TINY, _study, fresh_mlflow

from ablate.studies.progress import StudyProgress, trial_epochs

#: time elapsed, then the ETA (``-:--:--`` while unknown), each whole
ETA = re.compile(r"\d+:\d\d:\d\d\s+(\d+:\d\d:\d\d|-:--:--)$")


def _screen(buffer: io.StringIO) -> list[str]:
    """The last frame of a live display: its lines without control codes."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())
    return [line for line in text.replace("\r", "\n").split("\n") if line.strip()]


def test_progress_bars_keep_their_numbers_at_80_columns():
    """At 80 columns the ETA was cut (`0:… -:-…`) and the trial bar read `0/?`."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, force_terminal=True, color_system=None)
    progress = StudyProgress(console, "pe_vs_coord-713e78321d", 6, 2, "test_uar_mean")
    progress.update(2, 0.6543)
    progress.trial_start(12, {"model.pos_encoding": "coordinate"}, epochs=16)
    for epoch in (1, 2, 3):
        metrics = {"train_loss": 1.23456, "val_uar": 0.5}
        progress.epoch(12, 1, 7, "train", epoch, metrics)
    time.sleep(0.2)
    progress.bars.refresh()
    progress.stop()
    lines = _screen(buffer)[-2:]
    assert all(len(line) <= 80 for line in lines), lines
    study, trial = lines
    assert study.startswith("pe_vs_coord-713e78321d best 0.6543") and " 2/6 " in study
    assert " 3/16 " in trial and "/?" not in trial  # the trial's epochs over seeds x folds
    assert ETA.search(study.rstrip()), study
    assert ETA.search(trial.rstrip()) and not trial.rstrip().endswith("-:--:--"), trial


def test_a_trial_counts_its_epochs_over_seeds_folds_and_stages():
    from ablate.config import make_config

    assert trial_epochs(make_config(dotlist=["train.epochs=5"]), 2, 3) == 30
    distilled = make_config(
        dotlist=["distill.enabled=true", "distill.teacher_epochs=2", "distill.feature_epochs=1",
                 "distill.finetune_epochs=3"]
    )  # fmt: skip
    assert trial_epochs(distilled, 1, 2) == 12


@pytest.fixture(scope="module")
def ran(tmp_path_factory, mlflow_template):
    """``ablate run`` as a process at COLUMNS=80, from a deep folder (long paths)."""
    tmp = tmp_path_factory.mktemp("terminal") / ("deep-folder-" * 5)
    tmp.mkdir()
    fresh_mlflow(mlflow_template, tmp)
    env = {**os.environ, "COLUMNS": "80"}
    args = ["run", _study(tmp), *TINY, "protocol.max_folds=2", "--n-trials", "2"]
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, *map(str, args)],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return tmp, done.stdout, done.stderr


def test_ablate_run_ends_with_the_answer_not_a_trial_list(ran):
    _, out, _ = ran
    assert "trials, best first" not in out  # the bare list of trials, seconds to 3 decimals
    lines = out.splitlines()
    title = next(i for i, line in enumerate(lines) if ": arms by test_uar" in line)
    table = "\n".join(lines[title : title + 8])
    assert "test_uar [95% CI]" in table
    assert "pos_encoding=coordinate" in out and "pos_encoding=none" in out
    assert "seconds" not in table


def test_paths_and_links_are_never_broken_at_80_columns(ran):
    tmp, out, _ = ran
    storage = f"sqlite:///{tmp / 'runs' / 'tiny' / 'optuna.db'}"
    assert len(storage) > 80
    assert any(line.startswith("Optuna storage: ") and storage in line for line in out.splitlines())
    assert any(
        line.startswith("MLflow store:") and "ablate ui --tracking-uri sqlite:///mlflow.db" in line
        for line in out.splitlines()
    )


def test_library_warnings_stay_out_of_the_output(ran):
    _, out, err = ran
    for text in (out, err):
        assert "Warning" not in text, text[-3000:]


def test_library_warnings_are_quiet_unless_debugging(monkeypatch):
    import warnings

    from ablate.cli.main import quiet_libraries

    def emitted(module: str) -> list:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            quiet_libraries()
            warnings.warn_explicit("singular", UserWarning, "x.py", 1, module=module)
        return caught

    monkeypatch.delenv("ABLATE_DEBUG", raising=False)
    assert emitted("matplotlib.axes._base") == [] and emitted("optuna.visualization") == []
    assert len(emitted("ablate.tracking.plots")) == 1  # ablate's own still show
    monkeypatch.setenv("ABLATE_DEBUG", "1")
    assert len(emitted("matplotlib.axes._base")) == 1


def test_ablate_data_never_cuts_a_label_at_80_columns():
    """At 80 columns labels were cut into look-alikes (``bored…``, ``happi…``)."""
    from ablate.cli.data_cmd import label_tables

    labels = ["anger", "boredom", "disgust", "fear", "happiness", "happy", "neutral", "sad",
              "sadness", "surprised"]  # fmt: skip
    per_speaker = {f"{s:02d}": {label: s + i for i, label in enumerate(labels)} for s in range(24)}
    totals = {label: sum(c[label] for c in per_speaker.values()) for label in labels}
    info = {"labels": totals, "labels_per_speaker": per_speaker,
            "utterances": sum(totals.values())}  # fmt: skip
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, color_system=None)
    tables = label_tables(info, 80)
    for table in tables:
        console.print(table)
    text = buffer.getvalue()
    assert len(tables) > 1 and "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    headers = [c.header for t in tables for c in t.columns if c.header not in ("speaker", "total")]
    assert headers == labels  # each label once, whole
    assert label_tables(info, 200)[0].title == "utterances per speaker and label"
