"""RAVDESS on its real files: the adapter's fields, skipped modalities and channels, and
``ablate data``'s summary of actors, emotions, intensities and statements."""

from __future__ import annotations

import json
import shutil

import pytest

from ablate.cli.main import main
from ablate.errors import AblateError
from ablate.plugins import get_registry

EMOTIONS = ["anger", "calm", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"]


def scan(root, **params):
    return get_registry().get("dataset", "ravdess").build(root, params, "data.dataset_args").scan()


def test_real_files_parse_into_actor_emotion_intensity_statement(ravdess_few):
    result = scan(ravdess_few)
    assert result.skipped == []
    found = {u.path.name: u for u in result.utterances}
    assert len(found) == 16
    angry = found["03-01-05-01-02-01-01.wav"]
    assert (angry.label, angry.speaker) == ("anger", "01")
    assert angry.meta == {
        "gender": "male",
        "modality": "audio",
        "channel": "speech",
        "intensity": "normal",
        "statement": "Dogs are sitting by the door",
        "repetition": "01",
    }
    calm = found["03-01-02-02-01-01-02.wav"]
    assert (calm.label, calm.speaker, calm.meta["gender"]) == ("calm", "02", "female")
    assert (calm.meta["intensity"], calm.meta["statement"]) == (
        "strong",
        "Kids are talking by the door",
    )
    assert sorted({u.label for u in result.utterances}) == EMOTIONS


def test_song_and_video_files_are_skipped_with_their_reason(ravdess_few):
    source = ravdess_few / "Actor_01" / "03-01-05-01-02-01-01.wav"
    shutil.copyfile(source, source.with_name("03-02-05-01-02-01-01.wav"))  # song
    shutil.copyfile(source, source.with_name("01-01-05-01-02-01-01.wav"))  # audio-video
    shutil.copyfile(source, source.with_name("02-01-05-01-02-01-01.wav"))  # video-only
    shutil.copyfile(source, source.with_name("03-01-09-01-02-01-01.wav"))  # no emotion 09
    result = scan(ravdess_few)
    reasons = {path.rsplit("/", 1)[-1]: why for path, why in result.skipped}
    assert reasons == {
        "03-02-05-01-02-01-01.wav": "song-channel",
        "01-01-05-01-02-01-01.wav": "video-modality",
        "02-01-05-01-02-01-01.wav": "video-modality",
        "03-01-09-01-02-01-01.wav": "unparsable-name",
    }
    assert len(result.utterances) == 16
    songs = scan(ravdess_few, channel="song")
    assert [u.path.name for u in songs.utterances] == ["03-02-05-01-02-01-01.wav"]
    assert len(scan(ravdess_few, channel="all").utterances) == 17


def test_a_root_of_songs_alone_is_one_line_naming_the_channel(ravdess_few, tmp_path):
    songs = tmp_path / "songs" / "Actor_01"
    songs.mkdir(parents=True)
    shutil.copyfile(
        ravdess_few / "Actor_01" / "03-01-05-01-02-01-01.wav", songs / "03-02-05-01-02-01-01.wav"
    )
    with pytest.raises(AblateError) as refused:
        scan(songs.parent)
    message = str(refused.value)
    assert "no audio-only speech files" in message and "channel" in message
    assert "\n" not in message


def test_ablate_data_shows_actors_emotions_intensities_statements(ravdess_few, capsys):
    main(["data", "ravdess", str(ravdess_few), "--json", "data.workers=1"])
    info = json.loads(capsys.readouterr().out)
    assert info["utterances"] == 16 and info["speakers"] == ["01", "02"]
    assert list(info["labels"]) == EMOTIONS and set(info["labels"].values()) == {2}
    meta = info["metadata"]
    assert meta["intensity"] == {"normal": 8, "strong": 8}
    assert meta["statement"] == {
        "Dogs are sitting by the door": 8,
        "Kids are talking by the door": 8,
    }
    assert meta["gender"] == {"female": 8, "male": 8}
    assert info["sample_rates"] == {"16000": 16}
    main(["data", "ravdess", str(ravdess_few), "data.workers=1"])
    text = capsys.readouterr().out
    assert "intensity" in text and "normal (8), strong (8)" in text


@pytest.mark.slow
def test_the_whole_shared_corpus(ravdess_root, capsys, tmp_path):
    main(["data", "ravdess", str(ravdess_root), "--json", f"data.cache_dir={tmp_path}"])
    info = json.loads(capsys.readouterr().out)
    assert info["utterances"] == 1200 and info["skipped"] == {}
    assert info["speakers"] == [f"{a:02d}" for a in range(1, 21)]
    assert info["labels"] == {e: 80 if e == "neutral" else 160 for e in EMOTIONS}
    assert all(sum(c.values()) == 60 for c in info["labels_per_speaker"].values())
    meta = info["metadata"]
    assert meta["intensity"] == {"normal": 640, "strong": 560}
    assert set(meta["statement"].values()) == {600} and meta["gender"] == {
        "female": 600,
        "male": 600,
    }
    assert meta["repetition"] == {"01": 600, "02": 600}
    assert info["sample_rates"] == {"16000": 1200}
    assert 2.9 < info["durations"]["min"] < info["durations"]["max"] < 5.3
