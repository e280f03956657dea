"""A study against its corpus and its seeds: what is checked before the first trial (the
classes left by ``data.labels`` / ``data.label_map``, the speakers a split needs) and the
one seed rule. Real ``ablate run`` through the CLI, real Optuna and MLflow stores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient
from study_helpers import TINY, _children, _cli, _one_line_error, _trials, no_trials

from ablate.data.pipeline import load_corpus
from ablate.data.synthetic import generate
from ablate.plugins import get_registry
from ablate.studies.spec import load_study
from ablate.tracking.folds import SEED_TAG

SPACE = "space:\n  model.pos_encoding: {choice: [coordinate, none]}\n"
ONE_CLASS = (
    "data.labels: the corpus has 1 class ({}) after data.label_map and data.labels; "
    "a classifier needs at least 2"
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text("name: tiny\n" + text)
    return path


def _nothing_recorded(tmp_path: Path) -> None:
    """No Optuna trial and no MLflow run: nothing of the budget was used."""
    assert no_trials(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    assert experiment is None or not client.search_runs([experiment.experiment_id])


# -- labels ----------------------------------------------------------------------------------

MERGED = "data:\n  label_map: {glide_up: glide, glide_down: glide}\n  labels: [glide, tilt_high]\n"


def test_label_map_in_a_study_file_is_read_as_ablate_data_reads_it(workdir):
    """Before: `data.label_map: unknown key 'glide_up' (valid: )`."""
    study = load_study(_write(workdir, MERGED + SPACE), registry=get_registry())
    assert dict(study.base.data.label_map) == {"glide_up": "glide", "glide_down": "glide"}
    corpus = load_corpus(study.base.data, progress=False, registry=get_registry())
    assert corpus.label_names == ["glide", "tilt_high"]
    _cli(["run", workdir / "study.yaml", *TINY, "--n-trials", 1])
    (trial,) = _trials(workdir)
    assert trial.state.name == "COMPLETE"
    _, _, (child,) = _children(workdir)
    assert child.data.params["data.label_map.glide_up"] == "glide"


ONE_LEFT = [
    ("data:\n  labels: [glide_up]\n", "glide_up"),
    (
        "data:\n  label_map: {glide_up: x, glide_down: x, burst_early: x, burst_late: x, "
        "tilt_high: x, tilt_low: x}\n",
        "x",
    ),
]


@pytest.mark.parametrize(("data", "left"), ONE_LEFT, ids=["labels", "label_map"])
def test_a_single_class_is_refused_before_training(workdir, capsys, data, left):
    """Before: it trained and reported UA 1.0."""
    study = _write(workdir, data + SPACE)
    err = _one_line_error(["run", study, *TINY], capsys)
    assert err == f"error: {ONE_CLASS.format(left)}"
    _nothing_recorded(workdir)
    err = _one_line_error(["train", study, *TINY, "--out", workdir / "model"], capsys)
    assert err == f"error: {ONE_CLASS.format(left)}"
    assert not (workdir / "model").exists()


# -- speakers --------------------------------------------------------------------------------


def _place(source: Path, root: Path, speakers: set[str]) -> None:
    """The generated files of ``speakers`` as a folder corpus, ROOT/<label>/<speaker>/x.wav."""
    for wav in sorted(source.glob("*.wav")):
        speaker, rest = wav.stem.split("_", 1)
        label = rest.rsplit("_", 1)[0]
        if speaker in speakers:
            target = root / label / speaker / wav.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(wav, target)


SPLITS = [
    (
        ["protocol.split=loso"],
        "protocol.split: loso needs at least 3 speakers (test, validation and training), "
        "the corpus has 1",
    ),
    (
        ["protocol.split=speaker_kfold", "protocol.folds=2"],
        "protocol.folds: speaker_kfold with 2 folds needs at least 3 speakers, the corpus has 1",
    ),
    (
        ["protocol.split=holdout", "protocol.test_speakers=[s01]"],
        "protocol.test_speakers: holdout needs at least 2 other speakers "
        "(one for validation, one for training)",
    ),
]


@pytest.mark.parametrize(("protocol", "message"), SPLITS, ids=["loso", "speaker_kfold", "holdout"])
def test_one_speaker_is_refused_before_any_trial_and_the_fixed_corpus_runs(
    workdir, capsys, protocol, message
):
    """Before: every trial failed at trial time, used up the budget (so fixing the data
    never reran them) and the command exited 0 with `compare with:`."""
    source = _three_speakers(workdir)
    root = workdir / "corpus"
    _place(source, root, {"s01"})
    study = _write(workdir, SPACE)
    args = ["run", study, *TINY, "data.dataset=folder", f"data.root={root}", *protocol]
    err = _one_line_error(args, capsys)
    assert err == f"error: {message}"
    _nothing_recorded(workdir)
    if protocol[0] != "protocol.split=loso":
        return
    _place(source, root, {"s02", "s03"})  # the data fixed; the same command
    _cli(args)
    assert [t.state.name for t in _trials(workdir)] == ["COMPLETE", "COMPLETE"]


def _three_speakers(workdir):
    """A generated corpus of 3 speakers, 2 classes, 2 half-second utterances each."""
    return generate(
        workdir / "generated",
        speakers=3,
        per_class=2,
        classes=2,
        seconds=0.5,
        sample_rate=16000,
        seed=0,
    )


def test_a_swept_protocol_is_checked_at_every_value(workdir, capsys):
    source = _three_speakers(workdir)
    _place(source, workdir / "corpus", {"s01", "s02", "s03"})
    study = _write(workdir, "space:\n  protocol.folds: {choice: [2, 3]}\n")
    args = ["run", study, *TINY, "data.dataset=folder", f"data.root={workdir / 'corpus'}"]
    err = _one_line_error([*args, "protocol.split=speaker_kfold"], capsys)
    assert err == (
        "error: protocol.folds: speaker_kfold with 3 folds needs at least 4 speakers, "
        "the corpus has 3 (at protocol.folds=3)"
    )
    _nothing_recorded(workdir)


# -- seeds -----------------------------------------------------------------------------------


def test_a_swept_train_seed_trains_each_arm_with_its_seed(workdir):
    """Before: optuna.seeds (default [0]) replaced it: both arms trained with seed 0, and
    the run logged train.seed=5 beside metrics named seed0/..."""
    study = _write(workdir, "space:\n  train.seed: {choice: [0, 5]}\n")
    _cli(["run", study, *TINY])
    client, _, children = _children(workdir)
    runs = client.search_runs([children[0].info.experiment_id])
    losses = {}
    for child in children:
        seed = child.data.params["train.seed"]
        assert child.data.tags["ablate.seeds"] == f"[{seed}]"
        folds = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == child.info.run_id]
        assert {r.data.tags[SEED_TAG] for r in folds} == {seed}  # each fold run says its seed
        losses[seed] = folds[0].data.metrics["train/train_loss"]
    assert sorted(losses) == ["0", "5"]
    assert losses["0"] != losses["5"]


def test_train_seed_is_the_seed_list_when_optuna_seeds_is_unset():
    plain = load_study("studies/stem.yaml", get_registry(), ["optuna.seeds=null"])
    five = load_study("studies/stem.yaml", get_registry(), ["optuna.seeds=null", "train.seed=5"])
    assert plain.settings.seeds is None
    assert plain.settings.seeds_for(plain.base) == (0,)
    assert five.settings.seeds_for(five.base) == (5,)
    assert five.key != plain.key
    same = load_study("studies/stem.yaml", get_registry(), ["optuna.seeds=[5]", "train.seed=5"])
    assert same.settings.seeds_for(same.base) == (5,)
