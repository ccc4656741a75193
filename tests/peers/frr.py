"""A real network CLI: FRRouting's zebra with a private state dir, and vtysh reached over SSH.

zebra runs as the `frr` user with its vty socket, zserv socket, pid and config in a temp dir
(nothing in /etc/frr or /run/frr is touched). An `SshdLab` with one host runs, for every
session, `vtysh --vty_socket DIR` as a ForceCommand: logging in over SSH lands in the router
CLI, as on a network device that runs sshd with a CLI instead of a shell.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from tests.peers import stop_process, wait_until
from tests.sshlab import SshdLab

ZEBRA = "/usr/lib/frr/zebra"
VTYSH = "/usr/bin/vtysh"
HOSTNAME = "router1"


class _VtyshSshdLab(SshdLab):
    """An SshdLab whose sessions all run `command` (sshd ForceCommand)."""

    def __init__(self, command: str) -> None:
        self._force_command = command
        super().__init__(n_hosts=1)

    def _base_options(self) -> list[str]:
        return [*super()._base_options(), f"ForceCommand {self._force_command}"]


class FrrPeer:
    """`with FrrPeer() as frr:` -> `frr.ssh` (an SshdLab) logs into vtysh of a running zebra."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="frrpeer-"))
        shutil.chown(self.directory, "frr", "frr")
        self._zebra: subprocess.Popen[bytes] | None = None
        config = self.directory / "zebra.conf"
        config.write_text(f"hostname {HOSTNAME}\n")
        shutil.chown(config, "frr", "frr")
        wrapper = self.vtysh_login = self.directory / "vtysh-login"
        wrapper.write_text(f"#!/bin/sh\nexec {VTYSH} --vty_socket {self.directory}\n")
        wrapper.chmod(0o755)
        self.ssh = _VtyshSshdLab(str(wrapper))

    def __enter__(self) -> FrrPeer:
        d = self.directory
        self._zebra = subprocess.Popen(
            [ZEBRA, "--vty_socket", str(d), "-z", str(d / "zserv.api"), "-i", str(d / "zebra.pid"),
             "-f", str(d / "zebra.conf"), "-A", "127.0.0.1", "-P", "0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=(d / "zebra.log").open("ab"), start_new_session=True)
        wait_until(self._vtysh_answers, "zebra (vtysh 'show version')", timeout=20)
        self.ssh.start()
        return self

    def _vtysh_answers(self) -> bool:
        if self._zebra is not None and self._zebra.poll() is not None:
            log = (self.directory / "zebra.log").read_text(errors="replace")
            raise RuntimeError(f"zebra exited with {self._zebra.returncode}:\n{log[-2000:]}")
        probe = subprocess.run([VTYSH, "--vty_socket", str(self.directory), "-c", "show version"],
                               capture_output=True, check=False, timeout=10)
        return probe.returncode == 0 and b"FRRouting" in probe.stdout

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.ssh.close()
        stop_process(self._zebra)
        shutil.rmtree(self.directory, ignore_errors=True)
