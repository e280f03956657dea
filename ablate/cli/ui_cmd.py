"""``ablate ui``: the MLflow UI (and the Optuna dashboard, if installed) on the study stores.

Binds to 127.0.0.1 unless ``--host`` says otherwise: a tracking store holds configs, git
commits and model weights, which should not be served to the network by accident.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import click

from ablate.errors import AblateError

DEFAULT_HOST = "127.0.0.1"
#: seconds to wait for the MLflow server to answer before giving up
START_TIMEOUT_S = 120.0


def _server_command(tracking_uri: str, host: str, port: int) -> list[str]:
    from ablate.tracking.mlflow_store import absolute_uri

    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", absolute_uri(tracking_uri),
        "--host", host, "--port", str(port), "--workers", "1",
    ]  # fmt: skip


def _dashboard_command(storage: str, host: str, port: int) -> list[str] | None:
    """optuna-dashboard on ``storage`` when the package is installed, else None."""
    if importlib.util.find_spec("optuna_dashboard") is None:
        return None
    # the package has no __main__: its console script's function, run by this Python
    code = (
        "import sys; from optuna_dashboard._cli import main; "
        "sys.argv[0] = 'optuna-dashboard'; main()"
    )
    return [sys.executable, "-c", code, storage, "--host", host, "--port", str(port)]


def _default_storage() -> str | None:
    """The study storage when exactly one ``runs/*/optuna.db`` exists here."""
    found = sorted(Path("runs").glob("*/optuna.db"))
    return f"sqlite:///{found[0].resolve()}" if len(found) == 1 else None


#: what stops `ablate ui`: Ctrl-C, `kill` or a service manager, a closed terminal
STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _start(argv: list[str], procs: list[subprocess.Popen], cwd: Path | None = None) -> None:
    """Start a server in a session of its own (its workers are stopped with it, as one
    group) and add it to ``procs``, where it is stopped from."""
    procs.append(subprocess.Popen(argv, start_new_session=True, cwd=cwd))


def server_folder(tracking_uri: str) -> Path | None:
    """Where the MLflow server runs: a SQLite store's folder, so that a relative artifact
    location (a committed store's ``<store>-artifacts/``) is found beside the store."""
    from ablate.tracking.mlflow_store import absolute_uri
    from ablate.tracking.sqlite_store import sqlite_path

    path = sqlite_path(absolute_uri(tracking_uri))
    return Path(path).parent if path is not None else None


def _session(sid: int) -> list[int]:
    """The processes of session ``sid`` (Linux /proc; none found elsewhere)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else []):
        with contextlib.suppress(OSError):
            if os.getsid(int(pid)) == sid:
                found.append(int(pid))
    return found


def _stop(proc: subprocess.Popen) -> None:
    """Stop a server and every process of its session (one that left the server's group
    included), politely first."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for pid in _session(proc.pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def port_in_use(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on now (``strerror``), or None when it can;
    an unknown host is a one-line error.

    Binds as the server will (``SO_REUSEADDR``), so a port left in TIME_WAIT counts as
    free and only a listening socket, on this address or on all of them, counts as taken.
    """
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise AblateError(f"--host {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on ``port`` (Linux /proc/net/tcp and tcp6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def owns_port(session: int, port: int) -> bool | None:
    """Whether a process of ``session`` (the server's own session) listens on ``port``;
    None where /proc cannot tell (not Linux)."""
    if not os.path.isdir("/proc/self/fd"):
        return None
    inodes = _listening_inodes(port)
    for pid in _session(session):
        with contextlib.suppress(OSError):  # the process ended, or is not ours to inspect
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return True
    return False


def _wait_ready(url: str, proc: subprocess.Popen, port: int, timeout: float) -> None:
    """Until the server answers ``/health`` on ``port``, and it is ours that answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AblateError(
                f"the MLflow server exited with {proc.returncode} before answering at {url} "
                f"(see above; is port {port} taken?)"
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
    """(experiment name, the URL of its runs, ranked) for each experiment holding a study."""
    from ablate.tracking.views import VIEW_TAG, runs_url

    experiments = store.client.search_experiments()
    studies = {
        run.info.experiment_id for run in store.parents([e.experiment_id for e in experiments])
    }
    links = []
    for experiment in experiments:
        if experiment.experiment_id in studies:
            link = runs_url(url, experiment.experiment_id, VIEW_TAG in experiment.tags)
            links.append((experiment.name, link))
    return links


class _Interrupt:
    """A stop signal as ``KeyboardInterrupt``, once: not while ``held`` (a server being
    started and registered, raised as soon as it is), and never again once stopping (a
    second signal must not cut short the stopping of the servers)."""

    def __init__(self) -> None:
        self.asked = self.held = self.pending = False

    def __call__(self, signum: int, frame: object) -> None:
        if self.held:
            self.pending = True
        elif not self.asked:
            self.asked = True
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        self.held = True
        try:
            yield
        finally:
            self.held = False
        if self.pending:
            self.pending = False
            self(signal.SIGTERM, None)


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
def ui(port: int, host: str, tracking_uri: str, storage: str | None, optuna: bool) -> None:
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

    busy = port_in_use(host, port)
    if busy:
        raise AblateError(
            f"--port {port}: cannot listen on {host}:{port} ({busy}); stop what holds it "
            "or pick another --port"
        )
    store = Store(tracking_uri)  # a missing or unreachable store is a one-line error now
    interrupt = _Interrupt()
    for signum in STOPS:  # started in the background, SIGINT is ignored: it stops us too
        signal.signal(signum, interrupt)
    url = f"http://{_browser_host(host)}:{port}"
    procs: list[subprocess.Popen] = []
    try:
        with interrupt.holding():
            _start(_server_command(tracking_uri, host, port), procs, server_folder(tracking_uri))
        _wait_ready(url, procs[0], port, START_TIMEOUT_S)
        click.echo(f"MLflow UI: {url}  (tracking store {tracking_uri})")
        for name, link in study_links(store, url):
            click.echo(f"  {name}: {link}")
        storage = storage or _default_storage()
        dashboard = _dashboard_command(storage, host, port + 1) if storage else None
        if dashboard and port_in_use(host, port + 1):
            click.echo(f"Optuna dashboard not started: port {port + 1} is in use")
            dashboard = None
        if dashboard:
            with interrupt.holding():
                _start(dashboard, procs)
            click.echo(f"Optuna dashboard: http://{_browser_host(host)}:{port + 1}  ({storage})")
        click.echo("Ctrl-C stops.", nl=True)
        while procs[0].poll() is None:
            time.sleep(0.5)
        raise AblateError(f"the MLflow server exited with {procs[0].returncode}")
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        interrupt.asked = True  # from here on a signal waits for the servers to stop
        for proc in procs:
            _stop(proc)
