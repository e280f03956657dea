"""Folder entries a corpus scan used to drop without a word: a label folder that is a
symbolic link (its whole class vanished), and `.wav` entries that are dangling or looping
links or FIFOs (not counted as skipped). Real files, the real pipeline and CLI."""

from __future__ import annotations

import json
import os
import warnings

import pytest

from ablate.cli.main import main
from ablate.corpus import audio_files
from ablate.data.pipeline import load_corpus
from ablate.plugins import get_registry

ODD = {"broken-link": 1, "symlink-loop": 2, "not-a-regular-file": 1}


@pytest.fixture
def corpus(tmp_path, write_wav):
    """happy/ holds 2 files and 4 odd entries; sad/ is a link to a folder elsewhere."""
    root = tmp_path / "corpus"
    for i in range(2):
        write_wav(root / "happy" / "spk1" / f"h{i}.wav", freq=220 + 40 * i)
        write_wav(tmp_path / "elsewhere" / "spk1" / f"s{i}.wav", freq=330 + 40 * i)
    (root / "sad").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    odd = root / "happy" / "spk1"
    (odd / "dangling.wav").symlink_to(odd / "gone.wav")
    (odd / "loop1.wav").symlink_to(odd / "loop2.wav")
    (odd / "loop2.wav").symlink_to(odd / "loop1.wav")
    os.mkfifo(odd / "fifo.wav")
    (root / "happy" / "up").symlink_to(root, target_is_directory=True)  # a folder loop
    return root


def test_a_linked_label_folder_is_read_and_odd_entries_are_counted(corpus, small_data):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_corpus(small_data("folder", corpus), progress=False, registry=get_registry())
    assert loaded.label_names == ["happy", "sad"]
    assert sorted(u.path.name for u in loaded.utterances) == [
        "h0.wav",
        "h1.wav",
        "s0.wav",
        "s1.wav",
    ]
    assert loaded.skipped_counts() == ODD
    (message,) = [str(w.message) for w in caught if "skipped" in str(w.message)]
    assert message.startswith("skipped 4 files (")


def test_ablate_data_lists_the_skips_by_reason(corpus, tmp_path, capsys):
    main(["data", "folder", str(corpus), "data.n_mels=16", "data.frames=8", "data.workers=1",
          f"data.cache_dir={tmp_path / 'cache'}", "--json"])  # fmt: skip
    info = json.loads(capsys.readouterr().out)
    assert info["skipped"] == ODD and info["labels"] == {"happy": 2, "sad": 2}
    reasons = {os.path.basename(path): reason for path, reason in info["skipped_files"]}
    assert reasons == {
        "dangling.wav": "broken-link",
        "loop1.wav": "symlink-loop",
        "loop2.wav": "symlink-loop",
        "fifo.wav": "not-a-regular-file",
    }


def test_a_flat_adapter_lists_odd_entries_too(tmp_path, write_wav):
    """EmoDB reads one folder, not recursively: a FIFO there is listed, not dropped."""
    write_wav(tmp_path / "wav" / "03a01Fa.wav")
    os.mkfifo(tmp_path / "wav" / "03a01Wa.wav")
    (tmp_path / "wav" / "sub").mkdir()
    write_wav(tmp_path / "wav" / "sub" / "03a02Fa.wav")
    names = [p.name for p in audio_files(tmp_path / "wav", recursive=False)]
    assert names == ["03a01Fa.wav", "03a01Wa.wav"]
