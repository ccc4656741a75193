"""One send per connection per turn of the event loop (`runbook.hosts.coalesce`).

SSH hosts use it on every direct connection, so every test against the sshd lab goes through
it; these tests pin what it promises: writes of one turn leave as one, in order, and a close
or an abort right after a write loses nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from runbook.hosts.coalesce import CoalescingTransport, DirectConnector


class _Recorder(asyncio.Transport):
    """The transport under the coalescing one, recording what it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, bytes]] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.calls.append(("write", bytes(data)))

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        self.calls.append(("close", b""))

    def abort(self) -> None:
        self.calls.append(("abort", b""))


def test_the_writes_of_one_turn_are_given_on_as_one_write_in_order() -> None:
    async def scenario() -> list[tuple[str, bytes]]:
        inner = _Recorder()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())
        transport.write(b"one ")
        transport.write(bytearray(b"two "))
        transport.write(memoryview(b"three"))
        assert inner.calls == []
        assert transport.get_write_buffer_size() == len(b"one two three")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        transport.write(b"four")
        await asyncio.sleep(0)
        return inner.calls

    assert asyncio.run(scenario()) == [("write", b"one two three"), ("write", b"four")]


def test_a_close_or_abort_gives_on_what_was_kept_first() -> None:
    async def scenario(end: str) -> list[tuple[str, bytes]]:
        inner = _Recorder()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())
        transport.write(b"last words")
        getattr(transport, end)()
        await asyncio.sleep(0)
        return inner.calls

    for end in ("close", "abort"):
        assert asyncio.run(scenario(end)) == [("write", b"last words"), (end, b"")]


class _Client(asyncio.Protocol):
    """A protocol that keeps the transport it was given."""

    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport


def _over_tcp(act: Callable[[asyncio.Transport], None]) -> bytes:
    """What a real TCP peer reads to end of file after `act` on a DirectConnector transport."""
    async def scenario() -> bytes:
        received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received.set_result(await reader.read())
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            _, client = await DirectConnector().create_connection(_Client, "127.0.0.1", port)
            assert isinstance(client, _Client)
            assert isinstance(client.transport, CoalescingTransport)
            assert client.transport.get_extra_info("peername")[1] == port
            act(client.transport)
            return await asyncio.wait_for(received, 10)

    return asyncio.run(scenario())


def _write_then(end: str, first: bytes) -> Callable[[asyncio.Transport], None]:
    def act(transport: asyncio.Transport) -> None:
        for part in (first, b"b", b"c"):
            transport.write(part)
        getattr(transport, end)()

    return act


def test_a_peer_gets_everything_written_before_a_close() -> None:
    assert _over_tcp(_write_then("close", b"a" * 700_000)) == b"a" * 700_000 + b"bc"


def test_a_peer_gets_what_was_written_in_the_turn_of_an_abort() -> None:
    # An unwrapped transport would have sent these at once; an abort must not drop them.
    assert _over_tcp(_write_then("abort", b"a")) == b"abc"

