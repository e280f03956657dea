"""``ablate compare`` as a person reads it: piped or at 80 columns, every number whole."""

from __future__ import annotations

import os
import subprocess
import sys

from study_helpers import ENTRY

from ablate.cli.output import print_rows
from ablate.tracking import arms_table
from ablate.tracking import compare as verdicts
from ablate.tracking.mlflow_store import Store
from ablate.tracking.narrow import narrow, stacked
from ablate.tracking.tables import cell

PE, PRESETS = "pe_vs_coord-630e2cfed6", "presets-ffcf6905e6"


def _piped(args, columns: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns:
        env["COLUMNS"] = columns
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_compare_piped_prints_every_number_whole_within_80_columns(gpu_store):
    """It printed `0.…` in every cell when piped (rich cut the columns to fit 80)."""
    out = _piped(["compare", PE, PRESETS, "--reference", "preset=cnn", "--tracking-uri", gpu_store])
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    analysis = verdicts.analyse(Store(gpu_store), [PE, PRESETS], "test_uar", "preset=cnn")
    rows = narrow(arms_table.rows(analysis), "test_uar")
    lines = out.splitlines()
    for row in rows:
        for header, value in row.items():
            if value and header not in ("rank", "arm"):
                # each cell on one line, whole: "header: value"
                assert any(f"{header}: {value}" in line for line in lines), (header, value)
    for verdict in analysis.verdicts:
        interval = verdict.interval
        assert f"{cell(interval.mean)} [{cell(interval.low)}, {cell(interval.high)}]" in out


def test_a_wide_terminal_gets_the_table(gpu_store):
    out = _piped(["compare", PE, "--tracking-uri", gpu_store], columns="200")
    header = out.splitlines()[2]
    assert "rank" in header and "test_uar [95% CI]" in header and "verdict" in header
    assert "…" not in out


def test_stacked_blocks_never_split_a_cell():
    rows = [{"rank": "1", "arm": "pos_encoding=coordinate", "a": "0.512 [0.433, 0.591]",
             "b": "x" * 30, "c": "-0.054 [-0.366, 0.258]"}]  # fmt: skip
    lines = stacked(rows, 40)
    assert lines[0] == "1. pos_encoding=coordinate"
    assert lines[1:4] == ["  a: 0.512 [0.433, 0.591]", "  b: " + "x" * 30,
                          "  c: -0.054 [-0.366, 0.258]"]  # fmt: skip


def test_the_trials_table_of_ablate_run_uses_the_one_formatter(capsys):
    from ablate.cli.run_cmd import _ranked

    rows = _ranked([{"trial": 2, "state": "FAIL", "value": None, "train.lr": 1e30}], "m")
    assert rows == [{"trial": "2", "state": "FAIL", "m": "", "train.lr": "1e+30"}]
    print_rows(rows, "trials")
    assert "1e+30" in capsys.readouterr().out
    assert cell(1e-5) == "1e-05" and cell(0.0) == "0.000" and cell(1878023.0) == "1,878,023"
