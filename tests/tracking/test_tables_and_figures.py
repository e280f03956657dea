"""The cell formatter, CSV columns, the figures' size and marks, and the leak in run names."""

from __future__ import annotations

import math

import matplotlib.image
import pytest
from store_helpers import LEAKY, PATCH_SHAPE, PE, PRESETS, run

from ablate.config import make_config
from ablate.tracking.naming import trial_run_name
from ablate.tracking.plots import Bar, arms_png
from ablate.tracking.tables import MeanSd, PValue, Range, cell, markdown, to_csv


def test_one_cell_formatter_for_every_kind_of_value():
    assert cell(0.54771) == "0.548" and cell(1878023.0) == "1,878,023" and cell(8) == "8"
    assert cell(math.nan) == "" and cell(None) == ""
    assert cell(Range(0.4694, 0.6259)) == "[0.469, 0.626]" and cell(Range(math.nan, 1)) == ""
    assert cell(MeanSd(0.5697, 0.08)) == "0.570 ± 0.080"
    assert cell(PValue(0.0004)) == "<0.001" and cell(PValue(0.151)) == "0.151"


def test_csv_splits_intervals_into_fields_and_keeps_full_precision():
    rows = [
        {"arm": "a", "ci95": Range(0.1, 0.3), "diff_ci95": None, "p": None},
        {"arm": "b", "ci95": Range(0.2, 0.4), "diff_ci95": Range(-0.1, 0.05), "p": PValue(0.1)},
    ]
    text = to_csv(rows)
    assert text.splitlines()[0] == "arm,ci95_low,ci95_high,diff_ci95_low,diff_ci95_high,p"
    assert text.splitlines()[1] == "a,0.1,0.3,,,"
    assert text.splitlines()[2] == "b,0.2,0.4,-0.1,0.05,0.1"
    assert markdown(rows, "a caption").endswith("\n*a caption*\n")


def test_the_arms_figure_is_800_px_wide_at_any_number_of_arms(tmp_path):
    for count in (2, 15):
        bars = [Bar(f"study: arm {i}, a long name " * 2, 0.5, 0.4, 0.6) for i in range(count)]
        arms_png(bars, 1 / 7, "test_uar", "title", tmp_path / "arms.png")
        height, width, _ = matplotlib.image.imread(tmp_path / "arms.png").shape
        assert width == 800 and height > 100 * count / 4


def test_compare_draws_arms_and_effects_from_the_store(gpu_store, capsys, tmp_path):
    code, _, err = run(
        capsys, "compare", PATCH_SHAPE, PRESETS, "--effects", "--reference", "preset=cnn",
        "--plot", tmp_path / "patch.png", "--tracking-uri", gpu_store,
    )  # fmt: skip
    assert code == 0, err
    for name in ("patch.png", "patch-effects.png"):
        assert matplotlib.image.imread(tmp_path / name).shape[1] == 800
    # each file it wrote is named (the second, -effects.png, appeared unannounced)
    assert err.splitlines()[-2:] == [
        f"wrote {tmp_path / 'patch.png'}", f"wrote {tmp_path / 'patch-effects.png'}"
    ]  # fmt: skip


def test_figure_labels_name_the_reference_and_the_leak(gpu_store, capsys, tmp_path, monkeypatch):
    drawn = {}

    def capture(bars, chance, xlabel, title, path):
        drawn.update(bars=bars, chance=chance, xlabel=xlabel, title=title)

    monkeypatch.setattr("ablate.tracking.figures.arms_png", capture)
    code, _, _ = run(
        capsys, "compare", PE, LEAKY, "--plot", tmp_path / "x.png", "--tracking-uri", gpu_store
    )
    assert code == 0
    names = [b.name for b in drawn["bars"]]
    assert sum(n.endswith("(speaker-dependent)") for n in names) == 3
    assert sum(b.leak for b in drawn["bars"]) == 4
    (reference,) = [b for b in drawn["bars"] if b.reference]
    assert reference.name.endswith("(speaker-dependent) (reference)")
    assert drawn["chance"] == pytest.approx(1 / 7)
    assert "95% interval (inside [0, 1])" in drawn["xlabel"]
    assert "reference (the best arm)" in drawn["title"]


ARM = {"model.pos_encoding": "coordinate", "model.patching": "vertical"}


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ([], "pos_encoding=coordinate, patching=vertical, 3 seeds (trial 3)"),
        (["protocol.split=random_kfold"],
         "pos_encoding=coordinate, patching=vertical (speaker-dependent), 3 seeds (trial 3)"),
        (["protocol.augment_before_split=true"],
         "pos_encoding=coordinate, patching=vertical (speaker-dependent), 3 seeds (trial 3)"),
        (["protocol.split=loso"], "pos_encoding=coordinate, patching=vertical, 3 seeds (trial 3)"),
    ],
)  # fmt: skip
def test_a_trial_run_is_named_by_its_arm_and_seeds_and_marked_when_it_leaks(overrides, name):
    assert trial_run_name(3, make_config(dotlist=overrides), ARM, 3) == name
    assert trial_run_name(0, make_config(), {}, 1) == "base config, 1 seed (trial 0)"


def test_compare_plot_into_a_missing_folder_creates_it(gpu_store, capsys, tmp_path):
    """Before: FileNotFoundError, a traceback, after the whole analysis."""
    target = tmp_path / "figures" / "new" / "arms.pdf"
    code, _, err = run(capsys, "compare", PE, "--plot", target, "--tracking-uri", gpu_store)
    assert code == 0, err
    assert target.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("arms.bmpx", "unknown figure format '.bmpx'; supported: "),
        ("arms", "unknown figure format ''; supported: "),
    ],
)
def test_compare_plot_with_a_bad_name_is_one_line(gpu_store, capsys, tmp_path, name, problem):
    """Before: ValueError ('Format 'bmpx' is not supported') as a traceback."""
    code, out, err = run(
        capsys, "compare", PE, "--plot", tmp_path / name, "--tracking-uri", gpu_store
    )
    assert code == 2 and not out
    assert err.startswith(f"error: --plot {tmp_path / name}: {problem}")
    assert len(err.splitlines()) == 1
    if "supported" in problem:
        assert ".pdf, " in err and ".png, " in err and ".svg, " in err


def test_the_arms_axis_ends_at_1_and_each_mean_carries_its_verdict():
    """Intervals above 1 reached the axis (to 1.45); the figure showed no verdict."""
    import matplotlib.pyplot as plt

    from ablate.tracking.plots import Bar, _bars

    bars = [
        Bar("a (reference)", 0.97, 0.93, 1.45, reference=True),
        Bar("b", 0.62, -0.2, 0.9, mark="worse"),
        Bar("c", 0.6, 0.5, 0.7, mark="inconclusive"),
    ]
    fig, ax = plt.subplots()
    _bars(ax, bars, 0.25)
    assert ax.get_xlim() == (0.0, 1.0)
    (whiskers,) = [c for c in ax.collections if c.get_segments()]
    ends = [x for segment in whiskers.get_segments() for x, _ in segment]
    assert min(ends) >= 0.0 and max(ends) <= 1.0
    texts = {t.get_text() for t in ax.texts}
    assert {"0.970", "0.620 worse", "0.600 inconclusive"} <= texts
    assert any(line.get_linestyle() == "--" for line in ax.lines)  # the chance line
    plt.close(fig)
