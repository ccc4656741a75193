"""`hold_locks`: waiting, renewal past the TTL, loss detection, release on every way out."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from runbook.errors import LocksHeldError
from runbook.locks import Holder, hold_locks
from runbook.locks.file_backend import FileLockBackend
from runbook.locks.redis_backend import RedisLockBackend
from tests.locks.redislab import RedisServer


def backend(tmp_path: Path) -> FileLockBackend:
    return FileLockBackend("lab", path=str(tmp_path))


def other() -> Holder:
    return Holder("bob", "ws2", "run-b", note="soak test")


def test_held_hosts_exit_naming_each_holder(tmp_path: Path) -> None:
    async def scenario() -> None:
        assert await backend(tmp_path).acquire(["r1", "r3"], other(), 30) == []
        async with hold_locks(backend(tmp_path), ["r1", "r2", "r3"], ttl=30, wait=0):
            raise AssertionError("must not run")

    with pytest.raises(LocksHeldError) as info:
        asyncio.run(scenario())
    text = str(info.value)
    assert "2 host(s) are locked" in text
    assert 'r1: held by bob@ws2 (run run-b)' in text and 'note "soak test"' in text
    assert "r3: held by" in text and "r2:" not in text
    assert asyncio.run(backend(tmp_path).holders())[0].holder.owner == "bob@ws2"


def test_waits_for_a_release_then_holds_and_records_the_wait(tmp_path: Path) -> None:
    async def scenario() -> dict[str, object]:
        first = other()
        assert await backend(tmp_path).acquire(["r1"], first, 30) == []

        async def release_later() -> None:
            await asyncio.sleep(0.3)
            await backend(tmp_path).release(["r1"], first)

        releaser = asyncio.create_task(release_later())
        async with hold_locks(backend(tmp_path), ["r1"], ttl=30, wait=20,
                              run_id="run-x") as held:
            holders = await backend(tmp_path).holders()
            assert [(h.host, h.holder.run_id) for h in holders] == [("r1", "run-x")]
        await releaser
        assert await backend(tmp_path).holders() == []
        return held.to_dict()

    record = asyncio.run(scenario())
    assert record["backend"] == "file" and record["hosts"] == ["r1"]
    assert isinstance(record["waited_s"], float) and record["waited_s"] > 0
    assert record["run_id"] == "run-x" and record["lost"] is None


def test_a_run_longer_than_the_ttl_keeps_its_hosts(tmp_path: Path) -> None:
    async def scenario() -> None:
        lost: list[str] = []
        async with hold_locks(backend(tmp_path), ["r1"], ttl=0.6, on_lost=lost.append):
            end = time.time() + 2.0  # more than three TTLs
            while time.time() < end:
                assert await backend(tmp_path).acquire(["r1"], other(), 30) != []
                await asyncio.sleep(0.1)
        assert lost == []

    asyncio.run(scenario())


def test_release_on_cancellation(tmp_path: Path) -> None:
    async def body() -> None:
        async with hold_locks(backend(tmp_path), ["r1", "r2"], ttl=30):
            await asyncio.sleep(3600)

    async def scenario() -> None:
        task = asyncio.create_task(body())
        while not await backend(tmp_path).holders():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await backend(tmp_path).holders() == []

    asyncio.run(scenario())


def test_force_release_is_noticed_as_a_loss(tmp_path: Path) -> None:
    async def scenario() -> str:
        lost = asyncio.Event()
        reasons: list[str] = []

        def on_lost(reason: str) -> None:
            reasons.append(reason)
            lost.set()

        async with hold_locks(backend(tmp_path), ["r1"], ttl=0.6, on_lost=on_lost) as held:
            await backend(tmp_path).force_release(["r1"], "carol@ws3")
            async with asyncio.timeout(10):
                await lost.wait()
        assert held.lost == reasons[0]
        return reasons[0]

    reason = asyncio.run(scenario())
    assert reason.startswith("lost the lock: r1: lease of ") and "by carol@ws3" in reason


def test_redis_stopping_is_a_loss(own_redis_server: RedisServer) -> None:
    async def scenario() -> str:
        lost = asyncio.Event()
        reasons: list[str] = []

        def on_lost(reason: str) -> None:
            reasons.append(reason)
            lost.set()

        redis = RedisLockBackend("lab", url=own_redis_server.url, timeout=1)
        async with hold_locks(redis, ["r1"], ttl=0.9, on_lost=on_lost) as held:
            own_redis_server.stop()
            async with asyncio.timeout(15):
                await lost.wait()
        assert held.release_error is not None  # could not give it back: it expires instead
        return reasons[0]

    assert "could not renew" in asyncio.run(scenario())


def test_no_lock_records_the_break_glass() -> None:
    async def scenario() -> dict[str, object]:
        async with hold_locks(None, ["r1"], ttl=30) as held:
            return held.to_dict()

    assert asyncio.run(scenario())["skipped"] is True


def test_a_lab_not_read_from_a_file_locks_nothing(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from runbook.hosts.lab import Lab
    from runbook.locks import hold_lab_locks

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

    async def scenario() -> dict[str, object]:
        async with hold_lab_locks(Lab.default(), ["local"], wait=0, disabled=False,
                                  on_lost=print) as held:
            return held.to_dict()

    assert asyncio.run(scenario())["hosts"] == []
    assert not (tmp_path / "runbook").exists()
