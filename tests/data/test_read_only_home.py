"""A read-only HOME (a locked-down account, a container): the generated corpus and the
caches live under ~/.cache/ablate by default. It used to be blamed on
`data.dataset_args` with an `OSError` and no word of `ABLATE_CACHE_DIR`. Real processes,
without root's permission override, so permissions refuse them as they would any user."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from study_helpers import drop_file_permission_override

from tests.training.conftest import tiny_yaml

ENTRY = "from ablate.cli.main import main; main()"


@pytest.fixture
def read_only_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o555)
    yield home
    home.chmod(0o755)


def _ablate(args, home, cache=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ABLATE_CACHE_DIR"}
    env["HOME"] = str(home)
    if cache is not None:
        env["ABLATE_CACHE_DIR"] = str(cache)
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=drop_file_permission_override if os.geteuid() == 0 else None,
    )


def test_the_generated_corpus_names_the_cache_and_its_variable(read_only_home, tmp_path):
    done = _ablate(["data", "synthetic"], read_only_home)
    folder = read_only_home / ".cache" / "ablate" / "synthetic"
    assert (done.returncode, done.stderr) == (
        2,
        f"error: dataset 'synthetic': cannot write the generated corpus in {folder} "
        "(Permission denied); set ABLATE_CACHE_DIR to a writable folder (the cache, default "
        "~/.cache/ablate), or give data.root\n",
    )
    works = _ablate(["data", "synthetic", "--json"], read_only_home, tmp_path / "cache")
    assert works.returncode == 0, works.stderr


def test_an_unwritable_teacher_cache_trains_the_teacher_uncached(read_only_home, tmp_path):
    """Distillation caches its teachers in the cache folder; it used to fail there."""
    overrides = ("distill.enabled=true", f"data.cache_dir={read_only_home}")
    config = tiny_yaml(tmp_path / "distill.yaml", *overrides)
    out = tmp_path / "model"
    done = _ablate(["train", config, "--out", out], read_only_home, tmp_path / "corpora")
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"teacher cache {read_only_home / 'teachers'}: cannot write (Permission denied)" in (
        done.stderr
    )
    assert "set data.cache_dir or ABLATE_CACHE_DIR to a writable folder" in done.stderr
    assert (out / "model.pt").is_file() and not (read_only_home / "teachers").exists()
