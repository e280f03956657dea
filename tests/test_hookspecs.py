"""Hook specifications are the public plugin API: each is documented in code and docs."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from ablate import hookspecs
from ablate.hookspecs import KINDS

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def hook_specs() -> dict[str, object]:
    return {
        name: function
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, "ablate_spec")
    }


def test_every_kind_has_a_hook_spec_and_every_spec_a_kind():
    assert set(hook_specs()) == set(KINDS.values())
    assert {"patching", "pos_encoding", "stem", "distill_loss"} <= set(KINDS)


@pytest.mark.parametrize("name", sorted(hook_specs()))
def test_hook_spec_has_a_docstring_and_takes_register(name):
    function = hook_specs()[name]
    doc = inspect.getdoc(function)
    assert doc and len(doc.split()) >= 5, f"{name} needs a real docstring"
    assert "actory" in doc, f"{name}'s docstring must describe its factory"
    assert list(inspect.signature(function).parameters) == ["register"]


@pytest.mark.parametrize("name", sorted(hook_specs()))
def test_hook_spec_is_described_in_the_plugin_docs(name):
    docs = DOCS.read_text()
    row = re.search(rf"^\| `{name}` \| `(\w+)` \|(.+)$", docs, re.MULTILINE)
    assert row, f"docs/plugins.md has no table row for `{name}`"
    assert row.group(1) == {hook: kind for kind, hook in KINDS.items()}[name]
    assert len(row.group(2).split()) >= 4


def test_docs_cover_the_environment_switches_and_entry_point_group():
    docs = DOCS.read_text()
    for switch in (
        "ABLATE_DISABLE_PLUGIN_AUTOLOAD",
        "ABLATE_PLUGINS=",
        "ABLATE_PLUGINS_ALLOW",
        "ABLATE_PLUGINS_DENY",
    ):
        assert switch in docs
    assert f"[project.entry-points.{hookspecs.PROJECT}]" in docs
    assert "register(name, factory, description)" in docs
