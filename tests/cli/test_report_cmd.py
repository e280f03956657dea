"""`ablate report`: one HTML page per set of studies that opens without a server, read in
headless Chromium as a person would open the file."""

from __future__ import annotations

import contextlib
import re
import shutil
import time

import pytest
from browser import headless
from mlflow import MlflowClient
from study_helpers import TINY, _children, _cli, _study, fresh_mlflow

from ablate.tracking.compare import analyse, headline
from ablate.tracking.mlflow_store import Store
from tests.tracking.store_helpers import RESULTS


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, mlflow_template):
    """A two-arm study on two folds, reported."""
    tmp = tmp_path_factory.mktemp("report")
    fresh_mlflow(mlflow_template, tmp)
    with contextlib.chdir(tmp):
        _cli(["run", _study(tmp), *TINY, "protocol.max_folds=2", "--n-trials", 2])
        _, (parent,), trials = _children(tmp)
        key = parent.data.tags["ablate.study_key"]
        _cli(["report", key, "--out", "report"])
    return tmp, key, trials


def _open(path) -> tuple[str, int, int]:
    """The page's text, and how many of its images there are and how many decoded."""
    driver = headless()
    try:
        driver.get(path.as_uri())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            counts = driver.execute_script(
                "const i = Array.from(document.images);"
                "return [i.length, i.filter(x => x.complete && x.naturalWidth > 0).length]"
            )
            if counts[0] and counts[0] == counts[1]:
                break
            time.sleep(0.5)
        return driver.find_element("tag name", "body").text, *counts
    finally:
        driver.quit()


def test_the_report_opens_from_its_file_with_every_figure_inside(tiny):
    tmp, key, trials = tiny
    page = tmp / "report" / "index.html"
    source = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//|/)""", source)  # nothing fetched
    assert {p.name for p in (tmp / "report").iterdir()} == {"index.html"}
    text, images, loaded = _open(page)
    # arms, paired plot, and each trial's curves and confusion matrix
    assert images == loaded == 2 + 2 * len(trials)
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    assert headline(analyse(Store(uri), [key])) in text
    assert "arm test_uar [95% CI] diff [95% CI] verdict MDE" in text  # the verdict table
    assert "Each test speaker across the arms" in text


def test_the_report_gives_the_provenance_of_every_run(tiny):
    tmp, _, trials = tiny
    text, _, _ = _open(tmp / "report" / "index.html")
    provenance = text[text.index("Provenance of every run") :]
    for trial in trials:
        tags = trial.data.tags
        assert trial.info.run_id[:12] in provenance
        assert tags["ablate.git_commit"][:12] in provenance
        assert tags["ablate.fingerprint"][:16] in provenance
        assert f"torch {tags['ablate.version.torch']}" in provenance
        assert f"model.patching: {tags['ablate.plugin.model.patching']}" in provenance
    assert "2 folds; test speakers " in provenance


def test_a_committed_store_reports_its_pooled_answer(tmp_path, capsys):
    """The recipe store's pe_vs_coord, seeds 0, 1 and 2 pooled, as the README gives it."""
    name = "emodb-recipe-cpu"
    shutil.copy(RESULTS / f"{name}.db", tmp_path)
    shutil.copytree(RESULTS / f"{name}-artifacts", tmp_path / f"{name}-artifacts")
    uri = f"sqlite:///{tmp_path / name}.db"
    out = tmp_path / "shared"
    _cli(["report", "pe_vs_coord", "--pool-seeds", "--out", out, "--tracking-uri", uri])
    assert capsys.readouterr().out.startswith(f"wrote {out / 'index.html'} (")
    text, images, loaded = _open(out / "index.html")
    assert images == loaded > 2
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("pe_vs_coord").experiment_id
    keys = [r.data.tags["ablate.study_key"] for r in client.search_runs(
        [experiment], "tags.`ablate.kind` = 'study'")]  # fmt: skip
    assert len(keys) == 3 and all(k in text for k in keys)
    assert headline(analyse(Store(uri), ["pe_vs_coord"], pool_seeds=True)) in text


def test_report_into_a_file_is_one_line(tmp_path, capsys):
    from study_helpers import _one_line_error

    target = tmp_path / "taken"
    target.write_text("x")
    err = _one_line_error(["report", "x", "--out", target], capsys)
    assert err == f"error: --out {target}: is a file; give a folder for the report"
