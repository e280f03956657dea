"""The time model behind ``studies/paper_gpu.py --dry-run``: work per trial, measured GPU
sharing, and the schedule.

A trial's cost is the seconds one process alone on the GPU spends in its training steps:
training samples of each stage over that model's measured single-process samples/s. N
trials at once share the GPU by an Amdahl-type law fitted on a finished run's store, and a
trial's wall time is its training-step time times the ratio measured in the same run.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import yaml

from ablate.plugins import get_registry

ROOT = Path(__file__).resolve().parents[1]
#: per phase, outside its trials: imports, feature extraction, the studies' summaries and
#: plots. The 20-epoch run's phases took 188 s and 86 s (docs/results.md) while their
#: longest trials took 146 s and 52 s of wall time (emodb-h200.db): 38 s on average.
PHASE_OVERHEAD_S = 38.0


def throughput(path: Path) -> dict[str, float]:
    """Single-process training samples/s per arm (median of the timed steps)."""
    return {row["arm"]: row["train_samples_per_s_median"] for row in json.loads(path.read_text())}


def arm_of(model) -> str:
    preset = model["preset"]
    return "cnn" if preset == "cnn" else f"{preset}-{model['patching']}"


def _rate(rate: dict[str, float], model) -> float:
    """The measured samples/s of ``model``'s arm. ``conv_tokens`` (added after the H200 run)
    is costed as ``vertical``, which has the same tokens; its conv layers add 19% to the
    student's FLOPs at 128x128 (``ablate model model.patching=conv_tokens``: 0.628 against
    0.529 GFLOPs), so that arm's estimate is low by up to that much."""
    arm = arm_of(model)
    if arm not in rate and model.get("patching") == "conv_tokens":
        arm = f"{model['preset']}-vertical"
    return rate[arm]


def train_sizes(config, corpus) -> list[int]:
    """Training utterances of each fold (augmented copies included)."""
    from ablate.data.splits import make_folds

    copies = 1 + int(config.data.augment_copies or 0) if config.data.augment else 1
    if config.protocol.augment_before_split:
        corpus = SimpleNamespace(speakers=corpus.speakers * copies, labels=corpus.labels * copies)
        copies = 1
    return [len(fold.train) * copies for fold in make_folds(corpus, config.protocol)]


def trial_configs(study) -> list:
    """The grid's configs, with plugin parameters only where their plugin is chosen."""
    from omegaconf import OmegaConf

    from ablate.studies.space import plugin_names

    configs, seen = [], set()
    for values in itertools.product(*study.space.grid().values()):
        config = study.base.copy()
        for dim, value in zip(study.space.dims, values, strict=True):
            if dim.owner is None or dim.active_for & set(plugin_names(config, dim.owner)):
                OmegaConf.update(config, dim.key, value, merge=True)
        key = json.dumps(OmegaConf.to_container(config, resolve=True), sort_keys=True)
        if key not in seen:
            seen.add(key)
            configs.append(config)
    return configs


def trial_cost(config, seeds: int, sizes: list[int], rate: dict[str, float]) -> float:
    """Seconds one process alone on the GPU spends in this trial's training steps."""
    from ablate.config import resolve_model

    samples = sum(sizes) * seeds
    student = _rate(rate, resolve_model(config.model))
    if not config.distill.enabled:
        return samples * config.train.epochs / student
    teacher = _rate(rate, resolve_model(config.distill.teacher, "distill.teacher"))
    stages = config.distill.finetune_epochs
    if config.distill.loss != "none":
        stages += config.distill.feature_epochs
    return samples * (config.distill.teacher_epochs / teacher + stages / student)


@dataclass
class Trial:
    study: str
    label: str
    cost: float  # single-process seconds of training steps
    epochs: int
    folds: int
    seeds: int


def trials(runs: list, rate: dict[str, float]) -> dict[str, list[Trial]]:
    from omegaconf import OmegaConf

    from ablate.data.pipeline import scan, select_labels
    from ablate.studies.spec import load_study

    out, corpora = {}, {}
    for run in runs:
        study = load_study(ROOT / run.path, get_registry(), run.args)
        data = study.base.data
        if data.root not in corpora:
            utterances = select_labels(scan(data, get_registry()).utterances, data)
            corpora[data.root] = SimpleNamespace(
                speakers=[u.speaker for u in utterances], labels=[u.label for u in utterances]
            )
        out[run.label] = []
        for config in trial_configs(study):
            seeds = len(study.settings.seeds_for(config))
            sizes = train_sizes(config, corpora[data.root])
            epochs = config.train.epochs
            model = OmegaConf.to_container(config.model, resolve=True)
            label = _label({f"model.{k}": v for k, v in model.items()})
            if config.distill.enabled:
                label = f"distill {config.distill.loss}"
            cost = trial_cost(config, seeds, sizes, rate)
            out[run.label].append(Trial(run.label, label, cost, epochs, len(sizes), seeds))
    return out


# --- measured concurrency --------------------------------------------------------------


def calibration(store: Path, cost_of: Callable[[str, str, int, int], float | None]) -> dict:
    """Aggregate speed-up by concurrency and wall/compute ratio, from a finished run's store.

    ``cost_of(study, label, epochs, seeds)`` is the plan's cost of the same trial (same
    study and swept values) at the store's epochs and seeds, or None if the plan has none.
    """
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT r.run_uuid, e.name, r.start_time, r.end_time, m.value, s.value "
        "FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id "
        "JOIN latest_metrics m ON m.run_uuid = r.run_uuid AND m.key = 'compute_seconds' "
        "JOIN latest_metrics s ON s.run_uuid = r.run_uuid AND s.key = 'seconds' "
        "WHERE r.end_time IS NOT NULL"
    ).fetchall()
    params, seeds = {}, {}
    for run_id, key, value in db.execute("SELECT run_uuid, key, value FROM params"):
        params.setdefault(run_id, {})[key] = yaml.safe_load(value)
    for run_id, key in db.execute("SELECT run_uuid, key FROM latest_metrics"):
        if key.startswith("seed"):
            seeds.setdefault(run_id, set()).add(key.split("/")[0])
    spans = [(start, end) for _, _, start, end, _, _ in rows]
    points = []
    for run_id, study, start, end, compute, seconds in rows:
        p = params[run_id]
        if p.get("distill.enabled"):
            continue  # distillation arms wait for shared teachers: no clean rate
        name = "leak" if p.get("protocol.augment_before_split") else study
        n_seeds = len(seeds.get(run_id, ())) or 1
        match = cost_of(name, _label(p), int(p["train.epochs"]), n_seeds)
        if match is None:
            continue
        overlap = sum(max(0, min(end, e) - max(start, s)) for s, e in spans) / (end - start)
        points.append((overlap, match / compute, seconds / compute))
    db.close()
    return _fit(points)


def _label(model: dict) -> str:
    """``arm pos_encoding`` of a (resolved) model config: how plan and store trials match."""
    from ablate.config import resolve_model

    spec = resolve_model({k.removeprefix("model."): v for k, v in model.items() if _model_key(k)})
    return f"{arm_of(spec)} {spec['pos_encoding']}"


def _model_key(key: str) -> bool:
    from ablate.config import MODEL_FIELDS

    return key.removeprefix("model.") in MODEL_FIELDS and key.startswith("model.")


def _fit(points: list[tuple[float, float, float]]) -> dict:
    """Least squares of 1/r = c + a (N - 1) over the trials, r being a trial's speed against
    a lone process's (throughput-h200.json) at N trials running: an Amdahl-type law whose
    aggregate speed-up S(N) = N / (c + a (N - 1)) levels off at N / a."""
    if len(points) < 2:
        raise SystemExit("calibration: fewer than two trials of the store match this plan")
    xs = [n - 1 for n, _, _ in points]
    ys = [1 / ratio for _, ratio, _ in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    a = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    wall = sum(w for _, _, w in points) / len(points)
    return {"c": my - a * mx, "a": a, "max_n": max(n for n, _, _ in points), "wall": wall}


def measured_sharing(levels: list[dict], cal: dict) -> dict:
    """``cal`` with its sharing law refitted on ``benchmarks/concurrency.py`` levels (e.g.
    with MPS or CUDA graphs): each level's per-process speed against its one-process one."""
    one = next(lv for lv in levels if lv["procs"] == 1)["aggregate_samples_per_s"]
    points = [
        (lv["procs"], lv["aggregate_samples_per_s"] / lv["procs"] / one, cal["wall"])
        for lv in levels
    ]
    return _fit(points) | {"wall": cal["wall"]}


def speedup_at(n: float, cal: dict) -> float:
    """Aggregate speed-up of ``n`` trials at once over one lone process; no gain is assumed
    beyond the largest concurrency measured."""
    n = min(n, cal["max_n"])
    return n / (cal["c"] + cal["a"] * (n - 1))


# --- the schedule ----------------------------------------------------------------------


def simulate(runs: list, work: dict[str, list[Trial]], cal: dict) -> float:
    """Seconds until every trial is done: phases in turn; in a phase each study's workers
    take its trials in order; a running trial advances at S(N)/N of a lone process's
    speed, divided by the wall/compute ratio, N = trials running at that moment."""
    total = 0.0
    for phase in sorted({r.phase for r in runs}):
        total += PHASE_OVERHEAD_S
        queues = {r.label: [t.cost for t in work[r.label]] for r in runs if r.phase == phase}
        slots = {r.label: r.workers for r in runs if r.phase == phase}
        running: list[list] = []  # [study, remaining single-process seconds]
        clock = 0.0
        while True:
            for study, queue in queues.items():
                while queue and sum(s == study for s, _ in running) < slots[study]:
                    running.append([study, queue.pop(0)])
            if not running:
                break
            n = len(running)
            speed = speedup_at(n, cal) / n / cal["wall"]
            step = min(rest for _, rest in running) / speed
            clock += step
            for item in running:
                item[1] -= step * speed
            running = [item for item in running if item[1] > 1e-9]
        total += clock
    return total
