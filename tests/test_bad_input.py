"""The bad-input table: each malformed study file, audio file and plugin package, with the
exact error or skip it must produce. Study files go through the real CLI (`ablate run`):
one line on stderr, exit code 2, nothing trained."""

from __future__ import annotations

import shutil
import struct
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from ablate.cli.main import main
from ablate.config import make_config
from ablate.data.features import AudioError, load_audio
from ablate.data.pipeline import load_corpus
from ablate.errors import AblateError
from ablate.plugins import get_registry, load_registry

SPACE = "space:\n  model.pos_encoding: {choice: [coordinate, none]}\n"
MODEL_KEYS = (
    "preset, stem, stem_args, patching, patching_args, pos_encoding, pos_encoding_args, "
    "dim, depth, heads, dim_head, mlp_dim, dropout, emb_dropout, drop_path, patch_norm, "
    "distill_token"
)

# (case, study file, the exact one-line error after "error: study.yaml: ")
STUDY_FILES = [
    (
        "unknown key",
        "name: t\nmodel: {patchng: vertical}\n" + SPACE,
        f"model: unknown key 'patchng' (did you mean 'patching'? valid: {MODEL_KEYS})",
    ),
    (
        "unknown top-level key",
        "name: t\nspaces: {}\n",
        "unknown key 'spaces' (did you mean 'space'? valid: name, description, data, "
        "protocol, model, train, distill, space, optuna, verdict)",
    ),
    (
        "unknown plugin in the space",
        "name: t\nspace:\n  model.pos_encoding: {choice: [coordinate, rotary]}\n",
        "space.model.pos_encoding: unknown pos_encoding 'rotary'; "
        "known: alibi, coordinate, learned, none, rope, sinusoidal",
    ),
    (
        "unknown plugin in the base config",
        "name: t\nmodel: {stem: convv}\n" + SPACE,
        "model.stem: unknown stem 'convv'; known: conv, none, residual_conv",
    ),
    (
        "wrong type",
        "name: t\ntrain: {epochs: five}\n" + SPACE,
        "config: train.epochs: Value 'five' of type 'str' could not be converted to Integer",
    ),
    (
        "wrong type in the space",
        "name: t\nspace:\n  train.lr: {choice: [fast, slow]}\n",
        "space.train.lr: value 'fast' does not fit: "
        "Value 'fast' of type 'str' could not be converted to Float",
    ),
    (
        "empty search space",
        "name: t\nspace: {}\n",
        "space: empty search space; sweep at least one key, "
        "e.g. model.pos_encoding: {choice: [coordinate, none]}",
    ),
    (
        "one plugin's parameter under another plugin",
        "name: t\nmodel: {patching: vertical}\n"
        "space:\n  model.patching_args.size: {choice: [8, 16]}\n",
        "space.model.patching_args.size: no candidate patching has a parameter 'size' "
        "(candidates and their parameters: vertical: width, pad, stride)",
    ),
    (
        "negative epochs",
        "name: t\ntrain: {epochs: -1}\n" + SPACE,
        "train.epochs: -1 is out of range (must be >= 0)",
    ),
    (
        "negative epochs in the space",
        "name: t\nspace:\n  train.epochs: {choice: [-1, 2]}\n",
        "space.train.epochs: -1 is out of range (must be >= 0)",
    ),
    (
        "invalid YAML",
        "name: t\nspace:\n  model.pos_encoding: {choice: [coordinate, none]\n",
        "invalid YAML at line 4, column 1: expected ',' or '}', but got '<stream end>'",
    ),
    (
        "a python object tag (unsafe YAML)",
        "name: t\nspace: !!python/object/apply:os.system ['touch pwned']\n",
        "invalid YAML at line 2, column 8: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'",
    ),
    ("not a mapping", "- a\n- list\n", "expected a YAML mapping at the top level"),
    (
        "a float range in a grid",
        "name: t\nspace:\n  train.lr: {float: [1.0e-4, 1.0e-3]}\n",
        "space.train.lr: a float range has no grid; use {choice: [...]} or "
        "optuna.sampler random or tpe",
    ),
    (
        "unknown sampler",
        "name: t\n" + SPACE + "optuna: {sampler: bayes}\n",
        "optuna.sampler: unknown sampler 'bayes'; known: grid, random, tpe",
    ),
    (
        "a name that climbs out of runs/ (optuna.db landed in the cwd)",
        "name: '..'\n" + SPACE,
        "name: expected a study name that can name a folder (no '/', '\\' or '..', "
        "not starting with '.'), got '..'",
    ),
    (
        "a name with a path separator",
        "name: ../up\n" + SPACE,
        "name: expected a study name that can name a folder (no '/', '\\' or '..', "
        "not starting with '.'), got '../up'",
    ),
    (
        "a duplicate choice value (it ran as two identical trials)",
        "name: t\nspace:\n  model.pos_encoding: {choice: [coordinate, none, coordinate]}\n",
        "space.model.pos_encoding: choice value 'coordinate' is listed twice "
        "(each would be its own trial)",
    ),
    (
        "optuna.seeds beside another train.seed (train.seed was silently replaced)",
        "name: t\ntrain: {seed: 5}\n" + SPACE + "optuna: {seeds: [0, 1]}\n",
        "optuna.seeds [0, 1] and train.seed=5 both set the seeds; keep one "
        "(without optuna.seeds, each trial trains once with its train.seed)",
    ),
    (
        "optuna.seeds beside a swept train.seed",
        "name: t\nspace:\n  train.seed: {choice: [0, 1]}\noptuna: {seeds: [0]}\n",
        "optuna.seeds [0] and space.train.seed both set the seeds; keep one "
        "(without optuna.seeds, each trial trains once with its train.seed)",
    ),
    (
        "no name",
        SPACE,
        "name: expected a study name that can name a folder (no '/', '\\' or '..', "
        "not starting with '.'), got None",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"), [c[1:] for c in STUDY_FILES], ids=[c[0] for c in STUDY_FILES]
)
def test_malformed_study_file(tmp_path, monkeypatch, capsys, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.yaml").write_text(text)
    with pytest.raises(SystemExit) as caught:
        main(["run", "study.yaml", "--run-dir", str(tmp_path / "runs")])
    assert caught.value.code == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: study.yaml: {message}\n"
    assert not (tmp_path / "runs").exists() and not (tmp_path / "pwned").exists()


def test_a_typo_in_an_override_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.yaml").write_text("name: t\n" + SPACE)
    with pytest.raises(SystemExit):
        main(["run", "study.yaml", "train.epocs=3"])
    assert capsys.readouterr().err == (
        "error: study.yaml: train: unknown key 'epocs' (did you mean 'epochs'? valid: epochs, "
        "batch_size, lr, weight_decay, warmup_epochs, label_smoothing, grad_clip, patience, "
        "select, ema, seed, device, amp, compile, threads)\n"
    )


# -- audio -----------------------------------------------------------------------------------

RATE = 16000


def _tone(seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _wav_header(rate: int, frames: int) -> bytes:
    """A canonical 16-bit mono WAV header for ``frames`` samples at ``rate``."""
    data = frames * 2
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + fmt
        + b"data"
        + struct.pack("<I", data)
    )


def _write(kind: str, folder: Path) -> Path:
    good = folder / "good.wav"
    if not good.exists():
        sf.write(good, _tone(), RATE)
    path = folder / f"{kind}.wav"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated-header":
        path.write_bytes(good.read_bytes()[:30])
    elif kind == "truncated-data":
        path.write_bytes(good.read_bytes()[:1044])  # header + 500 of 8000 samples
    elif kind == "nan-samples":
        wave = _tone()
        wave[100] = np.nan
        sf.write(path, wave, RATE, subtype="FLOAT")
    elif kind == "zero-hz-rate":
        path.write_bytes(_wav_header(0, 8000) + (_tone() * 3e4).astype("<i2").tobytes())
    elif kind == "ten-hours":  # a sparse file: 10 h of 16 kHz audio on paper, ~0 bytes on disk
        frames = 10 * 3600 * RATE
        with path.open("wb") as handle:
            handle.write(_wav_header(RATE, frames))
            handle.truncate(44 + 2 * frames)
    elif kind == "lfs-pointer":
        path.write_text(
            "version https://git-lfs.github.com/spec/v1\n"
            "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
            "size 88244\n"
        )
    elif kind == "text-named-wav":
        path.write_text("speaker notes, not audio\n" * 10)
    elif kind == "html-named-wav":
        path.write_text("<html><body>404 Not Found</body></html>\n" * 5)
    elif kind == "mp3-named-wav":
        sf.write(folder / "tmp.mp3", _tone(), RATE, format="MP3")
        shutil.move(folder / "tmp.mp3", path)
    elif kind == "wav-named-mp3":
        path = folder / "wav-named-mp3.mp3"
        shutil.copy(good, path)
    elif kind == "silent":
        sf.write(path, np.zeros(RATE // 4, dtype=np.float32), RATE)
    elif kind == "zero-length":
        sf.write(path, np.zeros(0, dtype=np.float32), RATE)
    else:
        raise AssertionError(kind)
    return path


# (case, the skip reason load_audio gives)
BAD_AUDIO = [
    ("empty", "empty"),
    ("truncated-header", "corrupt"),
    ("nan-samples", "non-finite"),
    ("zero-hz-rate", "bad-sample-rate"),
    ("ten-hours", "too-long"),
    ("lfs-pointer", "lfs-pointer"),
    ("text-named-wav", "not-audio"),
    ("html-named-wav", "not-audio"),
    ("silent", "silent"),
    ("zero-length", "zero-length"),
]


@pytest.mark.parametrize(("kind", "reason"), BAD_AUDIO, ids=[k for k, _ in BAD_AUDIO])
def test_malformed_audio_has_its_skip_reason(tmp_path, kind, reason):
    path = _write(kind, tmp_path)
    with pytest.raises(AudioError) as caught:
        load_audio(path, max_seconds=60)
    assert caught.value.reason == reason
    assert str(caught.value) == f"{path}: {reason}"


# (case, samples decoded): audio is recognised by its content, never by its file name
DECODED = [("truncated-data", 500), ("mp3-named-wav", None), ("wav-named-mp3", 8000)]


@pytest.mark.parametrize(("kind", "samples"), DECODED, ids=[k for k, _ in DECODED])
def test_recoverable_audio_decodes_what_is_there(tmp_path, kind, samples):
    wave, rate = load_audio(_write(kind, tmp_path), max_seconds=60)
    assert rate == RATE and torch.isfinite(wave).all()
    if samples is None:  # MP3 frames pad the start and end
        assert abs(len(wave) - 8000) < 2400
    else:
        assert len(wave) == samples


def test_the_ten_hour_file_is_judged_from_its_header_and_can_be_allowed(tmp_path):
    path = _write("ten-hours", tmp_path)
    assert path.stat().st_size > 1_000_000_000 and path.stat().st_blocks * 512 < 1_000_000
    with pytest.raises(AudioError, match="too-long"):
        load_audio(path, max_seconds=36_000 - 1)
    assert make_config().data.max_seconds == 60.0


def test_a_corpus_of_bad_files_skips_each_with_its_reason(tmp_path):
    """Through the real pipeline (folder adapter): good files kept, bad ones counted."""
    root = tmp_path / "corpus"
    for label in ("happy", "sad"):
        folder = root / label / "spk1"
        folder.mkdir(parents=True)
        for i in range(2):
            sf.write(folder / f"ok{i}.wav", _tone() * (0.5 + i / 4), RATE)
    bad = root / "sad" / "spk2"
    bad.mkdir()
    for kind, _ in BAD_AUDIO:
        _write(kind, bad)
    (bad / "good.wav").unlink()
    dotlist = [
        "data.dataset=folder", f"data.root={root}", "data.n_mels=16", "data.frames=8",
        "data.n_fft=256", "data.hop_length=128", "data.workers=1",
        f"data.cache_dir={tmp_path / 'cache'}",
    ]  # fmt: skip
    data = make_config(dotlist=dotlist).data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        corpus = load_corpus(data, progress=False, registry=get_registry())
    assert len(corpus) == 4
    assert corpus.skipped_counts() == {
        "not-audio": 2, "bad-sample-rate": 1, "empty": 1, "lfs-pointer": 1, "non-finite": 1,
        "silent": 1, "too-long": 1, "corrupt": 1, "zero-length": 1,
    }  # fmt: skip
    (message,) = [str(w.message) for w in caught if "skipped" in str(w.message)]
    assert message.startswith("skipped 10 files (2 not-audio, 1 ")
    with pytest.raises(AblateError, match=r"^data\.strict: skipped 10 files"):
        load_corpus(data.copy() | {"strict": True}, progress=False, registry=get_registry())


# -- plugin packages -------------------------------------------------------------------------

PLUGINS = {
    "good": (
        "import ablate\n"
        "class Identity:\n"
        "    def __init__(self, context, gain: float = 1.0):\n"
        "        self.gain = gain\n"
        "@ablate.hookimpl\n"
        "def register_stems(register):\n"
        "    register('identity_stem', Identity, 'a stem that does nothing')\n"
    ),
    "raises": "raise RuntimeError('boom at import')\n",
    "taken": (
        "import ablate\n"
        "@ablate.hookimpl\n"
        "def register_pos_encodings(register):\n"
        "    register('coordinate', lambda context: None, 'a second coordinate')\n"
    ),
    "misspelled": (
        "import ablate\n"
        "@ablate.hookimpl\n"
        "def register_stem(register):\n"
        "    register('never', lambda context: None, 'never registered')\n"
    ),
}


def _install(site: Path, name: str, code: str) -> None:
    """A real installed distribution: its module plus a dist-info with an entry point."""
    module = f"plug_{name}"
    (site / f"{module}.py").write_text(code)
    info = site / f"plug_{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: plug-{name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[ablate]\n{name} = {module}\n")
    (info / "RECORD").write_text("")


@pytest.fixture
def strangers(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    for name, code in PLUGINS.items():
        _install(site, name, code)
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in PLUGINS:
        sys.modules.pop(f"plug_{name}", None)


def test_broken_plugin_packages_are_reported_and_the_rest_work(strangers):
    registry = load_registry()
    failures = {f.package: f.reason for f in registry.failures}
    assert failures == {
        "plug-raises": "failed to import: RuntimeError('boom at import')",
        "plug-misspelled": "unknown hook register_stem; known hooks: register_patchings, "
        "register_pos_encodings, register_stems, register_distill_losses, register_datasets, "
        "register_augments",
    }
    # each failure points at the plugin's file: the line that raised, else the hook
    locations = {f.package: f.location for f in registry.failures}
    assert locations["plug-raises"] == f"{strangers / 'plug_raises.py'}:1"
    # a misspelt hook points at its def (pluggy's hookimpl marker sits on the line above)
    assert locations["plug-misspelled"] == f"{strangers / 'plug_misspelled.py'}:2"
    # a name taken twice is no load failure: using it bare is an error naming both
    with pytest.raises(AblateError, match=r"registered by ablate .* and plug-taken 1\.0"):
        registry.get("pos_encoding", "coordinate")
    # the rest work: the good stranger and every built-in
    assert registry.get("stem", "identity_stem").package == "plug-good"
    assert registry.get("pos_encoding", "ablate:coordinate").package == "ablate"
    assert "never" not in registry.names("stem")
    assert {"vertical", "square", "horizontal"} <= set(registry.names("patching"))


def test_a_module_on_the_path_without_an_entry_point_is_never_loaded(tmp_path, monkeypatch):
    (tmp_path / "sneaky_plugin.py").write_text(PLUGINS["good"].replace("identity", "sneaky"))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "sneaky_stem" not in load_registry().names("stem")
    assert "sneaky_plugin" not in sys.modules
    monkeypatch.setenv("ABLATE_PLUGINS", "sneaky_plugin")  # the explicit opt-in
    assert load_registry().get("stem", "sneaky_stem").plugin == "sneaky_plugin"
    sys.modules.pop("sneaky_plugin", None)


def test_allow_and_deny_lists_by_package_name(strangers, monkeypatch):
    monkeypatch.setenv("ABLATE_PLUGINS_DENY", "plug_good")  # compared as pip does
    assert "identity_stem" not in load_registry().names("stem")
    monkeypatch.delenv("ABLATE_PLUGINS_DENY")
    monkeypatch.setenv("ABLATE_PLUGINS_ALLOW", "plug-good")
    registry = load_registry()
    assert "identity_stem" in registry.names("stem")
    assert registry.failures == []  # the broken strangers were not even imported
    assert "conv" in registry.names("stem")  # the core is always allowed


# -- security --------------------------------------------------------------------------------


class _Payload:
    """Pickles to a call of os.system: what a booby-trapped model.pt would contain."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_model_file_with_code_in_it_is_refused_in_one_line(tmp_path):
    import json

    from ablate.config import to_yaml
    from ablate.training.saved import SavedModel

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.yaml").write_text(to_yaml(make_config()))
    (model / "meta.json").write_text(json.dumps({"label_names": ["a", "b"]}))
    marker = tmp_path / "pwned"
    trap = {"state_dict": {}, "mean": _Payload(marker), "std": torch.ones(1)}
    torch.save(trap, model / "model.pt")
    with pytest.raises(AblateError) as caught:
        SavedModel.load(model, get_registry())
    assert str(caught.value) == (
        f"{model / 'model.pt'}: refused to load: it holds Python objects, not only tensors "
        "(Trying to load unsupported GLOBAL posix.system whose module posix is blocked); "
        "nothing in it was run"
    )
    assert not marker.exists()
