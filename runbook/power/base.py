"""The power-control contract: `PowerState`, `PowerController` and `PowerSpecError`.

Powering a host on cannot run on the host (it is off), so a controller says where and how
it happens: a command on a hypervisor or jump host, a BMC over IPMI or Redfish, a PDU plugin.
Controllers are built from lab data by `runbook.power.registry.power_control_from_spec`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from runbook._lazyimport import lazy_module
from runbook._numbers import finite_number
from runbook.errors import PowerSpecError
from runbook.hosts.base import POWER_ACTIONS, HostResolver, PowerState
from runbook.results import Status

if TYPE_CHECKING:
    import asyncio

    from runbook.hosts.base import Host
else:
    asyncio = lazy_module("asyncio")

__all__ = ["POWER_ACTIONS", "PowerController", "PowerSpecError", "PowerState",
           "check_non_negative", "check_positive"]


class PowerController(ABC):
    """How to power a host on and off from somewhere that still works when the host is down.

    Subclasses set `type_name` (the `type:` string in a lab file), implement `on` and `off`,
    and usually `status` and `describe`. `on`/`off`/`cycle` report failures as a non-ok
    `Status` with a message; `status` raises `PowerError` when it cannot tell, because a
    guessed ON or OFF is worse than no answer.
    """

    type_name: ClassVar[str]
    cycle_delay: float = 2.0

    def __init__(self, *, cycle_delay: float = 2.0) -> None:
        self.cycle_delay = check_non_negative("cycle_delay", cycle_delay)

    @abstractmethod
    async def on(self, host: Host) -> tuple[Status, str]:
        """Power `host` on."""

    @abstractmethod
    async def off(self, host: Host) -> tuple[Status, str]:
        """Power `host` off (hard: this is a power switch, not a shutdown)."""

    async def cycle(self, host: Host) -> tuple[Status, str]:
        """Power-cycle `host`: off, wait `cycle_delay` seconds, on. Stops if `off` fails.

        Override for a native reset. The pause lets supplies drain so the host really resets.
        """
        status, message = await self.off(host)
        if not status.is_ok:
            return status, f"cycle stopped, off failed: {message}"
        await asyncio.sleep(self.cycle_delay)
        status, on_message = await self.on(host)
        if not status.is_ok:
            return status, f"off done ({message}), then on failed: {on_message}"
        return status, f"off: {message}; on: {on_message}"

    async def status(self, host: Host) -> PowerState | None:
        """The current power state of `host`, or None when this controller cannot report it."""
        return None

    def use_host_resolver(self, resolve: HostResolver) -> None:
        """Called by the `Lab` holding the host: `resolve(id)` finds another lab host.

        Only controllers that act through another host (`command` with a `controller`) keep it.
        """
        del resolve

    def describe(self, host: Host, action: str) -> str:
        """Human text of what `action` would do for `host`, for dry runs (`--check`)."""
        if action == "cycle":
            return (f"{self.describe(host, 'off')}; wait {self.cycle_delay:g}s; "
                    f"{self.describe(host, 'on')}")
        return f"{self.type_name} controller: power {action} {host.id}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def check_non_negative(key: str, value: float) -> float:
    """`value` as a float when it is a finite number >= 0, else a PowerSpecError on `key`."""
    if not finite_number(value) or value < 0:
        raise PowerSpecError(f"must be a finite number >= 0 (seconds), got {value!r}", key=key)
    return float(value)


def check_positive(key: str, value: float) -> float:
    """`value` as a float when it is a finite number > 0, else a PowerSpecError on `key`."""
    if not finite_number(value) or value <= 0:
        raise PowerSpecError(f"must be a finite number > 0 (seconds), got {value!r}", key=key)
    return float(value)
