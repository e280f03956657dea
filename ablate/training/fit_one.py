"""Train one configuration on a whole corpus (validation opt-in) for ``ablate train``."""

from __future__ import annotations

from ablate import __version__
from ablate.data.cache import cache_root
from ablate.data.pipeline import load_corpus
from ablate.data.splits import check_classes, training_fold
from ablate.errors import AblateError
from ablate.ranges import check_ranges
from ablate.registry import Registry
from ablate.training.distill import check_distill_needs, check_distill_token
from ablate.training.engine import evaluate
from ablate.training.saved import SavedModel
from ablate.training.trial import FoldRun, train_fold


def check_trainable(config, registry: Registry, where: str = "") -> None:
    """Before any data is loaded: every value in range, and epochs that train something
    (0 epochs would save the untrained, randomly initialised model)."""
    check_ranges(config, where)
    check_distill_token(config, registry, where)
    check_distill_needs(config, registry, where)
    stages = ["train.epochs"]
    if config.distill.enabled:
        stages = ["distill.teacher_epochs", "distill.finetune_epochs"]
    for key in stages:
        section, name = key.split(".")
        if config[section][name] < 1:
            raise AblateError(
                f"{where}{key}: {config[section][name]} would save an untrained model; "
                "`ablate train` needs at least 1"
            )


def train_one(config, registry: Registry, val_fraction: float = 0.0, reporter=None) -> SavedModel:
    """Train on every speaker for ``train.epochs`` (a fixed schedule: the last, or with
    ``train.ema`` the averaged, weights). ``val_fraction`` > 0 keeps that share of the
    speakers out for validation, which ``train.select=best_val`` then selects on.
    ``reporter`` receives each epoch (progress for a person)."""
    check_trainable(config, registry)
    config = config.copy()
    config.protocol.val_fraction = float(val_fraction)
    corpus = load_corpus(config.data, registry)
    check_classes(corpus)
    fold = training_fold(corpus, config.protocol)
    run = FoldRun(config, corpus, fold, registry)
    trained = train_fold(run, reporter, cache_root(config.data) / "teachers")
    model = trained.model
    cfg = config.train
    validation = None
    if len(fold.val):
        metrics = evaluate(model, run.val, run.labels, cfg.batch_size * 2, cfg.amp)
        validation = {
            "uar": metrics["uar"],
            "war": metrics["war"],
            "f1": metrics["f1"],
            "n": len(fold.val),
            "speakers": fold.val_speakers,
            "selection": cfg.select,
        }
    meta = {
        "ablate_version": __version__,
        "label_names": list(corpus.label_names),
        "train_utterances": len(fold.train),
        "train_speakers": sorted({corpus.speakers[i] for i in fold.train}),
        "val_speakers": fold.val_speakers,
        "best_epoch": trained.best_epoch,
        "history": trained.history,
        "fingerprint": corpus.fingerprint,
        "validation": validation,
    }
    return SavedModel(config, model.cpu().eval(), list(corpus.label_names), run.mean, run.std, meta)
