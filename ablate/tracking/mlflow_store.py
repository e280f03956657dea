"""MLflow bookkeeping: one parent run per study, one nested child run per trial.

Everything goes through :class:`mlflow.MlflowClient` with explicit run ids (no global
active run), so several worker processes can share one store. SQLite "database is locked"
errors are retried.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import socket
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ablate.errors import AblateError, first_line
from ablate.tracking.provenance import provenance_tags
from ablate.tracking.sqlite_store import opened, sqlite_path

T = TypeVar("T")
STUDY_KEY_TAG = "ablate.study_key"
PARENT_TAG = "mlflow.parentRunId"
MAX_PARAM = 6000
MAX_TAG = 5000


def _retry(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call`` retried while another worker holds a SQLite lock or migrates the schema."""
    for attempt in range(30):
        try:
            return call(*args, **kwargs)
        except Exception as exc:
            message = str(exc).lower()
            if not ("locked" in message or "migration" in message) or attempt == 29:
                raise
            time.sleep(min(0.1 * 2**attempt, 2.0))
    raise AssertionError("unreachable")


def quoted(value: str) -> str:
    """``value`` as a string literal of MLflow's filter syntax. MLflow has no escapes in
    its literals (it strips the outer quotes and matches the rest as is): a value is put
    in the quote it does not contain (a study named ``it's`` in double quotes)."""
    for quote in ("'", '"'):
        if quote not in value and "\\" not in value:
            return f"{quote}{value}{quote}"
    raise AblateError(
        f"{value!r}: holds both quote characters (or a backslash), which an MLflow search "
        "cannot match; rename it"
    )


def tag_is(tag: str, value: str) -> str:
    """The filter clause ``tags.`tag` = 'value'``, ``value`` quoted."""
    return f"tags.`{tag}` = {quoted(value)}"


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def absolute_uri(uri: str) -> str:
    """A relative ``sqlite:///file.db`` resolved against the working directory now.

    MLflow caches one store per URI string for the life of the process, so a relative
    URI would keep pointing at the first directory it was used from.
    """
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(Path(uri.removeprefix(prefix)).resolve())
    return uri


def _schema_lock(uri: str) -> AbstractContextManager[None]:
    """For a SQLite store, its lock file while it is created or repaired and opened
    (MLflow creates and migrates the schema on first open, and two processes doing that
    at once fail: "duplicate column name"). Other stores need none."""
    path = sqlite_path(uri)
    return nullcontext() if path is None else opened(path)


#: seconds a new parent run waits before checking whether another process made one too
PARENT_SETTLE_S = 1.0
#: seconds to wait for a remote tracking server to accept a connection
CONNECT_TIMEOUT_S = 5.0


#: MLflow's HTTP settings unless the user set them: a request that gets no answer fails
#: after 20 s, and is retried 4 times (back-off 2-16 s: a server restarting is waited for).
#: MLflow's own (120 s, 7 retries) let a server that accepts connections but never answers
#: hang a study for a quarter of an hour without a word.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "20", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "4"}


def probe(uri: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast (one line) when an http(s) tracking server does not accept connections,
    or accepts them and does not answer.

    MLflow itself retries a refused connection with exponential back-off for minutes.
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout):
            pass
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        raise AblateError(
            f"tracking store {uri}: cannot connect to {parts.hostname}:{port} ({why}); "
            "is the MLflow server running?"
        ) from None
    try:  # any HTTP answer will do, an error status included
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            pass
    except urllib.error.HTTPError:
        pass
    except (OSError, http.client.HTTPException) as exc:
        why = getattr(exc, "reason", None) or exc
        raise AblateError(
            f"tracking store {uri}: {parts.hostname}:{port} accepts connections but did not "
            f"answer an HTTP request within {timeout:.0f} s ({why}); is it an MLflow server, "
            "and is it overloaded?"
        ) from None


def local_path(uri: str) -> Path | None:
    """The file or folder of a local store (``sqlite:///``, ``file:``, a plain path)."""
    path = sqlite_path(absolute_uri(uri))
    parts = urlsplit(uri)
    if path is None and parts.scheme in ("", "file"):
        path = Path(parts.path).absolute()
    return path


class Store:
    """A tracking store at ``uri``; a bad or unreachable URI is a one-line error. With
    ``create`` false (commands that only read: compare, ui), a local store that does not
    exist is one too: MLflow would create it, and a mistyped path would read as empty."""

    def __init__(self, uri: str, create: bool = True):
        from mlflow import MlflowClient

        path = None if create else local_path(uri)
        if path is not None and not path.exists():
            raise AblateError(
                f"tracking store {uri}: no such file {path}; check --tracking-uri, or run a "
                "study there first (this command reads a store, it creates none)"
            )
        probe(uri)
        self.uri = uri
        location = absolute_uri(uri)
        try:
            with _schema_lock(location):
                self.client = MlflowClient(tracking_uri=location)
                _retry(self.client.search_experiments, max_results=1)
        except AblateError:
            raise
        except Exception as exc:
            raise AblateError(f"tracking store {uri}: {first_line(exc)}") from None

    def experiment_id(self, name: str) -> str:
        """The experiment ``name``, created on first use (race-safe across workers)."""
        for _ in range(3):
            found = _retry(self.client.get_experiment_by_name, name)
            if found is not None:
                return found.experiment_id
            try:
                return _retry(self.client.create_experiment, name)
            except Exception:  # another worker created it first
                continue
        raise AblateError(f"tracking store {self.uri}: cannot create experiment '{name}'")

    def _parents_of(self, experiment_id: str, key: str) -> list[Any]:
        runs = _retry(
            self.client.search_runs,
            [experiment_id],
            filter_string=tag_is(STUDY_KEY_TAG, key),
        )
        parents = [r for r in runs if PARENT_TAG not in r.data.tags]
        # every process sorts the same way, so concurrent starters agree on one parent
        return sorted(parents, key=lambda r: (r.info.start_time, r.info.run_id))

    def find_parent(self, experiment_id: str, key: str) -> str | None:
        parents = self._parents_of(experiment_id, key)
        return parents[0].info.run_id if parents else None

    def open_parent(self, experiment_id: str, key: str, tags: Mapping[str, str]) -> str:
        """The study's parent run, found again by its key tag or created; marked RUNNING.

        Processes that start the same study at the same moment (workers on several
        machines) may each create one; they all keep the earliest and delete their own.
        """
        run_id = self.find_parent(experiment_id, key)
        if run_id is None:
            all_tags = {**provenance_tags(), **tags, STUDY_KEY_TAG: key, "mlflow.runName": key}
            mine = _retry(self.client.create_run, experiment_id, tags=all_tags).info.run_id
            time.sleep(PARENT_SETTLE_S)  # let a concurrent starter's run become visible
            run_id = self.find_parent(experiment_id, key) or mine
            if run_id != mine:
                _retry(self.client.delete_run, mine)
        else:
            _retry(self.client.update_run, run_id, status="RUNNING")
        return run_id

    def start_child(
        self, experiment_id: str, parent_id: str, name: str, tags: Mapping[str, str]
    ) -> str:
        all_tags = {**provenance_tags(), **tags, PARENT_TAG: parent_id, "mlflow.runName": name}
        all_tags = {k: _text(v, MAX_TAG) for k, v in all_tags.items()}
        return _retry(self.client.create_run, experiment_id, tags=all_tags).info.run_id

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, _text(v, MAX_PARAM)) for k, v in sorted(params.items())]
        for start in range(0, len(items), 100):
            _retry(self.client.log_batch, run_id, params=items[start : start + 100])

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(k, float(v), now, step)
            for k, v in metrics.items()
            if isinstance(v, int | float) and math.isfinite(v)
        ]
        for start in range(0, len(items), 500):
            _retry(self.client.log_batch, run_id, metrics=items[start : start + 500])

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, _text(v, MAX_TAG)) for k, v in tags.items()]
        _retry(self.client.log_batch, run_id, tags=items)

    def log_files(self, run_id: str, files: Mapping[str, bytes | str], path: str | None = None):
        """Write ``{name: content}`` to a temporary folder and upload it as artifacts."""
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in files.items():
                target = Path(tmp) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, str):
                    target.write_text(content)
                else:
                    target.write_bytes(content)
            _retry(self.client.log_artifacts, run_id, tmp, path)

    def log_dir(self, run_id: str, directory: Path, path: str | None = None) -> None:
        _retry(self.client.log_artifacts, run_id, str(directory), path)

    def end(self, run_id: str, status: str, reason: str | None = None) -> None:
        """FINISHED, FAILED or KILLED; a reason goes to the ``ablate.fail_reason`` tag."""
        tags = {"ablate.status": status.lower()}
        if reason:
            tags["ablate.fail_reason"] = reason
        self.set_tags(run_id, tags)
        _retry(self.client.set_terminated, run_id, status=status)

    def search(self, experiment_ids: Sequence[str], query: str) -> list[Any]:
        """Every run of ``experiment_ids`` that matches ``query`` (MLflow filter syntax)."""
        return _retry(
            self.client.search_runs, list(experiment_ids), filter_string=query, max_results=50000
        )

    def children(self, parent_id: str, experiment_id: str, status: str | None = None) -> list[Any]:
        """The trial runs of a study's parent run; only those in ``status`` if given."""
        query = tag_is(PARENT_TAG, parent_id)
        if status is not None:
            query += f" and attributes.status = {quoted(status)}"
        return _retry(
            self.client.search_runs, [experiment_id], filter_string=query, max_results=50000
        )

    def parents(self, experiment_ids: Sequence[str]) -> list[Any]:
        runs = _retry(
            self.client.search_runs,
            list(experiment_ids),
            filter_string=f"tags.`{STUDY_KEY_TAG}` != ''",
            order_by=["attributes.start_time DESC"],
        )
        return [r for r in runs if PARENT_TAG not in r.data.tags]
