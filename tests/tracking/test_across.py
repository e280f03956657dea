"""``ablate compare --across``: one question asked of several stores, each source compared
on its own, then combined by meta-analysis, arms matched by name across stores."""

from __future__ import annotations

import csv
import io
import shutil

import numpy as np
import pytest
from scipy import stats
from sim_store import write_study
from store_helpers import PE, compare_csv, run

from ablate.tracking.meta import common_effect, random_effects
from ablate.tracking.mlflow_store import Store


def across(capsys, *args) -> list[dict[str, str]]:
    code, out, err = run(capsys, "compare", *args, "--across", "--format", "csv")
    assert code == 0, err
    return list(csv.DictReader(io.StringIO(out)))


def test_each_source_is_its_own_compare_and_the_combination_is_a_meta_analysis(
    tmp_path, mlflow_template, capsys
):
    """Three corpora: each source's rows are that store's own comparison with the
    reference; the combined rows are REML + Hartung-Knapp and inverse-variance estimates
    of those differences."""
    uris = stores(tmp_path, mlflow_template, [-0.05, 0.0, 0.02], ["square"] * 3)
    sources_args = [f"shapes@{uri}" for uri in uris]
    table = across(capsys, *sources_args, "--reference", "base", "--margin", "0.03")
    assert {row["claim"] for row in table} == {"pos_encoding=square"}
    own = [compare_csv(capsys, uri, "shapes", "--reference", "base") for uri in uris]
    sources, combined = table[:3], {r["source"].split(" (")[0]: r for r in table[3:]}
    assert [r["source"] for r in sources] == [f"sim: shapes [corpus{i}.db]" for i in range(3)]
    for row, store in zip(sources, own, strict=True):
        mine = store["pos_encoding=square"]
        for column in ("diff", "diff_ci95_low", "diff_ci95_high", "p"):
            assert float(row[column]) == pytest.approx(float(mine[column]), abs=1e-12)
    effects = [float(r["diff"]) for r in sources]
    ses = [
        (float(r["diff_ci95_high"]) - float(r["diff"])) / stats.t.ppf(0.975, float(r["df"]))
        for r in sources
    ]
    variances = [se**2 for se in ses]
    random = random_effects(effects, variances)
    common = common_effect(effects, variances, [float(r["df"]) for r in sources])
    for found, row in ((random, combined["combined: random effects"]),
                       (common, combined["combined: common effect"])):  # fmt: skip
        assert float(row["diff"]) == pytest.approx(found.estimate, abs=1e-9)
        assert float(row["diff_ci95_low"]) == pytest.approx(found.low, abs=1e-9)
        assert float(row["q"]) == pytest.approx(found.q, abs=1e-9)


def test_one_corpus_given_twice_is_not_combined(gpu_store, recipe_store, capsys):
    """EmoDB's 8 speakers in two stores (the GPU and the recipe runs) are one corpus
    measured twice: combining them as two would overstate the certainty."""
    code, _, err = run(
        capsys, "compare", f"{PE}@{gpu_store}", f"pe_vs_coord@{recipe_store}", "--across",
        "--reference", "pos_encoding=none", "--pool-seeds",
    )  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    assert "share a test fold" in err and "combines independent sources" in err


def stores(tmp_path, mlflow_template, shifts, names) -> list[str]:
    """One store per corpus, each with a study of a reference arm and one other arm."""
    rng = np.random.default_rng(0)
    uris = []
    for i, (shift, name) in enumerate(zip(shifts, names, strict=True)):
        path = tmp_path / f"corpus{i}.db"
        shutil.copy(mlflow_template, path)
        uri = f"sqlite:///{path}"
        speaker = rng.normal(0, 0.1, 6)
        arms = {
            "base": {(0, f): float(0.5 + speaker[f] + rng.normal(0, 0.01)) for f in range(6)},
            name: {(0, f): float(0.5 + shift + speaker[f] + rng.normal(0, 0.01)) for f in range(6)},
        }
        write_study(
            Store(uri), "shapes", f"shapes-{i}", arms, [[f"c{i}s{f}"] for f in range(6)], light=True
        )
        uris.append(uri)
    return uris


def test_arms_named_differently_in_each_store_combine_under_one_claim(
    tmp_path, mlflow_template, capsys
):
    a, b = stores(tmp_path, mlflow_template, [-0.2, -0.15], ["square16", "square8"])
    table = across(capsys, f"shapes@{a}", f"shapes@{b}", "--reference", "base", "--arm", "square")
    assert [row["source"] for row in table][:2] == [
        "sim: shapes [corpus0.db]",
        "sim: shapes [corpus1.db]",
    ]
    assert {row["claim"] for row in table} == {"square"}
    assert [row["verdict"] for row in table[:2]] == ["worse", "worse"]
    common = next(row for row in table if row["source"].startswith("combined: common"))
    assert common["verdict"] == "worse" and float(common["diff"]) == pytest.approx(-0.175, abs=0.01)
    random = next(row for row in table if row["source"].startswith("combined: random"))
    assert float(random["tau2"]) > 0 and float(random["i2"]) > 0.5  # -0.20 and -0.15 differ
    _, _, err = run(
        capsys, "compare", f"shapes@{a}", f"shapes@{b}", "--across", "--reference", "base"
    )
    assert "no arm is in two or more sources; name the arms to combine with --arm" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x@sqlite:///a.db", "y@sqlite:///b.db"], "STUDY@TRACKING_URI names a source of --across"),
        (["--across", "x", "y"], "--across needs --reference ARM"),
        (["--arm", "square", "x", "y"], "--arm names the arms to combine with --across"),
        (["--across", "--reference", "a", "x"], "--across combines two or more sources"),
    ],
)
def test_across_misuse_is_one_line(capsys, args, message):
    code, _, err = run(capsys, "compare", *args)
    assert code == 2 and message in err and err.count("\n") == 1
