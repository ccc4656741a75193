"""Real peers for the console tests: telnetd, a serial line made by socat, FRRouting.

Each peer is a context manager that starts a real Debian program on loopback (or on a pty),
polls for readiness with a deadline and cleans up what it started. `require(...)` skips a test
when a program is missing, or fails it under CI (env CI set): CI never skips a peer.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.sshlab import running_in_ci

READY_TIMEOUT = 10.0
INSTALL_HINT = "run scripts/install-test-deps.sh (apt-get install {package})"


class PeerError(RuntimeError):
    """A peer did not start; the message says what was waited for."""


def require(path: str, package: str) -> None:
    """Skip (or fail under CI) the calling test when program `path` is not installed."""
    import pytest

    if Path(path).is_file() or shutil.which(path):
        return
    message = f"{path} is missing; " + INSTALL_HINT.format(package=package)
    if running_in_ci():
        pytest.fail(f"CI is set but {message}", pytrace=False)
    pytest.skip(message)


def wait_until(ready: Callable[[], bool], what: str, timeout: float = READY_TIMEOUT) -> None:
    """Poll `ready` until it is true; PeerError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise PeerError(f"{what} not ready after {timeout:g} s")
        time.sleep(0.02)


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    """Kill a process started by a peer (its own session, so its children too) and reap it."""
    import os
    import signal

    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)


TEST_USER = "rbconsole"
TEST_PASSWORD = "console-Pw-7"


def ensure_test_user() -> tuple[str, str]:
    """A local user with a password, bash and sudo rights (CI runs as root); (user, password).

    sudo asks this user for the password, which is what the interact tests answer.
    """
    if subprocess.run(["id", TEST_USER], capture_output=True, check=False).returncode != 0:
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", TEST_USER], check=True,
                       capture_output=True)
    subprocess.run(["chpasswd"], input=f"{TEST_USER}:{TEST_PASSWORD}\n".encode(), check=True,
                   capture_output=True)
    sudoers = Path(f"/etc/sudoers.d/{TEST_USER}")
    if Path("/etc/sudoers.d").is_dir() and not sudoers.exists():
        sudoers.write_text(f"{TEST_USER} ALL=(ALL) ALL\n")
        sudoers.chmod(0o440)
    return TEST_USER, TEST_PASSWORD
