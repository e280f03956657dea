"""Entry point: a click group whose subcommands are imported only when invoked."""

from __future__ import annotations

import importlib
import sys

import click

from ablate import __version__
from ablate.errors import AblateError

#: subcommand -> "module:attribute"; keeps ``ablate --help`` fast (no torch import).
COMMANDS = {
    "plugins": "ablate.cli.plugins_cmd:plugins",
    "model": "ablate.cli.model_cmd:model",
    "data": "ablate.cli.data_cmd:data",
    "run": "ablate.cli.run_cmd:run",
    "train": "ablate.cli.train_cmd:train",
    "evaluate": "ablate.cli.train_cmd:evaluate",
    "predict": "ablate.cli.train_cmd:predict",
    "compare": "ablate.cli.compare_cmd:compare",
    "plan": "ablate.cli.plan_cmd:plan",
    "ui": "ablate.cli.ui_cmd:ui",
}

SHORT_HELP = {
    "plugins": "List every registered plugin component.",
    "model": "Build a model from config overrides and describe it.",
    "data": "Summarise a corpus as its adapter sees it.",
    "run": "Run (or resume) a study: an Optuna sweep tracked in MLflow.",
    "train": "Train one configuration and save a model directory.",
    "evaluate": "Evaluate a saved model on a corpus.",
    "predict": "Predict the emotion of audio files with a saved model.",
    "compare": "Compare arms over test folds: intervals, paired tests, verdicts, effects.",
    "plan": "How many speakers, seeds and hours a study needs to resolve a margin.",
    "ui": "Start the MLflow UI on the tracking store.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, SHORT_HELP[name]) for name in COMMANDS])


@click.group(
    cls=LazyGroup,
    epilog="Example: ablate run studies/pe_vs_coord.yaml train.epochs=5",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="ablate")
def cli() -> None:
    """ablate: sweep the design choices of a spectrogram ViT for speech emotion recognition."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; an :class:`AblateError` becomes one line on stderr and exit code 2."""
    try:
        cli.main(args=argv, prog_name="ablate", standalone_mode=False)
    except AblateError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, EOFError):
            # click turns any EOFError into Abort; only Ctrl-C (or Ctrl-D at a prompt) is
            # an interruption; an EOFError from a truncated file is a failure, not exit 130
            raise exc.__cause__ from None
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
