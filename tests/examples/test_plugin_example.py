"""A third-party plugin for real: build and install ``examples/ablate-plugin-example``.

The package is pip-installed into a temporary target directory (the shared venv is left
alone) and found through its ``ablate`` entry point by ``importlib.metadata``, exactly as
an installed plugin is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ablate.config import resolve_model
from ablate.models.build import build_model
from ablate.plugins import load_registry

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "ablate-plugin-example"
ABLATE = str(Path(sys.executable).with_name("ablate"))

pytestmark = pytest.mark.install


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example, built from a copy (no build/ in the repo) and installed into a folder."""
    work = tmp_path_factory.mktemp("plugin-example")
    source = work / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = work / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert list(target.glob("ablate_rotary-0.1.0.dist-info"))
    return target


def ablate(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABLATE_PLUGINS")}
    env.pop("ABLATE_DISABLE_PLUGIN_AUTOLOAD", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return subprocess.run([ABLATE, *args], capture_output=True, text=True, env=env, timeout=120)


def test_ablate_plugins_lists_the_installed_plugin(site):
    result = ablate(site, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    rotary = rows[("pos_encoding", "rotary")]
    assert rotary["package"] == "ablate-rotary"
    assert rotary["plugin"] == "rotary"
    assert rotary["params"] == {"base": {"type": "float", "default": 10000.0}}
    assert "otary" in rotary["description"]
    assert rows[("pos_encoding", "coordinate")]["package"] == "ablate"
    overlapping = rows[("patching", "overlapping")]
    assert overlapping["package"] == "ablate-rotary"
    assert overlapping["params"] == {
        "width": {"type": "int", "default": 4},
        "stride": {"type": "int", "default": 2},
    }
    assert "failed: plugin 'rotary'" not in result.stderr


def described(site: Path, *overrides: str) -> dict:
    """``ablate model --json OVERRIDES``, which must succeed."""
    result = ablate(site, "model", "--json", "model.depth=1", *overrides)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_ablate_model_uses_the_installed_plugin(site):
    info = described(site, "model.pos_encoding=rotary", "model.pos_encoding_args.base=100")
    assert info["model"]["pos_encoding"] == "rotary"
    assert info["tokens"] == 129


def test_ablate_model_builds_and_checks_the_overlapping_patching(site):
    """Windows of 4 frames every 2: 63 tokens on 128 frames, each 3 x 128 x 4 features
    after the teacher's coordinate channels; the build's dry run accepts it."""
    teacher = ["model.preset=teacher", "model.stem_args.width=0.25"]
    assert described(site, *teacher, "model.patching=overlapping")["tokens"] == 63 + 1


def test_the_example_s_own_tests_pass(site):
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    )
    for name in ("ABLATE_DISABLE_PLUGIN_AUTOLOAD", "ABLATE_PLUGINS", "ABLATE_PLUGINS_DENY"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True,
        text=True,
        env=env,
        cwd=site,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "6 passed" in result.stdout


def test_entry_point_loads_in_process_and_a_model_runs(site, monkeypatch):
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("ABLATE_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("ABLATE_PLUGINS_DENY", raising=False)
    try:
        registry = load_registry()
        component = registry.get("pos_encoding", "rotary")
        assert component.package == "ablate-rotary"
        spec = {"preset": "student", "pos_encoding": "rotary", "depth": 1, "dim": 32}
        model = build_model(resolve_model(spec), 128, 64, num_classes=4, registry=registry).eval()
        x = torch.randn(2, 1, 128, 64)
        logits, feature = model(x)
        assert logits.shape == (2, 4) and feature.shape == (2, 32)
        # a real positional encoding: reversing time now changes the prediction
        assert not torch.allclose(logits, model(x.flip(-1))[0], atol=1e-5)

        monkeypatch.setenv("ABLATE_PLUGINS_DENY", "ablate_rotary")
        assert "rotary" not in load_registry().names("pos_encoding")
    finally:
        sys.modules.pop("ablate_rotary", None)
