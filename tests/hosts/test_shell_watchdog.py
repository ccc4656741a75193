"""The watchdog of remote shells and oneshots (`WATCHDOG` in runbook/hosts/shell.py), on the
real sshd lab: `runbook apply` killed with `kill -9` leaves no remote command running (its
session ended, so the watchdog kills the command's process group), also under sudo; and a
shell or oneshot that ends normally takes its watchdog with it, while the connection stays."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runbook.hosts.shelltext import WATCHDOG, tracked_oneshot, watched_oneshot
from runbook.hosts.ssh import RemoteHost
from runbook.results import CommandStatus, Status
from tests.hosts.conftest import HostFactory
from tests.sshlab import SshdLab
from tests.test_apply_sshd import REPO, wait_no_marker

#: Seconds the watchdogs get to clean up (they look every 2 s, then TERM, KILL 2 s later).
CLEANUP_DEADLINE = 20.0


def _held_command(action: str) -> tuple[str, str]:
    """The command holding each host (`sleep 300`) and the text `pgrep -f` finds it by: a
    "plain" one is a `plain_command`, which the oneshot runs by `exec` (no shell above it)."""
    if action.endswith("plain"):
        sleeper = f"sleep 300 0.{uuid.uuid4().int % 10**12:012d}"
        return sleeper, sleeper
    marker = f"wd-{uuid.uuid4().hex}"
    return f"sh -c 'sleep 300; true {marker}'", f"sleep 300; true {marker}"


def _book(tmp_path: Path, command: str, action: str, become: bool) -> Path:
    """`command` holds the hosts; "shell+oneshot" and "shell+plain" are a oneshot after a
    `run` step, so the persistent shell's watchdog guards it (`tracked_oneshot`) instead of
    one of its own."""
    book = tmp_path / "held.yml"
    first = ""
    if action.startswith("shell+"):
        first = '  - {name: shell, hosts: "^h0[1-3]$", run: "true"}\n'
    if action != "run":
        action = "oneshot"
    book.write_text(f"""
name: held
steps:
{first}  - name: hold
    hosts: "^h0[1-3]$"
    become: {str(become).lower()}
    {action}: {command}
""")
    return book


@pytest.mark.parametrize(("action", "become"), [("run", False), ("oneshot", False),
                                                ("shell+oneshot", False), ("plain", False),
                                                ("shell+plain", False),
                                                ("run", True), ("oneshot", True)])
def test_kill_9_of_apply_ends_the_remote_commands(sshd_lab: SshdLab, tmp_path: Path,
                                                  request: pytest.FixtureRequest,
                                                  action: str, become: bool) -> None:
    extra: dict[str, Any] = {}
    if become:  # log in as the NOPASSWD sudo user, become root
        accounts = request.getfixturevalue("sudo_accounts")
        extra = {"defaults": {"user": accounts.nopass, "agent": False}}
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=["h01", "h02", "h03"], extra=extra)
    command, marker = _held_command(action)
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook", "apply", str(_book(tmp_path, command, action, become)),
         "--lab", str(lab)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        deadline = time.monotonic() + 60
        while _held(marker) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, (
                proc.stdout.read() if proc.stdout and proc.poll() is not None else "")
            time.sleep(0.1)
        proc.kill()  # no handler runs: only the hosts can clean up
        proc.communicate(timeout=30)
        assert wait_no_marker(marker, CLEANUP_DEADLINE) == []  # the groups, watchdogs too
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run(["pkill", "-f", marker], check=False)


def _held(marker: str) -> int:
    """How many held commands run (one per host once all are held)."""
    found = subprocess.run(["pgrep", "-f", marker], check=False,
                           capture_output=True, text=True)
    return len(found.stdout.split())


def _group_gone(pgid: int, watchdog: int) -> bool:
    """True once no process of group `pgid` remains (shell, watchdog, its tail) nor `watchdog`."""
    deadline = time.monotonic() + CLEANUP_DEADLINE
    while time.monotonic() < deadline:
        group = subprocess.run(["pgrep", "-g", str(pgid)], check=False, capture_output=True,
                               text=True).stdout.split()
        if not group and not Path(f"/proc/{watchdog}").exists():
            return True
        time.sleep(0.1)
    return False


def test_a_normal_end_leaves_no_watchdog(ssh_host_factory: Callable[..., RemoteHost]) -> None:
    """The shell's exit (here `exit 0` in a step) and a oneshot's end, also one with an EXIT
    trap of its own, stop their watchdogs at once, though the connection, whose end the
    watchdogs wait for, stays open; exit statuses and output are the command's."""
    host = ssh_host_factory(3)
    probe = 'echo "$$ $__runbook_wd"'

    async def scenario() -> list[list[str]]:
        async with host:
            shell = (await host.run(probe)).output.split()
            guarded = await host.oneshot('echo "[$__runbook_wd]"')
            assert guarded.output == "[]\n", guarded  # the shell's watchdog guards it
            await host.run("exit 0")
            oneshot = (await host.oneshot(probe)).output.split()
            trapped = await host.oneshot(f"trap 'echo bye' EXIT; {probe}; exit 3")
            assert trapped.retcode == 3 and trapped.output.endswith("\nbye\n"), trapped
            pairs = [shell, oneshot, trapped.output.split()[:2]]
            assert all(len(pair) == 2 for pair in pairs), pairs  # a watchdog was started
            for pgid, watchdog in pairs:
                assert await asyncio.to_thread(_group_gone, int(pgid), int(watchdog)), pairs
            assert (await host.run("echo still connected")).output == "still connected\n"
            return pairs

    asyncio.run(asyncio.wait_for(scenario(), 120))


def test_a_steps_wait_does_not_wait_for_the_watchdog(host_factory: HostFactory) -> None:
    """`wait` with no argument in a step waits for the step's own background jobs only: the
    watchdog (started by the same shell) is not one of them, in `run` nor in `oneshot`."""
    host = host_factory()
    command = "sleep 0.2 & wait; echo waited"

    async def scenario() -> list[CommandStatus]:
        async with host:
            return [(await host.run(command, timeout=20)).only,
                    await host.oneshot(command, timeout=20)]

    for result in asyncio.run(scenario()):
        assert (result.status, result.output) == (Status.Success, "waited\n"), result


def test_a_oneshot_reads_its_command_byte_for_byte_in_a_utf8_locale() -> None:
    """The oneshot text counts the command in bytes whatever the shell's locale (a UTF-8
    command read as characters would swallow what follows it or wait for more)."""
    command = "printf '%s\\n' 'héllo — ✓ \"q\"'\necho \"$((6 * 7))\"\n"
    script = command.encode()
    proc = subprocess.Popen(["bash", "-c", watched_oneshot(len(script))],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"})
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(script)
        proc.stdin.flush()  # stdin stays open, as the SSH channel's does
        out = proc.stdout.read()  # the watchdog holds no copy of stdout: EOF when bash ends
        assert proc.wait(timeout=20) == 0
    finally:
        proc.stdin.close()
        if proc.poll() is None:
            proc.kill()
    assert out.decode() == 'héllo — ✓ "q"\n42\n'


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="needs root and unshare to hide /dev/ptmx")
def test_without_a_usable_pty_the_bash_watchdog_waits_with_tail(tmp_path: Path) -> None:
    """Where /dev/ptmx does not block (here /dev/null is mounted over it, in a private mount
    namespace) the bash watchdog neither spins nor gives up: it waits in `tail --pid`, and
    when the session process ends it kills the shell's group."""
    marker = f"wd-{uuid.uuid4().hex}"
    session = subprocess.Popen(["sleep", "600"])
    script = (f"__runbook_sess={session.pid}; {WATCHDOG}; echo \"$__runbook_wd\"; "
              f"sh -c 'sleep 300; true {marker}'")
    shell = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount --bind /dev/null /dev/ptmx && exec setsid bash -c "$0"', script],
        stdout=subprocess.PIPE, text=True)
    try:
        assert shell.stdout is not None
        watchdog = int(shell.stdout.readline())
        deadline = time.monotonic() + 20
        while not _children_named(watchdog, "tail"):
            assert time.monotonic() < deadline, "the watchdog never waited in tail"
            time.sleep(0.05)
        session.kill()
        session.wait()
        assert wait_no_marker(marker, CLEANUP_DEADLINE) == []
        assert shell.wait(timeout=CLEANUP_DEADLINE) != 0  # killed by the watchdog
    finally:
        for proc in (session, shell):
            if proc.poll() is None:
                proc.kill()
        subprocess.run(["pkill", "-f", marker], check=False)


def _children_named(pid: int, name: str) -> list[str]:
    found = subprocess.run(["pgrep", "-P", str(pid), "-x", name], check=False,
                           capture_output=True, text=True)
    return found.stdout.split()


def test_a_oneshot_given_a_stale_guard_starts_its_own_watchdog_and_signals_nobody() -> None:
    """`tracked_oneshot` trusts the watchdog pid it was given only after /proc shows it is a
    child of the named shell, itself a child of the oneshot's session: a stale pair (the
    shell restarted, the pid reused by some other process) gets a watchdog of its own, and
    the process now holding that pid gets no signal (SIGUSR2 would end this `sleep`)."""
    shell = subprocess.Popen(["sleep", "60"])
    reused = subprocess.Popen(["sleep", "60"])  # a child of this test, not of `shell`
    command = b'echo "[$__runbook_wd]"'
    try:
        proc = subprocess.run(["bash", "-c", tracked_oneshot(len(command), reused.pid, shell.pid)],
                              input=command, capture_output=True, timeout=20, check=True)
        assert proc.stdout.strip() not in (b"", b"[]"), proc  # its own watchdog's pid
        assert reused.poll() is None
    finally:
        for sleeper in (shell, reused):
            sleeper.kill()
            sleeper.wait()


def _signals_caught(pid: int) -> int:
    """The mask of signals `pid` has a handler for (SigCgt in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    return 0


def _sleeps(pid: int) -> int:
    """How many times `pid` went to sleep of its own accord (to know it is waiting again)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    return 0


def _state(pid: int) -> str:
    """`pid`'s state letter from /proc/PID/stat, or "gone"."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)



@contextlib.contextmanager
def _guarded_scene(tmp_path: Path, session_end: str) -> Iterator[dict[str, int]]:
    """A session process (a bash that then runs `session_end`) with two children, each in a
    session of its own as sshd starts a channel's shell: a shell running `WATCHDOG`, and a
    process named `a) b c` (a copy of `sleep`), which the watchdog has noted on SIGUSR2 as a
    oneshot of the session asks it to. Yields their pids: "s" the session, "p" the shell,
    "w" its watchdog, "g" the guarded process; kills them all after."""
    odd = tmp_path / "a) b c"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", odd)
    session = subprocess.Popen(
        ["bash", "-c", f'setsid bash -c "$WD" & setsid "$ODD" 300 & echo "g $!"; {session_end}'],
        env={**os.environ, "ODD": str(odd),
             "WD": f'{WATCHDOG}; echo "w $__runbook_wd"; echo "p $$"; exec sleep 300'},
        stdout=subprocess.PIPE, text=True)
    pids: dict[str, int] = {}
    try:
        assert session.stdout is not None
        pids = {key: int(pid) for key, pid in
                (session.stdout.readline().split() for _ in range(3))}
        _wait_for(lambda: _signals_caught(pids["w"]) & (1 << 11) != 0,
                  "the watchdog never set its SIGUSR2 trap")
        before = _sleeps(pids["w"])
        os.kill(pids["w"], signal.SIGUSR2)
        _wait_for(lambda: _sleeps(pids["w"]) > before, "the watchdog never waited again")
        yield {"s": session.pid, **pids}
    finally:
        for pid in [session.pid, *pids.values()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        session.wait()


def test_the_shell_watchdog_kills_a_guarded_process_whose_name_has_a_parenthesis(
        tmp_path: Path) -> None:
    """The bash watchdog finds a process's state and start time in /proc/PID/stat past the
    last ") " of its name: the guarded `a) b c` is killed once the session process is gone."""
    with _guarded_scene(tmp_path, "wait") as pids:
        os.kill(pids["s"], signal.SIGKILL)
        _wait_for(lambda: _state(pids["g"]) in ("gone", "Z"), "the guarded process stayed",
                  CLEANUP_DEADLINE)


def test_after_a_normal_end_the_watchdog_does_not_wait_for_a_guarded_zombie(
        tmp_path: Path) -> None:
    """A shell that ended normally (SIGUSR1) keeps its watchdog only while a guarded process
    runs: one that ended but is not reaped yet (a zombie: its parent, the session process,
    never reaps) is not waited for, though its name `a) b c` puts words between the pid and
    the state in /proc/PID/stat."""
    with _guarded_scene(tmp_path, "exec sleep 300") as pids:
        os.kill(pids["g"], signal.SIGKILL)
        _wait_for(lambda: _state(pids["g"]) == "Z", "the guarded process never ended")
        os.kill(pids["w"], signal.SIGUSR1)  # the shell ended normally
        _wait_for(lambda: _state(pids["w"]) in ("gone", "Z"), "the watchdog stayed", 10)
