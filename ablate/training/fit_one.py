"""Train one configuration on a whole corpus (minus validation) for ``ablate train``."""

from __future__ import annotations

from ablate import __version__
from ablate.data.cache import cache_root
from ablate.data.pipeline import load_corpus
from ablate.data.splits import training_fold
from ablate.plugins import get_registry
from ablate.training.engine import evaluate
from ablate.training.saved import SavedModel
from ablate.training.trial import FoldRun, train_fold


def train_one(config) -> SavedModel:
    """Train on every speaker but the validation ones; select and report on validation."""
    registry = get_registry()
    corpus = load_corpus(config.data, registry)
    fold = training_fold(corpus, config.protocol)
    run = FoldRun(config, corpus, fold, registry)
    trained = train_fold(run, None, cache_root(config.data) / "teachers")
    model = trained.model
    cfg = config.train
    metrics = evaluate(model, run.val, run.labels, cfg.batch_size * 2, cfg.amp)
    meta = {
        "ablate_version": __version__,
        "label_names": list(corpus.label_names),
        "val_speakers": fold.val_speakers,
        "best_epoch": trained.best_epoch,
        "history": trained.history,
        "fingerprint": corpus.fingerprint,
        "validation": {
            "uar": metrics["uar"],
            "war": metrics["war"],
            "f1": metrics["f1"],
            "n": len(fold.val),
        },
    }
    return SavedModel(config, model.cpu().eval(), list(corpus.label_names), run.mean, run.std, meta)
