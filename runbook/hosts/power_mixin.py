"""`PowerMixin`: the power half of the `Host` API (power, status, reachability, waits).

`Host` inherits it. Power itself goes through `self.power_control` (a PowerController that runs
somewhere else); reachability is judged by running `true` on the host with a short timeout.
After any power change the cached connection and persistent shell are dropped, because the
host behind them was (or will be) reset and a stale session would hang or lie.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from runbook.errors import CommandTimeoutError, HostUnreachableError, PowerError
from runbook.lazyimport import lazy_module
from runbook.results import Status

if TYPE_CHECKING:
    import asyncio

    from runbook.hosts.base import Host
    from runbook.power import PowerController, PowerState
    from runbook.results import CommandStatus
else:
    asyncio = lazy_module("asyncio")

POWER_ACTIONS = ("on", "off", "cycle")
DEFAULT_PROBE_TIMEOUT = 5.0
POLL_INTERVAL = 1.0
# asyncssh may spend a little beyond connect_timeout (key exchange, auth); the outer guard
# only exists so a misbehaving transport can never hang a probe.
PROBE_GRACE = 2.0


class PowerMixin:
    """Power control and reachability for a host; see the module docstring."""

    id: str
    power_control: PowerController | None

    if TYPE_CHECKING:
        async def oneshot(self, cmd: str, timeout: float | None = None, *,
                          become: bool | None = None, become_user: str | None = None
                          ) -> CommandStatus: ...
        async def reset_connection(self) -> None: ...

    async def power(self, action: str) -> tuple[Status, str]:
        """Run `on`, `off` or `cycle` through this host's power controller.

        Failures of the controller come back as a non-ok Status with a message; a host without
        `power_control` or an unknown action raises PowerError.
        """
        if action not in POWER_ACTIONS:
            raise PowerError(f"unknown power action {action!r} for host {self.id!r}; "
                             f"use one of: {', '.join(POWER_ACTIONS)} (or power_status())")
        controller = self._power_controller()
        try:
            if action == "on":
                return await controller.on(self._as_host())
            if action == "off":
                return await controller.off(self._as_host())
            return await controller.cycle(self._as_host())
        finally:
            # Even a failed attempt may have reset the host: never reuse the old session.
            await self.reset_connection()

    async def power_status(self) -> PowerState | None:
        """The host's power state from its controller; None when the controller cannot tell.

        Raises PowerError when the host has no controller or its status query fails.
        """
        return await self._power_controller().status(self._as_host())

    async def is_reachable(self) -> bool:
        """True when `true` succeeds on the host right now (on a fresh connection)."""
        return await self._probe(self._probe_timeout())

    async def wait_until_up(self, timeout: float) -> bool:
        """Poll until the host is reachable; False when `timeout` seconds pass first."""
        return await self._wait_for(True, timeout)

    async def wait_until_down(self, timeout: float) -> bool:
        """Poll until the host stops answering; False when `timeout` seconds pass first."""
        return await self._wait_for(False, timeout)

    # -- helpers ------------------------------------------------------------------------
    def _as_host(self) -> Host:
        """`self` typed as the Host it is (the mixin is only ever used as a base of Host)."""
        return cast("Host", self)

    def _power_controller(self) -> PowerController:
        if self.power_control is None:
            raise PowerError(f"host {self.id!r} has no power control: add a `power_control` "
                             f"entry for it in the lab file (see docs/power.md)")
        return self.power_control

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
