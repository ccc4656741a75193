"""`apply --persist`, a lab's `defaults.persist` and `runbook persist`, without a keeper (the
keeper itself is tested against the sshd lab in tests/persist/test_keeper.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from runbook.cli.main import cli
from runbook.language.labfile import load_lab
from runbook.persist import persist_seconds

BOOK = "name: b\nsteps:\n  - name: s\n    hosts: local\n    run: 'true'\n"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(folder))
    return folder


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("1h30m", 5400)])
def test_durations(text: str, seconds: float) -> None:
    assert persist_seconds(text) == seconds


@pytest.mark.parametrize("text", ["10", "0s", "2d", "soon"])
def test_a_bad_persist_option_is_a_usage_error(tmp_path: Path, text: str) -> None:
    book = tmp_path / "b.yml"
    book.write_text(BOOK)
    result = CliRunner().invoke(cli, ["apply", str(book), "--persist", text])
    assert result.exit_code == 2
    assert "--persist" in result.output and repr(text) in result.output


def test_lab_defaults_persist_is_read(tmp_path: Path) -> None:
    lab = tmp_path / "lab.yml"
    lab.write_text("defaults: {persist: 10m, user: lab}\nhosts:\n  a: {address: 10.0.0.1}\n")
    loaded = load_lab(lab)
    assert loaded.persist == 600
    assert loaded["a"].user == "lab"


@pytest.mark.parametrize(("value", "message"), [
    ("ten minutes", "is not a duration: write e.g. 10m"),
    ("48h", "too long: the keeper waits at most 24h"),
])
def test_a_bad_lab_persist_is_a_validate_finding(tmp_path: Path, value: str,
                                                 message: str) -> None:
    lab = tmp_path / "lab.yml"
    lab.write_text(f"defaults:\n  persist: {value}\nhosts:\n  a: {{address: 10.0.0.1}}\n")
    result = CliRunner().invoke(cli, ["validate", str(lab)])
    assert result.exit_code == 1
    assert f"{lab}:2:" in result.output and message in result.output


def test_status_and_stop_without_a_keeper(state: Path) -> None:
    for args in (["persist"], ["persist", "--status"], ["persist", "--stop"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0
        assert f"no keeper running ({state / 'keeper.sock'})" in result.output
    assert (state.stat().st_mode & 0o777) == 0o700


def test_a_folder_of_another_owner_or_open_to_others_is_refused(state: Path) -> None:
    state.mkdir(mode=0o777)
    state.chmod(0o777)
    result = CliRunner().invoke(cli, ["persist"])
    assert result.exit_code == 3 and "chmod 700" in result.output
