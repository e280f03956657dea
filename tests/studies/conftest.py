"""Fixtures shared with the other tests that run studies (see tests/study_helpers.py)."""

from study_helpers import mlflow_template, pg_server, postgres, workdir  # noqa: F401
