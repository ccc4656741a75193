"""Redis keys of one multi-site run: per site an event stream and a heartbeat, and a cancel flag.

    runbook:run:<run id>:<site>:events   stream of JSON messages, worker → controller (codec.py)
    runbook:run:<run id>:<site>:alive    set by the worker every HEARTBEAT_INTERVAL / 2 from a
                                         thread of its own (a busy event loop does not stop
                                         it; a dead process does), expires after
                                         HEARTBEAT_TTL: gone means the worker is lost
    runbook:run:<run id>:cancel          set by the controller: {"kind": "interrupt" | "halt",
                                         "reason": ...}; workers poll it with their heartbeat
    runbook:run:<run id>:alive           set by the controller every CONTROLLER_BEAT from a
                                         thread of its own, expires after its grace period
                                         (CONTROLLER_GRACE): gone means the controller died or
                                         cannot reach the broker, and the workers interrupt
                                         their shares

Every key expires after KEY_TTL, so an abandoned run leaves nothing behind for long; the
controller deletes them when the run ends, except the cancel flag: it stays set a little longer
than a queued task can live, so a share no worker took in time is dropped, never run late.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from runbook.sites.codec import Message, decode, encode

if TYPE_CHECKING:
    from redis.asyncio import Redis as AsyncRedis

HEARTBEAT_INTERVAL = 1.0
HEARTBEAT_TTL = 10.0
CONTROLLER_BEAT = 1.0
CONTROLLER_GRACE = 10.0
KEY_TTL = 24 * 3600


def events_key(run_id: str, site: str) -> str:
    return f"runbook:run:{run_id}:{site}:events"


def alive_key(run_id: str, site: str) -> str:
    return f"runbook:run:{run_id}:{site}:alive"


def cancel_key(run_id: str) -> str:
    return f"runbook:run:{run_id}:cancel"


def controller_key(run_id: str) -> str:
    """The controller's heartbeat (four parts: no site's key can be spelled the same)."""
    return f"runbook:run:{run_id}:alive"


def _glob_escape(text: str) -> str:
    """`text` matched literally by a Redis SCAN pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class WorkerChannel:
    """The worker's end: send messages and heartbeats, read a cancel request."""

    def __init__(self, client: AsyncRedis, run_id: str, site: str,
                 heartbeat_ttl: float = HEARTBEAT_TTL) -> None:
        self.client = client
        self.run_id = run_id
        self.site = site
        self.heartbeat_ttl = heartbeat_ttl

    async def send(self, message: Message) -> None:
        key = events_key(self.run_id, self.site)
        await self.client.xadd(key, {"m": encode(message)})
        await self.client.expire(key, KEY_TTL)

    async def beat(self) -> None:
        await self.client.set(alive_key(self.run_id, self.site), "1",
                              px=int(self.heartbeat_ttl * 1000))

    async def controller_alive(self) -> bool:
        """Whether the run's controller has beaten within its grace period."""
        return bool(await self.client.exists(controller_key(self.run_id)))

    async def cancel_request(self) -> dict[str, Any] | None:
        raw = await self.client.get(cancel_key(self.run_id))
        if raw is None:
            return None
        data = json.loads(raw)
        return data if isinstance(data, dict) else {"kind": "interrupt", "reason": "interrupted"}


class HeartbeatThread(threading.Thread):
    """Renews a heartbeat key (a share's, the controller's) every `period` s with a blocking
    client of its own until `stop()`: beats keep coming while the event loop is busy (a large
    compile, a machine under load), and stop when the process dies."""

    def __init__(self, url: str, key: str, ttl: float, period: float) -> None:
        super().__init__(name=f"runbook-heartbeat-{key}", daemon=True)
        self.url = url
        self.key = key
        self.ttl_ms = int(ttl * 1000)
        self.period = period
        self._stopping = threading.Event()

    def run(self) -> None:
        from runbook.sites.broker import sync_client

        client = sync_client(self.url)
        try:
            while True:
                with contextlib.suppress(Exception):  # the broker away a moment: beat again
                    client.set(self.key, "1", px=self.ttl_ms)
                if self._stopping.wait(self.period):
                    return
        finally:
            with contextlib.suppress(Exception):
                client.close()

    def stop(self) -> None:
        self._stopping.set()


class ControllerChannel:
    """The controller's end: read every site's stream, check heartbeats, request cancellation."""

    def __init__(self, client: AsyncRedis, run_id: str, sites: Iterable[str]) -> None:
        self.client = client
        self.run_id = run_id
        self.sites = list(sites)
        self._last = {events_key(run_id, s): "0-0" for s in self.sites}
        self._site_of_key = {events_key(run_id, s): s for s in self.sites}

    async def read(self, block_s: float) -> list[tuple[str, Message]]:
        """(site, message) pairs that arrived, waiting at most `block_s` for the first."""
        if not self._last:
            return []
        streams: dict[Any, Any] = dict(self._last)
        found: Any = await self.client.xread(streams, block=max(1, int(block_s * 1000)))
        messages: list[tuple[str, Message]] = []
        for key, entries in found or []:
            name = key.decode() if isinstance(key, bytes) else str(key)
            for entry_id, fields in entries:
                self._last[name] = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                raw = fields.get(b"m", fields.get("m", b"{}"))
                messages.append((self._site_of_key[name], decode(raw)))
            # read once, never again: Redis holds only what is not read yet (transcripts)
            await self.client.xdel(name, *[entry_id for entry_id, _ in entries])
        return messages

    async def alive(self, site: str) -> bool:
        return bool(await self.client.exists(alive_key(self.run_id, site)))

    async def beat(self, grace: float) -> None:
        """The controller's first beat, before any task is sent (`HeartbeatThread` renews it)."""
        await self.client.set(controller_key(self.run_id), "1", px=int(grace * 1000))

    async def running_shares(self, site: str) -> int:
        """How many shares of other runs `site`'s workers are running now (their heartbeats):
        a share no worker took while some run tells busy workers from none."""
        pattern = alive_key("*", _glob_escape(site))
        count = 0
        async for key in self.client.scan_iter(match=pattern, count=1000):
            name = key.decode() if isinstance(key, bytes) else str(key)
            count += name != alive_key(self.run_id, site)
        return count

    async def cancel(self, kind: str, reason: str) -> None:
        await self.client.set(cancel_key(self.run_id), json.dumps({"kind": kind, "reason": reason}),
                              ex=KEY_TTL)

    async def cleanup(self, linger: float) -> None:
        """Delete the run's streams and heartbeats (the controller's too: call it once its
        `HeartbeatThread` stopped); leave the cancel flag set for `linger` s,
        so a worker that takes a share of this run late (still queued) drops it."""
        keys = [controller_key(self.run_id)]
        for site in self.sites:
            keys += [events_key(self.run_id, site), alive_key(self.run_id, site)]
        await self.client.delete(*keys)
        await self.client.set(cancel_key(self.run_id),
                              json.dumps({"kind": "interrupt", "reason": "the run is over"}),
                              ex=max(1, int(linger)))
