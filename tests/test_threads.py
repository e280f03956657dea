"""Idle OpenMP threads spin briefly (ablate/threads.py): set before torch loads GNU OpenMP in
every ablate process, unless the user chose a wait policy or spin count."""

from __future__ import annotations

import subprocess
import sys

import pytest
from study_helpers import allocator_probes, probe_allocator

from ablate import threads


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, threads.SPIN_COUNT),
        ({"GOMP_SPINCOUNT": "77"}, "77"),
        ({"OMP_WAIT_POLICY": "ACTIVE"}, None),
    ],
)
def test_the_cli_sets_the_spin_unless_the_user_chose(tmp_path, monkeypatch, env, expected):
    probe_allocator(monkeypatch, tmp_path / "probes", **env)
    subprocess.run([sys.executable, "-m", "ablate", "--version"], check=True)
    (probe,) = allocator_probes(tmp_path / "probes")
    assert probe["GOMP_SPINCOUNT"] == expected


def test_it_is_set_before_torch_loads_openmp():
    """GNU OpenMP reads the variable once, when ``import torch`` loads it."""
    code = "import sys, ablate; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
