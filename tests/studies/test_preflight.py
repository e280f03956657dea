"""Before the first trial: every point's plugins built and run once; a trial is scored
without a tracking store."""

from __future__ import annotations

import pytest
from study_helpers import TINY, _one_line_error, no_trials

from ablate.plugins import get_registry
from ablate.studies.seeds import aggregate, run_seeds, score
from ablate.training.engine import TrialFailed
from tests.training.conftest import tiny_config

SQUARE = """\
name: tiny
space:
  model.patching: {choice: [vertical, square]}
  model.patching_args.size: {choice: [8, 5]}
optuna: {sampler: grid}
"""


def test_a_point_of_the_space_whose_plugin_fails_stops_the_study_before_any_trial(workdir, capsys):
    """Before: the first trials trained, then the bad point failed as a trial of its own."""
    study = workdir / "square.yaml"
    study.write_text(SQUARE)
    err = _one_line_error(["run", study, *TINY], capsys, seconds=60)
    assert err == (
        "error: model.patching_args: patching 'square' (ablate): patch 5x5 does not divide "
        "the 32x32 input; change the patch size or set pad=true "
        "(at model.patching=square, model.patching_args.size=5)"
    )
    assert no_trials(workdir)


def test_a_broken_third_party_part_stops_the_study_before_any_trial(workdir, capsys, plugin_module):
    plugin_module(
        "flipped",
        """
        from ablate import hookimpl
        from ablate.contracts import Patching

        class Flipped(Patching):
            def forward(self, x):
                return super().forward(x).transpose(1, 2)

        @hookimpl
        def register_patchings(register):
            register("flipped", lambda shape: Flipped(shape, shape.height, 1), "transposed")
        """,
    )
    study = workdir / "flipped.yaml"
    study.write_text(SQUARE.replace("  model.patching_args.size: {choice: [8, 5]}\n", "")
                     .replace("square]", "flipped]"))  # fmt: skip
    err = _one_line_error(["run", study, *TINY], capsys, seconds=60)
    assert err.startswith("error: model.patching: patching 'flipped' (flipped) turned ")
    assert err.endswith("(at model.patching=flipped)")
    assert no_trials(workdir)


def test_a_trial_is_scored_from_its_results_without_a_tracking_store(tmp_path):
    from ablate.data.pipeline import load_corpus

    config = tiny_config("protocol.max_folds=1", f"data.cache_dir={tmp_path}")
    corpus = load_corpus(config.data, progress=False, registry=get_registry())

    class Seeds:
        seed = None

        def epoch(self, fold, stage, epoch, metrics):
            self.seen.add(self.seed)

        def fold_done(self, result):
            pass

    reporter = Seeds()
    reporter.seen = set()
    results = run_seeds(config, get_registry(), [0, 1], corpus, reporter, tmp_path / "teachers")
    assert [seed for seed, _ in results] == [0, 1] and reporter.seen == {0, 1}
    metrics, value = score(results, "test_uar_mean")
    expected = sum(r.summary["test_uar_mean"] for _, r in results) / 2
    assert value == pytest.approx(expected) == metrics["test_uar_mean"]
    assert metrics.keys() == aggregate(results).keys()
    assert "val_uar_mean" in metrics and metrics["params"] > 0
    with pytest.raises(TrialFailed, match="test_nonsense_mean is nan"):
        score(results, "test_nonsense_mean")
