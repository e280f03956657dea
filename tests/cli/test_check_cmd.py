"""``ablate check``: every pre-trial check of ``ablate run``, nothing trained or recorded;
``ABLATE_DEBUG=1`` shows the traceback behind a one-line error."""

from __future__ import annotations

import os
import subprocess
import sys

from study_helpers import TINY, _study

from ablate.cli.main import main

ENTRY = "from ablate.cli.main import main; main()"


def _run(args, cwd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_check_runs_the_pre_trial_checks_and_records_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    study = _study(tmp_path)
    try:
        main(["check", str(study), *TINY])
    except SystemExit as exc:
        assert exc.code in (0, None)
    out = capsys.readouterr().out
    assert "study tiny-" in out and "2 trials (grid)" in out
    assert "corpus synthetic: 360 utterances, 6 speakers, 6 classes" in out
    assert "2 point(s) of the space built and run. Nothing was trained or recorded." in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"]  # no runs/, no store


def test_check_fails_in_one_line_on_a_bad_point(tmp_path):
    study = _study(tmp_path)
    args = ["check", study, *TINY, "model.patching=square", "model.patching_args.size=5"]
    done = _run(args, tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "error: model.patching_args: patching 'square' (ablate): patch 5x5 does not divide "
        "the 32x32 input; change the patch size or set pad=true (at "
        "model.pos_encoding=coordinate)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"]


def test_a_plugin_bug_names_its_line_and_ablate_debug_shows_the_traceback(tmp_path):
    """Before: re-raised `from None` (no traceback) and blamed model.stem_args though none
    were set."""
    (tmp_path / "buggy_stem.py").write_text(
        "from ablate import hookimpl\n"
        "from ablate.contracts import Stem\n\n\n"
        "class Buggy(Stem):\n"
        "    def __init__(self, shape, width: int = 2):\n"
        "        super().__init__()\n"
        "        self.out_channels = width + None\n\n\n"
        "@hookimpl\n"
        "def register_stems(register):\n"
        "    register('buggy', Buggy, 'raises a TypeError')\n"
    )
    env = {"ABLATE_PLUGINS": "buggy_stem", "PYTHONPATH": str(tmp_path)}
    done = _run(["model", "model.stem=buggy"], tmp_path, env)
    assert done.returncode == 2
    assert done.stderr.startswith("error: model.stem: stem 'buggy' (buggy_stem): TypeError: ")
    assert done.stderr.rstrip().endswith(f"(at {tmp_path / 'buggy_stem.py'}:8)")
    assert done.stderr.count("\n") == 1
    debug = _run(["model", "model.stem=buggy"], tmp_path, {**env, "ABLATE_DEBUG": "1"})
    assert debug.returncode == 2
    assert "Traceback (most recent call last)" in debug.stderr
    assert 'buggy_stem.py", line 8, in __init__' in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-1].startswith("error: model.stem: stem 'buggy'")
