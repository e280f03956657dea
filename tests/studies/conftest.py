"""Fixtures shared with the other tests that run studies (see tests/study_helpers.py)."""

from study_helpers import (  # noqa: F401
    gate,
    mlflow_template,
    pg_server,
    postgres,
    tracking_server,
    workdir,
)
