"""`runbook apply` end to end on console hosts: a telnet login, a serial line and FRR's CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.peers import require
from tests.peers.frr import FrrPeer
from tests.peers.serial_line import SOCAT, SerialPeer, free_port
from tests.peers.telnetd import TelnetPeer
from tests.test_apply_sshd import apply, results

BOOK = """\
name: consoles
steps:
  - name: who
    hosts: "^(tn1|sr1)$"
    run: "cd /tmp && echo hello-$(basename $PWD)"
    expect: {output: "hello-tmp"}
  - name: upload
    hosts: "^(tn1|sr1)$"
    put:
      src: PAYLOAD
      dest: "/tmp/rb-consoles-{{ host.id }}"
  - name: check
    hosts: "^(tn1|sr1)$"
    oneshot: "cat /tmp/rb-consoles-{{ host.id }}/payload.txt; rm -r /tmp/rb-consoles-{{ host.id }}"
    expect: {output: "console payload"}
  - name: router config
    hosts: "^r1$"
    run: show running-config
    expect: {output: "hostname router1"}
"""


def test_apply_runs_steps_on_telnet_serial_and_cli_hosts(
        tmp_path: Path, telnet_peer: TelnetPeer, serial_peer: SerialPeer, frr_peer: FrrPeer,
        console_user: tuple[str, str]) -> None:
    user, password = console_user
    ssh = frr_peer.ssh
    lab = tmp_path / "lab.yml"
    lab.write_text(yaml.safe_dump({"hosts": {
        "tn1": {"transport": "telnet", "address": "127.0.0.1", "port": telnet_peer.port,
                "user": user, "password": "{{ secret('CONSOLE_PW') }}"},
        "sr1": {"transport": "serial", "device": serial_peer.device},
        "r1": {"address": ssh.addresses[0], "port": ssh.port, "user": ssh.user,
               "key": str(ssh.client_key), "known_hosts": str(ssh.known_hosts), "agent": False,
               "shell": "cli", "setup": ["terminal length 0"]},
    }}, sort_keys=False))
    (tmp_path / "payload.txt").write_text("console payload\n")
    os.environ["RUNBOOK_SECRET_CONSOLE_PW"] = password
    try:
        proc, report = apply(tmp_path, lab, BOOK.replace("PAYLOAD", str(tmp_path / "payload.txt")),
                             "--runs-dir", str(tmp_path / "runs"))
    finally:
        del os.environ["RUNBOOK_SECRET_CONSOLE_PW"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert password not in proc.stdout + proc.stderr
    for step in range(3):
        assert {h: r["status"] for h, r in results(report, step).items()} == {
            "tn1": "success", "sr1": "success"}
    assert results(report, 3)["r1"]["status"] == "success"
    # the run record of a console host: `runbook show` has the command and its output
    shown = subprocess.run([sys.executable, "-m", "runbook", "show", "last", "--host", "tn1",
                            "--step", "who", "--runs-dir", str(tmp_path / "runs")],
                           capture_output=True, text=True, check=True, timeout=60)
    assert "run: cd /tmp && echo hello-$(basename $PWD)" in shown.stdout
    assert "hello-tmp" in shown.stdout
    for path in (tmp_path / "runs").rglob("*"):
        assert not path.is_file() or password.encode() not in path.read_bytes(), path
    listed = subprocess.run([sys.executable, "-m", "runbook", "hosts", "--lab", str(lab)],
                            capture_output=True, text=True, check=True)
    assert [line.split()[:2] for line in listed.stdout.splitlines()[1:]] == [
        ["tn1", "telnet"], ["sr1", "serial"], ["r1", "ssh"], ["local", "local"]]


def test_apply_runs_commands_on_a_serial_host_behind_a_tcp_port(tmp_path: Path) -> None:
    """`device: socket://HOST:PORT` (pyserial's raw TCP URL): a terminal server's port, here
    socat serving a shell on loopback."""
    require(SOCAT, "socat")
    with SerialPeer(tcp=True) as line:
        lab = tmp_path / "lab.yml"
        lab.write_text(yaml.safe_dump({"hosts": {
            "ts1": {"transport": "serial", "device": line.device}}}))
        proc, report = apply(tmp_path, lab, """\
name: tcp serial
steps:
  - name: state is kept
    hosts: ts1
    run: "cd /tmp && X=over-tcp"
  - name: where
    hosts: ts1
    run: 'echo "$X in $PWD"; sh -c "exit 3"'
    expect: {rc: 3}
""")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert results(report, 1)["ts1"]["output"] == "over-tcp in /tmp\n"


def test_a_power_step_waits_for_the_login_prompt_of_a_console_then_the_next_step_runs(
        tmp_path: Path, console_user: tuple[str, str]) -> None:
    """`power: {action: on, wait_up}` on a serial host behind a TCP port: the `command`
    controller "boots" the board (socat serving /bin/login, after a second of boot time), the
    step waits until the line shows `login:`, and the next step logs in and runs."""
    require(SOCAT, "socat")
    user, password = console_user
    port, pidfile = free_port(), tmp_path / "board.pid"
    board = (f"{SOCAT} tcp-listen:{port},bind=127.0.0.1,reuseaddr,fork "
             "exec:/bin/login,pty,setsid,ctty,stderr,sane")
    lab = tmp_path / "lab.yml"
    lab.write_text(yaml.safe_dump({"hosts": {"b1": {
        "transport": "serial", "device": f"socket://127.0.0.1:{port}", "user": user,
        "password": "{{ secret('CONSOLE_PW') }}",
        "power_control": {
            "type": "command",
            "on_cmd": f"setsid sh -c 'sleep 1; exec {board}' </dev/null >/dev/null 2>&1 & "
                      f"echo $! > {pidfile}",
            "off_cmd": f"kill $(cat {pidfile})"}}}}, sort_keys=False))
    os.environ["RUNBOOK_SECRET_CONSOLE_PW"] = password
    try:
        proc, report = apply(tmp_path, lab, f"""\
name: boot and use
steps:
  - name: boot
    hosts: b1
    power: {{action: "on", wait_up: 60}}
  - name: use
    hosts: b1
    run: whoami
    expect: {{output: "^{user}$"}}
""")
    finally:
        del os.environ["RUNBOOK_SECRET_CONSOLE_PW"]
        if pidfile.exists():
            subprocess.run(["kill", pidfile.read_text().strip()], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert results(report, 0)["b1"]["status"] == "success", results(report, 0)
    assert results(report, 0)["b1"]["output"] == "on command succeeded\nup\n"
    assert results(report, 1)["b1"]["status"] == "success"
