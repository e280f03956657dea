"""The plugin manager and registry: loading, environment switches and every failure mode."""

from __future__ import annotations

import textwrap
import types

import pytest

from ablate import hookimpl
from ablate.errors import AblateError
from ablate.hookspecs import KINDS
from ablate.plugins import BUILTINS, Param, PluginWarning, get_registry, load_registry

ENV = (
    "ABLATE_DISABLE_PLUGIN_AUTOLOAD",
    "ABLATE_PLUGINS",
    "ABLATE_PLUGINS_ALLOW",
    "ABLATE_PLUGINS_DENY",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def make_plugin(name: str, **hooks) -> types.ModuleType:
    """A plugin module whose hooks are ``hook_name=callable(register)``."""
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        function.__name__ = hook_name
        setattr(module, hook_name, hookimpl(function))
    return module


def patch_factory(shape, size: int = 4, pad: bool = False):
    return ("patching", shape, size, pad)


def stem_factory(shape, depth: int = 2):
    return ("stem", shape, depth)


def good_plugin(name="good"):
    return make_plugin(
        name,
        register_patchings=lambda register: register("zigzag", patch_factory, "  Zig zag  "),
        register_stems=lambda register: register("tiny", stem_factory, "A tiny stem"),
    )


def load(*plugins, autoload=False):
    """Load the given ``(name, module)`` pairs alone (no built-ins); each one's package is
    ``pkg-<name>``."""
    pairs = [(m.__name__, f"pkg-{m.__name__}", m) for m in plugins]
    return load_registry(pairs, autoload=autoload, builtins=False)


def messages(registry) -> list[str]:
    return [str(failure) for failure in registry.failures]


# --- registration -----------------------------------------------------------------------


def test_components_carry_name_description_params_and_package():
    registry = load(good_plugin())
    assert registry.failures == []
    component = registry.get("patching", "zigzag")
    assert (component.kind, component.name, component.description) == (
        "patching",
        "zigzag",
        "Zig zag",
    )
    assert component.package == "pkg-good"
    assert component.plugin == "good"
    assert component.params == (Param("size", int, 4), Param("pad", bool, False))
    assert component.defaults() == {"size": 4, "pad": False}
    assert component.build("ctx", {"size": 8}) == ("patching", "ctx", 8, False)
    assert registry.names("stem") == ["tiny"]
    assert [c.name for c in registry.all()] == ["zigzag", "tiny"]


def test_class_factories_expose_their_init_parameters():
    class Encoding:
        def __init__(self, shape, base: float = 2.0, name: str = "x"):
            self.shape, self.base, self.name = shape, base, name

    plugin = make_plugin(
        "cls", register_pos_encodings=lambda register: register("enc", Encoding, "d")
    )
    component = load(plugin).get("pos_encoding", "enc")
    assert [(p.name, p.type_name, p.default) for p in component.params] == [
        ("base", "float", 2.0),
        ("name", "str", "x"),
    ]
    built = component.build("shape", {"base": 3})  # an int widens to float
    assert built.base == 3.0 and isinstance(built.base, float)


def test_builtins_are_registered_by_module_name_one_plugin_per_kind():
    registry = load_registry(autoload=False)
    assert set(BUILTINS) == set(KINDS)
    for kind in KINDS:
        components = [c for c in registry.all() if c.kind == kind]
        assert components, kind
        assert {c.package for c in components} == {"ablate"}
        assert {c.plugin for c in components} == {kind}
    assert registry.failures == []


def test_get_registry_is_loaded_once():
    assert get_registry() is get_registry()


# --- errors -----------------------------------------------------------------------------


def test_unknown_name_is_one_line_listing_the_known_names():
    registry = load(good_plugin())
    with pytest.raises(AblateError) as info:
        registry.get("patching", "spiral")
    assert str(info.value) == "unknown patching 'spiral'; known: zigzag"
    with pytest.raises(AblateError, match="unknown distill_loss 'kd'; known: none registered"):
        registry.get("distill_loss", "kd")


def test_unknown_kind():
    with pytest.raises(AblateError, match="unknown plugin kind 'tokenizer'; known: patching"):
        load().names("tokenizer")


def test_duplicate_name_names_both_sources_and_others_keep_working():
    first = good_plugin("first")
    second = make_plugin(
        "second",
        register_stems=lambda register: register("other", stem_factory, "d"),
        register_patchings=lambda register: register("zigzag", patch_factory, "again"),
    )
    third = make_plugin(
        "third", register_stems=lambda register: register("third_stem", stem_factory, "d")
    )
    registry = load(first, second, third)
    assert messages(registry) == []  # registering a taken name is no load failure ...
    with pytest.raises(AblateError) as info:  # ... using it bare is an error naming both
        registry.get("patching", "zigzag")
    assert str(info.value) == (
        "patching 'zigzag' is registered by pkg-first unknown and pkg-second unknown; "
        "choose pkg-first:zigzag or pkg-second:zigzag"
    )
    assert registry.get("patching", "pkg-second:zigzag").package == "pkg-second"
    assert registry.get("patching", "PKG_first:zigzag").package == "pkg-first"  # as pip
    assert registry.names("patching") == ["pkg-first:zigzag", "pkg-second:zigzag"]
    assert registry.names("stem") == ["other", "third_stem", "tiny"]


def test_a_plugin_that_fails_to_import_is_reported_by_name(tmp_path, monkeypatch):
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('boom at import')\n")
    (tmp_path / "fine_plugin.py").write_text(
        textwrap.dedent(
            """
            from ablate import hookimpl

            def factory(shape, size: int = 2):
                return size

            @hookimpl
            def register_patchings(register):
                register("fine", factory, "A fine patching")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ABLATE_PLUGINS", "broken_plugin, fine_plugin, no_such_module")
    registry = load_registry(autoload=False, builtins=False)
    assert registry.names("patching") == ["fine"]
    assert sorted(f.plugin for f in registry.failures) == ["broken_plugin", "no_such_module"]
    broken = next(f for f in registry.failures if f.plugin == "broken_plugin")
    assert "failed to import" in broken.reason and "boom at import" in broken.reason
    # located at the plugin's own line, not in ablate
    assert broken.location == f"{tmp_path / 'broken_plugin.py'}:1"
    missing = next(f for f in registry.failures if f.plugin == "no_such_module")
    assert missing.location == ""  # no file to point at


def test_misspelled_hook_is_reported():
    typo = make_plugin("typo", register_patching=lambda register: register("x", patch_factory, "d"))
    registry = load(typo, good_plugin())
    (message,) = messages(registry)
    assert message.startswith("plugin 'typo' (pkg-typo): unknown hook register_patching;")
    assert "register_patchings" in message
    assert registry.names("patching") == ["zigzag"]


def test_a_module_without_hooks_is_reported():
    registry = load(types.ModuleType("empty"))
    assert messages(registry) == [
        "plugin 'empty' (pkg-empty): implements no ablate hook (is @ablate.hookimpl missing?)"
    ]


def test_a_hook_with_the_wrong_argument_is_reported():
    wrong = make_plugin("wrong", register_stems=lambda reg: None)
    registry = load(wrong)
    (message,) = messages(registry)
    assert "invalid hook implementation" in message and "\n" not in message


@pytest.mark.parametrize(
    ("factory", "problem"),
    [
        (lambda shape, size=3: size, "parameter 'size' needs a type hint and a default"),
        (lambda shape, size: size, "parameter 'size' needs a type hint and a default"),
        (lambda *, size=3: size, "the factory must take the build context as its first argument"),
    ],
    ids=["no-hint", "no-default", "no-context"],
)
def test_a_bad_factory_signature_is_reported(factory, problem):
    bad = make_plugin("bad", register_stems=lambda register: register("s", factory, "d"))
    registry = load(bad)
    assert messages(registry) == [f"plugin 'bad' (pkg-bad): stem 's': {problem}"]
    assert registry.names("stem") == []


def test_a_hook_that_raises_is_reported_and_rolled_back():
    def hook(register):
        register("early", stem_factory, "d")
        raise KeyError("late")

    registry = load(make_plugin("raiser", register_stems=hook), good_plugin())
    assert messages(registry) == ["plugin 'raiser' (pkg-raiser): hook raised KeyError('late')"]
    assert registry.names("stem") == ["tiny"]


def test_registering_the_same_module_twice_is_one_clear_line():
    """As when a plugin's test registers the module its entry point already loaded:
    pluggy's own message is a dict dump over several lines."""
    plugin = good_plugin()
    registry = load_registry([("a", "p", plugin), ("b", "p", plugin)], builtins=False)
    assert messages(registry) == [
        "plugin 'b' (p): the same module is already registered as plugin 'a'"
    ]
    assert registry.names("patching") == ["zigzag"]


# --- environment switches ---------------------------------------------------------------


def test_autoload_off_skips_entry_points_and_keeps_the_builtins(monkeypatch, third_party):
    monkeypatch.setenv("ABLATE_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = load_registry()
    assert all(registry.names(kind) for kind in KINDS)  # every built-in kind is there
    assert registry.get("stem", "none").package == "ablate"
    assert not any(c.package == "Third_Party" for c in registry.all())  # not even imported
    monkeypatch.setenv("ABLATE_DISABLE_PLUGIN_AUTOLOAD", "0")
    assert any(c.package == "Third_Party" for c in load_registry().all())


def test_explicit_modules_load_without_entry_points(tmp_path, monkeypatch):  # and no built-ins
    (tmp_path / "explicit_plugin.py").write_text(
        "from ablate import hookimpl\n\n"
        "def f(shape, k: int = 1):\n    return k\n\n"
        "@hookimpl\ndef register_stems(register):\n    register('explicit', f, 'E')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ABLATE_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("ABLATE_PLUGINS", "explicit_plugin")
    registry = load_registry(builtins=False)
    assert registry.names("stem") == ["explicit"]
    assert registry.get("stem", "explicit").package == "explicit_plugin"
    assert registry.names("patching") == []


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    """A real installed distribution ``Third_Party`` announcing an ``ablate`` entry point."""
    (tmp_path / "third_party_plugin.py").write_text(
        "from ablate import hookimpl\n\n"
        "def f(shape, n: int = 1):\n    return n\n\n"
        "@hookimpl\ndef register_patchings(register):\n"
        "    register('third', f, 'From a third party')\n"
        "    register('vertical', f, 'Tries to take a built-in name')\n"
    )
    dist = tmp_path / "Third_Party-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: Third_Party\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[ablate]\nthird = third_party_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_name_shared_with_a_builtin_is_an_error_where_used(third_party):
    """Alphabetical order (or load order) never decides silently which 'vertical' runs."""
    registry = load_registry()
    assert not any(f.plugin == "third" for f in registry.failures)
    with pytest.raises(AblateError, match=r"registered by ablate .* and Third_Party 1\.0"):
        registry.get("patching", "vertical")
    assert registry.get("patching", "ablate:vertical").package == "ablate"
    third = registry.get("patching", "third_party:vertical")
    assert (third.package, third.version) == ("Third_Party", "1.0")
    assert registry.get("patching", "third").package == "Third_Party"


def test_allow_and_deny_lists_filter_by_distribution(third_party, monkeypatch):
    def third_party_loaded() -> bool:
        return any(c.package == "Third_Party" for c in load_registry().all())

    assert third_party_loaded()
    monkeypatch.setenv("ABLATE_PLUGINS_DENY", "third-party")  # names compare as pip does
    assert not third_party_loaded()
    monkeypatch.delenv("ABLATE_PLUGINS_DENY")
    monkeypatch.setenv("ABLATE_PLUGINS_ALLOW", "someone-else")
    registry = load_registry()
    assert not third_party_loaded()
    assert "vertical" in registry.names("patching")  # the core is always allowed
    monkeypatch.setenv("ABLATE_PLUGINS_ALLOW", "THIRD.PARTY")
    assert third_party_loaded()


def test_the_process_registry_warns_each_failure_once_at_the_plugin_s_file(tmp_path, monkeypatch):
    (tmp_path / "warned_plugin.py").write_text("x = 1\nraise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ABLATE_PLUGINS", "warned_plugin")
    get_registry.cache_clear()
    try:
        with pytest.warns(PluginWarning) as warned:
            get_registry()
            get_registry()
    finally:
        get_registry.cache_clear()
    (warning,) = warned
    assert (warning.filename, warning.lineno) == (str(tmp_path / "warned_plugin.py"), 2)
    assert str(warning.message).startswith("plugin 'warned_plugin' (warned_plugin): failed")


def test_a_plain_checkout_on_pythonpath_has_the_builtins(tmp_path):
    """No pip install: no entry points, no `ablate_plugins` package; `python -S` keeps the
    installed copy's .pth finder out, and site-packages is on PYTHONPATH for torch & co.
    With autoload off as well, the built-ins are all there and a teacher builds."""
    import json
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    checkout = tmp_path / "checkout"
    for folder in ("ablate", "plugins"):
        shutil.copytree(repo / folder, checkout / folder, ignore=shutil.ignore_patterns("__py*"))
    site = [p for p in sys.path if p.endswith("site-packages")]
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path))}
    env["PYTHONPATH"] = os.pathsep.join([str(checkout), *site])
    env["ABLATE_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    code = (
        "import json, sys; from ablate.plugins import get_registry; r = get_registry(); "
        "from ablate.config import resolve_model; "
        "from ablate.models.build import build_model, token_count; "
        "model = build_model(resolve_model({'preset': 'teacher', 'depth': 1}), 32, 16, 4, r); "
        "print(json.dumps([sys.modules['ablate_plugins'].__file__, "
        "[c.kind for c in r.all()], [str(f) for f in r.failures], token_count(model)]))"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    where, listed, failures, tokens = json.loads(done.stdout)
    assert where == str(checkout / "plugins" / "__init__.py")
    assert set(listed) == set(KINDS) and failures == []
    assert tokens == 17
