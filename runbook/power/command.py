"""`command` power controller: shell commands run on a controller host or on this machine.

Lab example (a libvirt guest powered from its hypervisor, reached through the lab)::

    hosts:
      hv1:
        address: 10.0.0.5
        user: lab
      web1:
        address: 10.0.0.21
        power_control:
          type: command
          controller: hv1                 # lab host whose oneshot runs the commands
          on_cmd: virsh start {name}
          off_cmd: virsh destroy {name}
          status_cmd: virsh domstate {name}
          status_on: running              # output containing this means ON
          cycle_delay: 5                  # seconds between off and on in a cycle
          timeout: 60                     # per command

Commands are `str.format` templates with `{name}` and `{id}` (the lab id) and `{ip}` (the
host's address), inserted verbatim. Without `controller` they run on this machine through
`/bin/sh`. Status: with `status_on` set, a successful status command whose output contains it
means ON, other output OFF; with `status_on` empty, exit code 0 means ON and any other exit
code OFF. A status command that cannot run (controller unreachable, command not found, exit
126/127, timeout; or a non-zero exit when `status_on` is set) raises PowerError: never a guess.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from runbook._lazyimport import lazy_module
from runbook.errors import CommandTimeoutError, HostUnreachableError, PowerError, PowerSpecError
from runbook.hosts.base import HostResolver
from runbook.hosts.shelltext import read_script_then_eval
from runbook.power.base import PowerController, PowerState, check_positive
from runbook.results import CommandStatus, Status

if TYPE_CHECKING:
    import asyncio

    from runbook.hosts.base import Host
else:
    asyncio = lazy_module("asyncio")

TEMPLATE_FIELDS = ("name", "ip", "id")
NOT_RUNNABLE = (126, 127)  # shell: found but not executable / not found


class CommandPowerController(PowerController):
    """Generic controller that runs configured commands on a controller host or locally."""

    type_name: ClassVar[str] = "command"

    def __init__(self, on_cmd: str, off_cmd: str, status_cmd: str | None = None,
                 status_on: str = "", controller: str | None = None, *,
                 cycle_delay: float = 2.0, timeout: float = 60.0) -> None:
        super().__init__(cycle_delay=cycle_delay)
        for key, template in (("on_cmd", on_cmd), ("off_cmd", off_cmd),
                              ("status_cmd", status_cmd)):
            if template is not None:
                _check_template(key, template)
        if controller is not None and not controller:
            raise PowerSpecError("must be a lab host id (or omitted to run locally)",
                                 key="controller")
        self.on_cmd = on_cmd
        self.off_cmd = off_cmd
        self.status_cmd = status_cmd
        self.status_on = status_on
        self.controller = controller
        self.timeout = check_positive("timeout", timeout)
        self._resolve_host: HostResolver | None = None

    def use_host_resolver(self, resolve: HostResolver) -> None:
        """Keep the lab's lookup: the `controller` host is found through it."""
        self._resolve_host = resolve

    async def on(self, host: Host) -> tuple[Status, str]:
        return await self._switch(host, self.on_cmd, "on")

    async def off(self, host: Host) -> tuple[Status, str]:
        return await self._switch(host, self.off_cmd, "off")

    async def status(self, host: Host) -> PowerState | None:
        if self.status_cmd is None:
            return None
        result = await self._execute(host, self.status_cmd)
        output = result.output.strip()
        if result.retcode is None or result.retcode in NOT_RUNNABLE:
            raise PowerError(f"power status of {host.id!r}: status command could not run "
                             f"({self._where()}, exit {result.retcode}): {result.command}: "
                             f"{output or 'no output'}")
        if self.status_on:
            if result.retcode != 0:
                raise PowerError(f"power status of {host.id!r}: status command failed "
                                 f"(exit {result.retcode}, {self._where()}): "
                                 f"{result.command}: {output or 'no output'}")
            return PowerState.ON if self.status_on in result.output else PowerState.OFF
        return PowerState.ON if result.retcode == 0 else PowerState.OFF

    def describe(self, host: Host, action: str) -> str:
        if action == "cycle":
            return super().describe(host, action)
        template = {"on": self.on_cmd, "off": self.off_cmd, "status": self.status_cmd}.get(action)
        if template is None:
            return f"power {action} of {host.id}: not supported by this controller"
        text = f"{self._where(host)}: {render(template, host)}"
        if action == "status":
            text += (f" (ON when output contains {self.status_on!r})" if self.status_on
                     else " (ON when exit code is 0)")
        return text

    def __repr__(self) -> str:
        return (f"CommandPowerController(on_cmd={self.on_cmd!r}, off_cmd={self.off_cmd!r}, "
                f"controller={self.controller!r})")

    async def _switch(self, host: Host, template: str, action: str) -> tuple[Status, str]:
        try:
            result = await self._execute(host, template)
        except PowerError as exc:
            return Status.Error, str(exc)
        output = result.output.strip()
        if result.retcode == 0:
            return Status.Success, output or f"{action} command succeeded"
        if result.retcode is None:
            return Status.Error, (f"{action} command did not complete ({self._where()}): "
                                  f"{result.command}: {output or 'no output'}")
        return Status.Failed, (f"{action} command exited {result.retcode} ({self._where()}): "
                               f"{result.command}: {output or 'no output'}")

    async def _execute(self, host: Host, template: str) -> CommandStatus:
        """Run the rendered command; PowerError when it could not be run at all."""
        cmd = render(template, host)
        try:
            if self.controller is None:
                return await run_local(cmd, timeout=self.timeout)
            return await self._controller_host(host).oneshot(cmd, timeout=self.timeout)
        except HostUnreachableError as exc:
            raise PowerError(f"power control of {host.id!r}: controller {exc}") from exc
        except (CommandTimeoutError, TimeoutError) as exc:
            raise PowerError(f"power control of {host.id!r}: {cmd!r} timed out after "
                             f"{self.timeout:g}s ({self._where()})") from exc

    def _controller_host(self, host: Host) -> Host:
        resolve, controller = self._resolve_host, self.controller or ""
        if resolve is None:
            raise PowerError(f"power control of {host.id!r}: controller {controller!r} "
                             f"cannot be found because the host is not part of a lab")
        try:
            return resolve(controller)
        except KeyError:
            raise PowerError(f"power control of {host.id!r}: controller host "
                             f"{self.controller!r} is not in the lab") from None

    def _where(self, host: Host | None = None) -> str:
        if self.controller is None:
            return "run on this machine"
        address = ""
        if host is not None and self._resolve_host is not None:
            try:
                address = f" ({self._resolve_host(self.controller).address})"
            except KeyError:
                address = " (not in the lab)"
        return f"run on controller {self.controller!r}{address}"


def render(template: str, host: Host) -> str:
    """Fill a command template with the target host's `name`, `ip` and `id`."""
    return template.format(name=host.id, ip=host.address, id=host.id)


def _check_template(key: str, template: str) -> None:
    if not isinstance(template, str) or not template.strip():
        raise PowerSpecError(f"must be a non-empty command, got {template!r}", key=key)
    try:
        template.format(**dict.fromkeys(TEMPLATE_FIELDS, "x"))
    except (KeyError, IndexError) as exc:
        raise PowerSpecError(f"unknown placeholder {{{exc.args[0]}}} in {template!r}; "
                             f"use {{name}}, {{ip}} or {{id}} (write {{{{ }}}} for braces)",
                             key=key) from None
    except ValueError as exc:
        raise PowerSpecError(f"bad placeholder syntax in {template!r}: {exc} "
                             f"(write {{{{ and }}}} for literal braces)", key=key) from None


async def run_local(cmd: str | Sequence[str], *, timeout: float,
                    env: Mapping[str, str] | None = None) -> CommandStatus:
    """Run a command on this machine (a string through /bin/sh, a list directly).

    Returns its combined output and exit code; exit 127 when a listed program does not
    exist, 126 when it cannot be executed. On timeout the whole process group is killed and
    CommandTimeoutError raised.
    """
    shown = cmd if isinstance(cmd, str) else " ".join(cmd)
    full_env = {**os.environ, **env} if env is not None else None
    spawning = asyncio.ensure_future(_spawn(cmd, full_env))
    try:
        proc = await asyncio.shield(spawning)
    except asyncio.CancelledError:
        # Cancelled while asyncio connects the pipes: the process exists already (and the
        # shell may have started children), but asyncio would kill only the shell itself.
        await _kill_when_spawned(spawning)
        raise
    except FileNotFoundError as exc:
        return CommandStatus(shown, f"command not found: {exc.filename or shown}\n",
                             Status.Failed, 127)
    except OSError as exc:  # not executable, exec format error ...: like the shell's 126
        return CommandStatus(shown, f"cannot run {shown}: {exc.strerror or exc}\n",
                             Status.Failed, 126)
    # a shell command goes on stdin (see _spawn); communicate closes stdin after it
    script = cmd.encode() if isinstance(cmd, str) else None
    try:
        async with asyncio.timeout(timeout):
            out, _ = await proc.communicate(script)
    except BaseException as exc:
        _kill_group(proc.pid)
        await proc.wait()
        if isinstance(exc, TimeoutError):
            raise CommandTimeoutError(f"{shown!r} timed out after {timeout:g}s") from None
        raise
    rc = proc.returncode
    status = Status.Success if rc == 0 else Status.Failed
    return CommandStatus(shown, out.decode(errors="replace"), status, rc)


async def _spawn(cmd: str | Sequence[str],
                 env: Mapping[str, str] | None) -> asyncio.subprocess.Process:
    """Start `cmd` in a session (and process group) of its own, output piped, no stdin.

    A shell command string is not passed in argv, where every user's `ps` would show it (with
    any secret rendered into it): the caller writes it on stdin, which the shell reads before
    pointing stdin at /dev/null (`read_script_then_eval`).
    """
    if isinstance(cmd, str):
        return await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", read_script_then_eval(len(cmd.encode())),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True)
    return await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True)


async def _kill_when_spawned(spawning: asyncio.Future[asyncio.subprocess.Process]) -> None:
    """Let a cancelled start finish, then kill the new process group and reap it."""
    try:
        proc = await spawning
    except Exception:  # it could not start: nothing to kill
        return
    _kill_group(proc.pid)
    await proc.wait()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
