"""The run's side of the keeper: start it when needed, talk to it, ask its status, stop it.

`KeeperClient` is one session (one Unix socket connection) with many requests in flight; a
request whose caller is cancelled (Ctrl-C) is cancelled in the keeper too, which kills the
remote process group as a direct connection would, and the caller waits for that (bounded).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook._lazyimport import lazy_module
from runbook.errors import KeeperError
from runbook.persist import LOG_NAME, socket_path
from runbook.persist.codec import error_from_json
from runbook.persist.wire import encode, read_frame, same_user, to_bytes

if TYPE_CHECKING:
    import asyncio
else:
    asyncio = lazy_module("asyncio")

#: Seconds a new keeper may take to answer.
START_TIMEOUT = 10.0
#: Seconds a cancelled request waits for the keeper to kill what it ran.
CANCEL_GRACE = 8.0

Sink = Callable[[bytes], None]


def _connect(path: Path) -> socket.socket | None:
    """A connected socket to the keeper at `path`, checked to be this user's; None if none."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    if not same_user(sock):
        sock.close()
        raise KeeperError(f"the keeper socket {path} is served by another user: refused")
    return sock


def _keeper_env() -> dict[str, str]:
    """This environment, with this very runbook package first on the keeper's import path."""
    import runbook

    package_root = str(Path(runbook.__file__).resolve().parent.parent)
    paths = [package_root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def start_keeper(idle: float) -> socket.socket:
    """A socket to this user's keeper, started (detached) when none answers."""
    path = socket_path()
    sock = _connect(path)
    deadline = time.monotonic() + START_TIMEOUT
    proc: subprocess.Popen[bytes] | None = None
    while sock is None:
        if proc is None or proc.poll() is not None:  # none yet, or it found another starting
            with (path.parent / LOG_NAME).open("ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "runbook.persist.keeper", "--idle", f"{idle:g}"],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                    start_new_session=True, cwd="/", env=_keeper_env())
        if time.monotonic() > deadline:
            raise KeeperError(f"the connection keeper did not start within {START_TIMEOUT:g} s; "
                              f"see {path.parent / LOG_NAME}")
        time.sleep(0.02)
        sock = _connect(path)
    return sock


def control(op: str) -> dict[str, Any] | None:
    """`status` or `stop` for `runbook persist`; None when no keeper runs."""
    sock = _connect(socket_path())
    if sock is None:
        return None
    with sock:
        sock.sendall(encode({"id": 0, "op": op}))
        reply = _read_sync(sock)
    return reply.get("result") if reply else None


def _read_sync(sock: socket.socket) -> dict[str, Any] | None:
    import json

    from runbook.persist.wire import HEADER

    data = b""
    while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack(data[:4])[0]:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    size = HEADER.unpack(data[:4])[0]
    message: dict[str, Any] = json.loads(data[4:4 + size])
    return message


class KeeperClient:
    """One session with the keeper; `call` sends a request and awaits its answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[asyncio.Future[dict[str, Any]], Sink | None]] = {}
        self._listener = asyncio.create_task(self._listen())
        self.keeper_pid: int | None = None

    @classmethod
    async def open(cls, idle: float) -> KeeperClient:
        """Connect (starting the keeper if needed) and tell it this run's idle time."""
        sock = await asyncio.to_thread(start_keeper, idle)
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        client = cls(reader, writer)
        status = await client.call({"op": "hello", "idle": idle})
        client.keeper_pid = status.get("pid")
        return client

    def send(self, message: dict[str, Any]) -> None:
        self._writer.write(encode(message))

    async def call(self, message: dict[str, Any], sink: Sink | None = None) -> Any:
        """Send `message` with a fresh id; its result, or the error it raised, raised here."""
        rid = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = (future, sink)
        self.send({**message, "id": rid, "stream": sink is not None})
        try:
            reply = await asyncio.shield(future)
        except asyncio.CancelledError:
            self.send({"op": "cancel", "target": rid})
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(future), CANCEL_GRACE)
            raise
        finally:
            self._pending.pop(rid, None)
        if "error" in reply:
            raise error_from_json(reply["error"])
        return reply.get("result")

    async def _listen(self) -> None:
        """Hand each answer to its request; at end of stream fail what is still waiting."""
        try:
            while (msg := await read_frame(self._reader)) is not None:
                entry = self._pending.get(msg.get("id", -1))
                if entry is None:
                    continue
                future, sink = entry
                if "chunk" in msg:
                    if sink is not None:
                        sink(to_bytes(msg["chunk"]))
                elif not future.done():
                    future.set_result(msg)
        finally:
            gone = KeeperError("the connection keeper went away (see `runbook persist --status`)")
            for future, _ in self._pending.values():
                if not future.done():
                    future.set_exception(gone)
            self._writer.close()

    async def aclose(self) -> None:
        """End the session: the keeper ends its shells, the connections stay."""
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        self._listener.cancel()
        with contextlib.suppress(BaseException):
            await self._listener


def keeper_alive(pid: int) -> bool:
    """True while process `pid` exists (for tests, `--stop`, and the keeper waiting for a
    run's process to exit)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
