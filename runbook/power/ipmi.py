"""`ipmi` power controller: a BMC driven with `ipmitool` over IPMI-over-LAN.

Lab example::

    hosts:
      node7:
        address: 10.0.0.57
        power_control:
          type: ipmi
          address: 10.0.100.57            # the BMC, not the host
          user: ADMIN
          password: "{{ secret('bmc/node7') }}"
          port: 623                       # default
          interface: lanplus              # lanplus (IPMI 2.0, default) or lan (IPMI 1.5)
          cycle_delay: 5                  # seconds between off and on in a cycle
          timeout: 30                     # per ipmitool call

Needs `ipmitool` on this machine (`apt install ipmitool`; `ipmitool` names another path).
The password is handed to ipmitool through the IPMI_PASSWORD environment variable (`-E`), so
it never appears in a process list, a message or a dry run. `cycle` is off, `cycle_delay`,
on, so it also works on a host that is already off (a BMC's own `power cycle` refuses that).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from runbook.errors import CommandTimeoutError, PowerError, PowerSpecError
from runbook.power.base import PowerController, PowerState, check_positive
from runbook.power.command import NOT_RUNNABLE, run_local
from runbook.results import CommandStatus, Status

if TYPE_CHECKING:
    from runbook.hosts.base import Host



class IpmiPowerController(PowerController):
    """Chassis power through a BMC's IPMI LAN interface, using the ipmitool program."""

    type_name: ClassVar[str] = "ipmi"

    def __init__(self, address: str, user: str = "", password: str = "", *, port: int = 623,
                 interface: Literal["lanplus", "lan"] = "lanplus", cycle_delay: float = 2.0,
                 timeout: float = 30.0, retries: int = 3, ipmitool: str = "ipmitool") -> None:
        super().__init__(cycle_delay=cycle_delay)
        if not address:
            raise PowerSpecError("must be the BMC's address", key="address")
        if not 0 < port < 65536:
            raise PowerSpecError(f"must be a port number 1-65535, got {port}", key="port")
        if interface not in ("lanplus", "lan"):
            raise PowerSpecError(f"must be 'lanplus' or 'lan', got {interface!r}",
                                 key="interface")
        if retries < 0:
            raise PowerSpecError(f"must be >= 0, got {retries}", key="retries")
        self.address = address
        self.user = user
        self.password = password
        self.port = port
        self.interface = interface
        self.timeout = check_positive("timeout", timeout)
        self.retries = retries
        self.ipmitool = ipmitool

    def argv(self, *command: str) -> list[str]:
        """The ipmitool command line for `command` (no password: it travels in the env)."""
        # -N: seconds per try; with -R this bounds how long an unanswered BMC keeps us.
        per_try = max(1, int(self.timeout // (self.retries + 1)))
        argv = [self.ipmitool, "-I", self.interface, "-H", self.address, "-p", str(self.port),
                "-N", str(per_try), "-R", str(self.retries)]
        if self.user:
            argv += ["-U", self.user]
        return [*argv, "-E", *command]

    async def on(self, host: Host) -> tuple[Status, str]:
        return await self._chassis(host, "on")

    async def off(self, host: Host) -> tuple[Status, str]:
        return await self._chassis(host, "off")

    async def status(self, host: Host) -> PowerState | None:
        result = await self._ipmitool(host, "power", "status")
        output = result.output.strip()
        if result.retcode != 0:
            raise PowerError(f"power status of {host.id!r}: {self._failure(result)}")
        lowered = output.lower()
        if lowered.endswith("is on"):
            return PowerState.ON
        if lowered.endswith("is off"):
            return PowerState.OFF
        raise PowerError(f"power status of {host.id!r}: unexpected answer from BMC "
                         f"{self.address}: {output!r}")

    def describe(self, host: Host, action: str) -> str:
        if action == "cycle":
            return super().describe(host, action)
        return (f"run on this machine: {' '.join(self.argv('power', action))} "
                f"(BMC of {host.id}; password from IPMI_PASSWORD)")

    def __repr__(self) -> str:
        return f"IpmiPowerController(address={self.address!r}, user={self.user!r})"

    async def _chassis(self, host: Host, action: str) -> tuple[Status, str]:
        try:
            result = await self._ipmitool(host, "power", action)
        except PowerError as exc:
            return Status.Error, str(exc)
        if result.retcode == 0:
            return Status.Success, result.output.strip() or f"power {action} sent"
        unrunnable = result.retcode is None or result.retcode in NOT_RUNNABLE
        status = Status.Error if unrunnable else Status.Failed
        return status, f"power {action} of {host.id!r}: {self._failure(result)}"

    async def _ipmitool(self, host: Host, *command: str) -> CommandStatus:
        argv = self.argv(*command)
        try:
            # ipmitool's own -N/-R usually end first; this bounds the whole call.
            return await run_local(argv, timeout=self.timeout,
                                   env={"IPMI_PASSWORD": self.password})
        except CommandTimeoutError as exc:
            raise PowerError(f"power control of {host.id!r}: ipmitool got no answer from BMC "
                             f"{self.address}:{self.port} within {self.timeout:g}s") from exc

    def _failure(self, result: CommandStatus) -> str:
        output = result.output.strip() or "no output"
        if result.retcode in NOT_RUNNABLE:
            return (f"{self.ipmitool!r} cannot be run on this machine ({output}); install ipmitool "
                    f"(apt install ipmitool) or set `ipmitool` to its path")
        return f"ipmitool (BMC {self.address}:{self.port}) exited {result.retcode}: {output}"
