"""The lock backend contract, held by both built-ins: `file` (fcntl, this machine) and `redis`
(a real redis-server on loopback)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from runbook.errors import LockBackendError, LockLostError
from runbook.locks import Holder, LockBackend
from runbook.locks.file_backend import FileLockBackend
from runbook.locks.redis_backend import RedisLockBackend
from tests.locks.redislab import RedisServer

T = TypeVar("T")
Factory = Callable[[], LockBackend]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(params=["file", "redis"])
def make_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    """Builds backends that share one store (like two processes would)."""
    namespace = f"t{uuid.uuid4().hex[:8]}"
    if request.param == "file":
        return lambda: FileLockBackend(namespace, path=str(tmp_path / "locks"))
    server: RedisServer = request.getfixturevalue("redis_server")
    return lambda: RedisLockBackend(namespace, url=server.url)


def alice(run_id: str | None = "run-a", note: str = "") -> Holder:
    return Holder(user="alice", machine="ws1", run_id=run_id, note=note)


def bob(run_id: str | None = "run-b") -> Holder:
    return Holder(user="bob", machine="ws2", run_id=run_id)


async def using(backend: LockBackend, coro: Coroutine[Any, Any, T]) -> T:
    try:
        return await coro
    finally:
        await backend.close()


def test_acquire_is_all_or_nothing_and_names_the_holder(make_backend: Factory) -> None:
    a, b = alice(note="flashing"), bob()

    async def scenario() -> None:
        first, second = make_backend(), make_backend()
        assert await first.acquire(["r2", "r1"], a, 30) == []
        conflicts = await second.acquire(["r3", "r2"], b, 30)
        assert [c.host for c in conflicts] == ["r2"]
        holder = conflicts[0].holder
        assert (holder.owner, holder.run_id, holder.note) == ("alice@ws1", "run-a", "flashing")
        assert holder.since <= time.time() < holder.until <= time.time() + 30
        assert "r2: held by alice@ws1 (run run-a)" in conflicts[0].describe()
        # nothing was taken for bob: r3 is still free for a third party
        assert await second.acquire(["r3"], Holder("carol", "ws3", "run-c"), 30) == []
        assert [h.host for h in await first.holders()] == ["r1", "r2", "r3"]
        await first.close()
        await second.close()

    run(scenario())


def test_renew_extends_and_release_frees_only_own(make_backend: Factory) -> None:
    a, b = alice(), bob()

    async def scenario() -> None:
        backend = make_backend()
        assert await backend.acquire(["r1"], a, 2) == []
        before = (await backend.holders())[0].holder.until
        await backend.renew(["r1"], a, 30)
        after = (await backend.holders())[0].holder.until
        assert after > before + 20
        await backend.release(["r1"], b)  # not bob's: nothing happens
        assert [h.host for h in await backend.holders()] == ["r1"]
        await backend.release(["r1"], a)
        assert await backend.holders() == []

    backend = make_backend()
    run(using(backend, scenario()))


def test_lease_expires_after_its_ttl_and_not_before(make_backend: Factory) -> None:
    a, b = alice(), bob()

    async def scenario() -> None:
        backend = make_backend()
        assert await backend.acquire(["r1"], a, 1.5) == []
        until = (await backend.holders())[0].holder.until
        assert await backend.acquire(["r1"], b, 30) != []  # well before the TTL
        deadline = time.monotonic() + 15
        while await backend.acquire(["r1"], b, 30):
            assert time.monotonic() < deadline, "lease never expired"
            await asyncio.sleep(0.05)
        assert time.time() >= until - 0.05  # freed by expiry, not earlier
        with pytest.raises(LockLostError, match="r1: held by bob@ws2"):
            await backend.renew(["r1"], a, 30)
        await backend.close()

    run(scenario())


def test_same_owners_manual_reservation_is_usable_others_are_not(
        make_backend: Factory) -> None:
    async def scenario() -> None:
        backend = make_backend()
        reservation = alice(run_id=None, note="debugging")
        assert await backend.acquire(["r1"], reservation, 3600) == []
        assert await backend.acquire(["r1", "r2"], alice("run-a2"), 30) == []
        conflicts = await backend.acquire(["r1"], bob(), 30)
        assert conflicts[0].holder.manual and "manual reservation" in conflicts[0].describe()
        # the run did not replace the reservation; releasing the run leaves it in place
        await backend.release(["r1", "r2"], alice("run-a2"))
        holders = {h.host: h.holder for h in await backend.holders()}
        assert holders["r1"].note == "debugging"
        await backend.close()

    run(scenario())


def test_force_release_is_recorded_and_the_holder_learns_who(make_backend: Factory) -> None:
    a = alice()

    async def scenario() -> None:
        backend = make_backend()
        assert await backend.acquire(["r1"], a, 30) == []
        dropped = await backend.force_release(["r1", "r9"], "bob@ws2")
        assert [(d.host, d.holder.owner) for d in dropped] == [("r1", "alice@ws1")]
        forced = await backend.forced("r1")
        assert forced is not None and forced.by == "bob@ws2"
        with pytest.raises(LockLostError, match="released with --force by bob@ws2"):
            await backend.renew(["r1"], a, 30)
        await backend.close()

    run(scenario())


def test_redis_down_is_a_backend_error_without_the_password(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)  # never started: nothing listens on its port
    backend = RedisLockBackend("ns", url=f"redis://:hunter2@127.0.0.1:{server.port}/0",
                               timeout=2)
    with pytest.raises(LockBackendError) as info:
        run(using(backend, backend.acquire(["r1"], alice(), 30)))
    assert "hunter2" not in str(info.value) and "redis://:***@127.0.0.1" in str(info.value)


def test_redis_password_authenticates(tmp_path: Path) -> None:
    from tests.locks.redislab import require_redis

    require_redis()
    server = RedisServer(tmp_path, password="s3cr3t-pw")
    server.start()
    try:
        good = RedisLockBackend("ns", url=server.url)
        assert run(using(good, good.acquire(["r1"], alice(), 30))) == []
        bad = RedisLockBackend("ns", url=server.url.replace("s3cr3t-pw", "wrong-pw"))
        with pytest.raises(LockBackendError) as info:
            run(using(bad, bad.holders()))
        assert "wrong-pw" not in str(info.value)
    finally:
        server.stop()


def test_a_silent_redis_is_a_backend_error_saying_it_did_not_answer() -> None:
    """A server that accepts and never answers read `... failed: TimeoutError`."""
    from tests.faults import SilentTcpServer

    with SilentTcpServer() as silent:
        backend = RedisLockBackend("ns", url=f"redis://127.0.0.1:{silent.port}/0", timeout=1)
        with pytest.raises(LockBackendError, match=r"no answer within 1s \(lock: timeout\)"):
            run(using(backend, backend.holders()))


def test_file_records_are_rewritten_in_place_and_blanked_when_released(tmp_path: Path) -> None:
    """The file backend keeps a host's record file (same inode) through taking, renewing
    with a shorter record, releasing and taking again: a blanked or space-padded record
    reads right, and a released host is free for the next holder."""
    long_note, b = alice(note="a long note " * 20), bob()

    async def scenario() -> None:
        backend = FileLockBackend("rack", path=str(tmp_path))
        record = tmp_path / "rack" / "r1.json"
        assert await backend.acquire(["r1"], long_note, 30) == []
        inode, size = record.stat().st_ino, record.stat().st_size
        await backend.release(["r1"], long_note)
        assert record.read_bytes().strip() == b"" and await backend.holders() == []
        assert await backend.acquire(["r1"], b, 30) == []  # shorter: padded
        (held,) = await backend.holders()
        assert (held.holder.owner, held.holder.note) == ("bob@ws2", "")
        await backend.renew(["r1"], b, 60)
        assert (await backend.holders())[0].holder.until > time.time() + 50
        assert (record.stat().st_ino, record.stat().st_size) == (inode, size)
        conflicts = await FileLockBackend("rack", path=str(tmp_path)).acquire(["r1"], alice(), 30)
        assert [c.holder.owner for c in conflicts] == ["bob@ws2"]

    run(scenario())
