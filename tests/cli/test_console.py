"""The live console of `runbook apply`: what reaches the user's terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from runbook.cli.console import Console
from runbook.cli.main import cli
from runbook.engine.events import HostResult, RunStarted
from runbook.engine.results import HostStepResult
from runbook.results import Status
from tests.sshlab import SshdLab

# Retitles the terminal (OSC 0, ended by BEL), then clears the screen (CSI 2 J).
HOSTILE = "\033]0;title\007\033[2J"
SHOWN = "\\x1b]0;title\\x07\\x1b[2J"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream_type", [io.StringIO, Tty])
@pytest.mark.parametrize("color", [False, True])
def test_remote_control_sequences_are_shown_escaped(stream_type: type[io.StringIO],
                                                     color: bool) -> None:
    result = HostStepResult("h1", Status.Failed, 1, f"before{HOSTILE}after\n\tindented\n",
                            0.0, 1.0, message=f"exit 1 {HOSTILE}")
    stream = stream_type()
    Console(stream=stream, color=color)(HostResult(0, f"step {HOSTILE}", result))
    text = stream.getvalue()
    assert "\x07" not in text and "\x1b]" not in text and "\x1b[2J" not in text
    assert f"    | before{SHOWN}after\n    | \tindented\n" in text
    assert f"step {SHOWN}" in text and f"exit 1 {SHOWN}" in text
    if not color:
        assert "\x1b" not in text


def test_apply_escapes_on_the_console_and_reports_keep_the_output(tmp_path: Path) -> None:
    book = tmp_path / "book.yml"
    book.write_text("name: hostile\nsteps:\n  - name: retitle\n    hosts: local\n"
                    "    run: printf '\\033]0;title\\007\\033[2J'\n")
    report = tmp_path / "r.json"
    result = CliRunner().invoke(cli, ["apply", str(book), "-v", "--report-json", str(report)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert f"    | {SHOWN}" in result.output
    outputs = [r["output"] for s in json.loads(report.read_text())["steps"]
               for r in s["results"].values()]
    assert outputs == [HOSTILE]


def test_apply_on_an_sshd_host_escapes_remote_output_and_reports_keep_it(
        sshd_lab: SshdLab, tmp_path: Path) -> None:
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=["h01"])
    book = tmp_path / "book.yml"
    hostile = "printf '\\033]0;title\\007\\033[2J'"
    book.write_text(f"name: hostile\nsteps:\n  - name: in the shell\n    hosts: h01\n"
                    f"    run: {hostile}\n  - name: one shot\n    hosts: h01\n"
                    f"    oneshot: {hostile}\n")
    report = tmp_path / "r.json"
    result = CliRunner().invoke(cli, ["apply", str(book), "--lab", str(lab), "-v",
                                      "--report-json", str(report)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert result.output.count(f"    | {SHOWN}") == 2, result.output
    outputs = [r["output"] for s in json.loads(report.read_text())["steps"]
               for r in s["results"].values()]
    assert outputs == [HOSTILE, HOSTILE]


LONG = "upgrade the firmware of every top-of-rack switch and wait for the fabric to converge"
HOSTS = ("leaf01", "spine-switch-rack3-07", "r1")


def _live_lines(width: int | None, monkeypatch: pytest.MonkeyPatch, columns: str | None = None,
                stream: io.StringIO | None = None, message: str = "") -> list[str]:
    """The per-host lines of a two-step run (a long and a short step name) on three hosts."""
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    stream = stream if stream is not None else io.StringIO()
    console = Console(stream=stream, width=width)
    console(RunStarted("book", 2, HOSTS, 0.0, step_names=(LONG, "ping")))
    for index, name in enumerate((LONG, "ping")):
        for host, status in zip(HOSTS, (Status.Success, Status.Failed, Status.Error),
                                strict=True):
            result = HostStepResult(host, status, 0, "", 0.0, 1.5,
                                    message="" if status.is_ok else message or "exit 1",
                                    unreachable=status is Status.Error)
            console(HostResult(index, name, result))
    return [line for line in stream.getvalue().splitlines() if line.startswith(tuple("0123"))]


def _column(lines: list[str], text: str) -> set[int]:
    """Where `text` starts in each line holding it."""
    return {line.index(text) for line in lines if text in line}


@pytest.mark.parametrize("width", [60, 80, 100])
def test_live_lines_fit_the_width_with_columns_aligned(width: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _live_lines(width, monkeypatch)
    assert len(lines) == 6
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    assert any("…" in line for line in lines) and LONG not in "\n".join(lines)
    for cell in ("leaf01 ", "r1 ", "ok ", "FAILED ", "UNREACHABLE"):
        assert len(_column(lines, cell)) == 1, (cell, lines)
    assert _column(lines, "leaf01") == _column(lines, "r1") == _column(lines, "spine")
    assert _column(lines, "ok ") == _column(lines, "FAILED")


def test_width_from_columns_on_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _live_lines(None, monkeypatch, columns="70")
    assert all(len(line) <= 70 for line in lines) and "…" in lines[0]


def test_a_pipe_without_columns_keeps_names_whole_and_aligned(
        monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _live_lines(None, monkeypatch)
    assert sum(LONG in line for line in lines) == 3
    assert len(_column(lines, "leaf01")) == 1 and _column(lines, "leaf01") == _column(lines, "r1")


def test_a_long_message_moves_below_the_line_within_the_width(
        monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    message = "connection refused by 10.0.0.1:22 " * 4
    lines = _live_lines(60, monkeypatch, stream=stream, message=message)
    assert all(len(line) <= 60 for line in stream.getvalue().splitlines())
    assert all(len(_column(lines, cell)) == 1 for cell in ("leaf01", "FAILED"))
    assert " ".join(stream.getvalue().split()).count(" ".join(message.split())) == 4


def test_ascii_stream_gets_a_three_dot_ellipsis(monkeypatch: pytest.MonkeyPatch) -> None:
    class Ascii(io.StringIO):
        encoding = "ascii"

    lines = _live_lines(60, monkeypatch, stream=Ascii())
    assert "..." in lines[0] and "…" not in "".join(lines)
