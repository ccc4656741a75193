"""`power:` steps end to end: `runbook apply` (a real process) switching a real sshd "machine".

The machine is a private one-host SshdLab (h01), never the session lab. Its `power_control`
is the `command` controller running on this machine: `on_cmd`/`off_cmd` run a small client
script that asks a `PowerBox` control server inside the test to stop or start that lab's
sshd, like a PDU cutting and restoring power. The box can also act "slowly" the way real
machines do: after `on` it answers at once but only boots once the runbook has tried to reach
the host while it was still down; after `off` it only goes down once the runbook has reached
it while it was still up. So `wait_up` / `wait_down` really wait, and the box's timestamps
(epoch, like the report's) show the order of events; nothing sleeps a fixed time. Last, a
SIGTERM during a power step must kill the controller command it is waiting for.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.sshlab import SshdLab
from tests.test_apply_sshd import REPO, apply, marker_pids, results, wait_no_marker

# Every wait of the box is bounded; a test that does not see its event fails, never hangs.
BOX_DEADLINE = 30.0

# Prints the pids from the shell up to init: the restarted sshd must be among them.
ANCESTORS = ('p=$$; while [ "$p" -gt 1 ]; do echo "$p"; '
             "p=$(sed 's/.*) //' /proc/$p/stat | cut -d' ' -f2); done")

CLIENT = """\
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60) as conn:
    conn.sendall(sys.argv[2].encode() + b"\\n")
    reply = conn.makefile().readline().strip()
print(reply)
sys.exit(1 if reply.startswith("error") else 0)
"""


class PowerBox:
    """The power switch of one SshdLab host, driven over a loopback TCP control socket.

    Commands (one line each, answered with one line): ``off`` / ``on`` stop / start sshd
    before answering; ``on-slow`` answers, then boots only after a connection attempt reached
    the still-dead host; ``off-slow`` answers, then stops sshd only after another SSH login
    succeeded; ``on-broken`` answers and never boots; ``status`` answers running|stopped.
    ``events`` maps what happened to when (time.time(); "booting" / "stopping" are taken
    just before sshd starts / stops, "on" / "off" once that is done); ``errors`` collects
    failures.
    """

    def __init__(self, lab: SshdLab) -> None:
        self.lab = lab
        self.address = lab.addresses[0]
        self.events: dict[str, float] = {}
        self.errors: list[str] = []
        self.listeners: list[int] = []  # sshd listener pid after each start
        self._threads: list[threading.Thread] = []
        box = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                command = self.rfile.readline().decode().strip()
                try:
                    reply = box.handle(command)
                except Exception as exc:
                    box.errors.append(f"{command}: {exc!r}")
                    reply = f"error {exc}"
                self.wfile.write(reply.encode() + b"\n")

        self.server = socketserver.TCPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._serving = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._serving.start()
        self.listeners.append(sshd_listener(lab))

    def command(self, script: Path, what: str) -> str:
        """The shell command a controller runs to send ``what`` to this box."""
        return f"{sys.executable} {script} {self.port} {what}"

    def handle(self, command: str) -> str:
        if command == "off":
            self.lab.stop()
            self._mark("off")
            return "ok sshd stopped"
        if command == "on":
            self._start()
            return "ok sshd started"
        if command == "on-slow":
            self._mark("on requested")
            self._background(self._boot_when_probed)
            return "ok booting"
        if command == "off-slow":
            logins = self._logins()
            self._mark("off requested")
            self._background(lambda: self._halt_after_login(logins))
            return "ok shutting down"
        if command == "on-broken":
            self._mark("on requested")
            return "ok power restored (this host will not boot)"
        if command == "status":
            return "running" if self.lab.running else "stopped"
        raise ValueError(f"unknown box command {command!r}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for thread in self._threads:
            thread.join(BOX_DEADLINE)

    # ------------------------------------------------------------------ internals
    def _mark(self, event: str) -> None:
        self.events[event] = time.time()

    def _start(self) -> None:
        self._mark("booting")  # before start(): a client may get in before start() returns
        self.lab.start()
        self.listeners.append(sshd_listener(self.lab))
        self._mark("on")

    def _background(self, work: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                work()
            except Exception as exc:
                self.errors.append(f"{work}: {exc!r}")

        thread = threading.Thread(target=guarded, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _boot_when_probed(self) -> None:
        """Hold the dead host's port, accept one attempt (and hang up), then boot sshd."""
        with socket.socket() as dead:
            dead.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            dead.bind((self.address, self.lab.port))
            dead.listen()
            dead.settimeout(BOX_DEADLINE)
            probe, _ = dead.accept()  # TimeoutError: nobody waited for the host
            probe.close()
        self._mark("probed while down")
        self._start()

    def _logins(self) -> int:
        return self.lab.log_text().count("Accepted publickey")

    def _halt_after_login(self, before: int) -> None:
        deadline = time.monotonic() + BOX_DEADLINE
        while self._logins() <= before:
            if time.monotonic() > deadline:
                raise TimeoutError("nobody logged in after off-slow")
            time.sleep(0.05)
        self._mark("probed while up")
        self._mark("stopping")  # before stop(): clients see it go away before stop() returns
        self.lab.stop()
        self._mark("off")


def sshd_listener(lab: SshdLab) -> int:
    """Pid of the running sshd listener of ``lab`` (a child of this process)."""
    config = str(lab.directory / "sshd_config.0")
    me = str(os.getpid())
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            stat = (proc / "stat").read_text()
            ppid = stat[stat.rfind(")") + 2 :].split()[1]
            if ppid == me and config in (proc / "cmdline").read_bytes().decode():
                return int(proc.name)
    raise AssertionError(f"no sshd listener of {lab.directory} found")


@pytest.fixture
def machine(sshd_binary: Path) -> Iterator[SshdLab]:
    """A one-host sshd lab of this test's own: stopping it disturbs no other test."""
    with SshdLab(n_hosts=1) as lab:
        yield lab


@pytest.fixture
def box(machine: SshdLab) -> Iterator[PowerBox]:
    power_box = PowerBox(machine)
    yield power_box
    power_box.close()


def power_lab(tmp_path: Path, machine: SshdLab, box: PowerBox, *, on: str, off: str) -> Path:
    script = tmp_path / "powerctl.py"
    script.write_text(CLIENT)
    spec = {"type": "command", "on_cmd": box.command(script, on),
            "off_cmd": box.command(script, off), "status_cmd": box.command(script, "status"),
            "status_on": "running", "cycle_delay": 0, "timeout": 30}
    return machine.lab_yaml(tmp_path / "lab.yml", extra={"hosts": {"h01": {"power_control": spec}}})


def book(*steps: dict[str, Any]) -> str:
    return yaml.safe_dump({"name": "power e2e", "steps": list(steps)}, sort_keys=False)


def pids(output: str) -> list[int]:
    return [int(line) for line in output.split()]


def test_cycle_with_wait_up_reaches_the_restarted_sshd(tmp_path: Path, machine: SshdLab,
                                                       box: PowerBox) -> None:
    lab = power_lab(tmp_path, machine, box, on="on-slow", off="off")
    proc, report = apply(tmp_path, lab, book(
        {"name": "before", "hosts": "h01", "run": ANCESTORS},
        {"name": "cycle", "hosts": "h01", "power": {"action": "cycle", "wait_up": 60}},
        {"name": "after", "hosts": "h01", "run": ANCESTORS}))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert box.errors == []
    before, power, after = (results(report, i)["h01"] for i in range(3))
    assert [before["status"], power["status"], after["status"]] == ["success"] * 3
    assert power["output"] == "off: ok sshd stopped; on: ok booting\nup\n"
    # the shell after the cycle is a new one, spawned by the restarted sshd
    first_sshd, second_sshd = box.listeners
    assert first_sshd in pids(before["output"])
    assert second_sshd in pids(after["output"]) and first_sshd not in pids(after["output"])
    assert pids(before["output"])[0] != pids(after["output"])[0]
    # off, on, a probe while the host was still down, boot; only then did wait_up end
    t = box.events
    assert power["started"] <= t["off"] <= t["on requested"] <= t["probed while down"]
    assert t["probed while down"] <= t["booting"] <= power["ended"] <= after["started"]


def test_transcript_has_the_power_action_and_the_reconnect(tmp_path: Path, machine: SshdLab,
                                                           box: PowerBox) -> None:
    """An SSH host's `hosts/<id>.log` (docs/records.md): the power cycle, the reconnect to
    the restarted sshd (wait_up's probe) and how the cycle ended, in order between the
    commands around them."""
    lab = power_lab(tmp_path, machine, box, on="on", off="off")
    proc, _ = apply(tmp_path, lab, book(
        {"name": "before", "hosts": "h01", "run": "echo before-power"},
        {"name": "cycle", "hosts": "h01", "power": {"action": "cycle", "wait_up": 60}},
        {"name": "after", "hosts": "h01", "run": "echo after-power"}),
        "--runs-dir", str(tmp_path / "runs"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (folder,) = (tmp_path / "runs").iterdir()
    log = (folder / "hosts" / "h01.log").read_text()
    endpoint = f"{machine.address_of('h01')}:{machine.port}"
    expected = ["run: echo before-power", f"connecting to {endpoint}",
                f"connected to {endpoint}", "before-power\n", "step 2 'cycle' (power)",
                "Z power cycle\n",
                # wait_up reaches the restarted sshd on a new connection
                f"reconnecting to {endpoint} (the connection was lost)",
                f"connected to {endpoint}",
                "Z power cycle success: off: ok sshd stopped; on: ok sshd started; up\n",
                "step 3 'after' (run)", "run: echo after-power", "after-power\n"]
    at = 0
    for text in expected:  # each after the one before it
        found = log.find(text, at)
        assert found >= 0, f"{text!r} not after position {at} in:\n{log}"
        at = found + len(text)


def test_wait_up_that_times_out_fails_the_host(tmp_path: Path, machine: SshdLab,
                                               box: PowerBox) -> None:
    lab = power_lab(tmp_path, machine, box, on="on-broken", off="off")
    proc, report = apply(tmp_path, lab, book(
        {"name": "cycle", "hosts": "h01", "power": {"action": "cycle", "wait_up": 3}},
        {"name": "after", "hosts": "h01", "run": "echo never"}))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert report["status"] == "failed"
    power, after = results(report, 0)["h01"], results(report, 1)["h01"]
    assert power["status"] == "failed"
    assert power["message"] == "not up 3s after power cycle"
    assert "on: ok power restored (this host will not boot)" in power["output"]
    assert power["ended"] - box.events["on requested"] >= 3  # waited the full 3 s
    assert after["status"] == "skipped"
    assert "not up 3s after power cycle" in proc.stdout
    assert not machine.running and box.errors == []


def test_off_with_wait_down_then_status(tmp_path: Path, machine: SshdLab, box: PowerBox) -> None:
    lab = power_lab(tmp_path, machine, box, on="on", off="off-slow")
    proc, report = apply(tmp_path, lab, book(
        {"name": "before", "hosts": "h01", "run": "echo up"},
        {"name": "off", "hosts": "h01", "power": {"action": "off", "wait_down": 60}},
        {"name": "state", "hosts": "h01", "power": "status"}))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert box.errors == []
    off, state = results(report, 1)["h01"], results(report, 2)["h01"]
    assert off["status"] == "success" and off["output"] == "ok shutting down\ndown\n"
    # the controller answered first; wait_down still reached the host, then saw it go away
    t = box.events
    assert off["started"] <= t["off requested"] <= t["probed while up"] <= t["stopping"]
    assert t["stopping"] <= off["ended"]
    assert state["state"] == "off" and not machine.running


def test_power_box_refuses_unknown_commands(tmp_path: Path, box: PowerBox) -> None:
    """The client script fails loudly, so a typo in a test's lab cannot pass silently."""
    script = tmp_path / "powerctl.py"
    script.write_text(CLIENT)
    done = subprocess.run(box.command(script, "reboot"), shell=True, capture_output=True,
                          text=True, check=False, timeout=30)
    assert done.returncode == 1 and "unknown box command 'reboot'" in done.stdout


def test_sigterm_during_a_power_step_kills_the_controller_command(tmp_path: Path,
                                                                   machine: SshdLab) -> None:
    marker = f"sleep 41.{secrets.randbelow(10**9):09d}"
    spec = {"type": "command", "on_cmd": f"{marker}; echo done", "off_cmd": "true"}
    lab = machine.lab_yaml(tmp_path / "lab.yml", extra={"hosts": {"h01": {"power_control": spec}}})
    path = tmp_path / "book.yml"
    path.write_text(book({"name": "on", "hosts": "h01", "power": {"action": "on", "wait_up": 60}},
                         {"name": "after", "hosts": "h01", "run": "echo never"}))
    report = tmp_path / "report.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook", "apply", str(path), "--lab", str(lab),
         "--report-json", str(report)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + BOX_DEADLINE
        while len(marker_pids(marker)) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.05)
        assert len(marker_pids(marker)) == 2  # the controller's shell and its sleep
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out
    data = json.loads(report.read_text())
    assert data["status"] == "interrupted"
    assert results(data, 0)["h01"]["status"] == "error"
    assert results(data, 1)["h01"]["status"] == "skipped"
    assert wait_no_marker(marker) == []
