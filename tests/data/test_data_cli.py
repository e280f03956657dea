"""``ablate data``: the summary's JSON keys, a missing root, the optional ROOT."""

from __future__ import annotations

import json

import pytest

from ablate.cli.data_cmd import split_root
from ablate.cli.main import main


def test_synthetic_summary_as_json_without_root(capsys):
    main(["data", "synthetic", "--json", "data.dataset_args={speakers: 2, per_class: 1}"])
    info = json.loads(capsys.readouterr().out)
    assert info["utterances"] == 12
    assert info["speakers"] == ["s01", "s02"]
    assert sum(info["labels"].values()) == 12 and len(info["labels"]) == 6
    assert info["skipped"] == {}
    assert info["sample_rates"] == {"16000": 12}
    assert info["labels_per_speaker"]["s01"]["glide_up"] == 1


@pytest.mark.slow
def test_real_emodb_summary(capsys, emodb_root, tmp_path):
    main(
        ["data", "emodb", str(emodb_root), "--json", "--clear-cache", f"data.cache_dir={tmp_path}"]
    )
    info = json.loads(capsys.readouterr().out)
    assert info["utterances"] == 408 and len(info["speakers"]) == 8 and len(info["labels"]) == 7
    assert info["sample_rates"] == {"22050": 408}
    assert info["durations"]["min"] == info["durations"]["max"] == 2.0


def test_missing_root_exits_2_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["data", "savee", str(tmp_path / "nowhere")])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: dataset 'savee'") and "\n" not in err


def test_root_is_optional_before_overrides():
    assert split_root(("data.workers=1",)) == (None, ("data.workers=1",))
    assert split_root(("/some/root", "data.workers=1")) == ("/some/root", ("data.workers=1",))
