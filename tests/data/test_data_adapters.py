"""Every adapter's name parsing on tiny files in its own layout, incl. awkward cases."""

from __future__ import annotations

import pytest

from ablate.corpus import UNPARSABLE
from ablate.errors import AblateError
from ablate.plugins import get_registry


def scan(name, root, **params):
    return get_registry().get("dataset", name).build(root, params, "data.dataset_args").scan()


def by_name(result):
    return {u.path.name: u for u in result.utterances}


@pytest.mark.parametrize("nested", [True, False])
def test_emodb_parses_names_in_wav_folder_or_root(tmp_path, write_wav, nested):
    folder = tmp_path / "wav" if nested else tmp_path
    for name in ("03a01Fa.wav", "16b10Wb.wav", "08a02Lc.wav", "03a01Xa.wav", "notes.wav"):
        write_wav(folder / name)
    (folder / "readme.txt").write_text("not audio, wrong suffix: ignored")
    result = scan("emodb", tmp_path)
    found = by_name(result)
    assert sorted(found) == ["03a01Fa.wav", "08a02Lc.wav", "16b10Wb.wav"]
    first = found["03a01Fa.wav"]
    assert (first.label, first.speaker) == ("happiness", "03")
    assert first.meta == {"gender": "male", "text": "a01", "version": "a"}
    assert (found["16b10Wb.wav"].label, found["16b10Wb.wav"].meta["gender"]) == ("anger", "female")
    assert found["08a02Lc.wav"].label == "boredom"
    assert sorted(p.split("/")[-1] for p, _ in result.skipped) == ["03a01Xa.wav", "notes.wav"]
    assert {reason for _, reason in result.skipped} == {UNPARSABLE}


def test_real_emodb_subset_scans_as_is(emodb_root):
    result = scan("emodb", emodb_root)
    assert len(result.utterances) == 408
    assert len({u.speaker for u in result.utterances}) == 8
    assert len({u.label for u in result.utterances}) == 7
    assert result.skipped == []


def test_missing_root_and_empty_folder_are_one_line_errors(tmp_path):
    with pytest.raises(AblateError) as missing:
        scan("emodb", tmp_path / "nope")
    message = str(missing.value)
    assert "emodb" in message and str(tmp_path / "nope") in message and "03a01Fa.wav" in message
    assert "\n" not in message
    with pytest.raises(AblateError, match=r"savee.*no recognisable.*AudioData"):
        scan("savee", tmp_path)
    with pytest.raises(AblateError, match=r"data\.root is not set"):
        scan("tess", None)


def test_savee_nested_and_flat_with_two_letter_codes_first(tmp_path, write_wav):
    for name in ("DC/sa01.wav", "DC/su05.wav", "DC/a01.wav", "KL/n30.wav"):
        write_wav(tmp_path / "AudioData" / name)
    for name in ("JE_sa03.wav", "JK_su15.wav", "JK_d02.wav", "DC_s01.wav", "dc/a01.wav"):
        write_wav(tmp_path / "flat" / name)
    result = scan("savee", tmp_path)
    got = {(u.speaker, u.path.name): u.label for u in result.utterances}
    assert got == {
        ("DC", "sa01.wav"): "sadness",
        ("DC", "su05.wav"): "surprise",
        ("DC", "a01.wav"): "anger",
        ("KL", "n30.wav"): "neutral",
        ("JE", "JE_sa03.wav"): "sadness",
        ("JK", "JK_su15.wav"): "surprise",
        ("JK", "JK_d02.wav"): "disgust",
    }
    assert all(u.meta["gender"] == "male" for u in result.utterances)
    assert sorted(p.split("/")[-1] for p, _ in result.skipped) == ["DC_s01.wav", "a01.wav"]


def test_cremad_levels_and_demographics(tmp_path, write_wav):
    for name in ("1001_DFA_ANG_XX", "1002_IEO_HAP_X", "1003_IEO_SAD_HI", "1001_TIE_FEA_LO"):
        write_wav(tmp_path / "AudioWAV" / f"{name}.wav")
    write_wav(tmp_path / "AudioWAV" / "1001_DFA_XYZ_XX.wav")
    (tmp_path / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
        "1002,21,Female,Caucasian,Not Hispanic\n"
    )
    result = scan("cremad", tmp_path)
    found = by_name(result)
    assert len(found) == 4
    assert found["1001_DFA_ANG_XX.wav"].meta == {
        "text": "DFA",
        "intensity": "unspecified",
        "gender": "male",
    }
    assert found["1002_IEO_HAP_X.wav"].meta["intensity"] == "unspecified"
    assert found["1002_IEO_HAP_X.wav"].meta["gender"] == "female"
    assert "gender" not in found["1003_IEO_SAD_HI.wav"].meta
    assert found["1003_IEO_SAD_HI.wav"].meta["intensity"] == "high"
    assert (found["1001_TIE_FEA_LO.wav"].label, found["1001_TIE_FEA_LO.wav"].speaker) == (
        "fear",
        "1001",
    )
    assert [p.split("/")[-1] for p, _ in result.skipped] == ["1001_DFA_XYZ_XX.wav"]


def test_ravdess_fields_gender_and_channel_filter(tmp_path, write_wav):
    write_wav(tmp_path / "Actor_01" / "03-01-06-01-02-01-01.wav")
    write_wav(tmp_path / "Actor_12" / "03-02-08-02-01-02-12.wav")
    write_wav(tmp_path / "Actor_12" / "03-01-09-01-01-01-12.wav")
    found = by_name(scan("ravdess", tmp_path, channel="all"))
    fear = found["03-01-06-01-02-01-01.wav"]
    assert (fear.label, fear.speaker, fear.meta["gender"], fear.meta["channel"]) == (
        "fear",
        "01",
        "male",
        "speech",
    )
    song = found["03-02-08-02-01-02-12.wav"]
    assert (song.label, song.meta["gender"], song.meta["intensity"]) == (
        "surprise",
        "female",
        "strong",
    )
    assert len(found) == 2
    speech = scan("ravdess", tmp_path)  # speech by default
    assert [u.path.name for u in speech.utterances] == ["03-01-06-01-02-01-01.wav"]
    with pytest.raises(AblateError, match=r"data\.dataset_args\.channel"):
        scan("ravdess", tmp_path, channel="video")


def test_tess_flat_and_nested_folders_with_ps_and_odd_case(tmp_path, write_wav):
    write_wav(tmp_path / "OAF_back_angry.wav")
    write_wav(tmp_path / "YAF_pleasant_surprised" / "YAF_dog_ps.wav")
    write_wav(tmp_path / "YAF_fear" / "YAF_germ_Fear.wav")
    write_wav(tmp_path / "OAF_Sad" / "OA_bite_sad.wav")
    write_wav(tmp_path / "OAF_back.wav")
    result = scan("tess", tmp_path)
    got = {u.path.name: (u.speaker, u.label) for u in result.utterances}
    assert got == {
        "OAF_back_angry.wav": ("OAF", "anger"),
        "YAF_dog_ps.wav": ("YAF", "surprise"),
        "YAF_germ_Fear.wav": ("YAF", "fear"),
        "OA_bite_sad.wav": ("OAF", "sadness"),
    }
    assert [p.split("/")[-1] for p, _ in result.skipped] == ["OAF_back.wav"]


def test_folder_subfolders_and_manifest(tmp_path, write_wav):
    write_wav(tmp_path / "happy" / "spk1" / "a.wav")
    write_wav(tmp_path / "sad" / "b.wav")
    write_wav(tmp_path / "loose.wav")
    result = scan("folder", tmp_path)
    assert {(u.label, u.speaker) for u in result.utterances} == {
        ("happy", "spk1"),
        ("sad", "unknown"),
    }
    assert [p.split("/")[-1] for p, _ in result.skipped] == ["loose.wav"]

    (tmp_path / "list.csv").write_text(
        "path,label,speaker\nhappy/spk1/a.wav,joy,A\nsad/b.wav,grief,\ngone.wav,joy,B\n"
    )
    listed = scan("folder", tmp_path, manifest="list.csv")
    assert [(u.label, u.speaker) for u in listed.utterances] == [("joy", "A"), ("grief", "unknown")]
    assert listed.skipped == [(str(tmp_path / "gone.wav"), "missing-file")]
    (tmp_path / "bad.csv").write_text("file,emotion\nx.wav,joy\n")
    with pytest.raises(AblateError, match="needs columns path,label"):
        scan("folder", tmp_path, manifest="bad.csv")


def test_synthetic_is_deterministic_and_complete(tmp_path):
    params = {"speakers": 2, "per_class": 2, "classes": 4, "seconds": 0.5}
    first = scan("synthetic", tmp_path / "a", **params)
    second = scan("synthetic", tmp_path / "b", **params)
    assert len(first.utterances) == 2 * 2 * 4
    assert {u.speaker for u in first.utterances} == {"s01", "s02"}
    assert {u.label for u in first.utterances} == {
        "glide_up",
        "glide_down",
        "burst_early",
        "burst_late",
    }
    a = [u.path.read_bytes() for u in first.utterances]
    b = [u.path.read_bytes() for u in second.utterances]
    assert a == b
    other = scan("synthetic", tmp_path / "a", **{**params, "seed": 1})
    assert [u.path.read_bytes() for u in other.utterances] != a
    with pytest.raises(AblateError, match=r"data\.dataset_args\.classes"):
        scan("synthetic", tmp_path, classes=9)
