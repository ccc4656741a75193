"""Holding a run's leases: `hold_locks`, the one call `apply` and `power` wrap around their run.

It takes every host's lease (all or nothing, waiting up to `wait` seconds), renews them every
TTL/3 in a background task while the body runs, calls `on_lost` once if a renewal fails (the
run then stops starting steps), and gives the leases back on every way out of the block,
including cancellation (Ctrl-C, SIGTERM, fail_fast). A process killed outright leaves its
leases to expire after the TTL.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

from runbook._dataclass import mutable
from runbook._lazyimport import lazy_module
from runbook.errors import LockBackendError, LockError, LockLostError, LocksHeldError
from runbook.locks.base import Holder, HostLock, LockBackend

if TYPE_CHECKING:
    import asyncio

    from runbook.hosts.lab import Lab
else:
    asyncio = lazy_module("asyncio")

#: Environment variable overriding the user part of `user@machine` (CI jobs, shared accounts).
USER_ENV = "RUNBOOK_LOCK_USER"
#: Seconds allowed for giving the leases back (a dead backend must not hold up the exit).
RELEASE_TIMEOUT = 3.0
#: Longest pause between two attempts while waiting for hosts (`--lock-wait`).
MAX_POLL = 1.0


def whoami() -> tuple[str, str]:
    """(user, machine) recorded in every lease this process takes."""
    user = os.environ.get(USER_ENV) or _login_name()
    return user, socket.gethostname()


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid{os.getuid()}"


def new_run_id() -> str:
    """A run id people can read and quote: UTC start time plus a random suffix."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + os.urandom(3).hex()


def make_holder(run_id: str | None, *, note: str = "") -> Holder:
    user, machine = whoami()
    return Holder(user=user, machine=machine, run_id=run_id, note=note)


@mutable
class HeldLocks:
    """What a run holds, for its report (`to_dict`) and its messages.

    `skipped` is the `--no-lock` break-glass; `lost` says why the leases were lost (None
    while they are held); `release_error` why giving them back failed (they then expire).
    """

    backend: str
    namespace: str
    hosts: list[str]
    holder: Holder | None = None
    waited_s: float = 0.0
    skipped: bool = False
    lost: str | None = None
    release_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report's `locks` object (schemas/report.schema.json)."""
        data: dict[str, Any] = {
            "backend": self.backend, "namespace": self.namespace, "hosts": self.hosts,
            "waited_s": round(self.waited_s, 3), "skipped": self.skipped, "lost": self.lost}
        if self.holder is not None:
            data["owner"] = self.holder.owner
            data["run_id"] = self.holder.run_id
        return data


RUN_HINT = ("wait for them with --lock-wait SECONDS, ask the holder, see `runbook locks`; "
            "--no-lock skips locking (break-glass)")


def held_message(conflicts: Sequence[HostLock], waited: float, hint: str = RUN_HINT) -> str:
    """Exit-3 text: every held host with its holder, and what to do."""
    lines = [f"{len(conflicts)} host(s) are locked by someone else"
             + (f" (waited {waited:.0f}s)" if waited >= 1 else "") + ":"]
    lines += [f"  {c.describe()}" for c in conflicts]
    lines.append(hint)
    return "\n".join(lines)


async def acquire_waiting(backend: LockBackend, hosts: Sequence[str], holder: Holder, *,
                          ttl: float, wait: float,
                          on_wait: Callable[[list[HostLock]], None] | None = None) -> float:
    """Take all `hosts`, retrying for up to `wait` seconds; return the seconds waited.

    `on_wait(conflicts)` is called once, when the first attempt finds hosts held and there is
    time to wait. LocksHeldError (listing every held host) when they are still held at the
    deadline.
    """
    started = time.monotonic()
    deadline = started + wait
    while True:
        conflicts = await backend.acquire(hosts, holder, ttl)
        if not conflicts:
            return time.monotonic() - started
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            waited = time.monotonic() - started
            raise LocksHeldError(held_message(conflicts, waited), list(conflicts))
        if on_wait is not None:
            on_wait(conflicts)
            on_wait = None
        await asyncio.sleep(min(MAX_POLL, remaining, max(0.05, ttl / 10)))


async def _renew_forever(backend: LockBackend, held: HeldLocks, ttl: float,
                         on_lost: Callable[[str], None]) -> None:
    """Renew every TTL/3; the first failed renewal is a loss (reported once, then stop)."""
    assert held.holder is not None
    interval = ttl / 3
    while True:
        await asyncio.sleep(interval)
        try:
            async with asyncio.timeout(interval):
                await backend.renew(held.hosts, held.holder, ttl)
        except LockLostError as exc:
            reason = f"lost the lock: {exc}"
        except TimeoutError:
            reason = f"lost the lock: {backend.describe()} did not answer within {interval:g}s"
        except (LockBackendError, OSError) as exc:
            reason = f"lost the lock: could not renew: {exc}"
        except Exception as exc:  # a plugin's bug: we cannot know we still hold the hosts
            reason = f"lost the lock: renewing failed: {type(exc).__name__}: {exc}"
        else:
            continue
        held.lost = reason
        on_lost(reason)
        return


@contextlib.asynccontextmanager
async def hold_locks(backend: LockBackend | None, hosts: Sequence[str], *, ttl: float,
                     wait: float = 0.0, run_id: str | None = None, note: str = "",
                     on_lost: Callable[[str], None] = lambda reason: None,
                     on_wait: Callable[[list[HostLock]], None] | None = None,
                     ) -> AsyncIterator[HeldLocks]:
    """Hold the leases of `hosts` around the block (see the module docstring).

    `backend=None` is `--no-lock`: nothing is taken and the record says so. Raises
    LocksHeldError (hosts held at the deadline) or LockBackendError before the block runs.
    """
    if backend is None:
        yield HeldLocks("none", "", sorted(set(hosts)), skipped=True)
        return
    hosts = sorted(set(hosts))
    held = HeldLocks(backend.type_name, backend.namespace, hosts,
                     holder=make_holder(run_id or new_run_id(), note=note))
    assert held.holder is not None
    if not hosts:
        yield held
        return
    try:
        held.waited_s = await acquire_waiting(backend, hosts, held.holder, ttl=ttl, wait=wait,
                                              on_wait=on_wait)
    except BaseException:
        await _close(backend)
        raise
    renewer = asyncio.create_task(_renew_forever(backend, held, ttl, on_lost))
    try:
        yield held
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        held.release_error = await _release(backend, held)


async def _release(backend: LockBackend, held: HeldLocks) -> str | None:
    """Give the leases back within RELEASE_TIMEOUT; the reason it failed, else None."""
    assert held.holder is not None
    try:
        async with asyncio.timeout(RELEASE_TIMEOUT):
            await backend.release(held.hosts, held.holder)
    except TimeoutError:
        return f"{backend.describe()} did not answer within {RELEASE_TIMEOUT:g}s"
    except (LockError, OSError) as exc:
        return str(exc)
    finally:
        await _close(backend)
    return None


async def _close(backend: LockBackend) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(RELEASE_TIMEOUT):
            await backend.close()


def lab_lock_backend(lab: Lab, host_ids: Sequence[str]) -> tuple[LockBackend, float, list[str]]:
    """The backend, TTL and lockable hosts of a run on `host_ids`: every host except those the
    lab has built in (`local`, this machine). LockSpecError when a secret is not set."""
    from runbook.locks.config import lab_lock_config

    config = lab_lock_config(lab)
    lockable = [h for h in host_ids if h not in lab.builtin]
    return config.backend(), config.ttl, lockable


@contextlib.asynccontextmanager
async def hold_lab_locks(lab: Lab, host_ids: Sequence[str], *, wait: float, disabled: bool,
                         on_lost: Callable[[str], None], run_id: str | None = None,
                         on_wait: Callable[[list[HostLock]], None] | None = None,
                         ) -> AsyncIterator[HeldLocks]:
    """`hold_locks` with the lab's `lock:` settings: what `apply` and `power` wrap their run in.

    `disabled` is `--no-lock` (the record says locks were skipped). Hosts the lab has built
    in are not locked, and a run on none of the others contacts no backend; nor does a lab
    that was not read from a lab file (`lab.lock` is None: `Lab.default()`, labs built in code).
    """
    if disabled:
        async with hold_locks(None, host_ids, ttl=0) as held:
            yield held
        return
    if lab.lock is None:
        yield HeldLocks("none", "", [])
        return
    backend, ttl, lockable = lab_lock_backend(lab, host_ids)
    async with hold_locks(backend, lockable, ttl=ttl, wait=wait, run_id=run_id,
                          on_lost=on_lost, on_wait=on_wait) as held:
        yield held
