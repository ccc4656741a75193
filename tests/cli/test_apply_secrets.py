"""No secret leaves `runbook apply` / `runbook plan` on any channel (issue 9, item 1).

Real subprocesses, so stdout, stderr and both report files are exactly what a user gets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SECRET = "Hunter2-s3cret"

# The secret reaches every kind of string that leaves the process: a step name directly and
# through a runbook var, a step var in a command, a failing command's output, the message of
# a failed `expect`, and (in the plan) the rendered commands.
BOOK = """\
name: leaks
vars:
  login: "{{ secret('PW') }}"
steps:
  - name: "login as {{ secret('PW') }}"
    hosts: local
    run: echo hello
  - name: "again as {{ login }}"
    hosts: local
    vars: {token: "{{ secret('PW') }}"}
    run: echo "token={{ token }}"; echo "{{ token | upper }}" >&2; exit 3
    ignore_errors: true
  - name: expect it
    hosts: local
    run: echo nothing here
    expect: {output: "{{ secret('PW') }}"}
"""


def _run(command: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], list[Path]]:
    book = tmp_path / "book.yml"
    book.write_text(BOOK)
    reports = [tmp_path / f"{command}.json", tmp_path / f"{command}.xml"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "RUNBOOK_SECRET_PW": SECRET}
    proc = subprocess.run([sys.executable, "-m", "runbook", command, str(book), "-v",
                           "--report-json", str(reports[0]), "--junit", str(reports[1])],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    return proc, reports


@pytest.mark.parametrize("command", ["apply", "plan"])
def test_no_channel_shows_the_secret(command: str, tmp_path: Path) -> None:
    proc, reports = _run(command, tmp_path)
    assert proc.returncode in (1, 0), proc.stdout + proc.stderr
    channels = {"stdout": proc.stdout, "stderr": proc.stderr,
                **{path.name: path.read_text() for path in reports}}
    for name, text in channels.items():
        assert SECRET.lower() not in text.lower(), f"{name} shows the secret:\n{text}"
    assert "login as ***" in proc.stdout
    assert "again as ***" in proc.stdout
    for path in reports:
        assert "login as ***" in path.read_text(), path.name
    if command == "apply":
        assert "token=***" in proc.stdout and "token=***" in channels["apply.json"]
