"""`runbook worker` and `runbook sites`: bad input exits 2 with a message, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from runbook.cli.main import cli

LAB = """\
broker: "redis://:{{ secret('BROKER') }}@127.0.0.1:1/0"
sites: {bldg-b: {}, partner: {}}
hosts:
  r7: {address: 10.2.0.17, site: bldg-b}
"""


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    path = tmp_path / "lab.yml"
    path.write_text(LAB)
    return path


def test_worker_for_an_undeclared_site_exits_2_with_did_you_mean(lab: Path) -> None:
    result = CliRunner().invoke(cli, ["worker", "--lab", str(lab), "--site", "bldg-c"])
    assert result.exit_code == 2
    assert "site 'bldg-c' is not declared" in result.output
    assert "did you mean 'bldg-b'?" in result.output


@pytest.mark.parametrize("command", [["worker", "--site", "bldg-b"], ["sites"]])
def test_an_unreachable_broker_exits_2_with_the_password_masked(
        lab: Path, command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNBOOK_SECRET_BROKER", "pw-never-shown")
    result = CliRunner().invoke(cli, [command[0], "--lab", str(lab), *command[1:]])
    assert result.exit_code == 2, result.output
    assert "broker redis://:***@127.0.0.1:1/0 unreachable" in result.output
    assert "pw-never-shown" not in result.output


def test_a_broker_secret_that_is_not_set_names_the_variable(
        lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNBOOK_SECRET_BROKER", raising=False)
    result = CliRunner().invoke(cli, ["sites", "--lab", str(lab)])
    assert result.exit_code == 2
    assert "RUNBOOK_SECRET_BROKER" in result.output
