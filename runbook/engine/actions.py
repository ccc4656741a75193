"""Execute one concrete action on one host and say how it went.

Every exception a host raises is turned into an `ActionResult` here (unreachable, timeout,
error), so one host's trouble never escapes into the scheduler and never touches other hosts.
Cancellation is the only thing that propagates.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from runbook._dataclass import mutable
from runbook.engine.logged import log_files, oneshot_logged, run_logged
from runbook.engine.regex import bounded_search
from runbook.engine.waiting import interact, wait
from runbook.errors import CommandTimeoutError, HostUnreachableError, RegexTimeoutError, RunbookError
from runbook.hosts.output import DEFAULT_OUTPUT_LIMIT
from runbook.plan.actions import (
    ConcreteAction,
    GetFiles,
    InteractDialog,
    OneshotCommands,
    PowerSwitch,
    PutFiles,
    RunCommands,
    WaitForCommand,
    WaitForPath,
    WaitForPort,
    as_user,
)
from runbook.results import Status

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.hosts.hostlog import HostLog
    from runbook.model import Step

# How a host marks a command it stopped at its timeout (runbook.hosts.shell / ssh).
_TIMEOUT_NOTE = "runbook: command timed out"
# Extra seconds the outer safety timeout allows past the host's own `timeout` handling, so the
# host gets the first chance to stop its command cleanly.
TIMEOUT_GRACE = 5.0


def _step_status(status: Status) -> Status:
    """A host's status as the step's: the same, except that a command the host did not run
    (NotRun) is an error of the step."""
    return Status.Error if status is Status.NotRun else status


@mutable(slots=True)
class ActionResult:
    """Raw outcome of an action (output not yet masked); `state` for `power: status`."""

    status: Status
    rc: int | None = None
    output: str = ""
    message: str = ""
    state: str | None = None
    timed_out: bool = False
    unreachable: bool = False
    elapsed: float | None = None

    @property
    def word(self) -> str:
        """The status as templates and reports write it ("unreachable" for an unreachable host)."""
        return "unreachable" if self.unreachable else self.status.word


async def execute(action: ConcreteAction, host: Host, *, timeout: float | None = None,
                  output_limit: int | None = None, log: HostLog | None = None) -> ActionResult:
    """Run `action` on `host`, bounded by `timeout` seconds; never raises except on cancel.

    `output_limit`: bytes of each command's output kept from each end (None: the default).
    `log`: the host's transcript, told every command, all its output and every file.
    """
    limit = DEFAULT_OUTPUT_LIMIT if output_limit is None else output_limit
    try:
        if timeout is None:
            return _explained(await _dispatch(action, host, timeout, limit, log))
        commands = isinstance(action, RunCommands | OneshotCommands | InteractDialog)
        async with asyncio.timeout(timeout + (TIMEOUT_GRACE if commands else 0.0)):
            return _explained(await _dispatch(action, host, timeout, limit, log))
    except HostUnreachableError as exc:
        return ActionResult(Status.Error, None, "", exc.detail, unreachable=True)
    except CommandTimeoutError as exc:
        return ActionResult(Status.Failed, None, "", str(exc) or "timed out", timed_out=True)
    except TimeoutError:
        await _reset_quietly(host)
        return ActionResult(Status.Failed, None, "",
                            f"timed out after {timeout or 0:g}s", timed_out=True)
    except RunbookError as exc:
        return ActionResult(Status.Error, None, "", str(exc))
    except NotImplementedError:
        return ActionResult(Status.Error, None, "",
                            f"host {host.id!r} does not support {action.kind!r}")
    except (OSError, ValueError) as exc:
        return ActionResult(Status.Error, None, "", f"{type(exc).__name__}: {exc}")


def _explained(result: ActionResult) -> ActionResult:
    """Give an error without a message one: the host's closing `runbook: ...` note (a lost
    connection or shell). A failure with an exit status is left to `expect` and the executor
    ("exit status N"), so a non-ok result never goes out unexplained."""
    if result.status is Status.Success or result.message or (
            result.status is Status.Failed and result.rc is not None):
        return result
    last = result.output.rstrip("\n").rpartition("\n")[2]
    if last.startswith("runbook: "):
        result.message = last.removeprefix("runbook: ")
    elif result.rc is not None:
        result.message = f"exit status {result.rc}"
    else:
        result.message = f"{result.word} without an exit status"
    return result


async def _reset_quietly(host: Host) -> None:
    """After a hard timeout the shell may be mid-command: drop it so the next use starts clean."""
    try:
        async with asyncio.timeout(5.0):
            await host.reset_connection()
    except (Exception, TimeoutError):  # best effort; the step already failed
        pass


async def _dispatch(action: ConcreteAction, host: Host, timeout: float | None,
                    output_limit: int, log: HostLog | None) -> ActionResult:
    match action:
        case RunCommands():
            result = await (
                host.run(list(action.commands), timeout=timeout, output_limit=output_limit,
                         become=action.become, become_user=action.become_user)
                if log is None else run_logged(host, action.commands, timeout, output_limit, log,
                                               become=action.become,
                                               become_user=action.become_user))
            return _timeout_as_failure(
                ActionResult(_step_status(result.status), result.retcode, result.output))
        case OneshotCommands():
            return _timeout_as_failure(await _oneshot(action, host, timeout, output_limit, log))
        case PutFiles():
            return _logged_transfer(log, "put", await _put(action, host, log))
        case GetFiles():
            status, message = await host.get(list(action.sources), action.dest,
                                              become=action.become,
                                              become_user=action.become_user)
            if status is Status.Success:
                await log_files(log, f"got from {host.id}", [
                    Path(action.dest) / Path(s).name for s in action.sources])
            return _logged_transfer(log, "get", _transfer(status, message))
        case PowerSwitch():
            if log is not None:
                log.note(f"power {action.verb}")
            return _logged_transfer(log, f"power {action.verb}", await _power(action, host))
        case WaitForPort() | WaitForPath() | WaitForCommand():
            output, elapsed = await wait(action, host)
            return ActionResult(Status.Success, 0, output, elapsed=elapsed)
        case InteractDialog():
            done, output, why = await interact(action, host, timeout, log)
            return ActionResult(Status.Success if done else Status.Failed, None, output,
                                "" if done else why)


def _logged_transfer(log: HostLog | None, what: str, result: ActionResult) -> ActionResult:
    """Note how a transfer or power action ended in the transcript."""
    if log is not None:
        text = (result.output or result.message).strip().replace("\n", "; ")
        log.note(f"{what} {result.word}" + (f": {text}" if text else ""))
    return result


def _timeout_as_failure(result: ActionResult) -> ActionResult:
    """A host reports a command it stopped at `timeout` as an error whose output ends with a
    `runbook: command timed out ...` note; for the run that is a failure of the step."""
    if result.status is Status.Error:
        last = result.output.rstrip("\n").rpartition("\n")[2]
        if last.startswith(_TIMEOUT_NOTE):
            result.status = Status.Failed
            result.timed_out = True
            result.message = last.removeprefix("runbook: ")
    return result


async def _oneshot(action: OneshotCommands, host: Host, timeout: float | None,
                   output_limit: int, log: HostLog | None) -> ActionResult:
    """Each command in a fresh process, one after another, stopping at the first failure."""
    outputs: list[str] = []
    rc: int | None = None
    status = Status.Success
    for command in action.commands:
        cs = await oneshot_logged(host, command, timeout, output_limit, log,
                                  become=action.become, become_user=action.become_user)
        outputs.append(cs.output)
        rc = cs.retcode
        status = _step_status(cs.status)
        if status is not Status.Success:
            break
    return ActionResult(status, rc, "".join(outputs))


def _transfer(status: Status, message: str) -> ActionResult:
    mapped = _step_status(status)
    return ActionResult(mapped, None, message if mapped is Status.Success else "",
                        "" if mapped is Status.Success else message)


async def _put(action: PutFiles, host: Host, log: HostLog | None) -> ActionResult:
    if action.content is None:
        await log_files(log, f"put to {host.id}:{action.dest}",
                        list(action.sources))
        status, message = await host.put(list(action.sources), action.dest, mode=action.mode,
                                         become=action.become, become_user=action.become_user)
        return _transfer(status, message)
    # A rendered template: write this host's text under the source's name, upload, clean up.
    name = Path(action.sources[0]).name
    with tempfile.TemporaryDirectory(prefix="runbook-put-") as tmp:
        local = Path(tmp) / name
        local.write_text(action.content, encoding="utf-8")
        await log_files(log, f"put (rendered {action.sources[0]}) to {host.id}:{action.dest}",
                        [local])
        status, message = await host.put([local], action.dest, mode=action.mode,
                                         become=action.become, become_user=action.become_user)
    return _transfer(status, message)


async def _power(action: PowerSwitch, host: Host) -> ActionResult:
    if host.power_control is None:
        return ActionResult(Status.Error, None, "",
                            f"host {host.id!r} has no power_control in the lab")
    if action.verb == "status":
        state = await host.power_status()
        value = None if state is None else state.value
        if value is None:
            return ActionResult(Status.Failed, None, "",
                                "the power controller could not report a state", state=None)
        return ActionResult(Status.Success, 0, f"power: {value}\n", state=value)
    status, message = await host.power(action.verb)
    mapped = _step_status(status)
    lines = [message] if message else []
    if mapped is not Status.Success:
        return ActionResult(mapped, None, "\n".join(lines), message or f"power {action.verb} failed")
    if action.wait_down is not None:
        if not await host.wait_until_down(action.wait_down):
            return ActionResult(Status.Failed, None, "\n".join(lines),
                                f"still answering {action.wait_down:g}s after power {action.verb}")
        lines.append("down")
    if action.wait_up is not None:
        if not await host.wait_until_up(action.wait_up):
            return ActionResult(Status.Failed, None, "\n".join(lines),
                                f"not up {action.wait_up:g}s after power {action.verb}")
        lines.append("up")
    return ActionResult(Status.Success, 0, "\n".join(lines) + ("\n" if lines else ""))


def describe_action(action: ConcreteAction, host: Host, runner: Host | None = None) -> list[str]:
    """What `action` does for `host`, one line per command, transfer, wait or dialog exchange
    (dry run, reports); `runner` is the host it runs on when that is a `delegate_to` host.

    The lines hold rendered values (an interact `send` may be a secret): callers mask them.
    """
    if isinstance(action, PowerSwitch):
        return describe_power(action, host)
    runner = runner or host
    lines = action.describe(as_user(action, runner))
    if runner is not host:
        lines = [f"on {runner.id}: {line}" for line in lines]
    return lines


def describe_power(action: PowerSwitch, host: Host) -> list[str]:
    """Dry-run lines of a power action, using the controller's own description when it has one."""
    control = host.power_control
    if control is None:
        return [f"power {action.verb}: ERROR host {host.id!r} has no power_control"]
    try:
        text = control.describe(host, action.verb)
    except (RunbookError, NotImplementedError, AttributeError) as exc:
        text = f"power {action.verb} ({exc})"
    return [text, *action.wait_lines()]


def apply_expect(step: Step, raw: ActionResult, action: ConcreteAction) -> ActionResult:
    """Judge a run/oneshot result by `expect`: allowed exit codes and output regexes (the
    regexes as rendered for this host, from `action`)."""
    expect = step.expect
    if not isinstance(action, RunCommands | OneshotCommands) or raw.status not in (
            Status.Success, Status.Failed) or raw.timed_out:
        return raw
    if expect is None:
        return raw
    if expect.rc is not None and raw.rc is not None:
        raw.status = Status.Success if raw.rc in expect.rc else Status.Failed
        if raw.status is Status.Failed:
            raw.message = f"exit status {raw.rc}, expected {', '.join(map(str, expect.rc))}"
    output, not_output = action.expect_output, action.expect_not_output
    try:
        if raw.status is Status.Success and output is not None and not \
                bounded_search(output, raw.output):
            raw.status = Status.Failed
            raw.message = f"output does not match {output!r}"
        if raw.status is Status.Success and not_output is not None and \
                bounded_search(not_output, raw.output):
            raw.status = Status.Failed
            raw.message = f"output matches {not_output!r}"
    except RegexTimeoutError as exc:
        raw.status = Status.Error
        raw.message = f"expect: {exc}"
    return raw
