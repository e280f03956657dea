"""``ablate run`` exits non-zero when every trial failed (before: exit 0)."""

from __future__ import annotations

import os
import subprocess
import sys

from study_helpers import TINY, _study

ENTRY = "from ablate.cli.main import main; main()"
TRAINING_FAILS = """
from torch import nn

from ablate import hookimpl
from ablate.contracts import Stem


class FailsInTraining(Stem):
    def __init__(self, shape):
        super().__init__()
        self.out_channels = 1

    def forward(self, x):
        if self.training:
            raise RuntimeError("cannot train")
        return x


@hookimpl
def register_stems(register):
    register("fails_in_training", FailsInTraining, "passes the dry run, fails in training")
"""


def test_every_trial_failing_is_exit_code_2(tmp_path):
    (tmp_path / "training_fails.py").write_text(TRAINING_FAILS)
    study = _study(tmp_path)
    env = {**os.environ, "ABLATE_PLUGINS": "training_fails", "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, "run", study, *TINY, "model.stem=fails_in_training"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "RuntimeError: cannot train" in done.stdout  # each trial's reason is listed
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: every trial of tiny-") and "failed (2)" in last
