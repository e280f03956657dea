"""Effects of each factor: grids with plugin parameters, by hand, and on the GPU store."""

from __future__ import annotations

import csv
import io
import json
import statistics

import numpy as np
import pytest
from scipy import special, stats
from store_helpers import PATCH_SHAPE, by_hand, raw_scores, run

from ablate.errors import AblateError
from ablate.tracking.arms import Arm
from ablate.tracking.effects import cell_means, effects
from ablate.tracking.effects_table import rows, summary

PATCH = PATCH_SHAPE
SHAPES = [
    {"model.patching": "vertical"},
    {"model.patching": "square", "model.patching_args.size": 16},
    {"model.patching": "horizontal"},
]


def grid(score, shapes=SHAPES, encodings=("coordinate", "none"), folds=6, seeds=2):
    """Arms of a patching x pos_encoding grid; ``score(shape, encoding, fold, seed)``."""
    arms = []
    for shape, encoding in ((s, e) for s in shapes for e in encodings):
        swept = {**shape, "model.pos_encoding": encoding}
        values = {
            (seed, f"f{fold}"): score(shape, encoding, fold, seed)
            for fold in range(folds)
            for seed in range(seeds)
        }
        arms.append(Arm(json.dumps(swept), "grid-1", swept, values={"uar": values}))
    return arms


_NOISE: dict[tuple, float] = {}
_RNG = np.random.default_rng(0)


def additive(shape, encoding, fold, seed):
    """Shape effect + encoding effect + fold effect + fixed random noise: no interaction."""
    size = shape.get("model.patching_args.size", 0)
    shapes = {"vertical": 0.5, "square": 0.3 + size / 100, "horizontal": 0.4}
    key = (shape["model.patching"], size, encoding, fold, seed)
    noise = _NOISE.setdefault(key, float(_RNG.normal(0, 0.02)))
    return shapes[shape["model.patching"]] + (encoding == "coordinate") * 0.05 + fold * 0.02 + noise


def test_a_plugin_parameter_active_for_one_level_is_part_of_that_level_not_a_factor():
    result = effects(grid(additive))
    assert result.factors == {
        "model.patching": ["vertical", "square (size=16)", "horizontal"],
        "model.pos_encoding": ["coordinate", "none"],
    }
    # every pair of levels within each factor, and the (3 - 1) x (2 - 1) interaction contrasts
    assert result.family == 3 + 1 + 2


def test_a_level_is_its_mean_over_the_other_factors_levels_computed_per_fold():
    arms = grid(additive)
    result = effects(arms)
    by_level = {(lv.factor, lv.level): lv for lv in result.levels}
    square = [a for a in arms if a.swept["model.patching"] == "square"]
    vertical = [a for a in arms if a.swept["model.patching"] == "vertical"]

    def marginal(group):
        folds = [a.fold_means("uar") for a in group]
        return {f: statistics.fmean(m[f] for m in folds) for f in folds[0]}

    expected = marginal(square)
    level = by_level[("model.patching", "square (size=16)")]
    assert level.interval.mean == pytest.approx(statistics.fmean(expected.values()))
    diffs = [expected[f] - marginal(vertical)[f] for f in expected]
    assert level.comparison.paired.diff == pytest.approx(statistics.fmean(diffs))
    assert result.levels[0].level == "vertical" and result.levels[0].comparison is None
    # no interaction was built in: the effect of patching is the same for every encoding
    (interaction,) = result.interactions
    assert interaction[2].p > 0.05


def test_an_interaction_is_found_when_one_factors_effect_depends_on_the_other():
    def crossed(shape, encoding, fold, seed):  # coordinate rescues horizontal strips only
        rescue = shape["model.patching"] == "horizontal" and encoding == "coordinate"
        return additive(shape, encoding, fold, seed) + 0.15 * rescue

    result = effects(grid(crossed, folds=8))
    (interaction,) = result.interactions
    assert interaction[2].p < 0.001
    assert "the effect of patching depends on pos_encoding" in summary(result)[-1]
    lines = cell_means(result, "model.patching", "model.pos_encoding")
    assert lines["coordinate"][2] - lines["none"][2] == pytest.approx(0.2, abs=0.03)


def test_two_values_of_a_plugin_parameter_make_two_levels_of_its_plugin():
    shapes = [*SHAPES, {"model.patching": "square", "model.patching_args.size": 8}]
    result = effects(grid(additive, shapes=shapes))
    assert result.factors["model.patching"] == [
        "vertical", "square (size=16)", "horizontal", "square (size=8)"
    ]  # fmt: skip


def test_grids_that_are_not_grids_are_one_line_errors():
    arms = grid(additive)
    with pytest.raises(AblateError, match=r"not a full grid; no arm has patching=horizontal, "):
        effects(arms[:-1])
    stray = grid(additive)
    stray[0].swept["train.lr"] = 0.1
    with pytest.raises(AblateError, match=r"sweeps train\.lr in some arms only"):
        effects(stray)
    with pytest.raises(AblateError, match=r"has two arms at patching=vertical, pos_encoding="):
        effects([*arms, arms[0]])
    one = [a for a in arms if a.swept["model.pos_encoding"] == "none"]
    with pytest.raises(AblateError, match=r"sweeps 1 factor\(s\); effects need two or more"):
        effects(one)


def test_effects_on_the_gpu_store_recomputed_by_hand(gpu_store, capsys):
    """patch_shape: the vertical level recomputed from the raw per-fold metrics, and the
    markdown that the README quotes (both factors, their intervals, the interaction)."""
    code, out, err = run(
        capsys, "compare", PATCH, "--effects", "--format", "markdown", "--tracking-uri", gpu_store
    )
    assert code == 0, err
    raw = raw_scores(gpu_store, PATCH)
    vertical = [by_hand(v) for k, v in raw.items() if '"model.patching": "vertical"' in k]
    assert len(vertical) == 4
    folds = [statistics.fmean(arm[f] for arm in vertical) for f in range(8)]
    mean, half = np.mean(folds), stats.t.ppf(0.975, 7) * stats.sem(folds)
    logit = special.logit(mean) + np.array([-1, 1]) * half / (mean * (1 - mean))
    low, high = special.expit(logit)
    interval = f"[{low:.3f}, {high:.3f}]"
    assert f"| patching | vertical | yes | {mean:.3f} | {interval} |" in out
    for level in ("square (size=16)", "horizontal"):
        assert f"| patching | {level} | yes |" in out
    for level in ("coordinate", "learned", "sinusoidal", "none"):
        assert f"| pos_encoding | {level} | yes |" in out
    assert "- interaction patching x pos_encoding: F(6, 42) = " in out
    assert "one Holm family of 15" in out  # 3 + 6 pairs of levels, 2 x 3 contrasts
    assert "| patching x pos_encoding | (square (size=16) - vertical) at " in out


def test_effects_as_csv_and_a_study_without_a_grid(gpu_store, capsys):
    code, out, _ = run(
        capsys, "compare", PATCH, "--effects", "--format", "csv", "--tracking-uri", gpu_store
    )
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert [r["factor"] for r in table] == ["patching"] * 3 + ["pos_encoding"] * 4 + [
        "patching x pos_encoding"
    ] * 6
    assert {"study", "level", "ci95_low", "diff_ci95_high", "p_holm", "verdict", "mde"} <= set(
        table[0]
    )
    code, _, err = run(
        capsys, "compare", "pe_vs_coord-630e2cfed6", "--effects", "--tracking-uri", gpu_store
    )
    assert code == 2 and "sweeps 1 factor(s); effects need two or more" in err


def test_effect_rows_mark_a_speaker_dependent_study():
    arms = grid(additive)
    for arm in arms:
        arm.speaker_independent = False
    assert {r["speaker_independent"] for r in rows(effects(arms))} == {"NO (speaker-dependent)"}


def test_three_factors_give_three_interactions_each_averaged_over_the_third():
    def score(shape, encoding, fold, seed):
        return additive(shape, encoding[0], fold, seed) + (encoding[1] == "conv") * 0.02

    arms = []
    for arm in grid(lambda *a: 0.0):
        for stem in ("none", "conv"):
            swept = {**arm.swept, "model.stem": stem}
            values = {
                key: score(
                    arm.swept, (arm.swept["model.pos_encoding"], stem), int(key[1][1:]), key[0]
                )
                for key in arm.values["uar"]
            }
            arms.append(Arm(json.dumps(swept), "grid-1", swept, values={"uar": values}))
    result = effects(arms)
    assert list(result.factors) == ["model.patching", "model.pos_encoding", "model.stem"]
    assert [(a, b) for a, b, _, _ in result.interactions] == [
        ("model.patching", "model.pos_encoding"),
        ("model.patching", "model.stem"),
        ("model.pos_encoding", "model.stem"),
    ]
    stems = cell_means(result, "model.stem", "model.patching")
    assert stems["vertical"][1] - stems["vertical"][0] == pytest.approx(0.02, abs=1e-9)
    assert "Holm over 3" in summary(result)[-1]


def test_an_interaction_contrast_is_the_per_fold_difference_of_differences():
    """horizontal's gap to vertical with no encoding, minus the same gap with coordinate
    channels (the best encoding, which rescues horizontal strips by 0.15): -0.15."""

    def crossed(shape, encoding, fold, seed):
        rescue = shape["model.patching"] == "horizontal" and encoding == "coordinate"
        return additive(shape, encoding, fold, seed) + 0.15 * rescue

    arms = grid(crossed, folds=8)
    result = effects(arms, margin=0.05)
    (contrast,) = [c for c in result.contrasts if c.level == "horizontal"]
    assert (contrast.best, contrast.at, contrast.at_best) == ("vertical", "none", "coordinate")
    by_cell = {
        (a.swept["model.patching"], a.swept["model.pos_encoding"]): a.fold_means("uar")
        for a in arms
    }
    per_fold = [
        by_cell["horizontal", "none"][f] - by_cell["vertical", "none"][f]
        - by_cell["horizontal", "coordinate"][f] + by_cell["vertical", "coordinate"][f]
        for f in by_cell["vertical", "none"]
    ]  # fmt: skip
    assert contrast.comparison.paired.diff == pytest.approx(statistics.fmean(per_fold))
    assert contrast.comparison.paired.diff == pytest.approx(-0.15, abs=0.03)
    assert contrast.comparison.verdict == "worse"
    square = next(c for c in result.contrasts if c.level.startswith("square"))
    assert square.comparison.verdict == "equivalent"  # no interaction there
    assert any("1 of its 2 contrasts differs detectably" in line for line in summary(result))


def test_main_effects_say_which_levels_are_equivalent_within_the_margin():
    def flat(shape, encoding, fold, seed):  # the encoding does nothing
        return additive(shape, encoding, fold, seed) - (encoding == "coordinate") * 0.05

    result = effects(grid(flat, folds=8), margin=0.05)
    encoding = next(
        lv for lv in result.levels if lv.factor == "model.pos_encoding" and lv.comparison
    )
    assert encoding.comparison.verdict == "equivalent"
    assert "main effect of pos_encoding" in summary(result)[1]
    assert "every one of its levels equivalent within the margin" in summary(result)[1]
    assert effects(grid(flat, folds=8)).levels[-1].comparison.verdict == "inconclusive"
