"""`ablate --help` and every subcommand's help show an example of their use."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from ablate.cli.main import COMMANDS, cli


def _help(*args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--help"], prog_name="ablate")
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_top_level_help_lists_every_command_and_an_example():
    text = _help()
    assert "Example: ablate run studies/pe_vs_coord.yaml" in text
    for name in COMMANDS:
        assert re.search(rf"\b{name}\b", text), name


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_help_shows_an_example(name):
    text = _help(name)
    assert f"Usage: ablate {name}" in text
    match = re.search(r"Examples?: (ablate [^|]+)", text)
    assert match and match.group(1).startswith(f"ablate {name} "), text[-300:]


def test_help_works_from_the_installed_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "ablate", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "Example: ablate run" in done.stdout
