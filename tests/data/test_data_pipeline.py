"""load_corpus: skips by reason, strict mode, label selection, the feature cache."""

from __future__ import annotations

import threading
import warnings

import pytest
import torch

from ablate.data.cache import cache_root, clear_cache
from ablate.data.pipeline import load_corpus
from ablate.errors import AblateError
from ablate.plugins import get_registry

pytestmark = pytest.mark.filterwarnings("ignore:skipped .* files")


@pytest.fixture
def emodb_like(tmp_path, write_wav):
    """Six good EmoDB-named files of two speakers plus an LFS pointer, a silent file and
    an unparsable name."""
    root = tmp_path / "corpus"
    for i, name in enumerate(("03a01Fa", "03a02Wa", "03a04Nb", "08a01Fa", "08a02Wa", "08b01Nb")):
        write_wav(root / "wav" / f"{name}.wav", freq=200 + 40 * i)
    (root / "wav" / "09a01Wa.wav").write_text("version https://git-lfs.github.com/spec/v1\n")
    write_wav(root / "wav" / "09a02Wa.wav", freq=0.0)
    write_wav(root / "wav" / "bogus.wav")
    return root


def test_bad_files_are_skipped_with_one_counting_warning(emodb_like, small_data):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        corpus = load_corpus(
            small_data("emodb", emodb_like), progress=False, registry=get_registry()
        )
    assert len(corpus) == 6 and corpus.features.shape == (6, 32, 16)
    assert corpus.skipped_counts() == {"unparsable-name": 1, "lfs-pointer": 1, "silent": 1}
    messages = [str(w.message) for w in caught if "skipped" in str(w.message)]
    assert len(messages) == 1 and "skipped 3 files" in messages[0]
    assert corpus.label_names == ["anger", "happiness", "neutral"]
    assert corpus.speakers == ["03", "03", "03", "08", "08", "08"]
    assert corpus.labels.tolist() == [1, 0, 2, 1, 0, 2]
    with pytest.raises(AblateError, match=r"data\.strict: skipped 3 files"):
        load_corpus(
            small_data("emodb", emodb_like, "data.strict=true"),
            progress=False,
            registry=get_registry(),
        )


def test_label_map_then_subset(emodb_like, small_data):
    data = small_data(
        "emodb", emodb_like, "data.label_map={happiness: joy}", "data.labels=[joy,anger]"
    )
    corpus = load_corpus(data, progress=False, registry=get_registry())
    assert corpus.label_names == ["anger", "joy"] and len(corpus) == 4
    with pytest.raises(AblateError, match=r"data\.labels: fear not in the corpus"):
        load_corpus(
            small_data("emodb", emodb_like, "data.labels=[fear]"),
            progress=False,
            registry=get_registry(),
        )


def test_second_load_hits_the_cache(emodb_like, small_data, calls):
    data = small_data("emodb", emodb_like)
    first = load_corpus(data, progress=False, registry=get_registry())
    assert calls["n"] == 8  # 6 good + silent + LFS pointer (decode failures are not cached)
    second = load_corpus(data, progress=False, registry=get_registry())
    assert calls["n"] == 8 + 2
    assert torch.equal(first.features, second.features)
    assert first.fingerprint == second.fingerprint


def test_cache_invalidated_by_feature_parameter_and_file_content(
    emodb_like, small_data, calls, write_wav
):
    base = load_corpus(small_data("emodb", emodb_like), progress=False, registry=get_registry())
    calls["n"] = 0
    load_corpus(
        small_data("emodb", emodb_like, "data.f_min=100.0"), progress=False, registry=get_registry()
    )
    assert calls["n"] == 8
    calls["n"] = 0
    write_wav(emodb_like / "wav" / "03a01Fa.wav", freq=900.0)
    changed = load_corpus(small_data("emodb", emodb_like), progress=False, registry=get_registry())
    assert calls["n"] == 1 + 2
    assert not torch.equal(changed.features[0], base.features[0])
    assert torch.equal(changed.features[1:], base.features[1:])
    assert changed.fingerprint != base.fingerprint


def test_cache_bypass_and_clear(emodb_like, small_data, calls):
    data = small_data("emodb", emodb_like, "data.cache=false")
    load_corpus(data, progress=False, registry=get_registry())
    load_corpus(data, progress=False, registry=get_registry())
    assert calls["n"] == 16
    assert not (cache_root(data) / "features").exists()
    cached = small_data("emodb", emodb_like)
    load_corpus(cached, progress=False, registry=get_registry())
    assert (cache_root(cached) / "features").is_dir()
    assert clear_cache(cached) == cache_root(cached)
    assert not cache_root(cached).exists()


def test_parallel_workers_and_concurrent_fills_agree(tmp_path, small_data, write_wav):
    root = tmp_path / "many"
    for i in range(18):
        write_wav(root / f"{3 + i % 2:02d}a{i:02d}Wa.wav", freq=150 + 20 * i)
    serial = load_corpus(
        small_data("emodb", root, "data.cache=false"), progress=False, registry=get_registry()
    )
    parallel = load_corpus(
        small_data("emodb", root, "data.workers=2"), progress=False, registry=get_registry()
    )
    assert torch.allclose(serial.features, parallel.features)

    shared = small_data("emodb", root, "data.cache_dir=" + str(tmp_path / "shared"))
    results, errors = [], []

    def fill():
        try:
            results.append(load_corpus(shared, progress=False, registry=get_registry()).features)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fill) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(torch.allclose(r, serial.features) for r in results)
    assert not list((tmp_path / "shared").rglob(".tmp-*"))


def test_synthetic_default_needs_no_root(small_data):
    data = small_data("synthetic", None, "data.dataset_args={speakers: 2, per_class: 1}")
    corpus = load_corpus(data, progress=False, registry=get_registry())
    assert len(corpus) == 12 and len(corpus.label_names) == 6
    assert corpus.skipped == []
