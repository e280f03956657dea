"""``ablate compare`` on the committed GPU store: rows recomputed by hand from the raw
per-fold metrics, studies of one name kept apart, the leak marked, the reference chosen."""

from __future__ import annotations

import csv
import io
import json
import re
import statistics

import numpy as np
import pytest
from scipy import special, stats
from store_helpers import LEAKY, PE, PRESETS, by_hand, compare_csv, raw_scores, run


def swept(value: str) -> str:
    return json.dumps({"model.pos_encoding": value}, sort_keys=True)


def test_an_arm_row_recomputed_by_hand_from_the_raw_per_fold_metrics(gpu_store, capsys):
    """coordinate: 3 seeds x 8 speakers; its interval is over the 8 fold means (about
    +-0.078), not over 24 pooled values (+-0.041 before)."""
    rows = compare_csv(capsys, gpu_store, PE)
    row = rows["pos_encoding=coordinate"]
    folds = list(by_hand(raw_scores(gpu_store, PE)[swept("coordinate")]).values())
    assert len(folds) == 8
    mean, sd = statistics.fmean(folds), statistics.stdev(folds)
    half = stats.t.ppf(0.975, 7) * sd / 8**0.5
    assert float(row["test_uar"]) == pytest.approx(mean, abs=1e-12)
    assert float(row["sd_folds"]) == pytest.approx(sd, abs=1e-12)
    # the t-interval on the logit scale, around the mean (delta method), mapped back
    logit_half = half / (mean * (1 - mean))
    low, high = special.expit(special.logit(mean) + np.array([-logit_half, logit_half]))
    assert float(row["ci95_low"]) == pytest.approx(low, abs=1e-12)
    assert float(row["ci95_high"]) == pytest.approx(high, abs=1e-12)
    assert half == pytest.approx(0.078, abs=0.001)
    assert (row["folds"], row["seeds"], row["speaker_independent"]) == ("8", "3", "yes")
    # the spread between seeds on one speaker, pooled over speakers
    per_fold: dict[int, list[float]] = {}
    for (_, fold), v in raw_scores(gpu_store, PE)[swept("coordinate")].items():
        per_fold.setdefault(fold, []).append(v)
    pooled = statistics.fmean(statistics.variance(v) for v in per_fold.values()) ** 0.5
    assert float(row["sd_seeds"]) == pytest.approx(pooled, abs=1e-12)


def test_a_comparison_recomputed_by_hand_paired_over_fold_means(gpu_store, capsys):
    """sinusoidal vs coordinate: p = 0.151 over the 8 fold means (0.040 when the 24
    (seed, fold) values were pooled); diff, interval and p come from the same folds."""
    rows = compare_csv(capsys, gpu_store, PE, "--reference", "coordinate")
    raw = raw_scores(gpu_store, PE)
    reference, other = by_hand(raw[swept("coordinate")]), by_hand(raw[swept("sinusoidal")])
    diffs = [other[f] - reference[f] for f in reference]
    test = stats.ttest_rel([other[f] for f in reference], [reference[f] for f in reference])
    low, high = stats.t.interval(0.95, 7, statistics.fmean(diffs), stats.sem(diffs))
    row = rows["pos_encoding=sinusoidal"]
    assert float(row["diff"]) == pytest.approx(statistics.fmean(diffs), abs=1e-12)
    assert float(row["p"]) == pytest.approx(test.pvalue, abs=1e-12)
    assert float(row["p"]) == pytest.approx(0.151, abs=0.001)
    assert float(row["diff_ci95_low"]) == pytest.approx(low, abs=1e-12)
    assert float(row["diff_ci95_high"]) == pytest.approx(high, abs=1e-12)
    ps = sorted(float(r["p"]) for r in rows.values() if r["p"])
    assert float(row["p_holm"]) == pytest.approx(
        max(min(1, (3 - i) * p) for i, p in enumerate(ps) if p <= float(row["p"])), abs=1e-12
    )
    assert rows["pos_encoding=coordinate"]["verdict"] == "reference"
    assert {r["verdict"] for r in rows.values()} == {"reference", "inconclusive"}


@pytest.mark.parametrize("order", [(PE, LEAKY), (LEAKY, PE)])
def test_two_study_keys_under_one_name_are_never_pooled(gpu_store, capsys, order):
    """Both orders: 8 arms (not 4 arms of n = 24), labelled by the split that differs, the
    random-split arms marked speaker-dependent and never paired with speaker folds."""
    code, out, err = run(capsys, "compare", *order, "--tracking-uri", gpu_store, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 8
    loso = [r for r in rows if r["arm"].startswith("pe_vs_coord [split=loso")]
    leaky = [r for r in rows if r["arm"].startswith("pe_vs_coord [split=random_kfold")]
    assert len(loso) == len(leaky) == 4
    assert {(r["folds"], r["seeds"], r["speaker_independent"]) for r in loso} == {("8", "3", "yes")}
    assert {(r["folds"], r["seeds"], r["speaker_independent"]) for r in leaky} == {
        ("8", "1", "NO (speaker-dependent)")
    }
    assert all(r["verdict"] == "not paired: no fold in common" for r in loso)
    assert f"{PE}, {LEAKY}" in err or f"{LEAKY}, {PE}" in err
    assert "kept apart; they differ in protocol.split" in err


def test_the_same_key_twice_is_one_study_and_a_shared_name_says_which_key(gpu_store, capsys):
    assert len(compare_csv(capsys, gpu_store, PE, PE)) == 4
    code, out, _ = run(capsys, "compare", "pe_vs_coord", "--tracking-uri", gpu_store)
    assert code == 0
    # the speaker-dependent key has an experiment of its own: two keys share the name
    assert "'pe_vs_coord' names 2 study keys; shown: the newest" in out


def test_the_leak_is_marked_in_every_markdown_row(gpu_store, capsys):
    code, out, _ = run(
        capsys, "compare", LEAKY, "--tracking-uri", gpu_store, "--format", "markdown"
    )
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("| ") and "rank" not in line]
    assert len(rows) == 4 and all("| NO (speaker-dependent) |" in line for line in rows)
    assert "random folds whose speakers were also trained on" in out


def test_a_named_reference_and_the_caption_that_says_so(gpu_store, capsys):
    code, out, _ = run(
        capsys, "compare", PE, PRESETS, "--reference", "preset=cnn",
        "--tracking-uri", gpu_store, "--format", "markdown",
    )  # fmt: skip
    assert code == 0
    assert "| 1 | presets: preset=cnn | yes |" in out and "| reference |" in out
    assert "Reference: presets: preset=cnn (named with --reference); Holm runs over the 6" in out
    code, out, _ = run(capsys, "compare", PE, "--tracking-uri", gpu_store, "--format", "markdown")
    assert "Reference: the best arm, pos_encoding=coordinate, picked after looking" in out
    assert "all 6 pairs of arms" in out and "paired t-test" in out


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("preset=cnnn", "error: --reference 'preset=cnnn' matches no arm; arms: "),
        ("preset=", "error: --reference 'preset=' matches several arms; arms: presets: pre"),
    ],
)
def test_a_reference_that_names_no_single_arm_is_one_line_and_exit_2(
    gpu_store, capsys, reference, message
):
    code, _, err = run(
        capsys, "compare", PE, PRESETS, "--reference", reference, "--tracking-uri", gpu_store
    )
    assert code == 2 and err.startswith(message) and err.count("\n") == 1


def test_issue_22_every_encoding_is_inconclusive_against_coordinate_at_a_margin_of_3_points(
    gpu_store, capsys
):
    """With 8 speakers no encoding differs detectably from coordinate, and none is shown
    within ±0.03 of it either: the honest answer is that this study cannot tell."""
    rows = compare_csv(capsys, gpu_store, PE, "--margin", "0.03")
    verdicts = {arm: row["verdict"] for arm, row in rows.items()}
    assert verdicts.pop("pos_encoding=coordinate") == "reference"
    assert set(verdicts.values()) == {"inconclusive"}
    assert all(float(rows[arm]["mde"]) > 0.1 for arm in verdicts)
    _, out, _ = run(capsys, "compare", PE, "--margin", "0.03", "--tracking-uri", gpu_store)
    assert (
        "answer: no arm differs detectably (MDE 0.112-0.139); top estimate pos_encoding=coordinate"
        in " ".join(out.split())
    )


def test_issue_22_horizontal_patches_are_worse_when_the_recipe_study_is_pooled_by_name(
    recipe_store, capsys
):
    rows = compare_csv(capsys, recipe_store, "patch_shape", "--pool-seeds", "--margin", "0.03")
    assert rows["patching=horizontal"]["verdict"] == "worse"
    assert {row["seeds"] for row in rows.values()} == {"3"}  # the three keys of the name, pooled


def test_a_named_reference_on_top_answers_from_the_tables_own_verdicts(recipe_store, capsys):
    """The CNN, named as the reference, tops the distillation table and arms are `worse`
    than it: the answer may not say that no arm differs (it judged the top arm over all
    pairs, a larger family, and contradicted the rows)."""
    studies = ["distillation", "distillation_cnn", "reference_cnn", "--pool-seeds"]
    args = [*studies, "--reference", "preset=cnn", "--margin", "0.03"]
    rows = compare_csv(capsys, recipe_store, *args)
    verdicts = [row["verdict"] for row in rows.values()]
    assert verdicts.count("reference") == 1 and "worse" in verdicts
    assert "inconclusive" in verdicts  # the CNN is not above every arm
    _, out, _ = run(capsys, "compare", *args, "--tracking-uri", recipe_store)
    answer = " ".join(out.split())
    assert "answer: no arm is detectably best (MDE " in answer
    assert "differs detectably" not in answer


def test_no_printed_interval_leaves_0_1(tmp_path, mlflow_template, capsys):
    """Arms at the ceiling (UA 1 on most speakers) print intervals inside [0, 1] in every
    format; the t-interval of the first would reach 1.06."""
    from sim_store import write_study

    from ablate.tracking.mlflow_store import Store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "mlflow.db").write_bytes(mlflow_template.read_bytes())
    top = [1.0, 1.0, 0.8, 1.0, 1.0, 1.0, 1.0, 0.85]
    arms = {"a": dict(enumerate(top)), "b": {f: v - 0.02 * (f % 3) for f, v in enumerate(top)}}
    arms = {arm: {(0, f): v for f, v in scores.items()} for arm, scores in arms.items()}
    write_study(Store(uri), "ceiling", "ceiling-1", arms, [[f"s{f}"] for f in range(8)], light=True)
    rows = compare_csv(capsys, uri, "ceiling-1")
    assert all(0 <= float(r["ci95_low"]) <= float(r["ci95_high"]) <= 1 for r in rows.values())
    for fmt in ("table", "markdown"):
        _, out, _ = run(capsys, "compare", "ceiling-1", "--tracking-uri", uri, "--format", fmt)
        intervals = re.findall(r"\[(-?[0-9.]+), (-?[0-9.]+)\]", out)
        bounds = [float(x) for pair in intervals for x in pair]
        assert bounds and max(bounds) <= 1
