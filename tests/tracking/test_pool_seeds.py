"""``ablate compare --pool-seeds``: one study run once per seed reads as the study run with
all its seeds, and studies that differ in anything else stay apart."""

from __future__ import annotations

import csv
import io

import pytest
from store_helpers import LEAKY, PE, run
from study_helpers import TINY, _cli, _study


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
