"""Two `ablate train ... --out SAME` at once: both used to exit 0 and print `saved model to
SAME`, the second silently replacing the first (the "already holds a model" check ran
only before training). Now `--out` is claimed from the check to the save: the second
process is refused at once, in one line, and the first one's model is intact."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ablate.cli.main import main
from ablate.plugins import get_registry
from ablate.training.saved import SavedModel
from tests.training.conftest import tiny_yaml

#: each process imports the training code, then waits until both are ready, then trains
BARRIER = """
import os, sys, time
import ablate.cli.train_cmd, ablate.training.fit_one  # the slow imports, before the barrier
folder, args = sys.argv[1], sys.argv[2:]
open(os.path.join(folder, f"ready-{os.getpid()}"), "w").close()
while len(os.listdir(folder)) < 2:
    time.sleep(0.005)
from ablate.cli.main import main
main(args)
"""


@pytest.fixture
def config_file(tmp_path):
    return tiny_yaml(tmp_path / "tiny.yaml")


def _both(tmp_path, argv_a, argv_b):
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BARRIER, str(barrier), *map(str, argv)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for argv in (argv_a, argv_b)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        results.append((proc.returncode, out.decode(), err.decode()))
    return results


@pytest.mark.parametrize("force", [False, True], ids=["plain", "--force"])
def test_two_trainings_into_one_out_at_once_one_wins_the_other_is_refused(
    tmp_path, config_file, force
):
    out = tmp_path / "model"
    flags = ["--force"] if force else []
    argv = ["train", config_file, "--out", out, *flags, "--json"]
    results = _both(tmp_path, [*argv, "train.seed=1"], [*argv, "train.seed=2"])
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    (winner,) = [r for r in results if r[0] == 0]
    (loser,) = [r for r in results if r[0] == 2]
    assert loser[2].splitlines()[-1:] == [
        f"error: --out {out}: another `ablate train` is writing a model there now; wait for it "
        "to finish (then --force replaces its model) or give another folder"
    ], loser[2]
    assert json.loads(winner[1])["out"] == str(out)
    saved = SavedModel.load(out, get_registry())
    assert saved.meta["history"]  # the winner's model, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["barrier", "model", "tiny.yaml"]


def test_the_claim_is_released_when_the_training_ends(tmp_path, config_file, capsys):
    out = tmp_path / "model"
    main(["train", str(config_file), "train.epochs=2", "--out", str(out)])
    main(["train", str(config_file), "train.epochs=1", "--out", str(out), "--force"])
    assert capsys.readouterr().out.count("saved model to") == 2
    # the second one replaced it
    assert SavedModel.load(out, get_registry()).meta["best_epoch"] == 1
