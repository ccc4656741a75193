"""What a console line brings outside commands, in the transcript of a real `runbook apply`:
the login exchange on telnet and on a serial line (the password sent as `***` and in no file),
a power `wait_up` probe, a `shell: cli` host's `setup` commands with their answers, and a
console `put` / `get` shown with its base64 elided."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

import yaml

from tests.peers import require
from tests.peers.frr import FrrPeer
from tests.peers.serial_line import SOCAT, SerialPeer
from tests.peers.telnetd import TelnetPeer
from tests.records.test_run_folder_sshd import assert_nowhere, only_run, runbook, write_book


def _apply(tmp_path: Path, hosts: dict[str, object], book: str, **env: str) -> Path:
    """Run `book` against `hosts`; the run folder (the run must pass)."""
    lab = tmp_path / "lab.yml"
    lab.write_text(yaml.safe_dump({"hosts": hosts}, sort_keys=False))
    proc = runbook("apply", str(write_book(tmp_path, book)), "--lab", str(lab), "--runs-dir",
                   "runs", cwd=tmp_path, timeout=240, **env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for value in env.values():
        assert value not in proc.stdout + proc.stderr
    return only_run(tmp_path / "runs")


def _log(folder: Path, host: str) -> str:
    """The host's transcript without the times of runbook's lines."""
    return re.sub(r"(?m)^#\| \S+Z ", "#| ", (folder / "hosts" / f"{host}.log").read_text())


def _in_order(text: str, *patterns: str) -> None:
    """Each regex matches in `text` after the previous one's match."""
    at = 0
    for pattern in patterns:
        found = re.compile(pattern).search(text, at)
        assert found, f"{pattern!r} not found after offset {at} in:\n{text}"
        at = found.end()


def test_a_telnet_login_is_in_the_transcript_with_the_password_masked(
        tmp_path: Path, telnet_peer: TelnetPeer, console_user: tuple[str, str]) -> None:
    user, password = console_user
    folder = _apply(tmp_path, {"tn1": {  # a plain password, no secret(): still written as ***
        "transport": "telnet", "address": "127.0.0.1", "port": telnet_peer.port,
        "user": user, "password": password}}, """
name: telnet login
steps:
  - {name: who, hosts: tn1, run: whoami}
""")
    log = _log(folder, "tn1")
    _in_order(log, r"#\| run: whoami\n", r"#\| connecting to telnet ", r"(?m)login: *\n",
              rf"#\| send: {re.escape(user)}\\r\\n\n", r"(?m)^Password: *\n",
              r"#\| send: \*\*\*\\r\\n\n", rf"{re.escape(user)}@\S+:~\$ *\n",
              rf"#\| connected to .*, logged in as {re.escape(user)}\n{re.escape(user)}\n",
              r"#\| end: exit status 0, success")
    assert_nowhere(password, folder)


def test_a_serial_login_and_a_wait_up_probe_are_in_the_transcript(
        tmp_path: Path, console_user: tuple[str, str]) -> None:
    require(SOCAT, "socat")
    user, password = console_user
    with SerialPeer(program="/bin/login") as line:
        folder = _apply(tmp_path, {"sr2": {
            "transport": "serial", "device": line.device, "user": user,
            "password": "{{ secret('BOARD_PW') }}",
            "power_control": {"type": "command", "on_cmd": "true", "off_cmd": "true"}}}, """
name: serial login
steps:
  - {name: up, hosts: sr2, power: {action: "on", wait_up: 60}}
  - {name: who, hosts: sr2, run: whoami}
""", RUNBOOK_SECRET_BOARD_PW=password)
    log = _log(folder, "sr2")
    _in_order(log, r"#\| power on\n",  # the probe saw login's prompt for the user or the password
              r"(?m)(login|Password): *\n#\| wait_up: the line shows a prompt\n",
              r"#\| run: whoami\n", r"#\| connecting to serial ", r"(?m)login: *\n",
              rf"#\| send: {re.escape(user)}\\r\n", r"(?m)^Password: *\n",
              r"#\| send: \*\*\*\\r\n", r"[$#] *\n#\| connected to .*, logged in as ",
              rf"\n{re.escape(user)}\n#\| end: exit status 0, success")
    assert_nowhere(password, folder)


def test_a_cli_hosts_setup_commands_and_their_answers_are_in_the_transcript(
        tmp_path: Path, frr_peer: FrrPeer) -> None:
    ssh = frr_peer.ssh
    folder = _apply(tmp_path, {"r1": {
        "address": ssh.addresses[0], "port": ssh.port, "user": ssh.user,
        "key": str(ssh.client_key), "known_hosts": str(ssh.known_hosts), "agent": False,
        "shell": "cli", "setup": ["terminal length 0", "show version"]}}, """
name: cli setup
steps:
  - {name: config, hosts: r1, run: show running-config}
""")
    log = _log(folder, "r1")
    _in_order(log, r"#\| run: show running-config\n", r"#\| connected to ",
              r"Hello, this is FRRouting", r"[#>] *\n#\| send: terminal length 0\\r\n",
              r"terminal length 0\n", r"[#>] *\n#\| send: show version\\r\n",
              r"show version\n(.*\n)*FRRouting \d", r"[#>] *\n#\| CLI ready at the prompt ",
              r"\nCurrent configuration:\n", r"#\| end: no exit status, success")
    assert log.count("send: terminal length 0") == 1  # once per session, not per command


def test_a_console_put_and_get_show_their_base64_elided(
        tmp_path: Path, serial_peer: SerialPeer) -> None:
    data = os.urandom(120_000)  # its base64 is more than a command's output limit keeps
    (tmp_path / "blob.bin").write_bytes(data)
    encoded = base64.encodebytes(data).decode()
    digest = hashlib.sha256(data).hexdigest()
    board = tmp_path / "board"
    folder = _apply(tmp_path, {"sr1": {"transport": "serial", "device": serial_peer.device}}, f"""
name: console files
steps:
  - {{name: send, hosts: sr1, put: {{src: blob.bin, dest: "{board}"}}}}
  - {{name: fetch, hosts: sr1, get: {{src: "{board}/blob.bin", dest: back}}}}
""")
    assert (tmp_path / "back" / "sr1" / "blob.bin").read_bytes() == data
    log = _log(folder, "sr1")
    b = "'?" + re.escape(str(board))  # quoted for the shell
    _in_order(log, rf"#\| put to sr1:{b}: .*blob\.bin \(120000 bytes, sha256 {digest}\)\n",
              rf"#\| console: mkdir -p {b}'? && base64 -d > {b}/blob.bin'? <<'__RUNBOOK_EOF'\n"
              rf"#\|     <{len(encoded)} bytes of base64 elided>\n#\|     __RUNBOOK_EOF\n"
              rf"#\|     sha256sum < {b}/blob.bin'?\n(#\| .*\n)*{digest}  -\n",
              r"#\| end: exit status 0, success", r"#\| put success",
              rf"#\| console: test -f {b}/blob.bin'? && wc -c < .*\n120000\n{digest}  -\n",
              rf"#\| console: base64 < {b}/blob.bin'?\n#\| <\d+ bytes of base64 elided>\n"
              r"#\| end: exit status 0, success",
              rf"#\| got from sr1: .*blob\.bin \(120000 bytes, sha256 {digest}\)\n")
    for path in folder.rglob("*"):  # no run of the file's base64 in any file of the run
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not any(row in text for row in encoded.splitlines()[:-1]), path
