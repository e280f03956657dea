"""Entry point: a click group whose subcommands are imported only when invoked."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable

import click

from ablate import __version__
from ablate.errors import AblateError, debug, full_traceback
from ablate.streams import tolerant_streams


def _loaders() -> dict[str, Callable[[], click.Command]]:
    """Subcommand -> a function that imports it: only the command that runs is imported,
    which keeps ``ablate --help`` fast (no torch import)."""

    def plugins() -> click.Command:
        from ablate.cli.plugins_cmd import plugins

        return plugins

    def model() -> click.Command:
        from ablate.cli.model_cmd import model

        return model

    def data() -> click.Command:
        from ablate.cli.data_cmd import data

        return data

    def check() -> click.Command:
        from ablate.cli.check_cmd import check

        return check

    def run() -> click.Command:
        from ablate.cli.run_cmd import run

        return run

    def train() -> click.Command:
        from ablate.cli.train_cmd import train

        return train

    def evaluate() -> click.Command:
        from ablate.cli.train_cmd import evaluate

        return evaluate

    def predict() -> click.Command:
        from ablate.cli.predict_cmd import predict

        return predict

    def compare() -> click.Command:
        from ablate.cli.compare_cmd import compare

        return compare

    def plan() -> click.Command:
        from ablate.cli.plan_cmd import plan

        return plan

    def report() -> click.Command:
        from ablate.cli.report_cmd import report

        return report

    def ui() -> click.Command:
        from ablate.cli.ui_cmd import ui

        return ui

    return {
        "plugins": plugins,
        "model": model,
        "data": data,
        "check": check,
        "run": run,
        "train": train,
        "evaluate": evaluate,
        "predict": predict,
        "compare": compare,
        "plan": plan,
        "report": report,
        "ui": ui,
    }


COMMANDS = _loaders()

SHORT_HELP = {
    "plugins": "List every registered plugin component.",
    "model": "Build a model from config overrides and describe it.",
    "data": "Summarise a corpus as its adapter sees it.",
    "check": "Check a study as `ablate run` would, without training.",
    "run": "Run (or resume) a study: an Optuna sweep tracked in MLflow.",
    "train": "Train one configuration and save a model directory.",
    "evaluate": "Evaluate a saved model on a corpus.",
    "predict": "Predict the emotion of audio files with a saved model.",
    "compare": "Compare arms over test folds: intervals, paired tests, verdicts, effects.",
    "plan": "How many speakers, seeds and hours a study needs to resolve a margin.",
    "report": "Write studies' answers, figures and provenance as one HTML page.",
    "ui": "Start the MLflow UI on the tracking store.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        load = COMMANDS.get(name)
        return load() if load is not None else None

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


#: libraries whose warnings speak to their own developers ("experimental", a singular
#: axis in a one-arm plot), not to ablate's user; ABLATE_DEBUG=1 shows them
QUIET = r"(matplotlib|optuna|mlflow|alembic|sqlalchemy)(\.|$)"


def quiet_libraries() -> None:
    """Keep the listed libraries' warnings out of the terminal (unless debugging)."""
    if not debug():
        warnings.filterwarnings("ignore", module=QUIET)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; an :class:`AblateError` becomes one line on stderr and exit code 2."""
    tolerant_streams()
    quiet_libraries()
    try:
        cli.main(args=argv, prog_name="ablate", standalone_mode=False)
    except AblateError as exc:
        if debug():
            click.echo(full_traceback(exc), err=True, nl=False)
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
