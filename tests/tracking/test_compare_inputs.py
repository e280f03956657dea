"""What `ablate compare` and `ablate ui` are pointed at: a mistyped SQLite path used to
create the folder and an empty store (then "no study"); studies scored on different
classes (6 and 4) were ranked in one table against one reference without a word;
`ablate ui --tracking-uri http://...` printed MLflow's traceback, then blamed the port."""

from __future__ import annotations

import contextlib

import pytest
from store_helpers import run
from study_helpers import TINY, _cli, free_port, fresh_mlflow

STUDY = "name: {name}\n{data}space:\n  {space}\noptuna: {{sampler: grid}}\n"
ONE_ARM = "model.pos_encoding: {choice: [none]}"


def test_compare_and_ui_refuse_a_store_that_does_not_exist(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    typo = tmp_path / "resluts" / "mlflow.db"
    commands = (
        ["compare", "x"],
        ["ui", "--port", str(free_port())],
        ["plan", "x", "--margin", "0.03"],
        ["report", "x", "--out", str(tmp_path / "report")],
    )
    for argv in commands:
        code, _, err = run(capsys, *argv, "--tracking-uri", f"sqlite:///{typo}")
        assert code == 2 and err == (
            f"error: tracking store sqlite:///{typo}: no such file {typo}; check "
            "--tracking-uri, or run a study there first (this command reads a store, it "
            "creates none)\n"
        )
    sources = [f"x@sqlite:///{typo}", "y@sqlite:///elsewhere.db", "--across", "--reference", "z"]
    code, _, err = run(capsys, "compare", *sources)
    assert code == 2 and err.startswith(f"error: tracking store sqlite:///{typo}: no such file")
    code, _, err = run(capsys, "compare", "x")  # the default store, ./mlflow.db
    assert code == 2 and f"no such file {tmp_path / 'mlflow.db'};" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing was created


def test_ui_on_a_tracking_server_is_one_line_before_any_server_starts(capsys):
    port = str(free_port())
    code, out, err = run(capsys, "ui", "--tracking-uri", "http://127.0.0.1:5000", "--port", port)
    assert code == 2 and out == ""
    assert err == (
        "error: --tracking-uri http://127.0.0.1:5000: a tracking server serves its own UI; "
        "open http://127.0.0.1:5000 in a browser (ablate ui serves a store: sqlite:///FILE, "
        "a folder or a database URI)\n"
    )


@pytest.fixture(scope="module")
def class_sets(tmp_path_factory, mlflow_template):
    """Three one-fold studies: 6 classes, 4 classes, and one sweeping the class count."""
    tmp = tmp_path_factory.mktemp("classes")
    fresh_mlflow(mlflow_template, tmp)
    studies = {
        "six": ("", ONE_ARM),
        "four": ("data: {dataset_args: {classes: 4}}\n", ONE_ARM),
        "mixed": ("", "data.dataset_args.classes: {choice: [6, 4]}"),
    }
    with contextlib.chdir(tmp):
        for name, (data, space) in studies.items():
            (tmp / f"{name}.yaml").write_text(STUDY.format(name=name, data=data, space=space))
            _cli(["run", tmp / f"{name}.yaml", *TINY])
    return tmp


def test_studies_on_different_classes_are_not_ranked_together(class_sets, capsys, monkeypatch):
    monkeypatch.chdir(class_sets)
    code, out, err = run(capsys, "compare", "six", "four")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("error: the studies were scored on different classes (6 classes (")
    assert " 4 classes (burst_early, burst_late, glide_down, glide_up) in four-" in err
    assert err.endswith("UA and its chance level differ between them: compare each on its own\n")
    assert run(capsys, "compare", "six")[0] == 0  # each on its own works


def test_a_study_that_sweeps_its_classes_is_shown_with_a_note(class_sets, capsys, monkeypatch):
    monkeypatch.chdir(class_sets)
    code, out, err = run(capsys, "compare", "mixed")
    assert code == 0, err
    text = " ".join(out.split())
    assert "classes=6" in text and "classes=4" in text
    assert "note: the arms were scored on different classes (6 classes (" in text
    assert "read ranks and differences within one class set only" in text
