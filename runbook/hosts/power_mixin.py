"""`PowerMixin`: the reachability half of the `Host` power API (`is_reachable`, waits).

`Host` inherits it; `Host.power` / `Host.power_status` go through the host's `power_control`.
Reachability is judged by running `true` on the host with a short timeout, on a fresh
connection, because the host behind a cached session may have been reset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbook._lazyimport import lazy_module
from runbook.errors import CommandTimeoutError, HostUnreachableError
from runbook.results import Status

if TYPE_CHECKING:
    import asyncio

    from runbook.results import CommandStatus
else:
    asyncio = lazy_module("asyncio")

DEFAULT_PROBE_TIMEOUT = 5.0
POLL_INTERVAL = 1.0
# asyncssh may spend a little beyond connect_timeout (key exchange, auth); the outer guard
# only exists so a misbehaving transport can never hang a probe.
PROBE_GRACE = 2.0


class PowerMixin:
    """Reachability of a host and waiting for it to come up or go down."""

    id: str

    if TYPE_CHECKING:
        async def oneshot(self, cmd: str, timeout: float | None = None, *,
                          become: bool | None = None, become_user: str | None = None
                          ) -> CommandStatus: ...
        async def reset_connection(self) -> None: ...

    async def is_reachable(self) -> bool:
        """True when `true` succeeds on the host right now (on a fresh connection)."""
        return await self._probe(self._probe_timeout())

    async def wait_until_up(self, timeout: float) -> bool:
        """Poll until the host is reachable; False when `timeout` seconds pass first."""
        return await self._wait_for(True, timeout)

    async def wait_until_down(self, timeout: float) -> bool:
        """Poll until the host stops answering; False when `timeout` seconds pass first."""
        return await self._wait_for(False, timeout)

    def _probe_timeout(self) -> float:
        timeout = getattr(self, "connect_timeout", None)
        if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
            return float(timeout)
        return DEFAULT_PROBE_TIMEOUT

    async def _probe(self, timeout: float) -> bool:
        try:
            await self.reset_connection()
            # Reachable means logged in: a host's default become (sudo) is not part of it.
            result = await asyncio.wait_for(self.oneshot("true", timeout=timeout, become=False),
                                            timeout + PROBE_GRACE)
        except (HostUnreachableError, CommandTimeoutError, TimeoutError, OSError):
            return False
        return result.status is Status.Success and result.retcode == 0

    async def _wait_for(self, up: bool, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while True:
            remaining = deadline - loop.time()
            # A probe never waits longer than the time left, but gets at least a second so a
            # healthy host is not declared down just because the budget is nearly spent.
            probe_timeout = min(self._probe_timeout(), max(remaining, 1.0))
            if await self._probe(probe_timeout) == up:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(POLL_INTERVAL, remaining))
