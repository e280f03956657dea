"""``ablate model``: build a model from config overrides; count tokens, params, GFLOPs."""

from __future__ import annotations

import click
from omegaconf import OmegaConf
from rich.table import Table

from ablate.cli.output import console, print_json
from ablate.config import MODEL_SECTIONS, make_config
from ablate.data.inputs import input_shape
from ablate.models.build import build_model, token_count
from ablate.models.flops import forward_flops, parameter_count
from ablate.plugins import get_registry
from ablate.ranges import check_ranges
from ablate.slots import used


def describe(overrides: tuple[str, ...], num_classes: int = 7) -> dict:
    """Token count, trainable parameters and counted forward GFLOPs per sample, and the
    package (and version) behind each plugin; building the model runs every plugin once
    and checks its output against its contract."""
    registry = get_registry()
    config = make_config(dotlist=overrides)
    check_ranges(config)
    n_mels, frames = input_shape(config.data)
    model = build_model(config.model, n_mels, frames, num_classes, registry)
    plugins = used(config, registry, sections=MODEL_SECTIONS[:1])
    return {
        "model": OmegaConf.to_container(config.model, resolve=True),
        "plugins": {
            u.where: {
                "name": u.component.name,
                "package": u.component.package,
                "version": u.component.version,
                "args": u.args,
            }
            for u in plugins
        },
        "input": [1, n_mels, frames],
        "num_classes": num_classes,
        "tokens": token_count(model),
        "params": parameter_count(model),
        "gflops": forward_flops(model, n_mels, frames) / 1e9,
    }


@click.command(
    epilog="Example: ablate model model.preset=teacher model.patching=square data.frames=256"
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option(
    "--classes",
    default=7,
    show_default=True,
    type=click.IntRange(min=1),
    help="Number of output classes.",
)
@click.argument("overrides", nargs=-1)
def model(as_json: bool, classes: int, overrides: tuple[str, ...]) -> None:
    """Build a model from defaults plus KEY=VALUE overrides and describe it.

    \b
    Keys: model.preset (teacher, student, cnn, linear), model.patching, model.pos_encoding,
    model.stem, each with model.<kind>_args.<param> (see `ablate plugins`),
    model.dim, model.depth, model.heads, model.dim_head, model.mlp_dim, model.dropout,
    model.emb_dropout (unset ones come from the preset), data.n_mels, data.frames.
    GFLOPs are counted per sample with torch.utils.flop_counter.
    """
    info = describe(overrides, classes)
    if as_json:
        print_json(info)
        return
    table = Table(title="model", show_header=False)
    plugins = info["plugins"]
    for key, value in info["model"].items():
        where = f"model.{key}"
        if where in plugins:
            plugin = plugins[where]
            args = ", ".join(f"{k}={v}" for k, v in plugin["args"].items())
            table.add_row(where, f"{value} ({plugin['package']} {plugin['version']})")
            if args:
                table.add_row(f"{where}_args", args)
        elif value not in (None, {}) and not key.endswith("_args"):
            table.add_row(where, str(value))
    table.add_row("input", " x ".join(map(str, info["input"])))
    table.add_row("tokens", str(info["tokens"]))
    table.add_row("params", f"{info['params']:,}")
    table.add_row("GFLOPs / sample", f"{info['gflops']:.3f}")
    console.print(table)
