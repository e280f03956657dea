"""``ablate plugins``: table, JSON, failures; in-process and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ablate.cli.main import main
from ablate.hookspecs import KINDS
from ablate.plugins import get_registry

ABLATE = str(Path(sys.executable).with_name("ablate"))


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch):
    for name in ("ABLATE_DISABLE_PLUGIN_AUTOLOAD", "ABLATE_PLUGINS", "ABLATE_PLUGINS_DENY"):
        monkeypatch.delenv(name, raising=False)
    get_registry.cache_clear()
    yield
    get_registry.cache_clear()


def run_json(capsys) -> list[dict]:
    main(["plugins", "--json"])
    return json.loads(capsys.readouterr().out)


def test_json_lists_every_builtin_with_kind_name_package_description(capsys):
    rows = run_json(capsys)
    by_key = {(r["kind"], r["name"]): r for r in rows}
    expected = {
        "patching": {"vertical", "square", "horizontal"},
        "pos_encoding": {"coordinate", "learned", "sinusoidal", "none"},
        "stem": {"none", "conv"},
        "distill_loss": {"feature_l1", "feature_mse", "cosine", "logit_kl", "none"},
    }
    for kind, names in expected.items():
        for name in names:
            row = by_key[(kind, name)]
            assert row["package"] == "ablate"
            assert row["description"]
    assert by_key[("patching", "square")]["params"] == {
        "size": {"type": "int", "default": 16},
        "pad": {"type": "bool", "default": False},
    }
    assert by_key[("distill_loss", "logit_kl")]["params"]["temperature"]["default"] == 4.0


def test_table_shows_components_and_failures(tmp_path, monkeypatch, capsys):
    (tmp_path / "exploding_plugin.py").write_text("raise ImportError('kaboom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ABLATE_PLUGINS", "exploding_plugin")
    main(["plugins"])
    out, err = capsys.readouterr()
    assert "ablate plugins" in out
    for text in ("vertical", "coordinate", "logit_kl", "temperature"):
        assert text in out
    assert "failed: plugin 'exploding_plugin'" in err
    assert "kaboom" in err
    assert f"({tmp_path / 'exploding_plugin.py'}:1)" in " ".join(err.split())


def test_json_stdout_stays_parseable_when_a_plugin_fails(tmp_path, monkeypatch, capsys):
    (tmp_path / "exploding_plugin.py").write_text("raise ImportError('kaboom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ABLATE_PLUGINS", "exploding_plugin")
    main(["plugins", "--json"])
    out, err = capsys.readouterr()
    assert json.loads(out)
    assert " ".join(err.split()) == (
        "failed: plugin 'exploding_plugin' (exploding_plugin): failed to import: "
        f"ImportError('kaboom') ({tmp_path / 'exploding_plugin.py'}:1)"
    )


def test_autoload_switch_keeps_the_builtins(monkeypatch, capsys):
    monkeypatch.setenv("ABLATE_DISABLE_PLUGIN_AUTOLOAD", "1")
    rows = run_json(capsys)
    assert {r["kind"] for r in rows} == set(KINDS)
    assert {r["package"] for r in rows} == {"ablate"}
    assert ("stem", "none") in {(r["kind"], r["name"]) for r in rows}


def test_real_subprocess():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABLATE_PLUGINS")}
    env.pop("ABLATE_DISABLE_PLUGIN_AUTOLOAD", None)
    result = subprocess.run(
        [ABLATE, "plugins", "--json"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    names = {(r["kind"], r["name"], r["package"]) for r in rows}
    assert ("patching", "vertical", "ablate") in names
    assert ("pos_encoding", "coordinate", "ablate") in names

    version = subprocess.run([ABLATE, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0
    assert version.stdout.startswith("ablate, version ")
    help_text = subprocess.run([ABLATE, "--help"], capture_output=True, text=True, timeout=60)
    assert "plugins" in help_text.stdout and "model" in help_text.stdout


def test_a_failure_is_printed_once_pointing_at_the_plugin_s_file(tmp_path):
    """Before: a UserWarning pointing into ablate, then the same failure as `failed: ...`."""
    (tmp_path / "exploding_plugin.py").write_text("import os\nraise ImportError('kaboom')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABLATE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    env["ABLATE_PLUGINS"] = "exploding_plugin"
    result = subprocess.run([ABLATE, "plugins"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    err = " ".join(result.stderr.split())
    assert err.count("kaboom") == 1, result.stderr
    assert f"{tmp_path / 'exploding_plugin.py'}:2" in err
    assert "ablate/plugins.py" not in err and "Warning" not in err
