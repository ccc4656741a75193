"""The `redis` lock backend: team-wide leases in a Redis server.

```yaml
lock: {type: redis, url: "redis://:{{ secret('LOCK_REDIS_PW') }}@locks.example:6379/0",
       namespace: lab-a, ttl: 60}
```

Needs the optional extra (`pip install 'runbook[redis]'`); redis-py is imported on first use.
Each host's lease is a key `runbook:lock:{<namespace>}:<host>` holding the holder record,
set with a PX expiry. Acquiring checks and sets all hosts in one Lua script (atomic, so all or
nothing); renewing is a Lua compare-and-extend on each key's token, so a lease that expired or
was taken by someone else is noticed, never silently re-taken. The `{namespace}` hash tag keeps
a namespace's keys in one Redis Cluster slot. The URL's password is never shown.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from runbook._lazyimport import lazy_module
from runbook.errors import LockBackendError, LockLostError, LockSpecError
from runbook.locks.base import ForcedRelease, Holder, HostLock, LockBackend

if TYPE_CHECKING:
    import asyncio

    from redis.asyncio import Redis
else:
    asyncio = lazy_module("asyncio")

T = TypeVar("T")
#: How long `unlock --force` is remembered, so the run that lost its lease can say who did it.
FORCED_MEMORY_S = 7 * 24 * 3600

# KEYS: the hosts' keys; ARGV: record, ttl ms, owner. Returns {key, record, ...} held by others.
_ACQUIRE = """
local held = {}
for _, key in ipairs(KEYS) do
  local cur = redis.call('GET', key)
  if cur then
    local ok, rec = pcall(cjson.decode, cur)
    local mine = ok and type(rec) == 'table' and rec.run_id == cjson.null
                 and (tostring(rec.user) .. '@' .. tostring(rec.machine)) == ARGV[3]
    if not mine then table.insert(held, key); table.insert(held, cur) end
  end
end
if #held > 0 then return held end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2])  -- NX: the owner's reservations stay
end
return held
"""

# KEYS: the hosts' keys; ARGV: token, ttl ms, new until. Returns the 1-based indexes lost.
_RENEW = """
local lost = {}
for i, key in ipairs(KEYS) do
  local cur = redis.call('GET', key)
  local ok, rec = false, nil
  if cur then ok, rec = pcall(cjson.decode, cur) end
  if not (ok and type(rec) == 'table' and rec.token == ARGV[1]) then table.insert(lost, i) end
end
if #lost > 0 then return lost end
for _, key in ipairs(KEYS) do
  local rec = cjson.decode(redis.call('GET', key))
  rec['until'] = tonumber(ARGV[3])
  redis.call('SET', key, cjson.encode(rec), 'PX', ARGV[2])
end
return lost
"""

# KEYS: the hosts' keys; ARGV: token. Deletes only the keys still holding that token.
_RELEASE = """
for _, key in ipairs(KEYS) do
  local cur = redis.call('GET', key)
  if cur then
    local ok, rec = pcall(cjson.decode, cur)
    if ok and type(rec) == 'table' and rec.token == ARGV[1] then redis.call('DEL', key) end
  end
end
return 0
"""


def check_redis_url(url: str) -> None:
    """LockSpecError (key 'url') unless `url` is a redis://, rediss:// or unix:// URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise LockSpecError(f"is not a valid URL: {exc}", key="url") from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise LockSpecError(f"must start with redis://, rediss:// or unix://, not "
                            f"{parts.scheme + '://' if parts.scheme else 'no scheme'} "
                            "(example: redis://locks.example:6379/0)", key="url")
    if parts.scheme != "unix" and not parts.hostname:
        raise LockSpecError("names no server (example: redis://locks.example:6379/0)", key="url")
    if parts.scheme == "unix" and not parts.path:
        raise LockSpecError("names no socket path (example: unix:///run/redis.sock)", key="url")
    database = parts.path.strip("/") if parts.scheme != "unix" else ""
    if database and not database.isdigit():
        raise LockSpecError(f"database must be a number (redis://host:6379/0), not "
                            f"{database!r}", key="url")
    if port == 0:
        raise LockSpecError("port must be 1-65535", key="url")


def redacted_url(url: str) -> str:
    """`url` with its password replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisLockBackend(LockBackend):
    """Leases in Redis (see the module docstring). `timeout` bounds every command."""

    type_name = "redis"

    def __init__(self, namespace: str, url: str, timeout: float = 5.0) -> None:
        super().__init__(namespace)
        check_redis_url(url)
        if timeout <= 0:
            raise LockSpecError(f"must be > 0 seconds, not {timeout}", key="timeout")
        self._url = url
        self._password = urlsplit(url).password
        self.timeout = timeout
        self._client: Redis | None = None

    def describe(self) -> str:
        return f"redis {redacted_url(self._url)} namespace {self.namespace!r}"

    def _key(self, host: str) -> str:
        return f"runbook:lock:{{{self.namespace}}}:{host}"

    def _forced_key(self, host: str) -> str:
        return f"runbook:forced:{{{self.namespace}}}:{host}"

    def _connect(self) -> Redis:
        if self._client is None:
            try:
                from redis.asyncio import Redis
            except ImportError:
                raise LockBackendError("the redis lock backend needs the redis package: "
                                       "pip install 'runbook[redis]'") from None
            self._client = Redis.from_url(
                self._url, decode_responses=True, socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout)
        return self._client

    async def _call(self, what: str, make: Callable[[Redis], Awaitable[T]]) -> T:
        """Run one exchange with a deadline; any failure is a LockBackendError (no password)."""
        try:
            async with asyncio.timeout(self.timeout):
                return await make(self._connect())
        except LockBackendError:
            raise
        except Exception as exc:  # redis errors, OSError, TimeoutError: all mean unusable
            detail = (f"no answer within {self.timeout:g}s (lock: timeout)"
                      if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__)
            if self._password:
                detail = detail.replace(self._password, "***")
            raise LockBackendError(f"{self.describe()}: {what} failed: {detail}") from None

    async def _script(self, source: str, keys: list[str], *args: Any) -> Any:
        async def run(client: Redis) -> Any:
            return await client.eval(source, len(keys), *keys, *args)
        return await self._call("a lock script", run)

    async def acquire(self, hosts: Sequence[str], holder: Holder,
                      ttl: float) -> list[HostLock]:
        ordered = sorted(set(hosts))
        now = time.time()
        record = holder.with_times(now, now + ttl).to_json()
        held = await self._script(_ACQUIRE, [self._key(h) for h in ordered], record,
                                  max(1, int(ttl * 1000)), holder.owner)
        by_key = {self._key(h): h for h in ordered}
        return [HostLock(by_key[key], Holder.from_json(value))
                for key, value in zip(held[::2], held[1::2], strict=True)]

    async def renew(self, hosts: Sequence[str], holder: Holder, ttl: float) -> None:
        ordered = sorted(set(hosts))
        lost = await self._script(_RENEW, [self._key(h) for h in ordered], holder.token,
                                  max(1, int(ttl * 1000)), repr(time.time() + ttl))
        if lost:
            reasons = [await self._loss(ordered[int(i) - 1]) for i in lost]
            raise LockLostError("; ".join(reasons))

    async def _loss(self, host: str) -> str:
        forced = await self.forced(host)
        value = await self._read(host)
        current = Holder.from_json(value) if value else None
        if forced is not None and (current is None or current.since <= forced.at):
            return forced.describe()
        if current is None:
            return f"{host}: the lease expired before it was renewed"
        return HostLock(host, current).describe()

    async def _read(self, host: str) -> str | None:
        async def get(client: Redis) -> str | None:
            value: Any = await client.get(self._key(host))
            return None if value is None else str(value)
        return await self._call("reading a lease", get)

    async def release(self, hosts: Sequence[str], holder: Holder) -> None:
        await self._script(_RELEASE, [self._key(h) for h in sorted(set(hosts))], holder.token)

    async def holders(self) -> list[HostLock]:
        prefix = self._key("")

        async def scan(client: Redis) -> list[tuple[str, Any]]:
            keys = sorted([key async for key in client.scan_iter(match=prefix + "*")])
            values: list[Any] = await client.mget(keys) if keys else []
            return list(zip(keys, values, strict=True))

        found = await self._call("listing leases", scan)
        return [HostLock(key[len(prefix):], Holder.from_json(value))
                for key, value in found if value is not None]

    async def force_release(self, hosts: Sequence[str], by: str) -> list[HostLock]:
        dropped: list[HostLock] = []
        for host in sorted(set(hosts)):
            value = await self._read(host)
            if value is None:
                continue
            current = Holder.from_json(value)
            tomb = ForcedRelease(host, by, time.time(), current).to_json()

            async def drop(client: Redis, h: str = host, t: str = tomb) -> None:
                await client.set(self._forced_key(h), t, ex=FORCED_MEMORY_S)
                await client.delete(self._key(h))

            await self._call("force-releasing a lease", drop)
            dropped.append(HostLock(host, current))
        return dropped

    async def forced(self, host: str) -> ForcedRelease | None:
        async def get(client: Redis) -> Any:
            return await client.get(self._forced_key(host))
        value = await self._call("reading a forced release", get)
        return ForcedRelease.from_json(host, value) if value else None

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                async with asyncio.timeout(self.timeout):
                    await client.aclose()
            except Exception:
                pass  # closing a dead connection must not fail the run
