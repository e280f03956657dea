"""``ablate compare --pool-seeds``: one study run once per seed reads as the study run with
all its seeds, and studies that differ in anything else stay apart."""

from __future__ import annotations

import csv
import io

import pytest
from sim_store import write_study
from store_helpers import LEAKY, PE, run
from study_helpers import TINY, _cli, _study

from ablate.tracking.mlflow_store import Store


def _rows(capsys, *args) -> dict[str, dict]:
    code, out, err = run(capsys, "compare", *args, "--format", "csv")
    assert code == 0, err
    return {row["arm"]: row for row in csv.DictReader(io.StringIO(out))}


def test_a_study_run_per_seed_pools_into_the_study_run_with_both(workdir, capsys):
    study = _study(workdir)
    keys = []
    for seeds in ("[0]", "[1]", "[0,1]"):
        _cli(["run", study, *TINY, "protocol.max_folds=2", f"optuna.seeds={seeds}"])
        keys.append(capsys.readouterr().out.split("ablate compare ")[-1].split()[0])
    one, other, both = keys
    apart = _rows(capsys, one, other)
    assert len(apart) == 4 and all(r["seeds"] == "1" for r in apart.values())
    pooled = _rows(capsys, one, other, "--pool-seeds")
    direct = _rows(capsys, both)
    assert set(pooled) == set(direct) == {"pos_encoding=coordinate", "pos_encoding=none"}
    for arm, row in direct.items():
        assert row["seeds"] == pooled[arm]["seeds"] == "2"
        scores = [c for c in row if "seconds" not in c]  # all but the measured times
        assert {c: pooled[arm][c] for c in scores} == {c: row[c] for c in scores}
    _, out, _ = run(capsys, "compare", one, other, "--pool-seeds", "--format", "markdown")
    assert f"Note: {one}, {other}: one study run with seeds [0], [1], pooled" in out


@pytest.mark.parametrize("flag", [(), ("--pool-seeds",)])
def test_studies_that_differ_in_more_than_seeds_are_never_pooled(gpu_store, capsys, flag):
    assert len(_rows(capsys, PE, LEAKY, "--tracking-uri", gpu_store, *flag)) == 8


@pytest.mark.parametrize(
    ("second", "why"),
    [
        ({"seed": 0}, "nothing but their seeds, which overlap (0)"),
        ({"seed": 1, "independent": False}, "speaker independence"),
        ({"seed": 1, "folds": [["b"], ["a"]]}, "split (test and validation speakers)"),
    ],
)
def test_a_name_pools_every_key_or_says_why_not(tmp_path, mlflow_template, capsys, second, why):
    """Two keys of one name whose parameters agree: a second run of seed 0, a leaky run
    made to look honest, or another split do not pool; named, the command says why; as
    keys, they stay apart."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "mlflow.db").write_bytes(mlflow_template.read_bytes())
    store = Store(uri)
    folds = [["a"], ["b"]]
    write_study(store, "twice", "twice-0", {"x": {(0, 0): 0.5, (0, 1): 0.6}}, folds, light=True)
    seed = second["seed"]
    write_study(
        store, "twice", "twice-1", {"x": {(seed, 0): 0.4, (seed, 1): 0.7}},
        second.get("folds", folds), independent=second.get("independent", True), light=True,
    )  # fmt: skip
    code, _, err = run(capsys, "compare", "twice", "--pool-seeds", "--tracking-uri", uri)
    assert code == 2 and err.count("\n") == 1
    assert (
        f"twice-1 and twice-0 differ in {why}" in err
        or f"twice-0 and twice-1 differ in {why}" in err
    )
    assert len(_rows(capsys, "twice-0", "twice-1", "--pool-seeds", "--tracking-uri", uri)) == 2


def test_a_name_pools_the_keys_that_have_finished_trials(tmp_path, mlflow_template, capsys):
    """A second seed still running (no finished trial) made `--pool-seeds NAME` fail,
    saying the keys differ in every parameter."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "mlflow.db").write_bytes(mlflow_template.read_bytes())
    store = Store(uri)
    folds = [["a"], ["b"]]
    write_study(store, "twice", "twice-0", {"x": {(0, 0): 0.5, (0, 1): 0.6}}, folds, light=True)
    write_study(store, "twice", "twice-1", {}, folds, light=True)  # started, nothing finished
    code, out, err = run(capsys, "compare", "twice", "--pool-seeds", "--tracking-uri", uri)
    assert code == 0, err
    assert "twice-1: no finished trial yet, left out of 'twice'" in " ".join(out.split())
    rows = _rows(capsys, "twice", "--pool-seeds", "--tracking-uri", uri)
    assert list(rows) == ["pos_encoding=x"] and rows["pos_encoding=x"]["seeds"] == "1"


@pytest.mark.parametrize(
    ("first", "second", "why"),
    [
        # one version: a setting only one key records is a difference
        (("c1", {}), ("c1", {"data.f_max": "8000"}), "data.f_max"),
        # two versions: a setting both record still has to agree
        (("c1", {"train.lr": "0.001"}), ("c2", {"train.lr": "0.002"}), "train.lr"),
    ],
)
def test_settings_apart_keep_keys_apart(tmp_path, mlflow_template, capsys, first, second, why):
    uri = _store(tmp_path, mlflow_template, first, second)
    code, _, err = run(capsys, "compare", "twice", "--pool-seeds", "--tracking-uri", uri)
    assert code == 2 and f"differ in {why};" in err


def test_keys_of_two_versions_pool_on_the_settings_both_record(tmp_path, mlflow_template, capsys):
    """The EmoDB evidence's third seed, run after ablate stopped logging unused plugins'
    settings, was refused: 'differ in' 35 settings only the older runs recorded."""
    old = {f"distill.teacher.{k}": "1" for k in "abcdefgh"} | {"train.lr": "0.001"}
    uri = _store(tmp_path, mlflow_template, ("c1", old), ("c2", {"train.lr": "0.001"}))
    code, out, err = run(capsys, "compare", "twice", "--pool-seeds", "--tracking-uri", uri)
    assert code == 0, err
    note = " ".join(out.split())
    assert any(f"{keys}: logged by different versions of ablate" in note
               for keys in ("twice-0, twice-1", "twice-1, twice-0"))  # fmt: skip
    assert "8 are recorded by some only (distill.teacher.a, " in note and "and 2 more)" in note
    rows = _rows(capsys, "twice", "--pool-seeds", "--tracking-uri", uri)
    assert rows["pos_encoding=x"]["seeds"] == "2"


def _store(tmp_path, template, first, second) -> str:
    """Study 'twice' run with seed 0 (``first``: commit, settings), then seed 1."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "mlflow.db").write_bytes(template.read_bytes())
    store = Store(uri)
    for seed, (commit, params) in enumerate((first, second)):
        scores = {"x": {(seed, 0): 0.5 + seed / 10, (seed, 1): 0.6}}
        write_study(
            store, "twice", f"twice-{seed}", scores, [["a"], ["b"]], light=True,
            params=params, commit=commit,
        )  # fmt: skip
    return uri
