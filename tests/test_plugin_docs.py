"""docs/plugins.md's example plugin and its testing recipe, run as written once the plugin
is installed (a real distribution with an ``ablate`` entry point). Its ``autoload=False``
makes the recipe the same without the install."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ablate.config import resolve_model

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
ABLATE = str(Path(sys.executable).with_name("ablate"))


def _blocks() -> tuple[str, str]:
    """The plugin module (``# my_plugin.py``) and the recipe's test, from the docs."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
    (plugin,) = [b for b in blocks if b.startswith("# my_plugin.py")]
    (test,) = [b for b in blocks if "def test_" in b]
    return plugin, test


@pytest.fixture
def project(tmp_path) -> Path:
    plugin, test = _blocks()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "my_plugin.py").write_text(plugin)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_my_plugin.py").write_text(test)
    return tmp_path


def _install(project: Path) -> Path:
    """Installed as `ablate-myplugin`: the module plus a dist-info with the docs' entry point."""
    site = project / "site"
    site.mkdir()
    (site / "my_plugin.py").write_text((project / "src" / "my_plugin.py").read_text())
    info = site / "ablate_myplugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ablate-myplugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[ablate]\nscaled_index = my_plugin\n")
    (info / "RECORD").write_text("")
    return site


def _env(path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABLATE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path), env.get("PYTHONPATH")]))
    return env


def _pytest(project: Path, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        env=_env(path),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_recipe_passes_once_the_plugin_is_installed(project):
    """Before: the recipe registered the module a second time beside its entry point and
    failed with pluggy's multi-line dict dump."""
    site = _install(project)
    result = _pytest(project, site)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 passed" in result.stdout
    listed = subprocess.run(
        [ABLATE, "plugins", "--json"], env=_env(site), capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(listed.stdout)}
    assert rows[("pos_encoding", "scaled_index")]["package"] == "ablate-myplugin"
    assert listed.stderr == ""


def test_the_rope_example_runs_as_written_inside_attention(tmp_path, monkeypatch):
    """The attention section's RoPE: loaded from the docs' text, built, checked and used."""
    import importlib

    import torch

    from ablate.models.build import build_model
    from ablate.plugins import load_registry

    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
    (code,) = [b for b in blocks if b.startswith("# my_rope.py")]
    (tmp_path / "my_rope.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = load_registry([("my_rope", "docs", importlib.import_module("my_rope"))], False)
    assert registry.failures == []
    spec = {"preset": "student", "depth": 1, "dim": 32, "heads": 2, "dim_head": 16}
    for distill_token in (False, True):
        torch.manual_seed(0)
        built = {
            pos: build_model(
                resolve_model(dict(spec, pos_encoding=pos, distill_token=distill_token)), 32, 16, 4,
                registry=registry,
            ).eval()
            for pos in ("rope_1d", "none")
        }  # fmt: skip
        x = torch.randn(2, 1, 32, 16)
        assert not torch.allclose(built["rope_1d"](x)[0], built["none"](x)[0])
    q = torch.randn(16).expand(1, 2, 18, 16)
    turned, _ = built["rope_1d"].pos.rotate(q, q)
    torch.testing.assert_close(turned[:, :, :2], q[:, :, :2])  # CLS, distillation token
    scores = (turned @ turned.transpose(-2, -1))[0, 0]
    torch.testing.assert_close(scores[2, 5], scores[9, 12])  # relative positions only
