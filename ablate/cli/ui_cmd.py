"""``ablate ui``: the MLflow UI (and the Optuna dashboard, if installed) on the study stores.

Binds to 127.0.0.1 unless ``--host`` says otherwise: a tracking store holds configs, git
commits and model weights, which should not be served to the network by accident.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import click

from ablate.cli.ports import owns_port, port_in_use
from ablate.cli.servers import STOPS, Interrupt, start, stop
from ablate.errors import AblateError

DEFAULT_HOST = "127.0.0.1"
#: seconds to wait for the MLflow server to answer before giving up
START_TIMEOUT_S = 120.0


def _server_command(tracking_uri: str, host: str, port: int, access_log: bool = False) -> list[str]:
    """MLflow's server on the store; its uvicorn logs no line per request unless
    ``access_log`` (one visit of a few pages logged hundreds, scrolling the links away)."""
    from ablate.tracking.mlflow_store import absolute_uri

    argv = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", absolute_uri(tracking_uri),
        "--host", host, "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    return argv if access_log else [*argv, "--uvicorn-opts", "--no-access-log"]


def _dashboard_command(
    storage: str, host: str, port: int, access_log: bool = False
) -> list[str] | None:
    """optuna-dashboard on ``storage`` when the package is installed, else None; quiet
    (no line per request) unless ``access_log``."""
    if importlib.util.find_spec("optuna_dashboard") is None:
        return None
    # the package has no __main__: its console script's function, run by this Python
    code = (
        "import sys; from optuna_dashboard._cli import main; "
        "sys.argv[0] = 'optuna-dashboard'; main()"
    )
    argv = [sys.executable, "-c", code, storage, "--host", host, "--port", str(port)]
    return argv if access_log else [*argv, "--quiet"]


def _default_storage() -> str | None:
    """The study storage when exactly one ``runs/*/optuna.db`` exists here."""
    found = sorted(Path("runs").glob("*/optuna.db"))
    return f"sqlite:///{found[0].resolve()}" if len(found) == 1 else None


def server_folder(tracking_uri: str) -> Path | None:
    """Where the MLflow server runs: a SQLite store's folder, so that a relative artifact
    location (a committed store's ``<store>-artifacts/``) is found beside the store."""
    from ablate.tracking.mlflow_store import absolute_uri
    from ablate.tracking.sqlite_store import sqlite_path

    path = sqlite_path(absolute_uri(tracking_uri))
    return Path(path).parent if path is not None else None


def _wait_ready(
    url: str, proc: subprocess.Popen, port: int, timeout: float, log: str = "see above"
) -> None:
    """Until the server answers ``/health`` on ``port``, and it is ours that answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AblateError(
                f"the MLflow server exited with {proc.returncode} before answering at {url} "
                f"({log}; is port {port} taken?)"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200 and owns_port(proc.pid, port) is not False:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AblateError(f"the MLflow server did not answer at {url} within {timeout:.0f} s")


def study_links(store, url: str) -> list[tuple[str, str]]:
    """(question, the URL of its runs) for each question of each experiment
    (:mod:`ablate.tracking.questions`): an experiment of one question is named alone, the
    questions of an experiment holding several by their study keys."""
    from ablate.tracking.questions import questions
    from ablate.tracking.views import VIEW_KEY, VIEW_PREFIX, VIEW_TAG, runs_url

    links = []
    for experiment in store.client.search_experiments():
        asked = questions(store, experiment.experiment_id)
        for question in asked:
            view = question.id if f"{VIEW_PREFIX}{question.id}" in experiment.tags else None
            if view is None and VIEW_TAG in experiment.tags and len(asked) == 1:
                view = VIEW_KEY
            name = experiment.name
            if len(asked) > 1:
                name += f" [{' + '.join(question.keys)}]"
            links.append((name, runs_url(url, experiment.experiment_id, view)))
    return links


def _browser_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host


@click.command(
    epilog="Example: ablate ui --port 5000 --tracking-uri sqlite:///mlflow.db\n\n"
    "Then open the printed URL; Ctrl-C stops the servers. Use --host 0.0.0.0 only on a "
    "trusted network: the store holds configs, commits and model weights.",
)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Interface to bind; 127.0.0.1 keeps the UI on this machine.",
)
@click.option("--tracking-uri", default="sqlite:///mlflow.db", show_default=True)
@click.option(
    "--storage",
    help="Optuna storage for optuna-dashboard (if installed); default: the only "
    "runs/*/optuna.db here. It listens on --port + 1.",
)
@click.option(
    "--optuna",
    is_flag=True,
    help="Also serve optuna-dashboard on the study storage (pip install optuna-dashboard); "
    "without the flag it starts only when installed and a storage is found.",
)
@click.option(
    "--access-log", is_flag=True, help="Let the MLflow server log every request it serves."
)
def ui(
    port: int, host: str, tracking_uri: str, storage: str | None, optuna: bool, access_log: bool
) -> None:
    """Start the MLflow UI on the tracking store and print its URL; run until Ctrl-C."""
    from ablate.tracking.mlflow_store import Store

    if optuna:
        storage = storage or _default_storage()
        if importlib.util.find_spec("optuna_dashboard") is None:
            raise AblateError(
                "--optuna: optuna-dashboard is not installed; pip install optuna-dashboard"
            )
        if storage is None:
            raise AblateError(
                "--optuna: no study storage here (runs/*/optuna.db); pass --storage URL"
            )

    if tracking_uri.split(":", 1)[0].lower() in ("http", "https"):
        # `mlflow server` cannot serve another server (it printed a traceback, then
        # blamed the port)
        raise AblateError(
            f"--tracking-uri {tracking_uri}: a tracking server serves its own UI; open "
            f"{tracking_uri} in a browser (ablate ui serves a store: sqlite:///FILE, a "
            "folder or a database URI)"
        )
    busy = port_in_use(host, port)
    if busy:
        raise AblateError(
            f"--port {port}: cannot listen on {host}:{port} ({busy}); stop what holds it "
            "or pick another --port"
        )
    store = Store(tracking_uri, create=False)  # missing or unreachable: one line, now
    interrupt = Interrupt()
    for signum in STOPS:  # started in the background, SIGINT is ignored: it stops us too
        signal.signal(signum, interrupt)
    url = f"http://{_browser_host(host)}:{port}"
    server = _server_command(tracking_uri, host, port, access_log)
    # the servers' own start-up lines and warnings go to a log file, unless --access-log;
    # it is kept when they fail, for the error to point at
    log_path = None if access_log else _log_file()
    where = "see above" if log_path is None else f"its output: {log_path}"
    failed = False
    with open(log_path or os.devnull, "w") as log_file:
        log = log_file if log_path else None
        procs: list[subprocess.Popen] = []
        try:
            with interrupt.holding():
                start(server, procs, server_folder(tracking_uri), log)
            _wait_ready(url, procs[0], port, START_TIMEOUT_S, where)
            _announce(store, url, tracking_uri)
            storage = storage or _default_storage()
            dashboard = _dashboard_command(storage, host, port + 1, access_log) if storage else None
            if dashboard and port_in_use(host, port + 1):
                click.echo(f"Optuna dashboard not started: port {port + 1} is in use")
                dashboard = None
            if dashboard:
                with interrupt.holding():
                    start(dashboard, procs, None, log)
                board = f"http://{_browser_host(host)}:{port + 1}"
                click.echo(f"Optuna dashboard: {board}  ({storage})")
            click.echo("Ctrl-C stops.", nl=True)
            while procs[0].poll() is None:
                time.sleep(0.5)
            raise AblateError(f"the MLflow server exited with {procs[0].returncode} ({where})")
        except KeyboardInterrupt:
            click.echo("stopped")
        except AblateError:
            failed = True
            raise
        finally:
            interrupt.asked = True  # from here on a signal waits for the servers to stop
            for proc in procs:
                stop(proc)
            if log_path is not None and not failed:
                log_path.unlink(missing_ok=True)


def _log_file() -> Path:
    handle, name = tempfile.mkstemp(prefix="ablate-ui-", suffix=".log")
    os.close(handle)
    return Path(name)


def _announce(store, url: str, tracking_uri: str) -> None:
    """The UI's address and one link per question, each on a line of its own."""
    click.echo(f"MLflow UI: {url}  (tracking store {tracking_uri})")
    for name, link in study_links(store, url):
        click.echo(f"  {name}: {link}")
