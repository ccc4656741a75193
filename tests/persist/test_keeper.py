"""Warm re-runs against the real sshd lab: `runbook apply --persist` twice, the keeper's
connection counts (not timing) prove the reuse; a restarted host, shell state, --stop,
idle exit and a peer of another uid."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runbook.persist import LOG_NAME
from runbook.persist.wire import peer_uid, same_user
from tests.sshlab import SshdLab

REPO = Path(__file__).resolve().parent.parent.parent
HOSTS = ["h01", "h02", "h03"]
BOOK = """\
name: warm
steps:
  - name: state
    hosts: "^h0[1-3]$"
    run: ["echo X=[$X]", "export X=1"]
  - name: upload
    hosts: "^h0[1-3]$"
    put: {src: BOOK_FILE, dest: "DEST/{{ host.id }}"}
  - name: sum
    hosts: "^h0[1-3]$"
    oneshot: "md5sum DEST/{{ host.id }}/book.yml"
"""


class Keeper:
    """The test's own keeper folder and the runbook commands that use it."""

    def __init__(self, tmp_path: Path, lab: SshdLab) -> None:
        self.env = {**os.environ, "RUNBOOK_STATE_DIR": str(tmp_path / "state")}
        self.env.pop("COLUMNS", None)
        self.lab_file = lab.lab_yaml(tmp_path / "lab.yml", host_ids=HOSTS)
        self.book = tmp_path / "book.yml"
        self.book.write_text(BOOK.replace("BOOK_FILE", str(self.book))
                             .replace("DEST", str(tmp_path / "remote")))
        self.pids: set[int] = set()

    def runbook(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "runbook", *args], cwd=REPO, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def apply(self, persist: str = "60s") -> subprocess.CompletedProcess[str]:
        proc = self.runbook("apply", "-v", str(self.book), "--lab", str(self.lab_file),
                            "--persist", persist)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def status(self) -> dict[str, Any]:
        from runbook.persist.client import control

        old = os.environ.get("RUNBOOK_STATE_DIR")
        os.environ["RUNBOOK_STATE_DIR"] = self.env["RUNBOOK_STATE_DIR"]
        try:
            status = control("status")
        finally:
            if old is None:
                os.environ.pop("RUNBOOK_STATE_DIR")
            else:
                os.environ["RUNBOOK_STATE_DIR"] = old
        assert status is not None, "no keeper runs"
        self.pids.add(status["pid"])
        return status


def gone(pid: int, deadline_s: float = 15.0) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def keeper(tmp_path: Path, sshd_lab: SshdLab) -> Iterator[Keeper]:
    """A keeper folder of the test's own; the keeper is stopped (or killed) at the end."""
    made = Keeper(tmp_path, sshd_lab)
    yield made
    made.runbook("persist", "--stop")
    for pid in made.pids:
        if not gone(pid, 5.0):
            os.kill(pid, 9)


def test_a_second_run_reuses_the_connections_with_fresh_shells(keeper: Keeper) -> None:
    first = keeper.apply()
    opened = keeper.status()["opened"]
    assert opened == len(HOSTS)
    second = keeper.apply()
    status = keeper.status()
    assert status["opened"] == len(HOSTS), "the second run opened new connections"
    assert status["reused"] >= 3 * len(HOSTS)
    # `export X=1` of the first run does not reach the second: shells are per run
    assert first.stdout.count("X=[]") == len(HOSTS)
    assert second.stdout.count("X=[]") == len(HOSTS), second.stdout
    assert second.stdout.count("book.yml") >= len(HOSTS)
    state = Path(keeper.env["RUNBOOK_STATE_DIR"])
    assert (state.stat().st_mode & 0o777, (state / "keeper.sock").stat().st_mode & 0o777) \
        == (0o700, 0o600)
    shown = keeper.runbook("persist", "--status")
    assert shown.returncode == 0
    assert f"{len(HOSTS)} connection(s) kept" in shown.stdout
    assert re.search(r"exits after \d+ s more without a run", shown.stdout), shown.stdout


def test_a_host_restarted_between_runs_is_reconnected(keeper: Keeper, sshd_lab: SshdLab) -> None:
    keeper.apply()
    assert keeper.status()["opened"] == len(HOSTS)
    sshd_lab.restart()  # every kept connection dies with its sshd
    keeper.apply()
    status = keeper.status()
    assert status["opened"] == 2 * len(HOSTS)
    assert len(status["connections"]) == len(HOSTS)


def test_a_jump_host_chain_is_kept_and_shared(keeper: Keeper, sshd_lab: SshdLab,
                                              tmp_path: Path) -> None:
    keeper.lab_file = sshd_lab.lab_yaml(
        tmp_path / "hops.yml", host_ids=HOSTS,
        extra={"hosts": {"h02": {"hop": "h01"}, "h03": {"hop": "h01"}}})
    keeper.apply()
    keeper.apply()
    status = keeper.status()
    labels = sorted(c["label"] for c in status["connections"])
    # h01 is a target and the jump host of the others: one connection serves both
    assert status["opened"] == len(HOSTS), labels
    assert sum(" via " in label for label in labels) == 2, labels


def test_stop_ends_the_keeper(keeper: Keeper) -> None:
    keeper.apply()
    pid = keeper.status()["pid"]
    stopped = keeper.runbook("persist", "--stop")
    assert stopped.returncode == 0 and f"keeper (pid {pid}) stopped" in stopped.stdout
    assert gone(pid)
    assert "no keeper running" in keeper.runbook("persist").stdout


def test_an_idle_keeper_exits(keeper: Keeper) -> None:
    keeper.apply(persist="1s")
    # from the keeper's log, not a status call: on a loaded machine the second of idle time
    # can be over before this process gets to ask
    log = (Path(keeper.env["RUNBOOK_STATE_DIR"]) / LOG_NAME).read_text(encoding="utf-8")
    started = re.findall(r"listening \(pid (\d+),", log)
    assert started, f"the keeper did not start: {log}"
    assert gone(int(started[-1])), "the keeper outlived its idle time"


def test_peer_credentials_name_the_other_end() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        assert peer_uid(left) == os.getuid()
        assert same_user(left)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user")
def test_a_peer_of_another_uid_is_refused(keeper: Keeper, tmp_path: Path) -> None:
    from tests.peers import TEST_USER, ensure_test_user

    ensure_test_user()
    keeper.apply()
    status = keeper.status()
    state = Path(keeper.env["RUNBOOK_STATE_DIR"])
    sock = state / "keeper.sock"
    # Open the folder on purpose, so that only the keeper's SO_PEERCRED check stands between
    # the other user and the connections.
    for path in [tmp_path.parent.parent, tmp_path.parent, tmp_path, state]:
        path.chmod(path.stat().st_mode | 0o011)
    sock.chmod(0o666)
    probe = ("import socket,struct,json,sys\n"
             "s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
             "b=json.dumps({'id':1,'op':'status'}).encode()\n"
             "try:\n"
             "    s.sendall(struct.pack('!I',len(b))+b); print('answer' if s.recv(100) else 'closed')\n"
             "except (BrokenPipeError, ConnectionResetError): print('closed')\n")
    out = subprocess.run(["runuser", "-u", TEST_USER, "--", "/usr/bin/python3", "-c", probe,
                          str(sock)], capture_output=True, text=True, timeout=30, check=False)
    assert out.stdout.strip() == "closed", out.stdout + out.stderr
    state.chmod(0o700)
    assert keeper.status()["pid"] == status["pid"]
    assert "refused a connection from uid" in (state / "keeper.log").read_text()


def test_a_private_folder_is_required(keeper: Keeper) -> None:
    state = Path(keeper.env["RUNBOOK_STATE_DIR"])
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    proc = keeper.runbook("persist")
    assert proc.returncode == 3 and "open to other users" in proc.stderr


def test_ctrl_c_kills_what_the_keeper_runs(keeper: Keeper, tmp_path: Path) -> None:
    import signal

    from tests.test_apply_sshd import marker_pids, wait_no_marker

    marker = f"kept-{uuid.uuid4().hex}"
    book = tmp_path / "sleep.yml"
    book.write_text(f'name: s\nsteps:\n  - name: sleep\n    hosts: "^h0[1-3]$"\n'
                    f'    run: "sh -c \'sleep 60; echo {marker}\'"\n')
    proc = subprocess.Popen([sys.executable, "-m", "runbook", "apply", str(book), "--lab",
                             str(keeper.lab_file), "--persist", "60s"], cwd=REPO,
                            env=keeper.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 30
        while len(marker_pids(marker)) < len(HOSTS) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(marker_pids(marker)) >= len(HOSTS)
        keeper.status()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert wait_no_marker(marker) == []
