"""Byte streams to a console: a telnet port, a serial line, an SSH session with a pty.

Every console host talks to its device through one `ConsoleStream` (bytes in, bytes out), so
the login, the marker-framed shell, the CLI prompt handling and `interact` are written once.

Library choices: telnet goes through telnetlib3 (a maintained asyncio telnet client that does
the option negotiation; the stdlib `telnetlib` is gone in 3.13). Serial goes through pyserial's
`serial_for_url`, which opens device paths and the `rfc2217://`, `socket://` URL handlers alike;
a reader thread feeds the event loop, because pyserial-asyncio(-fast) waits on a file
descriptor, which the URL handlers do not have. Both are imported only when a stream opens.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any, Protocol

from runbook._lazyimport import lazy_module

if TYPE_CHECKING:
    import asyncio

    import asyncssh
else:
    asyncio = lazy_module("asyncio")

READ_CHUNK = 4096
#: Seconds a serial read waits before the reader thread checks whether it should stop.
SERIAL_POLL = 0.1


class ConsoleStream(Protocol):
    """A console's byte stream: the device's output in, keystrokes out."""

    async def read(self) -> bytes:
        """Next chunk of output; b'' when the stream has ended."""
        ...

    def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


class TelnetStream:
    """A telnet connection (telnetlib3) in binary mode."""

    def __init__(self, reader: Any, writer: Any) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, address: str, port: int, timeout: float) -> TelnetStream:
        import telnetlib3

        reader, writer = await asyncio.wait_for(
            telnetlib3.open_connection(address, port, encoding=False, term="dumb",
                                       connect_minwait=0.05, connect_maxwait=1.0),
            timeout)
        return cls(reader, writer)

    async def read(self) -> bytes:
        data = await self._reader.read(READ_CHUNK)
        return bytes(data) if data else b""

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()


class SerialStream:
    """A pyserial port; a daemon thread reads it and hands chunks to the event loop."""

    def __init__(self, port: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._port = port
        self._loop = loop
        self._chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="runbook-serial", daemon=True)
        self._thread.start()

    @classmethod
    async def open(cls, device: str, baud: int, timeout: float) -> SerialStream:
        import serial

        def opener() -> Any:
            return serial.serial_for_url(device, baudrate=baud, timeout=SERIAL_POLL,
                                         write_timeout=timeout)

        port = await asyncio.wait_for(asyncio.to_thread(opener), timeout)
        return cls(port, asyncio.get_running_loop())

    def _pump(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._port.read(max(1, self._port.in_waiting))
            except Exception:  # the port went away: end of stream
                data = None
            if data is None:
                break
            if data:
                self._deliver(bytes(data))
        self._deliver(b"")

    def _deliver(self, data: bytes) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is reading
            self._loop.call_soon_threadsafe(self._chunks.put_nowait, data)

    async def read(self) -> bytes:
        return await self._chunks.get()

    def write(self, data: bytes) -> None:
        self._port.write(data)

    async def close(self) -> None:
        self._stop.set()
        await asyncio.to_thread(self._thread.join, 2 * SERIAL_POLL + 1)
        with contextlib.suppress(Exception):
            self._port.close()


class SshPtyStream:
    """An SSH session with a pty running the login shell (or the device's CLI)."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes]) -> None:
        self._process = process

    @classmethod
    async def open(cls, conn: asyncssh.SSHClientConnection) -> SshPtyStream:
        process = await conn.create_process(None, encoding=None, term_type="dumb",
                                            term_size=(200, 50))
        return cls(process)

    async def read(self) -> bytes:
        return bytes(await self._process.stdout.read(READ_CHUNK))

    def write(self, data: bytes) -> None:
        self._process.stdin.write(data)

    async def close(self) -> None:
        self._process.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._process.wait_closed(), 3)


class LocalPtyStream:
    """A login shell on a new pty of this machine (for `LocalHost.interact`)."""

    COMMAND = "command -v bash >/dev/null 2>&1 && exec bash --login; exec sh -l"

    def __init__(self, master: int, process: asyncio.subprocess.Process) -> None:
        self._master = master
        self._process = process
        self._chunks: asyncio.Queue[bytes] = asyncio.Queue()
        asyncio.get_running_loop().add_reader(master, self._readable)

    @classmethod
    async def open(cls) -> LocalPtyStream:
        import os
        import pty

        master, slave = pty.openpty()
        try:
            process = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", cls.COMMAND, stdin=slave, stdout=slave, stderr=slave,
                preexec_fn=_take_controlling_tty, env={**os.environ, "TERM": "dumb"})
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        return cls(master, process)

    def _readable(self) -> None:
        import os

        try:
            data = os.read(self._master, READ_CHUNK)
        except OSError:  # EIO: every process on the pty has closed it
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self._master)
        self._chunks.put_nowait(data)

    async def read(self) -> bytes:
        return await self._chunks.get()

    def write(self, data: bytes) -> None:
        import os

        os.write(self._master, data)

    async def close(self) -> None:
        import os
        import signal

        asyncio.get_running_loop().remove_reader(self._master)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._process.wait(), 3)
        with contextlib.suppress(OSError):
            os.close(self._master)


def _take_controlling_tty() -> None:
    """In the child: a new session whose controlling terminal is the pty on stdin."""
    import fcntl
    import os
    import termios

    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
