"""A trial's exception, judged: a plugin's bug is the trial's own failure (FAIL, counted,
not retried, the study goes on); a file or store that refuses writes mid-study halts it in
one line (exit 2), the trial is retried on the next run, and Optuna and MLflow agree."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter

import optuna
import pytest
from study_helpers import (
    TINY,
    _ablate,
    _children,
    _cli,
    _one_line_error,
    _study,
    _trials,
    drop_file_permission_override,
    no_trials,
)

BUGGY = """
    from ablate import hookimpl
    from ablate.contracts import PositionalEncoding

    class Buggy(PositionalEncoding):
        def __init__(self, shape):
            super().__init__()

        def tokens(self, t):
            if self.training:  # the dry run before the first trial evaluates: it passes
                return t + self.tabel
            return t

    @hookimpl
    def register_pos_encodings(register):
        register("buggy", Buggy, "a typo that only training reaches")
    """


def test_a_plugins_exception_fails_its_trial_once_with_the_reason(workdir, plugin_module):
    """Before: the AttributeError aborted the study as an interruption (traceback, exit 1)
    and the trial was retried, and failed again, on every resume."""
    plugin_module("buggy", BUGGY)
    study = workdir / "study.yaml"
    study.write_text(
        "name: tiny\nspace:\n  model.pos_encoding: {choice: [buggy, none]}\n"
        "optuna: {sampler: grid}\n"
    )
    args = ["run", study, *TINY]
    _cli(args)
    trials = {t.params["model.pos_encoding"]: t for t in _trials(workdir)}
    assert trials["none"].state.name == "COMPLETE"
    buggy = trials["buggy"]
    assert buggy.state.name == "FAIL" and buggy.user_attrs["counted"]
    reason = buggy.user_attrs["fail_reason"]
    assert reason == "AttributeError: 'Buggy' object has no attribute 'tabel' (at buggy.py:11)"
    _, parents, children = _children(workdir)
    (failed,) = [c for c in children if c.info.status == "FAILED"]
    assert failed.data.tags["ablate.fail_reason"] == reason
    assert parents[0].info.status == "FINISHED"
    _cli(args)  # resumed: nothing to retry
    assert len(_trials(workdir)) == 2


def test_a_zero_temperature_is_refused_before_any_teacher_trains(workdir, capsys):
    study = _study(workdir)
    err = _one_line_error(
        ["run", study, *TINY, "distill.enabled=true", "distill.loss=logit_kl",
         "distill.loss_args.temperature=0"],
        capsys,
    )  # fmt: skip
    assert err == (
        "error: distill.loss_args: distill_loss 'logit_kl' (ablate): temperature must be > 0, "
        "got 0.0 (at model.pos_encoding=coordinate)"
    )
    assert no_trials(workdir)
    assert not (workdir / "runs" / "tiny" / "teachers").exists()


# -- files that refuse writes mid-study ------------------------------------------------------


def _writable(folder, on: bool, recursive: bool) -> None:
    """Give or take write permission on ``folder`` (and, ``recursive``, all under it)."""
    paths = [folder, *(folder.rglob("*") if recursive else ())]
    for path in paths:
        mode = path.stat().st_mode
        path.chmod(mode | 0o200 if on else mode & ~0o222)


def _agree(tmp_path, n: int) -> None:
    """Optuna and MLflow agree: one FINISHED run per COMPLETE trial (none for another
    state), no arm finished twice, nothing left RUNNING."""
    trials = _trials(tmp_path)
    complete = {str(t.number) for t in trials if t.state.name == "COMPLETE"}
    assert len(complete) == n
    assert len({tuple(sorted(t.params.items())) for t in trials if t.state.name == "COMPLETE"}) == n
    _, parents, children = _children(tmp_path)
    finished = [c.data.tags["ablate.trial"] for c in children if c.info.status == "FINISHED"]
    assert Counter(finished) == Counter(complete)
    assert all(c.info.status != "RUNNING" for c in children)
    assert parents[0].info.status == "FINISHED"


#: (what becomes read-only, the start of the one-line error)
READ_ONLY = [
    ("run dir", "error: optuna storage sqlite:///{run_dir}/optuna.db: "),
    *(
        pytest.param(*case, marks=pytest.mark.slow)
        for case in [
            ("cwd", "error: tracking store sqlite:///mlflow.db: "),
            ("mlruns", "error: tracking store sqlite:///mlflow.db: cannot write {mlruns}"),
        ]
    ),
]


@pytest.mark.parametrize(("what", "message"), READ_ONLY, ids=["run dir", "cwd", "mlruns"])
def test_a_folder_made_read_only_mid_study_halts_in_one_line_and_resumes(
    workdir, gate, what, message
):
    """Before: 1 to 13 chained tracebacks; with a read-only run dir the trial was FINISHED
    in MLflow but FAIL in Optuna, so it was retried and compare averaged the duplicate.
    The process runs without root's permission override, so that the folder's missing
    write permission refuses it as it would any user."""
    run_dir, mlruns = workdir / "runs" / "tiny", workdir / "mlruns"
    target = {"run dir": run_dir, "cwd": workdir, "mlruns": mlruns}[what]
    held = gate(1)
    args = ["run", held.study(), *TINY]
    privileged = os.geteuid() == 0
    proc = _ablate(
        args,
        workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=drop_file_permission_override if privileged else None,
    )
    try:
        held.wait(proc)
        _writable(target, False, recursive=what != "cwd")
        held.open()
        _, err = proc.communicate(timeout=240)
    finally:
        proc.kill()
        proc.wait()
        _writable(target, True, recursive=what != "cwd")
    assert proc.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(message.format(run_dir=run_dir, mlruns=mlruns)), err
    assert err.strip().endswith(
        "the trial was not counted: fix this and run the same command again "
        "(finished trials are kept)"
    )
    _cli(args)  # the same command
    _agree(workdir, 2)


# -- a tracking store deleted or replaced ----------------------------------------------------


def test_a_replaced_tracking_store_is_named_by_run_and_compare(workdir, mlflow_template, capsys):
    """Before: the rerun exited 0 with no word, and compare ranked only the arms run since,
    without the best one."""
    study = _study(workdir)
    _cli(["run", study, *TINY, "--n-trials", 1])
    (first,) = _trials(workdir)
    shutil.copy(mlflow_template, workdir / "mlflow.db")  # the store replaced by an empty one
    capsys.readouterr()
    _cli(["run", study, *TINY, "--n-trials", 2])
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "warning: tracking store sqlite:///mlflow.db: 1 of 1 finished trial is not in this "
        "tracking store (trial 0): it was deleted or replaced since, or they ran with another "
        "--tracking-uri." in err
    )
    _cli(["compare", "tiny", "--format", "markdown"])
    out = " ".join(capsys.readouterr().out.split())
    (encoding,) = first.params.values()
    assert (
        f"Note: study {_key(workdir)}: "
        f"1 of 2 finished trials is not in this tracking store (trial 0 "
        f"(model.pos_encoding={encoding})), so compare cannot show them" in out
    )


def _key(tmp_path) -> str:
    (summary,) = optuna.get_all_study_summaries(f"sqlite:///{tmp_path}/runs/tiny/optuna.db")
    return summary.study_name
