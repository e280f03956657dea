"""One view per question: a study run once per seed gets one pooled answer and one view;
speaker-dependent studies never share an experiment with honest ones."""

from __future__ import annotations

import contextlib
import json
import shutil

import pytest
from mlflow import MlflowClient
from store_helpers import RESULTS
from study_helpers import TINY, _cli, _study, fresh_mlflow

from ablate.cli.ui_cmd import study_links
from ablate.tracking import views
from ablate.tracking.compare import analyse, headline, label
from ablate.tracking.mlflow_store import Store
from ablate.tracking.naming import experiment_name
from ablate.tracking.questions import questions


@pytest.fixture(scope="module")
def seeds(tmp_path_factory, mlflow_template):
    """The tiny study run twice, once per seed (two study keys of one question)."""
    tmp = tmp_path_factory.mktemp("seeds")
    fresh_mlflow(mlflow_template, tmp)
    for seed in (0, 1):
        study = tmp / f"seed{seed}.yaml"
        text = _study(tmp).read_text().replace("sampler: grid", f"sampler: grid, seeds: [{seed}]")
        study.write_text(text)
        with contextlib.chdir(tmp):
            _cli(["run", study, *TINY, "protocol.max_folds=2", "--run-dir", f"runs/s{seed}"])
    return tmp


def _runs(client, experiment_id, query):
    return client.search_runs([experiment_id], query)


def test_a_study_run_once_per_seed_has_one_pooled_answer_and_one_view(seeds):
    """Seed 0 and seed 1 were two parents that could contradict each other, and the pooled
    answer the README gives appeared nowhere."""
    uri = f"sqlite:///{seeds / 'mlflow.db'}"
    store = Store(uri)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tiny")
    eid = experiment.experiment_id
    (question,) = questions(store, eid)
    assert question.pooled and len(question.keys) == 2
    (pooled,) = _runs(client, eid, "tags.`ablate.kind` = 'pooled'")
    expected = analyse(store, list(question.keys), "test_uar", pool_seeds=True)
    best = expected.verdicts[0]
    assert pooled.data.tags["ablate.answer"] == headline(expected)  # the pooled answer
    assert pooled.data.tags["ablate.top_arm"] == label(best.arm)
    assert pooled.info.run_name.startswith("tiny (seeds 0, 1 pooled): ")
    assert f" {label(best.arm)} {best.interval.mean:.3f} [" in pooled.info.run_name
    assert pooled.data.metrics["test_uar_mean"] == pytest.approx(best.interval.mean)
    arms = _runs(client, eid, f"tags.`mlflow.parentRunId` = '{pooled.info.run_id}'")
    assert {a.info.run_name for a in arms} == {
        "pos_encoding=coordinate, seeds 0, 1 pooled", "pos_encoding=none, seeds 0, 1 pooled"
    }  # fmt: skip
    for arm in arms:
        verdict = next(v for v in expected.verdicts if arm.info.run_name.startswith(v.arm.name))
        assert arm.data.metrics["test_uar_mean"] == pytest.approx(verdict.interval.mean)
        assert arm.data.params["model.pos_encoding"] in arm.info.run_name
        assert arm.data.tags["test UA"].startswith(f"{verdict.interval.mean:.3f} [")
    # the question's view: the pooled run first, then its arm runs best first
    state = json.loads(experiment.tags[f"mlflow.sharedViewState.{question.id}"])
    assert state == json.loads(experiment.tags[views.VIEW_TAG])  # and the default view
    shown = client.search_runs([eid], state["searchFilter"], order_by=["metrics.`rank` ASC"])
    assert shown[0].info.run_id == pooled.info.run_id
    assert {r.info.run_id for r in shown[1:]} == {a.info.run_id for a in arms}
    assert shown[1].info.run_name.startswith(label(best.arm))
    assert experiment.tags["mlflow.note.content"].startswith("**tiny (seeds 0, 1 pooled): ")
    # `ablate ui` prints one link for the question
    (link,) = study_links(store, "http://127.0.0.1:5000")
    assert link == ("tiny", views.runs_url("http://127.0.0.1:5000", eid, question.id))


def test_numbers_a_person_reads_have_three_decimals(seeds):
    client = MlflowClient(f"sqlite:///{seeds / 'mlflow.db'}")
    eid = client.get_experiment_by_name("tiny").experiment_id
    for run in _runs(client, eid, "tags.`ablate.kind` = 'trial'"):
        text = run.data.tags["test UA"]
        mean, low, high = (run.data.metrics[f"test_uar_{k}"] for k in ("mean", "ci95_low",
                                                                        "ci95_high"))  # fmt: skip
        assert text == f"{mean:.3f} [{low:.3f}, {high:.3f}]"
    state = json.loads(client.get_experiment(eid).tags[views.VIEW_TAG])
    assert state["selectedColumns"][:4] == [
        "tags.`test UA`", "tags.`verdict`", "tags.`test WA`", "tags.`test F1`"
    ]  # fmt: skip
    assert state["orderByKey"] == "metrics.`rank`"  # the answer's order, by full values


def test_a_study_that_may_leak_gets_an_experiment_of_its_own(tmp_path):
    from ablate.plugins import get_registry
    from ablate.studies.spec import load_study

    honest = _study(tmp_path)
    registry = get_registry()
    assert experiment_name(load_study(honest, registry)) == "tiny"
    leaky = load_study(honest, registry, ["protocol.split=random_kfold"])
    assert experiment_name(leaky) == "tiny (speaker-dependent)"
    swept = tmp_path / "swept.yaml"
    swept.write_text(
        honest.read_text().replace(
            "space:\n", "space:\n  protocol.augment_before_split: {choice: [false, true]}\n"
        )
    )
    assert experiment_name(load_study(swept, registry)) == "tiny (speaker-dependent)"


@pytest.mark.parametrize("name", ["emodb-h200", "emodb-cpu", "emodb-recipe-cpu"])
def test_no_committed_experiment_mixes_leaky_and_honest_runs(name):
    client = MlflowClient(f"sqlite:///{RESULTS / name}.db")
    for experiment in client.search_experiments():
        runs = client.search_runs(
            [experiment.experiment_id], "tags.`ablate.kind` = 'trial'", max_results=5000
        )
        kinds = {r.data.tags.get("ablate.speaker_independent") for r in runs} - {None}
        assert len(kinds) <= 1, experiment.name
        leaky = kinds == {"false"}
        assert leaky == experiment.name.endswith("(speaker-dependent)"), experiment.name


def test_the_committed_recipe_store_leads_with_the_pooled_answer():
    """The README's pooled table is what the experiment's default view shows first."""
    uri = f"sqlite:///{RESULTS / 'emodb-recipe-cpu.db'}"
    store, client = Store(uri), MlflowClient(uri)
    experiment = client.get_experiment_by_name("pe_vs_coord")
    (question,) = questions(store, experiment.experiment_id)
    state = json.loads(experiment.tags[views.VIEW_TAG])
    shown = client.search_runs(
        [experiment.experiment_id], state["searchFilter"], order_by=["metrics.`rank` ASC"]
    )
    pooled, arms = shown[0], shown[1:]
    assert pooled.data.tags["ablate.kind"] == "pooled"
    expected = analyse(store, list(question.keys), "test_uar", pool_seeds=True)
    assert pooled.data.tags["ablate.answer"] == headline(expected)
    assert pooled.data.tags["ablate.top_arm"] == label(expected.verdicts[0].arm)
    assert len(arms) == len(expected.verdicts) == 6  # rope and alibi: seed 2 only
    assert all(r.data.tags["ablate.kind"] == "arm" for r in arms)


def test_moving_a_leaky_study_is_idempotent_and_keeps_its_artifacts(tmp_path):
    """The store as it was: the leak's runs in the honest pe_vs_coord experiment."""
    import sqlite3

    from store_helpers import LEAKY

    from ablate.tracking.separate import separate

    root = "emodb-h200-artifacts"
    shutil.copy(RESULTS / "emodb-h200.db", tmp_path)
    shutil.copytree(RESULTS / root, tmp_path / root)
    db = tmp_path / "emodb-h200.db"
    client = MlflowClient(f"sqlite:///{db}")
    honest = client.get_experiment_by_name("pe_vs_coord").experiment_id
    leak = client.get_experiment_by_name("pe_vs_coord (speaker-dependent)").experiment_id
    with contextlib.closing(sqlite3.connect(db)) as con, con:
        con.execute(
            "update runs set experiment_id = ?, artifact_uri = replace(artifact_uri, ?, ?) "
            "where experiment_id = ?",
            (int(honest), f"{root}/{leak}/", f"{root}/{honest}/", int(leak)),
        )
    for folder in (tmp_path / root / leak).iterdir():
        shutil.move(folder, tmp_path / root / honest / folder.name)
    assert separate(db, root) == [(LEAKY, "pe_vs_coord (speaker-dependent)")]
    runs = client.search_runs([leak], "tags.`ablate.kind` = 'trial'")
    assert runs and not client.search_runs([honest], "tags.`ablate.speaker_independent` = 'false'")
    for run in runs:
        assert run.info.artifact_uri.startswith(f"{root}/{leak}/")
        if run.info.status == "FINISHED":
            assert (tmp_path / run.info.artifact_uri / "folds.json").is_file()
    assert separate(db, root) == []  # again: nothing to move


@pytest.mark.parametrize(("commits", "asked"), [(("c1", "c2"), 1), (("c1", "c1"), 2)])
def test_a_question_holds_the_keys_pool_seeds_pools(tmp_path, mlflow_template, commits, asked):
    """The EmoDB evidence's third seed, logged by a newer ablate (fewer settings recorded),
    formed a question of its own while `--pool-seeds` pooled it with the first two: the
    view showed a two-seed answer. Within one version the extra setting keeps them apart."""
    from sim_store import write_study

    (tmp_path / "mlflow.db").write_bytes(mlflow_template.read_bytes())
    store = Store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with contextlib.chdir(tmp_path):
        for seed, (commit, params) in enumerate(
            zip(commits, ({"distill.alpha": "1.0"}, {}), strict=True)
        ):
            scores = {"x": {(seed, 0): 0.5, (seed, 1): 0.6}}
            write_study(
                store, "twice", f"twice-{seed}", scores, [["a"], ["b"]], light=True,
                params=params, commit=commit,
            )  # fmt: skip
    experiment = store.client.get_experiment_by_name("twice").experiment_id
    found = questions(store, experiment)
    assert len(found) == asked
    if asked == 1:
        assert found[0].keys == ("twice-0", "twice-1")
