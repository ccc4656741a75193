"""`HostTranscript` on its own: output reaches the file as it comes, keys typed by `interact`
are written masked and spelled, lines keep the order things happened in, and many hosts'
transcripts share a budget of open files."""

from __future__ import annotations

import os
import re
from pathlib import Path

from runbook.records.transcript import HostTranscript, OpenFiles
from runbook.render.secrets import SecretStore

SECRET = "pa\\ss-w0rd^x"  # a backslash and a caret: spelled after masking, never before


def _transcript(path: Path) -> HostTranscript:
    secrets = SecretStore(environ={"RUNBOOK_SECRET_PW": SECRET})
    secrets.get("PW")
    return HostTranscript(path, secrets.mask, lambda: secrets.values)


def test_output_is_in_the_file_before_the_command_ends(tmp_path: Path) -> None:
    log = _transcript(tmp_path / "h1.log")
    log.command("sleep 600", kind="run")
    log.output(b"seen so far\nstill running\n")
    # another reader (`runbook show`, or what is left after kill -9) finds it already, but for
    # the end the masker holds back (shorter than the longest secret: it could start one)
    text = (tmp_path / "h1.log").read_text()
    assert "run: sleep 600\nseen so far\nst" in text
    log.close()
    assert (tmp_path / "h1.log").read_text().endswith("seen so far\nstill running\n")


def test_sent_keys_are_masked_then_spelled_and_keep_their_place(tmp_path: Path) -> None:
    log = _transcript(tmp_path / "h1.log")
    log.command("Password: $", kind="interact")
    log.output(b"Password: pa")  # could be the start of the secret: held back for now
    log.sent(SECRET + "\r")
    log.output(b"\r\nwelcome\n")
    log.sent("^C means \x03, tab \t, escape \x1b")
    log.command_end(None, "success")
    log.close()
    text = (tmp_path / "h1.log").read_bytes().decode()
    assert SECRET not in text
    assert re.sub(r" in [\d.]+ s,", ",", re.sub(r"#\| \S+Z ", "#| ", text)) == (
        "#| interact: Password: $\n"
        "Password: pa\n"  # the line break is the writer's, before its own line
        "#| send: ***\\r\n"
        "\r\nwelcome\n"
        "#| send: \\^C means ^C, tab \\t, escape \\e\n"
        "#| end: no exit status, success, 22 bytes of output\n")


def _open_logs(folder: Path) -> list[str]:
    """The files under `folder` this process holds open."""
    fds = Path("/proc/self/fd")
    return sorted(target for fd in fds.iterdir()
                  if (target := os.path.realpath(fds / fd.name)).startswith(str(folder)))


def test_transcripts_beyond_the_open_files_budget_are_closed_and_reopened_appending(
        tmp_path: Path) -> None:
    """Five hosts on a budget of two: never more than two files open, each written to in
    turn (the least recently written closed, opened again when next written), every line
    in its own host's file in order, and every line in the file as soon as it is written."""
    budget = OpenFiles(2)
    secrets = SecretStore(environ={})
    logs = [HostTranscript(tmp_path / "hosts" / f"h{i}.log", secrets.mask,
                           lambda: secrets.values, budget) for i in range(5)]
    for step in range(3):
        for i, log in enumerate(logs):
            log.command(f"echo {i}-{step}")
            log.output(f"{i}-{step}\n".encode())
            log.command_end(0, "success")
            assert len(_open_logs(tmp_path)) <= 2
            assert f"{i}-{step}\n" in (tmp_path / "hosts" / f"h{i}.log").read_text()
    assert _open_logs(tmp_path) == [str(tmp_path / "hosts" / "h3.log"),
                                    str(tmp_path / "hosts" / "h4.log")]
    for log in logs:
        log.close()
    assert _open_logs(tmp_path) == []
    for i in range(5):
        text = (tmp_path / "hosts" / f"h{i}.log").read_text()
        assert re.findall(r"^\d-\d$", text, re.M) == [f"{i}-{step}" for step in range(3)]
