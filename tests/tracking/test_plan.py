"""``ablate plan``: variance components recovered from simulated studies, a planned design
that reaches its power when simulated, and the command on a committed store."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from store_helpers import run

from ablate.cli.main import main
from ablate.tracking.arms import Arm
from ablate.tracking.compare import analyse_arms
from ablate.tracking.plan import components, rows

SPEAKER_SD, SEED_SD = 0.04, 0.06


def study(rng, means, folds, seeds) -> list[Arm]:
    """Arms whose advantage varies by SPEAKER_SD between speakers, seeds by SEED_SD."""
    fold = rng.normal(0, 0.1, folds)
    arms = []
    for i, mean in enumerate(means):
        effect = rng.normal(0, SPEAKER_SD / math.sqrt(2), folds)  # a pair differs by SPEAKER_SD
        values = {
            (s, f"f{f}"): float(mean + fold[f] + effect[f] + rng.normal(0, SEED_SD))
            for f in range(folds)
            for s in range(seeds)
        }
        arms.append(Arm(f"arm{i}", "sim", values={"uar": values}, seconds=60.0, runs=1))
    return arms


def test_the_components_are_recovered_from_a_large_pilot():
    rng = np.random.default_rng(0)
    c = components(analyse_arms(study(rng, [0.5, 0.5, 0.5], 400, 3), reference="arm0"))
    assert c.speaker == pytest.approx(SPEAKER_SD**2, rel=0.25)
    # a per-seed difference of two arms carries both arms' seed noise
    assert c.seed == pytest.approx(2 * SEED_SD**2, rel=0.05)
    assert (c.arms, c.folds, c.seeds, c.family) == (3, 400, 3, 2)
    assert c.seconds == pytest.approx(60 / (400 * 3))


def test_an_arm_added_later_with_fewer_seeds_splits_by_each_pairs_seeds():
    """An arm with one seed beside arms with three (an arm added to the study after its
    first seeds ran): the speaker part was the variance less the seed part over the
    fewest seeds of any arm, so the speaker part was estimated at 0."""
    rng = np.random.default_rng(3)
    arms = study(rng, [0.5, 0.5, 0.5], 1500, 3)
    late = arms[2].values["uar"]
    arms[2].values["uar"] = {(s, f): v for (s, f), v in late.items() if s == 0}
    c = components(analyse_arms(arms, reference="arm0"))
    assert (c.seeds, c.most_seeds) == (1, 3)
    assert c.speaker == pytest.approx(SPEAKER_SD**2, rel=0.25)


def test_a_planned_design_finds_the_margin_with_the_power_asked_for():
    """Plan from a pilot, then simulate the planned design with the true components: a
    difference of the margin is found about 80% of the time (the plan rounds up)."""
    rng = np.random.default_rng(1)
    pilot = components(analyse_arms(study(rng, [0.5, 0.5], 600, 2), reference="arm0"))
    (row,) = [r for r in rows(pilot, 0.05) if r["seeds"] == 2]
    n = int(row["folds to detect"])
    found = 0
    runs = 600
    for _ in range(runs):
        verdicts = analyse_arms(study(rng, [0.5, 0.55], n, 2), reference="arm0").verdicts
        found += next(v for v in verdicts if v.comparison).comparison.verdict == "better"
    assert 0.8 - 3 * math.sqrt(0.16 / runs) <= found / runs <= 0.9, (n, found / runs)


def test_plan_on_the_recipe_store(recipe_store, capsys):
    code, out, err = run(
        capsys, "plan", "pe_vs_coord", "--pool-seeds", "--margin", "0.03",
        "--reference", "pos_encoding=none", "--tracking-uri", recipe_store, "--format", "csv",
    )  # fmt: skip
    assert code == 0, err
    table = list(csv.DictReader(io.StringIO(out)))
    assert [row["seeds"] for row in table] == ["1", "2", "3", "5", "10"]
    needed = [int(row["folds to detect"]) for row in table]
    assert needed == sorted(needed, reverse=True) and needed[1] > 8  # 8 speakers do not
    code, out, _ = run(
        capsys, "plan", "pe_vs_coord", "--pool-seeds", "--margin", "0.03",
        "--tracking-uri", recipe_store, "--format", "markdown",
    )  # fmt: skip
    assert "- design: 6 trials x 8 test folds x 1-3 seed(s); Holm family of 15" in out
    assert "this design resolves: a difference of " in out


def test_plan_needs_a_margin_and_two_arms(recipe_store, capsys):
    code, _, err = run(capsys, "plan", "pe_vs_coord", "--tracking-uri", recipe_store)
    assert code == 2 and "ablate plan needs the smallest difference that matters" in err
    code, _, err = run(
        capsys, "plan", "reference_cnn", "--margin", "0.03", "--tracking-uri", recipe_store
    )
    assert code == 2 and "ablate plan needs two or more arms" in err


def test_a_seed_effect_both_arms_share_cancels_in_the_seed_part():
    """Seed 0 suits every arm (a seed the recipe was tuned on): the arms' own spread
    between seeds is large, yet their difference does not move with the seed."""
    rng = np.random.default_rng(2)
    arms = study(rng, [0.5, 0.5], 400, 2)
    for arm in arms:
        arm.values["uar"] = {k: v + 0.1 * (k[0] == 0) for k, v in arm.values["uar"].items()}
    c = components(analyse_arms(arms, reference="arm0"))
    assert c.seed == pytest.approx(2 * SEED_SD**2, rel=0.1)
    assert c.speaker == pytest.approx(SPEAKER_SD**2, rel=0.3)


@pytest.mark.parametrize("command", ["plan", "compare"])
def test_a_nan_margin_is_refused(command, capsys):
    """click's FloatRange lets NaN through (every comparison with it is false)."""
    with pytest.raises(SystemExit) as exit_info:
        main([command, "any", "--margin", "nan"])
    assert exit_info.value.code == 2
    assert "Invalid value for '--margin': nan is not a finite number." in capsys.readouterr().err
