"""Transcripts (`hosts/<host id>.log`) of console and CLI hosts, written by the real `runbook
apply`: a telnet login's commands and an `interact` dialog (every key sent, everything received,
the secret masked), FRR's vtysh as a `shell: cli` host, and a serial line's output streamed to
the file while the command still runs, so `kill -9` of runbook keeps it."""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from pathlib import Path

import yaml

from tests.peers.frr import HOSTNAME, FrrPeer
from tests.peers.serial_line import SerialPeer
from tests.peers.telnetd import TelnetPeer
from tests.records.test_run_folder_sshd import assert_nowhere, only_run, runbook, start, write_book

ANSWER = "s3cret-answer-7f3a"

BOOK = r"""
name: console transcripts
steps:
  - name: greet
    hosts: tn1
    run: "echo hello-$(whoami); printf 'no newline'"
  - name: dialog
    hosts: tn1
    timeout: 30
    interact:
      - send: 'printf "Secret? "; read s; echo "you said $s, done"\r'
      - {expect: 'Secret\? $', send: "{{ secret('ANSWER') }}\\r", timeout: 10}
      - expect: 'said .*, done'
  - name: after
    hosts: tn1
    run: echo shell-set-up-again
  - name: router
    hosts: r1
    run: [show running-config, configure terminal, end]
  - name: router typo
    hosts: r1
    run: show nonsense
    ignore_errors: true
"""


def _stamped(text: str) -> str:
    """`text` with the times of runbook's lines and durations taken out."""
    return re.sub(r" in [\d.]+ s,", ",", re.sub(r"(?m)^#\| \S+Z ", "#| ", text))


def test_console_and_cli_transcripts_hold_commands_dialogs_and_no_secret(
        tmp_path: Path, telnet_peer: TelnetPeer, frr_peer: FrrPeer,
        console_user: tuple[str, str]) -> None:
    user, password = console_user
    ssh = frr_peer.ssh
    lab = tmp_path / "lab.yml"
    lab.write_text(yaml.safe_dump({"hosts": {
        "tn1": {"transport": "telnet", "address": "127.0.0.1", "port": telnet_peer.port,
                "user": user, "password": "{{ secret('CONSOLE_PW') }}"},
        "r1": {"address": ssh.addresses[0], "port": ssh.port, "user": ssh.user,
               "key": str(ssh.client_key), "known_hosts": str(ssh.known_hosts), "agent": False,
               "shell": "cli", "setup": ["terminal length 0"]},
    }}, sort_keys=False))
    book = write_book(tmp_path, BOOK)
    proc = runbook("apply", str(book), "--lab", str(lab), "--runs-dir", "runs", cwd=tmp_path,
                   timeout=180, RUNBOOK_SECRET_ANSWER=ANSWER, RUNBOOK_SECRET_CONSOLE_PW=password)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = only_run(tmp_path / "runs")
    tn1 = _stamped((folder / "hosts" / "tn1.log").read_bytes().decode())
    where = f"127.0.0.1:{telnet_peer.port}"
    assert re.search(re.escape(f"#| run: echo hello-$(whoami); printf 'no newline'\n"
                               f"#| connecting to telnet {where}\n") + "(.|\n)*" +  # the login
                     re.escape(f"#| connected to {where}, logged in as {user}\nhello-{user}\n"
                               "no newline\n#| end: exit status 0, success, "), tn1), tn1
    assert ('#| interact: (send) | Secret\\? $ | said .*, done\n'
            '#| send: printf "Secret? "; read s; echo "you said $s, done"\\r\n'
            "Secret? \n"
            "#| send: ***\\r\n"
            "you said ***, done\n"
            "#| end: no exit status, success, ") in tn1, tn1
    assert "#| run: echo shell-set-up-again\nshell-set-up-again\n#| end: exit status 0" in tn1
    assert "__runbook_" not in tn1  # runbook's own framing of the console shell stays out
    r1 = _stamped((folder / "hosts" / "r1.log").read_bytes().decode())
    shown = re.search(r"#\| run: show running-config\n(.*?)#\| end: no exit status, success",
                      r1, re.DOTALL)
    assert shown, r1
    assert f"#| connected to {ssh.addresses[0]}:{ssh.port}\n" in shown.group(1)
    assert f"hostname {HOSTNAME}\n" in shown.group(1)
    assert "show running-config" not in shown.group(1)  # the CLI's echo
    assert shown.group(1).rstrip().endswith("end")
    commands = r1.partition("#| CLI ready at the prompt ")[2]  # after the set-up exchange
    assert commands, r1
    assert f"{HOSTNAME}#" not in commands and f"{HOSTNAME}(config)#" not in commands  # prompts
    assert re.search(r"#\| run: configure terminal\n#\| end: no exit status, success", r1)
    assert re.search(r"#\| run: show nonsense\n% Unknown command.*\n"
                     r"#\| end: no exit status, failed", r1), r1
    for secret in (ANSWER, password):
        assert_nowhere(secret, folder)
        assert secret not in proc.stdout + proc.stderr


def test_a_console_transcript_has_the_output_so_far_when_runbook_is_killed(
        tmp_path: Path, serial_peer: SerialPeer) -> None:
    token = f"tk-{uuid.uuid4().hex[:7]}"  # short: the masker holds back less than its length
    lab = tmp_path / "lab.yml"
    lab.write_text(yaml.safe_dump({"hosts": {
        "sr1": {"transport": "serial", "device": serial_peer.device}}}))
    book = write_book(tmp_path, """
name: killed mid-command
steps:
  - name: long
    hosts: sr1
    run: >-
      printf '%s' "{{ secret('TOKEN')[:5] }}"; sleep 0.5; printf '%s\\n' "{{ secret('TOKEN')[5:] }}";
      echo seen-$((6*7)); echo and-some-more-lines; sleep 300
""")
    proc = start("apply", str(book), "--lab", str(lab), "--runs-dir", "runs", cwd=tmp_path,
                 RUNBOOK_SECRET_TOKEN=token)
    try:
        deadline = time.monotonic() + 60
        log = None
        while log is None or "seen-42" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, (
                proc.stdout.read() if proc.stdout and proc.poll() is not None else "no output yet")
            log = next((tmp_path / "runs").glob("*/hosts/sr1.log"), None)
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    text = _stamped(log.read_bytes().decode())
    assert re.search(r"#\| run: printf .*sleep 300\n(#\|.*\n)*\*\*\*\nseen-42\n", text), text
    assert "end:" not in text  # the command never ended
    assert_nowhere(token, log.parent.parent)
