"""The connection keeper: a per-user background process that keeps SSH connections warm.

    python -m runbook.persist.keeper --idle SECONDS

Started detached by the first `runbook apply --persist DURATION` (`runbook.persist.client`),
it listens on a Unix socket in the user's private state folder (`runbook.persist`) and serves
only peers of its own uid (SO_PEERCRED, checked on every accept). Each client connection is a
session: its hosts (`PooledHost`) get fresh shells on connections kept in one
`ConnectionPool`. When a session ends its hosts' running commands are killed and their shells
ended; the connections stay. With no session for `--idle` seconds, or on `runbook persist
--stop` / SIGTERM, the keeper closes every connection and exits.

Its log (`keeper.log` in the state folder) names connections and peers, never commands,
output or credentials.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from runbook.persist import LOCK_NAME, LOG_NAME, SOCKET_NAME, private_dir
from runbook.persist.client import keeper_alive
from runbook.persist.codec import (
    command_to_json,
    error_to_json,
    run_to_json,
    transfer_to_json,
)
from runbook.persist.pacing import SESSION_HIGH_WATER
from runbook.persist.pool import ConnectionPool, PooledHost
from runbook.persist.wire import encode, peer_credentials, read_frame, to_text

log = logging.getLogger("runbook.keeper")

#: Longest wait for a run's process to exit before its hosts' spare shells are started.
SPARE_DELAY_MAX = 3.0

Op = Callable[[PooledHost, dict[str, Any], Callable[[bytes], None] | None], Awaitable[Any]]


async def _run(host: PooledHost, msg: dict[str, Any], sink: Callable[[bytes], None] | None) -> Any:
    return run_to_json(await host.run(msg["cmds"], msg.get("timeout"), become=msg.get("become"),
                                      become_user=msg.get("become_user"),
                                      output_limit=msg["output_limit"], sink=sink))


async def _oneshot(host: PooledHost, msg: dict[str, Any],
                   sink: Callable[[bytes], None] | None) -> Any:
    return command_to_json(await host.oneshot(
        msg["cmd"], msg.get("timeout"), become=msg.get("become"),
        become_user=msg.get("become_user"), output_limit=msg["output_limit"], sink=sink))


async def _put(host: PooledHost, msg: dict[str, Any], sink: object) -> Any:
    return transfer_to_json(await host.put(msg["src"], msg["dest"], msg.get("mode"),
                                           become=msg.get("become"),
                                           become_user=msg.get("become_user")))


async def _get(host: PooledHost, msg: dict[str, Any], sink: object) -> Any:
    return transfer_to_json(await host.get(msg["src"], msg["dest"], become=msg.get("become"),
                                           become_user=msg.get("become_user")))


async def _interact(host: PooledHost, msg: dict[str, Any], sink: object) -> Any:
    return command_to_json(await host.interact(msg["pairs"], msg.get("timeout"),
                                               pair_timeout=msg.get("pair_timeout")))


async def _release(host: PooledHost, msg: dict[str, Any], sink: object) -> Any:
    await host.release()


async def _close(host: PooledHost, msg: dict[str, Any], sink: object) -> Any:
    await host.close()


async def _reset(host: PooledHost, msg: dict[str, Any], sink: object) -> Any:
    await host.reset_connection()


HOST_OPS: dict[str, Op] = {"run": _run, "oneshot": _oneshot, "put": _put, "get": _get,
                           "interact": _interact, "release": _release, "close": _close,
                           "reset": _reset}


class Session:
    """One client connection: its hosts by the client's handle, its requests by id."""

    def __init__(self, keeper: Keeper, writer: asyncio.StreamWriter, pid: int = 0) -> None:
        self.keeper = keeper
        self.writer = writer
        #: The client's process (SO_PEERCRED): spare shells wait until it has exited.
        self.pid = pid
        self.hosts: dict[int, PooledHost] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}
        #: A run (it said hello), not a `runbook persist` query: only runs hold the keeper.
        self.is_run = False

    def send(self, message: dict[str, Any]) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode(message))

    async def pace(self) -> None:
        """Wait while more than `SESSION_HIGH_WATER` bytes wait to reach the run (see
        `runbook.persist.pacing`); at once when the run went (its requests are cancelled)."""
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    async def serve(self, reader: asyncio.StreamReader) -> None:
        """Read requests until the client goes; host requests run concurrently."""
        while (msg := await read_frame(reader)) is not None:
            op = msg.get("op")
            if op == "host":
                self.hosts[msg["host"]] = PooledHost(msg["spec"], self.keeper.pool, self.pace)
            elif op == "cancel":
                task = self.tasks.get(msg["target"])
                if task is not None:
                    task.cancel()
            elif op in HOST_OPS:
                self.tasks[msg["id"]] = asyncio.create_task(self._handle(msg, HOST_OPS[op]))
            else:
                if op == "hello":
                    self.is_run = True
                    _profile_mark()
                self.send({"id": msg.get("id"), "result": self.keeper.control(op, msg)})

    async def _handle(self, msg: dict[str, Any], op: Op) -> None:
        rid = msg["id"]
        self.keeper.busy += 1
        sink = ((lambda chunk: self.send({"id": rid, "chunk": to_text(chunk)}))
                if msg.get("stream") else None)
        try:
            self.send({"id": rid, "result": await op(self.hosts[msg["host"]], msg, sink)})
        except asyncio.CancelledError:  # the client was interrupted: what ran is killed by now
            self.send({"id": rid, "cancelled": True})
        except Exception as exc:
            self.send({"id": rid, "error": error_to_json(exc)})
        finally:
            self.keeper.busy -= 1
            self.tasks.pop(rid, None)

    async def end(self) -> None:
        """The client went: cancel its requests (killing their commands), end its shells."""
        for task in list(self.tasks.values()):
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        await asyncio.gather(*(h.close() for h in self.hosts.values()), return_exceptions=True)
        self.writer.close()
        keys = [host.pool_key for host in self.hosts.values() if host.used_shell]
        if keys:
            task = asyncio.create_task(self._warm_after_exit(keys))
            self.keeper.later.add(task)
            task.add_done_callback(self.keeper.later.discard)

    async def _warm_after_exit(self, keys: list[str]) -> None:
        """Start the spare shells of `keys` once the run's process has exited (bounded): the
        run closes its socket before writing its reports, and the spares must not take CPU
        from that tail of the run. A next run that comes earlier opens its own shells."""
        deadline = time.monotonic() + SPARE_DELAY_MAX
        while self.pid > 0 and keeper_alive(self.pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for key in keys:
            self.keeper.pool.warm(key)


class Keeper:
    """The server: the pool, the sessions, the idle clock."""

    def __init__(self, idle: float) -> None:
        self.pool = ConnectionPool()
        self.pool.log = log.info
        self.idle = idle
        self.sessions: set[Session] = set()
        #: Spare-shell starts waiting for their run's process to exit.
        self.later: set[asyncio.Task[None]] = set()
        self.busy = 0
        self.idle_since = time.monotonic()
        self.started = time.time()
        self.stopping = asyncio.Event()

    def deadline(self) -> float | None:
        """Seconds until the keeper exits if nothing happens (None while a client is on)."""
        if self.runs() or self.busy:
            return None
        return max(0.0, self.idle_since + self.idle - time.monotonic())

    def runs(self) -> int:
        return sum(1 for session in self.sessions if session.is_run)

    def control(self, op: object, msg: dict[str, Any]) -> Any:
        """Requests about the keeper itself: hello (the client's --persist), status, stop."""
        if op == "hello":
            self.idle = float(msg.get("idle", self.idle))
        elif op == "stop":
            log.info("stopped by `runbook persist --stop`")
            self.stopping.set()
        return self.status()

    def status(self) -> dict[str, Any]:
        live = self.pool.live()
        return {"pid": os.getpid(), "idle": self.idle, "clients": self.runs(),
                "idle_exit_in": self.deadline(), "started": self.started,
                "opened": self.pool.opened, "reused": self.pool.reused,
                "warming": self.pool.warming() + sum(not t.done() for t in self.later),
                "spares": sum(1 for k in live if k.spare is not None),
                "connections": [{"label": k.label, "opened": k.opened, "uses": k.uses}
                                for k in live]}

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one peer, if it is this user."""
        sock = writer.get_extra_info("socket")
        pid, uid = peer_credentials(sock)
        if uid != os.getuid():
            log.warning("refused a connection from uid %d", uid)
            writer.close()
            return
        writer.transport.set_write_buffer_limits(high=SESSION_HIGH_WATER)
        session = Session(self, writer, pid)
        self.sessions.add(session)
        try:
            await session.serve(reader)
        except Exception as exc:  # a broken client must not take the keeper down
            log.warning("a client session failed: %s", type(exc).__name__)
        finally:
            await session.end()
            self.sessions.discard(session)
            if session.is_run:
                self.idle_since = time.monotonic()

    async def serve(self, path: str) -> None:
        """Listen on `path` until stopped or idle for `idle` seconds, then close everything."""
        server = await asyncio.start_unix_server(self.client, path=path)
        Path(path).chmod(0o600)  # noqa: ASYNC240 - once at start; the folder is 0700 as well
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        log.info("listening (pid %d, idle exit after %g s)", os.getpid(), self.idle)
        while not self.stopping.is_set():
            left = self.deadline()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), min(left if left is not None
                                                                 else self.idle, 5.0))
            if self.deadline() == 0.0:
                log.info("idle for %g s: exiting", self.idle)
                break
        server.close()
        for session in list(self.sessions):
            await session.end()
        await self.pool.close()


def _hold_lock(folder: Path) -> int | None:
    """The keeper lock's fd, or None when another keeper of this user holds it."""
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _profile_mark() -> None:
    """With `RUNBOOK_KEEPER_PROFILE=PREFIX` (for profiling the keeper only), write what the
    keeper did since the previous run's hello to PREFIX.N (cProfile stats) and start again."""
    global _profiler, _profiled
    prefix = os.environ.get("RUNBOOK_KEEPER_PROFILE")
    if not prefix:
        return
    import cProfile

    if _profiler is not None:
        _profiler.disable()
        _profiler.dump_stats(f"{prefix}.{_profiled}")
        _profiled += 1
    _profiler = cProfile.Profile()
    _profiler.enable()


_profiler: Any = None
_profiled = 0


def main(argv: list[str] | None = None) -> int:
    """Run a keeper in the foreground (the client starts it detached); 0 also when one runs."""
    parser = argparse.ArgumentParser(prog="python -m runbook.persist.keeper")
    parser.add_argument("--idle", type=float, required=True, help="exit after this many "
                        "seconds without a client")
    args = parser.parse_args(argv)
    os.umask(0o077)  # the socket and the log: this user only
    folder = private_dir()
    lock = _hold_lock(folder)
    if lock is None:
        return 0
    logging.basicConfig(filename=folder / LOG_NAME, level=logging.INFO,
                        format="%(asctime)s keeper[%(process)d] %(message)s")
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    path = folder / SOCKET_NAME
    path.unlink(missing_ok=True)  # a keeper that died left it; we hold the lock: not in use
    asyncio.run(Keeper(args.idle).serve(str(path)))
    path.unlink(missing_ok=True)
    os.close(lock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
