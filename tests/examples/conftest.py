"""Tests of the example packages under ``examples/``."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "install: builds and pip-installs an example package (~10-30 s); part of the normal suite",
    )
