"""``ablate model``: describe a model built from dotlist overrides."""

from __future__ import annotations

import json

import pytest

from ablate.cli.main import main
from ablate.cli.model_cmd import describe

TINY = ["model.dim=32", "model.heads=2", "model.dim_head=16", "model.mlp_dim=64"]


def run_json(capsys, *overrides: str) -> dict:
    main(["model", "--json", *overrides])
    return json.loads(capsys.readouterr().out)


def test_json_has_params_gflops_tokens(capsys):
    info = run_json(capsys, "model.preset=student", "model.depth=1", *TINY)
    assert {"params", "gflops", "tokens"} <= set(info)
    assert info["tokens"] == 129
    assert isinstance(info["params"], int) and info["params"] > 0
    assert info["gflops"] > 0
    assert info["input"] == [1, 128, 128]
    assert info["model"]["patching"] == "vertical"
    assert info["model"]["depth"] == 1


def test_gflops_scale_with_depth(capsys):
    one = run_json(capsys, "model.depth=1", *TINY)
    two = run_json(capsys, "model.depth=2", *TINY)
    three = run_json(capsys, "model.depth=3", *TINY)
    step = two["gflops"] - one["gflops"]
    assert step > 0
    assert three["gflops"] - two["gflops"] == pytest.approx(step, rel=1e-9)
    assert two["params"] - one["params"] == three["params"] - two["params"] > 0


def test_public_keys_change_the_model(capsys):
    info = run_json(
        capsys,
        "model.preset=teacher",
        "model.patching=square",
        "model.patching_args.size=8",
        "model.stem=none",
        "model.depth=1",
        "data.n_mels=64",
        "data.frames=96",
        *TINY,
    )
    assert info["tokens"] == (64 // 8) * (96 // 8) + 1
    assert info["model"]["pos_encoding"] == "coordinate"
    assert info["input"] == [1, 64, 96]


def test_table_output(capsys):
    main(["model", "model.depth=1", *TINY, "--classes", "4"])
    out = capsys.readouterr().out
    for label in ("model.preset", "tokens", "params", "GFLOPs / sample", "129"):
        assert label in out


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "model.patching=diagonal",
            "error: model.patching: unknown patching 'diagonal'; known: conv_tokens, horizontal,",
        ),
        ("model.depht=2", "model.depht"),
        ("model.stem_args.size=3", "model.stem_args.size: stem 'none' has no parameter 'size'"),
        ("model.patching=square", "set pad=true"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(capsys, override, message):
    args = [override, "data.frames=200"] if "square" in override else [override]
    with pytest.raises(SystemExit) as info:
        main(["model", "--json", *args])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert message in err
    assert err.count("\n") == 1


def test_describe_cnn_preset():
    info = describe(("model.preset=cnn",))
    assert info["tokens"] == 0
    assert info["params"] > 0
    assert info["gflops"] > 0
