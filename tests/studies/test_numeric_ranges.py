"""Every numeric key refuses NaN, infinities and out-of-range values before anything runs:
in config files, ``KEY=VALUE`` overrides, space ranges, ``optuna:`` settings, and in each
command that reads a config (`ablate run`, `train`, `model`, `data`). `train.lr=nan`
used to pass every check (comparisons with NaN are false) and fail every trial."""

from __future__ import annotations

import dataclasses
import math
import types
import typing

import pytest
from study_helpers import study_error

from ablate.cli.main import main
from ablate.config import Config
from ablate.config import make_config as make
from ablate.errors import AblateError
from ablate.plugins import get_registry
from ablate.ranges import INT_LIMIT, RANGES, check_ranges
from ablate.studies.spec import Settings, load_study

SPACE = "space:\n  model.pos_encoding: {choice: [coordinate, none]}\n"


def _numeric_fields(cls: type, prefix: str = "") -> dict[str, type]:
    """``{dotted key: int or float}`` for every numeric field under the dataclass ``cls``."""
    found = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            found.update(_numeric_fields(kind, f"{prefix}{f.name}."))
            continue
        if isinstance(kind, types.UnionType):  # ``int | None``
            kind = next((a for a in typing.get_args(kind) if a is not type(None)), None)
        if kind in (int, float):
            found[f"{prefix}{f.name}"] = kind
    return found


NUMERIC = _numeric_fields(Config)


def test_every_numeric_config_key_has_a_range():
    assert len(NUMERIC) > 40  # the walk found the sections, distill.teacher included
    assert "distill.teacher.mlp_dim" in NUMERIC and "data.win_length" in NUMERIC
    assert sorted(set(NUMERIC) - set(RANGES)) == []


def _bad_values(key: str, kind: type) -> list[str]:
    low, high, inclusive = RANGES[key]
    values = ["nan", "inf", "-inf", str(low - 1 if inclusive else low)]
    if high != math.inf:
        values.append(str(high))
    if kind is int:
        values.append(str(INT_LIMIT))
    return values


CASES = [(key, value) for key, kind in NUMERIC.items() for value in _bad_values(key, kind)]


@pytest.mark.parametrize(("key", "value"), CASES, ids=[f"{k}={v}" for k, v in CASES])
def test_a_bad_numeric_value_is_one_line_naming_its_key(key, value):
    with pytest.raises(AblateError) as caught:
        check_ranges(make(dotlist=[f"{key}={value}"]))
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert message.removeprefix("config: ").startswith(f"{key}: "), message


def test_large_finite_floats_and_the_ends_of_each_range_pass():
    """A diverging lr of 1e30 is a legitimate arm (tests/studies/test_run.py sweeps one)."""
    check_ranges(make(dotlist=["train.lr=1e30", "train.seed=4294967295", "model.dropout=0"]))


def test_the_optuna_settings_are_walked_too():
    numeric = {f.name for f in dataclasses.fields(Settings) if "int" in str(f.type)}
    assert numeric == {"n_trials", "sampler_seed", "seeds"}


# (case, study file or overrides, the one-line error after "error: study.yaml: ")
STUDIES = [
    ("nan lr in the file", "train: {lr: .nan}\n" + SPACE, (),
     "train.lr: nan is not a finite number (must be > 0)"),
    ("'nan' lr in the file", "train: {lr: nan}\n" + SPACE, (),
     "train.lr: nan is not a finite number (must be > 0)"),
    ("inf lr as an override", SPACE, ("train.lr=inf",),
     "train.lr: inf is not a finite number (must be > 0)"),
    ("nan lr as an override", SPACE, ("train.lr=nan",),
     "train.lr: nan is not a finite number (must be > 0)"),
    ("a batch size beyond int64", "train: {batch_size: 100000000000000000000}\n" + SPACE, (),
     "train.batch_size: 100000000000000000000 is out of range "
     "(must be >= 1 and < 2**63, the int64 torch takes)"),
    ("hop length 0", SPACE, ("data.hop_length=0",),
     "data.hop_length: 0 is out of range (must be >= 1)"),
    ("negative n_fft", SPACE, ("data.n_fft=-1",), "data.n_fft: -1 is out of range (must be >= 2)"),
    ("negative mlp_dim", "model: {mlp_dim: -5}\n" + SPACE, (),
     "model.mlp_dim: -5 is out of range (must be >= 1)"),
    ("a teacher's dropout", "distill: {teacher: {dropout: .nan}}\n" + SPACE, (),
     "distill.teacher.dropout: nan is not a finite number (must be >= 0 and < 1)"),
    ("negative sampler seed", SPACE + "optuna: {sampler_seed: -1}\n", (),
     "optuna.sampler_seed: -1 is out of range (must be >= 0 and < 4294967296)"),
    ("negative sampler seed as an override", SPACE, ("optuna.sampler_seed=-1",),
     "optuna.sampler_seed: -1 is out of range (must be >= 0 and < 4294967296)"),
    ("a seed beyond 32 bits", SPACE + "optuna: {seeds: [0, 4294967296]}\n", (),
     "optuna.seeds: 4294967296 is out of range (must be >= 0 and < 4294967296)"),
    ("nan at the low end of a float range",
     "space:\n  train.lr: {float: [.nan, 1.0e-3]}\noptuna: {sampler: tpe, n_trials: 2}\n", (),
     "space.train.lr: float needs [low, high] as finite floats, got [nan, 0.001]"),
    ("inf at the high end of a float range",
     "space:\n  train.lr: {float: [1.0e-4, .inf]}\noptuna: {sampler: random, n_trials: 2}\n", (),
     "space.train.lr: float needs [low, high] as finite floats, got [0.0001, inf]"),
    ("nan as a step", "space:\n  train.lr: {float: [0.1, 0.2], step: .nan}\n"
     "optuna: {sampler: random, n_trials: 2}\n", (),
     "space.train.lr: step must be a positive float, got nan"),
    ("nan among choices", "space:\n  model.dropout: {choice: [0.1, .nan]}\n", (),
     "space.model.dropout: nan is not a finite number (must be >= 0 and < 1)"),
    ("a plugin parameter nan", "model: {stem: conv}\n"
     "space:\n  model.stem_args.width: {choice: [1.0, .nan]}\n", (),
     "space.model.stem_args.width: expected a finite float, got nan"),
    ("an int range beyond int64", "space:\n  train.epochs: {int: [1, 100000000000000000000]}\n"
     "optuna: {sampler: random, n_trials: 2}\n", (),
     "space.train.epochs: 100000000000000000000 is out of range "
     "(must be >= 0 and < 2**63, the int64 torch takes)"),
    ("a grid too large to list", "space:\n  train.epochs: {int: [1, 1000000000]}\n", (),
     "space: the grid has 1000000000 points (more than 100000); sweep fewer values, or use "
     "optuna.sampler random or tpe with optuna.n_trials"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "overrides", "message"), [c[1:] for c in STUDIES], ids=[c[0] for c in STUDIES]
)
def test_ablate_run_refuses_bad_numbers_before_anything_runs(
    tmp_path, capsys, text, overrides, message
):
    err = study_error(tmp_path, "name: t\n" + text, capsys, *overrides)
    assert err == f"error: study.yaml: {message}\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["model", "model.mlp_dim=-5"], "model.mlp_dim: -5 is out of range (must be >= 1)"),
        (["model", "data.hop_length=0"], "data.hop_length: 0 is out of range (must be >= 1)"),
        (["model", "model.dropout=nan"], "model.dropout: nan is not a finite number"),
        (["data", "synthetic", "data.f_min=nan"], "data.f_min: nan is not a finite number"),
        (["data", "synthetic", "data.sample_rate=1"], "data.sample_rate: 1 is out of range"),
    ],
    ids=["model mlp_dim", "model hop_length", "model dropout", "data f_min", "data rate"],
)
def test_other_commands_refuse_them_too(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and len(err.splitlines()) == 1, err


def test_ablate_train_refuses_a_nan_dropout_before_loading_data(tmp_path, capsys):
    """It was a ValueError traceback from the dropout module."""
    config = tmp_path / "c.yaml"
    config.write_text("train: {epochs: 1}\n")
    with pytest.raises(SystemExit) as caught:
        main(["train", str(config), "model.dropout=nan", "--out", str(tmp_path / "m")])
    assert caught.value.code == 2
    assert capsys.readouterr().err == (
        f"error: {config}: model.dropout: nan is not a finite number (must be >= 0 and < 1)\n"
    )
    assert not (tmp_path / "m").exists()


def test_ablate_train_refuses_a_nan_validation_fraction(tmp_path, capsys):
    """click's FloatRange lets NaN through (its comparisons are false): a traceback."""
    config = tmp_path / "c.yaml"
    config.write_text("train: {epochs: 1}\n")
    with pytest.raises(SystemExit) as caught:
        main(["train", str(config), "--val-fraction", "nan", "--out", str(tmp_path / "m")])
    assert caught.value.code == 2
    assert capsys.readouterr().err == (
        "error: --val-fraction: nan is not a finite number (must be >= 0 and < 1)\n"
    )


def test_a_swept_value_is_checked_against_the_others(tmp_path):
    """Each swept value meets the base config's other keys (Mel bands within FFT bins)."""
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nspace:\n  data.n_fft: {choice: [1024, 128]}\n")
    with pytest.raises(AblateError, match=r"space\.data\.n_mels: 128 is more than the 65 FFT"):
        load_study(path, registry=get_registry())
