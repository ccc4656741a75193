"""One send per SSH connection per turn of the event loop.

asyncssh writes every SSH packet to its transport as soon as it is built, and asyncio sends
each write at once: a channel's request and its data, an SFTP client's parallel writes, a
close after an end of file each cost a system call and, on the wire, a TCP segment the host's
sshd is woken up for. Measured with the fan-out job (docs/performance.md), a host's connection
wrote 78 times in 37 turns of the loop. `CoalescingTransport` keeps the writes of one turn and
sends them together at the start of the next, in order; a close or an abort sends what is kept
first, so nothing written is lost or reordered.

`DirectConnector` is how a connection gets it: asyncssh takes any object with a
`create_connection(session_factory, host, port)` coroutine as its `tunnel`, and this one opens
a plain TCP connection and hands asyncssh the wrapped transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast


class CoalescingTransport(asyncio.Transport):
    """A transport that gathers the writes of one turn of the event loop into one."""

    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._inner = inner
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Keep `data` for the send at the start of the next turn."""
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def flush(self) -> None:
        """Send what was kept, as one write."""
        pending, self._pending = self._pending, []
        if pending:
            self._inner.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        """Send what was kept, then close once the inner transport's buffer is sent."""
        self.flush()
        self._inner.close()

    def abort(self) -> None:
        """Send what was kept (as an unwrapped transport would already have), then abort."""
        self.flush()
        self._inner.abort()

    def write_eof(self) -> None:
        self.flush()
        self._inner.write_eof()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size() + sum(map(len, self._pending))

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def is_reading(self) -> bool:
        return self._inner.is_reading()


class _Handoff(asyncio.Protocol):
    """Hands the real protocol the coalescing transport, then passes every event on to it."""

    def __init__(self, inner: asyncio.Protocol, loop: asyncio.AbstractEventLoop) -> None:
        self.inner = inner
        self._loop = loop

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(
            CoalescingTransport(cast(asyncio.Transport, transport), self._loop))

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class DirectConnector:
    """asyncssh's `tunnel` for a direct TCP connection whose transport coalesces writes."""

    async def create_connection(self, session_factory: Callable[[], asyncio.Protocol],
                                host: str, port: int) -> tuple[asyncio.Transport, asyncio.Protocol]:
        """Open a TCP connection to host:port for the protocol `session_factory` makes
        (asyncssh's connection, which it takes back from the result)."""
        loop = asyncio.get_running_loop()
        transport, handoff = await loop.create_connection(
            lambda: _Handoff(session_factory(), loop), host, port)
        return transport, handoff.inner
