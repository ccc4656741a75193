"""The live console of `runbook apply`: what reaches the user's terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from runbook.cli.console import Console
from runbook.cli.main import cli
from runbook.engine.events import HostResult
from runbook.engine.results import HostStatus, HostStepResult

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
    result = HostStepResult("h1", HostStatus.FAILED, 1, f"before{HOSTILE}after\n\tindented\n",
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
