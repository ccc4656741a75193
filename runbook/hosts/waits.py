"""Waiting for a host to reach a state: a TCP port, a path on the host, a command that succeeds.

These are the host-level half of the `wait_for` action. Each helper polls once per `interval`
second (first after `delay`), returns the seconds elapsed since it was called, and raises
`WaitTimeoutError` (a `CommandTimeoutError`) saying what was awaited, for how long, and what
the last check saw once `timeout` has passed. Each check is itself bounded by the time left, so
nothing outlives the timeout by more than a moment.

- `wait_for_port`: a TCP connect from this machine to the host's address (or `address`);
  `state="started"` waits until it is accepted, `"stopped"` until it is not.
- `wait_for_path`: on the host, `state="present"` waits until the path exists (and, with
  `contains`, a line of it matches that POSIX extended regular expression, as `grep -E`);
  `"absent"` waits until it is gone (with `contains`: or no longer matches).
- `wait_for_command`: on the host, until the command exits 0.

Path and command checks are oneshots, so they can run as the become user; a host that cannot be
reached yet (rebooting) counts as "not yet", not as a failure.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

from runbook._lazyimport import lazy_module
from runbook._numbers import finite_number
from runbook.errors import HostUnreachableError, WaitTimeoutError
from runbook.hosts.shelltext import quote

if TYPE_CHECKING:
    import asyncio

    from runbook.hosts.base import Host
else:
    asyncio = lazy_module("asyncio")

#: Seconds between two checks (the issue's "each second").
DEFAULT_INTERVAL = 1.0
#: Default limit of a wait, seconds.
DEFAULT_TIMEOUT = 300.0

#: One check: given the seconds left, (condition holds, what it saw).
Check = Callable[[float], Awaitable[tuple[bool, str]]]


async def wait_for_port(host: Host, port: int, *, state: Literal["started", "stopped"] = "started",
                        address: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                        delay: float = 0.0, interval: float = DEFAULT_INTERVAL) -> float:
    """Wait until TCP `port` on `address` (default: the host's) accepts or refuses connections."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be a number from 1 to 65535, not {port!r}")
    _check_state(state, ("started", "stopped"))
    target = address or host.address
    want_open = state == "started"

    async def check(left: float) -> tuple[bool, str]:
        is_open, seen = await _tcp_connects(target, port, min(interval, left))
        return is_open == want_open, seen

    awaited = f"port {target}:{port} to be {state} (a TCP connect from this machine)"
    return await _poll(check, host.id, awaited, timeout=timeout, delay=delay, interval=interval)


async def wait_for_path(host: Host, path: str, *,
                        state: Literal["present", "absent"] = "present",
                        contains: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                        delay: float = 0.0, interval: float = DEFAULT_INTERVAL,
                        become: bool | None = None, become_user: str | None = None) -> float:
    """Wait until `path` on the host is present (matching `contains`) or absent."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"path must be a non-empty string, not {path!r}")
    _check_state(state, ("present", "absent"))
    test = f"test -e {quote(path)}"
    if contains is not None:
        test += f" && grep -Eq -- {quote(contains)} {quote(path)}"
    command = test if state == "present" else f"! {{ {test}; }}"
    what = f"path {path}" + (f" containing /{contains}/" if contains is not None else "")
    awaited = f"{what} to be {state} on the host"
    return await _poll(_oneshot_check(host, command, become, become_user), host.id, awaited,
                       timeout=timeout, delay=delay, interval=interval)


async def wait_for_command(host: Host, command: str, *, timeout: float = DEFAULT_TIMEOUT,
                           delay: float = 0.0, interval: float = DEFAULT_INTERVAL,
                           become: bool | None = None, become_user: str | None = None) -> float:
    """Wait until `command`, run on the host as a oneshot, exits 0."""
    if not isinstance(command, str) or not command.strip():
        raise ValueError(f"command must be a non-empty string, not {command!r}")
    awaited = f"command {command!r} to exit 0"
    return await _poll(_oneshot_check(host, command, become, become_user), host.id, awaited,
                       timeout=timeout, delay=delay, interval=interval)


def _oneshot_check(host: Host, command: str, become: bool | None,
                   become_user: str | None) -> Check:
    async def check(left: float) -> tuple[bool, str]:
        try:
            result = await asyncio.wait_for(
                host.oneshot(command, left, become=become, become_user=become_user), left + 1)
        except HostUnreachableError as exc:
            return False, f"host unreachable: {exc.cause}"
        except TimeoutError:
            return False, "the check itself did not finish"
        tail = " ".join(result.output.split())[-200:]
        seen = f"last exit status {result.retcode}" + (f": {tail}" if tail else "")
        return result.status.is_ok, seen

    return check


async def _poll(check: Check, host_id: str, awaited: str, *, timeout: float, delay: float,
                interval: float) -> float:
    """Run `check` every `interval` s after `delay` s until it holds; elapsed s, or raise."""
    _check_seconds(timeout=timeout, interval=interval)
    if not finite_number(delay) or delay < 0:
        raise ValueError(f"delay must be 0 or more seconds, not {delay!r}")
    start = time.monotonic()
    deadline = start + timeout
    await asyncio.sleep(min(delay, timeout))
    seen = "not checked yet"
    while (left := deadline - time.monotonic()) > 0:
        attempt = time.monotonic()
        held, seen = await check(left)
        if held:
            return time.monotonic() - start
        await asyncio.sleep(max(0.0, min(attempt + interval, deadline) - time.monotonic()))
    raise WaitTimeoutError(host_id, f"{awaited} ({seen})", time.monotonic() - start)


async def _tcp_connects(address: str, port: int, limit: float) -> tuple[bool, str]:
    """Whether a TCP connection to address:port is accepted within `limit` s, and what happened."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), limit)
    except TimeoutError:
        return False, f"no answer within {limit:.1f} s"
    except ConnectionRefusedError:
        return False, "connection refused"
    except OSError as exc:
        return False, exc.strerror or str(exc) or type(exc).__name__
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), limit)
    return True, "connection accepted"


def _check_state(state: object, allowed: tuple[str, ...]) -> None:
    if state not in allowed:
        raise ValueError(f"state must be one of {', '.join(allowed)}, not {state!r}")


def _check_seconds(**values: float) -> None:
    for name, value in values.items():
        if not finite_number(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
