"""`ablate ui` as a person uses it: after a tiny study, start it on a free loopback port, open
the pages in headless Chromium and look for the study's runs and their pos_encoding param.
The MLflow REST API served by the same server is checked too. Bounded waits; the servers
are always stopped."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from browser import assistant_open, close_assistant, headless, wait_text
from mlflow import MlflowClient
from study_helpers import (
    TINY,
    _ablate,
    _children,
    _cli,
    _study,
    child_pids,
    free_port,
    fresh_mlflow,
    lines_of,
)


def _wait_line(lines: queue.Queue, prefix: str, timeout: float, seen: list | None = None) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if seen is not None:
            seen.append(line)
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"no line starting with {prefix!r} within {timeout:.0f} s")


def _drain(lines: queue.Queue) -> list[str]:
    found = []
    while not lines.empty():
        found.append(lines.get())
    return found


def _listening(port: int) -> set[str]:
    """Local addresses listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


def _kill_servers_on(port: int) -> None:
    """Fallback cleanup: the mlflow server processes this test started for ``port``."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
            if b"mlflow" in b" ".join(argv) and str(port).encode() in argv:
                os.kill(int(pid), signal.SIGKILL)


def _api(url: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def ui(tmp_path_factory, mlflow_template):
    """A two-trial study on two folds (so each arm has an interval), then `ablate ui` on a
    free port; stopped with Ctrl-C at the end."""
    tmp = tmp_path_factory.mktemp("ui")
    fresh_mlflow(mlflow_template, tmp)
    with contextlib.chdir(tmp):
        _cli(["run", _study(tmp), *TINY, "protocol.max_folds=2", "--n-trials", 2])
    _, parents, children = _children(tmp)
    port = free_port()
    proc = _ablate(
        ["ui", "--port", port, "--tracking-uri", "sqlite:///mlflow.db"],
        tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    state = {"tmp": tmp, "port": port, "parent": parents[0], "children": children}
    try:
        lines = lines_of(proc.stdout)
        state["printed"] = []
        state["line"] = _wait_line(lines, "MLflow UI:", 180, state["printed"])
        state["study_line"] = _wait_line(lines, "  tiny: ", 30, state["printed"])
        state["lines"] = lines
        yield state
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        _kill_servers_on(port)
    assert proc.returncode == 0
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # the server stopped with it


def test_ui_prints_its_url_listens_on_loopback_and_serves_the_study(ui):
    url = f"http://127.0.0.1:{ui['port']}"
    assert ui["line"] == f"MLflow UI: {url}  (tracking store sqlite:///mlflow.db)"
    assert _listening(ui["port"]) == {"0100007F"}  # 127.0.0.1 only, not every interface
    # the REST API behind the UI pages has the study's runs and their swept param
    experiment = _api(url, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=tiny")
    experiment_id = experiment["experiment"]["experiment_id"]
    runs = _api(url, "/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment_id]})
    names = {r["info"]["run_name"] for r in runs["runs"]}
    assert {ui["parent"].info.run_name} | {c.info.run_name for c in ui["children"]} <= names
    child = ui["children"][0]
    params = {
        p["key"]: p["value"]
        for r in runs["runs"]
        if r["info"]["run_id"] == child.info.run_id
        for p in r["data"].get("params", [])
    }
    assert params["model.pos_encoding"] == child.data.params["model.pos_encoding"]
    assert re.fullmatch(
        f"tiny: {re.escape(url)}/#/experiments/{experiment_id}/runs"
        r"\?workflowType=machine_learning&viewStateShareKey=q[0-9a-f]{8}",
        ui["study_line"],
    )


def test_the_server_logs_no_request_unless_asked(ui):
    """uvicorn logged every request (426 lines in one visit of a few pages), scrolling the
    links away; the server's start-up lines went to the terminal too."""
    url = f"http://127.0.0.1:{ui['port']}"
    for _ in range(3):
        _api(url, "/api/2.0/mlflow/experiments/search", {"max_results": 10})
    time.sleep(1)
    printed = [*ui["printed"], *_drain(ui["lines"])]
    assert not [line for line in printed if "POST /api" in line or "GET /" in line], printed
    assert not [line for line in printed if "INFO" in line or "Warning" in line], printed
    from ablate.cli.ui_cmd import _server_command

    argv = _server_command("sqlite:///mlflow.db", "127.0.0.1", 5000)
    assert argv[-2:] == ["--uvicorn-opts", "--no-access-log"]
    assert "--uvicorn-opts" not in _server_command("sqlite:///m.db", "127.0.0.1", 5000, True)


# ~60 s: four page loads in headless Chromium (not "slow": CI must run it)
def test_a_browser_sees_the_answer_without_a_click(ui):
    """The study link opens the classic runs table (not MLflow 3's empty GenAI traces page):
    the study run first, then its trials in the answer's order, named by arm, the numbers
    to three decimals; the study run's description is the ranked table; a trial's
    confusion matrix image loads. A fresh browser opens MLflow's Assistant over the page;
    with its flag set it stays closed."""
    parent, children = ui["parent"], ui["children"]
    link = ui["study_line"].split(": ", 1)[1]
    base = link.split("/#/")[0]
    driver = headless()
    try:
        driver.get(link)
        wait_text(driver, r"(?s)matching runs")
        assert assistant_open(driver)  # what a first visit shows, docs/ui.md says so
        close_assistant(driver, base)
        driver.get(link)
        # the rows, then their columns: each renders when its data arrives
        text = wait_text(driver, r"(?s)(?=.*[1-9]\d* matching runs)(?=.*test UA)")
        assert not assistant_open(driver)
        assert "/runs" in driver.current_url and "Traces" not in driver.title
        assert "3 matching runs" in text, text  # the study and its 2 trials, not the fold runs
        top, answer = _answer(ui)
        name = _client(ui).get_run(parent.info.run_id).info.run_name
        assert name.startswith(parent.data.tags["ablate.study_key"]) and f" {top} " in name
        table = text[text.index("Run Name") :]  # below the description's answer line
        for child in children:  # named by arm, below the study run
            assert child.info.run_name.startswith("pos_encoding=")
            assert table.index(name) < table.index(child.info.run_name)
        assert re.search(r"\n0\.\d{3} \[0\.\d{3}, [01]\.\d{3}\]\n", text), text  # 3 decimals
        assert not re.search(r"\d\.\d{7,}", text)  # no 12-digit metric shown
        run_page = f"{link.split('/runs?')[0]}/runs/{parent.info.run_id}"
        driver.get(run_page + "?workflowType=machine_learning")
        text = wait_text(driver, r"(?s)(?=.*Description)(?=.*verdict)")
        assert answer in text  # "no arm differs detectably (MDE ...); top estimate ..."
        assert "test_uar [95% CI]" in text and "verdict" in text  # the ranked table
        child = children[0]
        artifacts = f"{link.split('/runs?')[0]}/runs/{child.info.run_id}/artifacts/confusion.png"
        driver.get(artifacts + "?workflowType=machine_learning")
        deadline = time.monotonic() + 90
        loaded = 0
        while time.monotonic() < deadline and not loaded:
            loaded = driver.execute_script(  # the artifact, fetched and shown as a blob
                "return Math.max(0, ...Array.from(document.images)"
                ".filter(i => i.complete && i.src.startsWith('blob:')).map(i => i.naturalWidth))"
            )
            time.sleep(0.5)
        assert loaded > 300  # the matrix, drawn at 100 dpi, not an icon
    finally:
        driver.quit()


def _client(ui) -> MlflowClient:
    return MlflowClient(f"sqlite:///{ui['tmp'] / 'mlflow.db'}")


def _answer(ui) -> tuple[str, str]:
    """The study run's top arm and answer line, as the study left them."""
    tags = _client(ui).get_run(ui["parent"].info.run_id).data.tags
    return tags["ablate.top_arm"], tags["ablate.answer"]


def test_ui_binds_to_loopback_unless_told_otherwise():
    from click.testing import CliRunner

    from ablate.cli.ui_cmd import DEFAULT_HOST, _server_command
    from ablate.cli.ui_cmd import ui as ui_command

    assert DEFAULT_HOST == "127.0.0.1"
    host = next(p for p in ui_command.params if p.name == "host")
    assert host.default == "127.0.0.1"
    argv = _server_command("sqlite:///mlflow.db", "127.0.0.1", 5000)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    text = " ".join(CliRunner().invoke(ui_command, ["--help"]).output.split())
    assert "Use --host 0.0.0.0 only on a trusted network" in text


def test_a_study_runs_against_a_tracking_server_over_http(ui):
    """`ablate run --tracking-uri http://...` as a team with a shared MLflow server uses it:
    runs, metrics and artifacts (through the server's artifact proxy) land on the server."""
    url = f"http://127.0.0.1:{ui['port']}"
    study = ui["tmp"] / "remote.yaml"
    study.write_text(_study(ui["tmp"]).read_text().replace("name: tiny", "name: remote"))
    proc = _ablate(
        ["run", study, *TINY, "--n-trials", 1, "--tracking-uri", url, "--run-dir", "runs/remote"],
        ui["tmp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-2000:]
    assert "compare with:   ablate compare remote-" in out and f"--tracking-uri {url}" in out
    client = MlflowClient(tracking_uri=url)
    runs = client.search_runs([client.get_experiment_by_name("remote").experiment_id])
    (child,) = [r for r in runs if r.data.tags.get("ablate.kind") == "trial"]
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert {child.info.status, parent.info.status} == {"FINISHED"}
    assert 0.0 <= child.data.metrics["test_uar_mean"] <= 1.0
    artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
    assert {"config.yaml", "confusion.png"} <= artifacts
    (fold,) = client.search_runs(
        [child.info.experiment_id], f"tags.`mlflow.parentRunId` = '{child.info.run_id}'"
    )
    weights = client.download_artifacts(fold.info.run_id, "model.pt", str(ui["tmp"]))
    assert Path(weights).stat().st_size > 0


# -- a port that is taken ---------------------------------------------------------------------


class _Health(http.server.BaseHTTPRequestHandler):
    """Another local web server that answers /health, as MLflow's does."""

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass


@pytest.fixture
def foreign_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_port_held_by_another_server_is_one_line_at_once(tmp_path, foreign_server):
    """It used to print that other server's URL as the MLflow UI (it answers /health), or
    wait 32 s and say `the MLflow server exited with 0`."""
    port = foreign_server
    started = time.monotonic()
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    proc = _ablate(["ui", "--port", port], tmp_path, **pipes)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        _kill_servers_on(port)
    assert proc.returncode == 2 and "MLflow UI:" not in out
    assert err.strip() == (
        f"error: --port {port}: cannot listen on 127.0.0.1:{port} (Address already in use); "
        "stop what holds it or pick another --port"
    )
    assert time.monotonic() - started < 60  # no server was started and waited for
    assert not (tmp_path / "mlflow.db").exists()


def test_only_the_servers_own_session_counts_as_owning_its_port(foreign_server, tmp_path):
    from ablate.cli.ports import owns_port, port_in_use
    from ablate.errors import AblateError

    assert port_in_use("127.0.0.1", foreign_server) == "Address already in use"
    assert port_in_use("127.0.0.1", free_port()) is None
    with pytest.raises(AblateError, match=r"^--host no-such-host\.invalid: "):
        port_in_use("no-such-host.invalid", 5000)
    port = free_port()
    code = (
        "import http.server as h; "
        f"h.HTTPServer(('127.0.0.1', {port}), h.SimpleHTTPRequestHandler).serve_forever()"
    )
    child = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _listening(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert owns_port(child.pid, port) is True
        assert owns_port(child.pid, foreign_server) is False  # held, but by someone else
        assert owns_port(os.getsid(0), port) is False
    finally:
        child.kill()
        child.wait()


def test_optuna_dashboard_on_request_is_one_line_when_it_cannot_start(tmp_path, capsys):
    """`ablate ui --optuna` names what is missing before any server starts."""
    import importlib.util

    from study_helpers import _one_line_error

    with contextlib.chdir(tmp_path):
        err = _one_line_error(["ui", "--optuna", "--port", free_port()], capsys)
    if importlib.util.find_spec("optuna_dashboard") is None:
        assert (
            err
            == "error: --optuna: optuna-dashboard is not installed; pip install optuna-dashboard"
        )
    else:
        assert err.startswith("error: --optuna: no study storage here")
    assert not (tmp_path / "mlflow.db").exists()


# -- stopped by a signal at any moment ------------------------------------------------------


def _session(sid: int) -> list[int]:
    """The processes of session ``sid``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if os.getsid(int(pid)) == sid:
                found.append(int(pid))
    return found


def _answers(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
        return response.status == 200


#: (signal, when it is sent): while the server starts (before it answers), the moment it
#: answers (before the links are printed), once it runs; to the whole process group, as a
#: service manager or a closed terminal sends it
STOPS = [
    (signal.SIGHUP, "starting"),
    pytest.param(signal.SIGTERM, "answering", marks=pytest.mark.slow),
    pytest.param(signal.SIGHUP, "running", marks=pytest.mark.slow),
    pytest.param(signal.SIGINT, "starting", marks=pytest.mark.slow),
    pytest.param(signal.SIGTERM, "starting", marks=pytest.mark.slow),
    pytest.param(signal.SIGHUP, "answering", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("signum", "when"), STOPS)
def test_a_signal_at_any_moment_stops_the_server_and_leaves_no_process(
    tmp_path, mlflow_template, signum, when
):
    """Before: SIGHUP at any time, or SIGTERM between the server answering and the links,
    ended `ablate ui` and left its MLflow server (its own session: 9 processes, 1 GB)
    holding the port."""
    fresh_mlflow(mlflow_template, tmp_path)
    port = free_port()
    proc = _ablate(
        ["ui", "--port", port], tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    lines = lines_of(proc.stdout)
    server = None
    try:
        deadline = time.monotonic() + 120
        while server is None and time.monotonic() < deadline:
            server = next(iter(child_pids(proc.pid, b"mlflow\0server")), None)
            time.sleep(0.05)
        assert server is not None, "no mlflow server started"
        if when == "answering":
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError):
                    if _answers(port):
                        break
                time.sleep(0.05)
        elif when == "running":
            _wait_line(lines, "Ctrl-C stops.", 120)
        assert proc.poll() is None
        os.killpg(proc.pid, signum)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 15  # the server's processes end with it
        while _session(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _session(server) == [], "processes of the server's session are left"
        assert not _listening(port)
    finally:
        proc.kill()
        proc.wait()
        if server is not None:
            for pid in _session(server):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
