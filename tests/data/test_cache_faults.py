"""The feature cache under faults, for real files: entries a power cut, a full disk or a
stranger left behind are misses (recomputed and overwritten), and a cache folder that
cannot be written costs a warning, not the command."""

from __future__ import annotations

import io
import json
import warnings

import click
import numpy as np
import pytest
import torch

from ablate.cli.main import COMMANDS, main
from ablate.data.pipeline import load_corpus
from ablate.plugins import get_registry


def _spoil(path, kind: str) -> None:
    good = path.read_bytes()
    if kind == "zero-length":  # what a power cut after an unsynced rename leaves
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "random-bytes":
        path.write_bytes(np.random.default_rng(0).bytes(len(good)))
    elif kind == "wrong-shape":
        np.save(path, np.zeros((4, 4), dtype=np.float32))
    elif kind == "nan":
        array = np.load(path)
        array[0, 0] = np.nan
        np.save(path, array)
    elif kind == "float64":
        np.save(path, np.load(path).astype(np.float64))
    elif kind == "pickled-object":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        raise AssertionError(kind)


KINDS = [
    "zero-length", "truncated", "random-bytes", "wrong-shape", "nan", "float64",
    "pickled-object",
]  # fmt: skip


@pytest.fixture
def folder_corpus(tmp_path, write_wav):
    root = tmp_path / "corpus"
    for i, label in enumerate(("happy", "sad", "happy", "sad")):
        write_wav(root / label / f"spk{i % 2}" / f"u{i}.wav", freq=180 + 50 * i)
    return root


@pytest.mark.parametrize("kind", KINDS)
def test_a_spoilt_cache_entry_is_recomputed_and_overwritten(
    folder_corpus, small_data, tmp_path, capsys, kind
):
    data = small_data("folder", folder_corpus)
    reference = load_corpus(data, progress=False, registry=get_registry()).features
    entries = sorted((tmp_path / "cache" / "features").rglob("*.npy"))
    assert len(entries) == 4
    for entry in entries:
        _spoil(entry, kind)
    # a real command on the corpus: it used to print "aborted" and exit 130 (zero-length),
    # end in a traceback (wrong shape) or take the NaN in
    argv = ["data", "folder", str(folder_corpus), "--json", "data.n_mels=32", "data.frames=16",
            "data.n_fft=256", "data.hop_length=128", "data.workers=1",
            f"data.cache_dir={tmp_path / 'cache'}"]  # fmt: skip
    capsys.readouterr()
    main(argv)
    assert json.loads(capsys.readouterr().out)["utterances"] == 4
    again = load_corpus(data, progress=False, registry=get_registry()).features
    assert torch.equal(again, reference)
    for entry in entries:  # overwritten with the right feature
        array = np.load(entry, allow_pickle=False)
        assert array.shape == (32, 16) and array.dtype == np.float32 and np.isfinite(array).all()


def test_a_cache_folder_that_cannot_be_written_is_one_warning(folder_corpus, small_data, tmp_path):
    (tmp_path / "file").write_text("a file where the cache folder should be")
    data = small_data("folder", folder_corpus, f"data.cache_dir={tmp_path / 'file' / 'cache'}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        corpus = load_corpus(data, progress=False, registry=get_registry())
    assert len(corpus) == 4 and torch.isfinite(corpus.features).all()
    (message,) = [str(w.message) for w in caught]
    assert message == (
        f"feature cache {tmp_path / 'file' / 'cache' / 'features'}: cannot write "
        "(Not a directory); features are computed but not cached (set data.cache_dir or "
        "ABLATE_CACHE_DIR to a writable folder)"
    )


def test_an_eof_error_is_a_failure_not_an_interruption(monkeypatch, capsys):
    """click turns every EOFError into Abort, which ablate printed as "aborted", exit 130:
    an empty file read anywhere looked like Ctrl-C (and a study like an interrupted one)."""

    @click.command()
    def empty() -> None:
        np.load(io.BytesIO(b""))  # the EOFError a zero-length .npy gives

    monkeypatch.setitem(COMMANDS, "empty", lambda: empty)
    with pytest.raises(EOFError):
        main(["empty"])
    assert "aborted" not in capsys.readouterr().err
