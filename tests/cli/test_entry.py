"""`runbook --help` from the entry point: byte for byte click's help, without importing click."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, columns: int) -> str:
    env = {**os.environ, "COLUMNS": str(columns)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, env=env)
    return out.stdout


def _click_help(prog: str, columns: int) -> str:
    return _run("from runbook.cli.main import cli\n"
                f"cli(['--help'], prog_name={prog!r})\n", columns)


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("columns", [80, 200, 60])
def test_help_is_clicks_for_the_console_script(flag: str, columns: int) -> None:
    """If this fails after adding a subcommand, paste click's text into entry.HELP_BODY."""
    fast = _run("import sys\n"
                f"sys.argv = ['/usr/local/bin/runbook', {flag!r}]\n"
                "from runbook.cli.entry import main\n"
                "try:\n    main()\nexcept SystemExit:\n    pass\n"
                "print('click imported' if 'click' in sys.modules else 'click not imported')\n",
                columns)
    help_text, _, note = fast.rpartition("click ")
    assert help_text == _click_help("runbook", columns)
    assert note == ("imported\n" if columns < 80 else "not imported\n")


def test_help_is_clicks_for_python_dash_m() -> None:
    env = {**os.environ, "COLUMNS": "120"}
    fast = subprocess.run([sys.executable, "-m", "runbook", "--help"], capture_output=True,
                          text=True, check=True, cwd=ROOT, env=env).stdout
    assert fast.startswith("Usage: python -m runbook [OPTIONS] COMMAND [ARGS]...\n")
    assert fast == _click_help("python -m runbook", 120)


def test_other_arguments_go_to_click() -> None:
    out = subprocess.run([sys.executable, "-m", "runbook", "validate", "--help"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert "Usage: python -m runbook validate" in out
