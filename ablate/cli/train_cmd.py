"""``ablate train``, ``ablate evaluate``, ``ablate predict``: one model, no sweep."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import click
import torch

from ablate.cli.claim import claimed
from ablate.cli.output import console, print_json
from ablate.config import CONFIG_SECTIONS, make_config
from ablate.errors import AblateError
from ablate.yaml_file import load_yaml


def _config_sections(path: Path) -> dict:
    """The config sections of a config or study file (a study's search space is ignored)."""
    raw = load_yaml(path)
    study_keys = {"name", "space", "optuna", "description"}
    unknown = sorted(set(raw) - set(CONFIG_SECTIONS) - study_keys)
    if unknown:
        raise AblateError(
            f"{path}: unknown key '{unknown[0]}' (valid: {', '.join(CONFIG_SECTIONS)})"
        )
    return {k: v for k, v in raw.items() if k in CONFIG_SECTIONS}


@click.command(
    epilog="Example: ablate train studies/pe_vs_coord.yaml model.pos_encoding=coordinate "
    "--out models/coord"
)
@click.argument("config_file", type=click.Path(path_type=Path))
@click.argument("overrides", nargs=-1)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Model directory: new or empty, or an existing model directory with --force.",
)
@click.option("--force", is_flag=True, help="Replace the model directory --out if it exists.")
@click.option(
    "--val-fraction",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.0,
    show_default=True,
    help="Keep this share of the speakers out for validation (and for train.select="
    "best_val); 0 trains on every speaker for train.epochs.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def train(
    config_file: Path,
    overrides: tuple[str, ...],
    out: Path,
    force: bool,
    val_fraction: float,
    as_json: bool,
) -> None:
    """Train one configuration on every speaker for a fixed number of epochs and save it
    (a validation split is opt-in: --val-fraction)."""
    from ablate.cli.output import errors
    from ablate.plugins import get_registry
    from ablate.ranges import check_value
    from ablate.studies.progress import EpochProgress, stage_epochs
    from ablate.training.fit_one import check_trainable, train_one

    registry = get_registry()
    check_value("--val-fraction", val_fraction, (0, 1, True))  # NaN passes FloatRange
    config = make_config(_config_sections(config_file), dotlist=overrides)
    check_trainable(config, registry, f"{config_file}: ")
    _check_out(out, force)
    with claimed(out):  # held from the check to the save: one writer per --out
        _check_out(out, force)
        # with --json, stdout holds the JSON alone: progress goes to stderr
        progress = EpochProgress(errors if as_json else console, stage_epochs(config))
        try:
            saved = train_one(config, registry, val_fraction, progress)
        finally:
            progress.stop()
        saved.save(out)
    meta = saved.meta
    validation = meta["validation"]
    info = {
        "out": str(out),
        "labels": saved.label_names,
        "train_utterances": meta["train_utterances"],
        "train_speakers": meta["train_speakers"],
        "epochs": meta["best_epoch"],
        "validation_split": validation is not None,
        **(validation or {}),
    }
    if as_json:
        print_json(info)
        return
    trained_on = (
        f"trained on {info['train_utterances']} utterances of "
        f"{len(info['train_speakers'])} speakers"
    )
    if validation is None:
        console.print(
            f"saved model to [bold]{out}[/bold]: {trained_on}, every speaker, "
            f"{info['epochs']} epochs (fixed schedule, no validation split; opt in with "
            "--val-fraction)",
            soft_wrap=True,  # the path stays one line (a terminal may still fold it)
        )
        return
    held_out = ", ".join(validation["speakers"]) or "random utterances"
    console.print(
        f"saved model to [bold]{out}[/bold]: {trained_on}; validation split "
        f"{held_out} ({info['n']} utterances, --val-fraction {val_fraction}): "
        f"UA {info['uar']:.3f}, "
        f"WA {info['war']:.3f}; weights of epoch {info['epochs']} ({validation['selection']})",
        soft_wrap=True,
    )


def _check_out(out: Path, force: bool) -> None:
    """Before training: ``out`` is new, an empty folder, or (with ``force``) a model
    directory, and a model can be written beside it; else a one-line error."""
    from ablate.training.saved import is_model_dir

    if out.is_symlink() or out.exists():
        if not out.is_dir():
            raise AblateError(f"--out {out}: is a file; give a folder for the model")
        if any(out.iterdir()):
            if not is_model_dir(out):
                raise AblateError(
                    f"--out {out}: a folder holding other files; give a new or empty folder"
                )
            if not force:
                raise AblateError(
                    f"--out {out}: already holds a model; pass --force to replace it, "
                    "or give another folder"
                )
    parent = out.absolute().parent
    while not parent.exists():  # the folders save() will create; nothing is created now
        parent = parent.parent
    probe = parent / f".ablate-write-test-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        raise AblateError(
            f"--out {out}: cannot write in {parent} ({exc.strerror or exc})"
        ) from None


def _counts(counter: Counter) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counter.items()))


def _evaluate(model_dir: Path, dataset: str, root: str | None, only_known: bool) -> dict:
    """Metrics over the utterances whose label the model knows. Others are refused unless
    ``only_known``: a UA over a subset of the classes must never pass for the whole corpus."""
    from ablate.cli.seen import split_by_training, trained_on
    from ablate.data.pipeline import load_corpus
    from ablate.plugins import get_registry
    from ablate.training.saved import SavedModel

    registry = get_registry()
    saved = SavedModel.load(model_dir, registry)
    data = make_config(
        {"data": saved.config.data},
        dotlist=[f"data.dataset={dataset}", f"data.root={root or 'null'}"],
    ).data
    if dataset != saved.config.data.dataset:
        data.dataset_args = {}
    corpus = load_corpus(data, registry)
    known = {name: i for i, name in enumerate(saved.label_names)}
    where = f"{dataset} at {root}" if root else dataset
    if not any(name in known for name in corpus.label_names):
        raise AblateError(
            f"{where}: none of its labels ({', '.join(corpus.label_names)}) "
            f"are known to the model ({', '.join(saved.label_names)})"
        )
    remap = torch.tensor([known.get(name, -1) for name in corpus.label_names])
    targets = remap[corpus.labels]
    mask = targets >= 0
    unknown = Counter(corpus.label_names[i] for i in corpus.labels[~mask].tolist())
    if unknown and not only_known:
        raise AblateError(
            f"{where}: {int((~mask).sum())} utterances have labels the model was not trained "
            f"on ({_counts(unknown)}); pass --only-known-labels to score the other "
            f"{int(mask.sum())} on the model's classes"
        )
    speakers = [s for s, keep in zip(corpus.speakers, mask.tolist(), strict=True) if keep]
    probs = saved.probabilities(corpus.features[mask], speakers)
    seen = trained_on(saved, dataset)
    metrics = split_by_training(
        speakers, targets[mask].numpy(), probs.argmax(-1).numpy(), seen, saved.label_names
    )
    dropped = int((~mask).sum())
    return {
        **metrics,
        "classes_scored": sorted(metrics["per_class_recall"]),
        "model_classes": list(saved.label_names),
        "left_out": {"n": dropped, "labels": dict(sorted(unknown.items()))},
        "unknown_label_utterances": dropped,
    }


@click.command(epilog="Example: ablate evaluate models/coord emodb ~/corpora/emodb --json")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("dataset")
@click.argument("root", required=False)
@click.option(
    "--only-known-labels",
    is_flag=True,
    help="Score only the utterances whose label the model knows (the rest are counted).",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def evaluate(
    model_dir: Path, dataset: str, root: str | None, only_known_labels: bool, as_json: bool
) -> None:
    """Metrics (UA, WA, macro-F1) of a saved model on a corpus.

    On the corpus the model was trained on, its training speakers (meta.json) are scored
    apart and are not a test: the speakers it never heard are. UA and macro-F1 average
    over the model's classes present in the corpus (named under the table). A corpus
    with labels the model does not know is refused unless --only-known-labels is given;
    the utterances left out are then counted by label."""
    from ablate.cli.seen import render

    result = _evaluate(model_dir, dataset, root, only_known_labels)
    if as_json:
        print_json(result)
        return
    render(result, f"{model_dir} on {dataset}")
    scored, classes = result["classes_scored"], result["model_classes"]
    console.print(
        f"UA and macro-F1 over the model's classes present: {', '.join(scored)} "
        f"({len(scored)} of {len(classes)})"
    )
    left_out = result["left_out"]
    if left_out["n"]:
        console.print(
            f"left out {left_out['n']} utterances with labels the model does not know: "
            f"{_counts(Counter(left_out['labels']))}"
        )
