"""`HostTranscript` on its own: output reaches the file as it comes, keys typed by `interact`
are written masked and spelled, and lines keep the order things happened in."""

from __future__ import annotations

import re
from pathlib import Path

from runbook.records.transcript import HostTranscript
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
