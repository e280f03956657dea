"""The shipped per-corpus recipes train as documented, `ablate train RECIPE data.root=DIR
--out MODEL` (one epoch on a few real files), and carry the settings they promise."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ablate.cli.main import main
from ablate.plugins import get_registry
from ablate.studies.spec import load_study

RAVDESS = ["recipe_ravdess", "recipe_ravdess_nested", "recipe_cnn_ravdess"]


@pytest.fixture
def emodb_few(emodb_root, tmp_path):
    """16 real EmoDB files of speakers 03 and 08 in EmoDB's layout."""
    root = tmp_path / "emodb"
    (root / "wav").mkdir(parents=True)
    for speaker in ("03", "08"):
        for path in sorted((emodb_root / "wav").glob(f"{speaker}*.wav"))[:8]:
            shutil.copyfile(path, root / "wav" / path.name)
    return root


@pytest.mark.parametrize("name", [*RAVDESS, "recipe_cnn_emodb"])
def test_a_recipe_trains_on_a_few_real_files(name, request, tmp_path, capsys):
    root = request.getfixturevalue("ravdess_few" if name in RAVDESS else "emodb_few")
    study = request.config.rootpath / "studies" / f"{name}.yaml"
    out = tmp_path / "model"
    main(["train", str(study), f"data.root={root}", "train.epochs=1", "--out", str(out), "--json"])
    trained = json.loads(capsys.readouterr().out)
    assert trained["train_utterances"] == 16 and trained["epochs"] == 1
    config = (out / "config.yaml").read_text()
    assert "select: last" in config and "ema: 0.995" in config and "norm: speaker" in config


def test_the_recipes_hold_their_corpus_settings(request):
    studies = request.config.rootpath / "studies"
    # the student's and the CNN's over every trimmed file whole; the evidence's student
    # (the nested search's) over the whole untrimmed length
    for name, max_frames in zip(RAVDESS, (100, 168, 100), strict=True):
        data = load_study(studies / f"{name}.yaml", registry=get_registry()).base.data
        assert (data.dataset, data.trim_db, data.max_frames, data.hop_length) == (
            "ravdess", 30, max_frames, 512,
        )  # fmt: skip
    cnn = load_study(studies / "recipe_cnn_emodb.yaml", registry=get_registry()).base
    assert (cnn.model.preset, cnn.train.epochs, cnn.data.n_mels, cnn.data.frames) == (
        "cnn", 40, 64, 64,
    )  # fmt: skip
    assert list(cnn.data.augment) == ["frame_shift", "specaugment", "mixup"]
    for name in ("recipe_ravdess_search", "recipe_emodb_search"):
        search = load_study(studies / f"{name}.yaml", registry=get_registry())
        assert search.settings.metric == "val_uar_mean" and search.settings.sampler == "random"
        assert search.base.protocol.val_fraction > 0


def test_the_nested_emodb_search_measures_the_search_that_chose_the_recipe(request):
    """The selection bias of studies/recipe.yaml (chosen by test UA) is measured by
    running its levers nested: the two searches must differ only in who chooses."""
    studies = request.config.rootpath / "studies"
    tuned, nested = (
        load_study(studies / f"{name}.yaml", registry=get_registry())
        for name in ("recipe", "recipe_emodb_search")
    )
    assert len(nested.space.dims) == 10 and nested.space == tuned.space
    assert nested.settings.n_trials == tuned.settings.n_trials
    assert (tuned.settings.metric, nested.settings.metric) == ("test_uar_mean", "val_uar_mean")
    assert nested.base.model == tuned.base.model and nested.base.train == tuned.base.train


def test_the_ravdess_evidence_reads_the_recipe_it_names(request):
    """studies/evidence_ravdess.sh passes the recipe's keys to every study through its
    `overrides` helper; the helper's import broke in a refactor and every study silently
    ran with its own defaults (vertical patches at 0.33 UA)."""
    root = request.config.rootpath
    script = (root / "studies" / "evidence_ravdess.sh").read_text()
    helper = script.split("<<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]
    recipe = str(root / "studies" / "recipe_ravdess_nested.yaml")
    done = subprocess.run(
        [sys.executable, "-c", helper, recipe, "data.,train.", "data.dataset,data.root"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert {"data.trim_db=30", "data.max_frames=168", "train.epochs=50"} <= set(lines)
    assert not [line for line in lines if line.startswith(("data.dataset=", "data.root="))]


def _evidence(tmp_path, root, studies: str) -> subprocess.CompletedProcess:
    """The RAVDESS evidence script run from a copy of studies/ with STUDIES set, on a
    corpus folder that does not exist (each study it runs fails at once, in its log)."""
    shutil.copytree(root / "studies", tmp_path / "studies", dirs_exist_ok=True)
    env = {
        **os.environ,
        "STUDIES": studies,
        "STORE": str(tmp_path / "store.db"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    script = str(tmp_path / "studies" / "evidence_ravdess.sh")
    return subprocess.run(
        ["bash", script, str(tmp_path / "no-corpus"), "smoke"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )


def test_the_ravdess_evidence_runs_only_the_studies_named(tmp_path, request):
    """A second seed of the claims alone: STUDIES=... runs those studies and no other."""
    done = _evidence(tmp_path, request.config.rootpath, "reference_cnn")
    assert done.returncode == 0, done.stderr
    logs = sorted(p.name for p in (tmp_path / "runs" / "ravdess-smoke").glob("*.log"))
    assert logs == ["reference_cnn-seeds1,2.log"]
    assert "no-corpus" in (tmp_path / "runs" / "ravdess-smoke" / logs[0]).read_text()


def test_a_resumed_ravdess_study_keeps_the_log_of_the_run_that_stopped(tmp_path, request):
    """Run again to resume, the script overwrote the log that said why the first run
    stopped."""
    for _ in range(2):
        assert _evidence(tmp_path, request.config.rootpath, "reference_cnn").returncode == 0
    log = tmp_path / "runs" / "ravdess-smoke" / "reference_cnn-seeds1,2.log"
    assert log.read_text().count("no-corpus") >= 2


def test_the_ravdess_evidence_refuses_an_unknown_study(tmp_path, request):
    done = _evidence(tmp_path, request.config.rootpath, "pe_vs_cord")
    assert done.returncode == 2
    assert "STUDIES: unknown study 'pe_vs_cord'; known: pe_vs_coord," in done.stderr
    assert not (tmp_path / "runs").exists()
