"""Study names a user may write: a quote (`it's` was an `MlflowException: Invalid
clause(s) in filter string` traceback after the Optuna study and the MLflow experiment
were made), a very long one (600 characters: `StorageInternalError` on PostgreSQL), a
non-ASCII one on an ASCII-only terminal (`UnicodeEncodeError`). Real stores throughout."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from study_helpers import ENTRY, TINY, _cli, _trials

from ablate.cli.main import main
from ablate.errors import AblateError
from ablate.plugins import get_registry
from ablate.tracking.mlflow_store import quoted

SPACE = "space:\n  model.pos_encoding: {choice: [coordinate, none]}\n"


def _write(tmp_path, name_yaml: str) -> str:
    path = tmp_path / "study.yaml"
    path.write_text(f"name: {name_yaml}\n{SPACE}")
    return str(path)


def test_a_name_with_a_quote_runs_and_compares(workdir, capsys):
    name = "it's"
    study = _write(workdir, '"it\'s"')
    _cli(["run", study, *TINY])  # finds its study run by its key, in a filter string
    trials = _trials(workdir, f"sqlite:///{workdir / 'runs' / name / 'optuna.db'}")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    _cli(["compare", name])
    out = capsys.readouterr().out
    assert "pos_encoding=coordinate" in out and "pos_encoding=none" in out
    _, parents, children = _children_of(workdir, name)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(c.info.status for c in children) == ["FINISHED", "FINISHED"]


# (case, name as YAML, the one-line error after "error: study.yaml: name: ")
NAMES = [
    ("600 characters", "a" * 600,
     "600 characters (600 bytes in UTF-8); at most 239 characters and 255 bytes: it names "
     "the folder runs/NAME, the MLflow study run and the Optuna study ('aaaaaaaaaaaaaaaaaaaa'...)"),
    ("240 characters", "b" * 240,
     "240 characters (240 bytes in UTF-8); at most 239 characters and 255 bytes: it names "
     "the folder runs/NAME, the MLflow study run and the Optuna study ('bbbbbbbbbbbbbbbbbbbb'...)"),
    ("100 characters of 3 bytes", "情" * 100,
     "100 characters (300 bytes in UTF-8); at most 239 characters and 255 bytes: it names "
     f"the folder runs/NAME, the MLflow study run and the Optuna study ('{'情' * 20}'...)"),
    ("both quotes", "it's \"x\"",
     "'it\\'s \"x\"' holds both ' and \" (MLflow searches cannot match it)"),
    ("a newline", '"two\\nlines"',
     "'two\\nlines' holds a control character (a newline, a tab, ...)"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "message"), [c[1:] for c in NAMES], ids=[c[0] for c in NAMES])
def test_a_name_that_cannot_be_stored_is_one_line_before_anything_is_made(
    tmp_path, monkeypatch, capsys, name, message
):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, name)
    with pytest.raises(SystemExit) as caught:
        main(["run", "study.yaml"])
    assert caught.value.code == 2
    assert capsys.readouterr().err == f"error: study.yaml: name: {message}\n"
    assert not (tmp_path / "runs").exists() and not (tmp_path / "mlflow.db").exists()


def test_filter_values_take_the_quote_they_do_not_hold():
    assert quoted("it's") == '"it\'s"' and quoted('say "hi"') == "'say \"hi\"'"
    with pytest.raises(AblateError, match="holds both quote characters"):
        quoted('it\'s "x"')


def test_a_239_character_name_is_accepted(workdir):
    from ablate.studies.spec import load_study

    assert load_study(_write(workdir, "c" * 239), registry=get_registry()).key.startswith(
        "c" * 239 + "-"
    )


def _ascii_run(code: str, cwd, *args) -> subprocess.CompletedProcess:
    """``python -c CODE ARGS`` with an ASCII-only stdout and stderr, as on a bare terminal."""
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "LANG": "C", "LC_ALL": "C"}
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=300,
    )


def test_a_non_ascii_name_on_an_ascii_terminal_is_escaped_not_a_crash(workdir):
    """`ablate run`, then `ablate compare`, in one process (one start-up)."""
    study = _write(workdir, "été-情")
    code = (
        "import sys; from ablate.cli.main import main; "
        "main(['run', *sys.argv[1:]]); main(['compare', 'été-情'])"
    )
    done = _ascii_run(code, workdir, study, *TINY)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    out = done.stdout.decode("ascii")  # nothing but ASCII was written
    assert "(study \\xe9t\\xe9-\\u60c5-" in out and "pos_encoding=coordinate" in out
    _, parents, children = _children_of(workdir, "été-情")
    assert len(parents) == 1 and len(children) == 2
    missing = _ascii_run(ENTRY, workdir, "run", "情.yaml")
    assert missing.returncode == 2
    assert missing.stderr.decode().splitlines() == ["error: 情.yaml: no such file"]


def test_a_worker_process_escapes_what_its_log_cannot_encode(tmp_path):
    """`--workers N` processes print to their logs through the same streams."""
    code = (
        "import sys; from ablate.studies.workers import _run_logged; "
        "_run_logged(print, ['trial 0 started: label=情'], sys.argv[1])"
    )
    done = _ascii_run(code, tmp_path, tmp_path / "w.log")
    assert done.returncode == 0, done.stderr.decode()
    assert (tmp_path / "w.log").read_bytes() == b"trial 0 started: label=\\u60c5\n"


def _children_of(workdir, name):
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name(name).experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    ids = {p.info.run_id for p in parents}
    return client, parents, [r for r in runs if r.data.tags.get("mlflow.parentRunId") in ids]
