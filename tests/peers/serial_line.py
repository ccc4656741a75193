"""A real serial line: a pty pair made by socat with a real bash on the other end.

socat creates a pty whose slave the client opens as its serial device (`device`), and runs
`bash -i` on a second pty of its own (`pty,setsid,ctty`), so the shell sees a terminal that
echoes like a board's console. `tty_of_shell()` names that terminal: writing to it puts text
on the line as the kernel of a board would (console noise). With `tcp=True` socat listens on a
loopback TCP port instead, like a terminal server's raw port, and `device` is the pyserial URL
`socket://127.0.0.1:PORT`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from tests.peers import stop_process, wait_until

SOCAT = "/usr/bin/socat"


class SerialPeer:
    """`with SerialPeer() as line:` -> `line.device` is a pty path with a shell behind it."""

    def __init__(self, program: str = "bash --noprofile --norc -i", *, tcp: bool = False) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="serialpeer-"))
        self.port = free_port() if tcp else 0
        self.device = (f"socket://127.0.0.1:{self.port}" if tcp
                       else str(self.directory / "ttyS0"))
        self._program = program
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SerialPeer:
        env = {**os.environ, "PS1": "board# ", "HOME": str(self.directory), "TERM": "vt100"}
        near = (f"tcp-listen:{self.port},bind=127.0.0.1,reuseaddr" if self.port
                else f"pty,link={self.device},rawer,echo=0")
        self._proc = subprocess.Popen(
            [SOCAT, near, f"exec:{self._program},pty,setsid,ctty,stderr,sane"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, env=env)
        if self.port:  # not by connecting: socat serves one connection
            wait_until(lambda: _listening(self.port), f"socat on TCP port {self.port}")
        else:
            wait_until(lambda: Path(self.device).exists(), f"socat pty {self.device}")
        return self

    def shell_pid(self) -> int:
        """Pid of the program socat runs on the far end of the line."""
        assert self._proc is not None
        children = Path(f"/proc/{self._proc.pid}/task/{self._proc.pid}/children")
        wait_until(lambda: bool(children.read_text().split()), "the shell behind socat")
        return int(children.read_text().split()[0])

    def tty_of_shell(self) -> str:
        """The terminal the far-end program has as its console (for writing noise)."""
        fd0 = f"/proc/{self.shell_pid()}/fd/0"
        wait_until(lambda: os.readlink(fd0).startswith("/dev/pts/"), "the shell's terminal")
        return os.readlink(fd0)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        stop_process(self._proc)
        import shutil

        shutil.rmtree(self.directory, ignore_errors=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    """True when a socket listens on 127.0.0.1:`port` (read from /proc/net/tcp)."""
    wanted = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and fields[3] == "0A":
            return True
    return False
