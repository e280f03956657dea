"""The malloc policy (ablate/allocator.py) is in effect in every ablate process, read back
from glibc's own counters: the CLI, forked extraction workers, and (tests/studies/
test_workers.py) ``--workers`` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from study_helpers import allocator_probes, probe_allocator

from ablate import allocator

glibc = pytest.mark.skipif(allocator._glibc() is None, reason="the policy is glibc's")


def _cli_probe(tmp_path, monkeypatch, **env: str) -> dict:
    probe_allocator(monkeypatch, tmp_path / "probes", **env)
    subprocess.run([sys.executable, "-m", "ablate", "--version"], check=True)
    (probe,) = allocator_probes(tmp_path / "probes")
    return probe


@glibc
def test_the_cli_keeps_freed_memory(tmp_path, monkeypatch):
    probe = _cli_probe(tmp_path, monkeypatch)
    assert probe["policy"] == "ablate"
    assert probe["large_block_mmapped"] is False and probe["freed_block_kept"] is True


@glibc
@pytest.mark.parametrize(
    ("env", "policy"), [({"ABLATE_MALLOC": "system"}, "system"), ({"MALLOC_TOP_PAD_": "0"}, "user")]
)
def test_the_opt_out_and_a_users_own_tuning_are_left_alone(tmp_path, monkeypatch, env, policy):
    probe = _cli_probe(tmp_path, monkeypatch, **env)
    assert probe["policy"] == policy
    assert probe["large_block_mmapped"] is True  # glibc's default for a 64 MiB block


#: a fresh ablate process forks an extraction worker (the pipeline's own context), which
#: probes; a fresh one, because a long test session's heap may have no room left to grow
FORKED_PROBE = """
import json
from concurrent.futures import ProcessPoolExecutor
from ablate import allocator
from ablate.data.pipeline import _context
with ProcessPoolExecutor(1, _context()) as pool:
    probe = pool.submit(allocator.probe).result()
print(json.dumps(probe.__dict__))
"""


@glibc
def test_forked_feature_extraction_workers_inherit_it(monkeypatch):
    for key in [k for k in os.environ if k.startswith("MALLOC_")] + ["ABLATE_MALLOC"]:
        monkeypatch.delenv(key, raising=False)
    out = subprocess.run(
        [sys.executable, "-c", FORKED_PROBE], check=True, capture_output=True, text=True
    ).stdout
    probe = json.loads(out)
    assert probe["policy"] == "ablate"
    assert probe["large_block_mmapped"] is False and probe["freed_block_kept"] is True


def test_off_glibc_nothing_is_set_and_nothing_breaks(monkeypatch):
    def no_glibc(name: str):
        raise ValueError(f"unrecognized configuration name {name}")  # as on macOS

    monkeypatch.setattr(os, "confstr", no_glibc)
    monkeypatch.setattr(allocator, "_applied", None)
    assert allocator.apply() == "unsupported"
    assert allocator.probe() == allocator.Probe("unsupported", None, None)
