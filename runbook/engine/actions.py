"""Execute one concrete action on one host and say how it went.

Every exception a host raises is turned into an `ActionResult` here (unreachable, timeout,
error), so one host's trouble never escapes into the scheduler and never touches other hosts.
Cancellation is the only thing that propagates.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runbook.engine.regex import RegexTimeout, bounded_search
from runbook.engine.results import HostStatus
from runbook.errors import CommandTimeoutError, HostUnreachableError, RunbookError
from runbook.hosts.output import DEFAULT_OUTPUT_LIMIT
from runbook.results import Status

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.model import Step
    from runbook.plan import ConcreteAction

# How a host marks a command it stopped at its timeout (runbook.hosts.shell / ssh).
_TIMEOUT_NOTE = "runbook: command timed out"
# Extra seconds the outer safety timeout allows past the host's own `timeout` handling, so the
# host gets the first chance to stop its command cleanly.
TIMEOUT_GRACE = 5.0

_STATUS = {
    Status.Success: HostStatus.SUCCESS,
    Status.Failed: HostStatus.FAILED,
    Status.Error: HostStatus.ERROR,
    Status.Skipped: HostStatus.SUCCESS,
    Status.NotRun: HostStatus.ERROR,
}


@dataclass(slots=True)
class ActionResult:
    """Raw outcome of an action (output not yet masked); `state` for `power: status`."""

    status: HostStatus
    rc: int | None = None
    output: str = ""
    message: str = ""
    state: str | None = None
    timed_out: bool = False


async def execute(action: ConcreteAction, host: Host, *, timeout: float | None = None,
                  output_limit: int | None = None) -> ActionResult:
    """Run `action` on `host`, bounded by `timeout` seconds; never raises except on cancel.

    `output_limit`: bytes of each command's output kept from each end (None: the default).
    """
    limit = DEFAULT_OUTPUT_LIMIT if output_limit is None else output_limit
    try:
        if timeout is None:
            return _explained(await _dispatch(action, host, timeout, limit))
        async with asyncio.timeout(timeout + (TIMEOUT_GRACE if action.kind in ("run", "oneshot")
                                              else 0.0)):
            return _explained(await _dispatch(action, host, timeout, limit))
    except HostUnreachableError as exc:
        return ActionResult(HostStatus.UNREACHABLE, None, "", exc.detail)
    except CommandTimeoutError as exc:
        return ActionResult(HostStatus.FAILED, None, "", str(exc) or "timed out", timed_out=True)
    except TimeoutError:
        await _reset_quietly(host)
        return ActionResult(HostStatus.FAILED, None, "",
                            f"timed out after {timeout or 0:g}s", timed_out=True)
    except RunbookError as exc:
        return ActionResult(HostStatus.ERROR, None, "", str(exc))
    except NotImplementedError:
        return ActionResult(HostStatus.ERROR, None, "",
                            f"host {host.id!r} does not support {action.kind!r}")
    except (OSError, ValueError) as exc:
        return ActionResult(HostStatus.ERROR, None, "", f"{type(exc).__name__}: {exc}")


def _explained(result: ActionResult) -> ActionResult:
    """Give an error without a message one: the host's closing `runbook: ...` note (a lost
    connection or shell). A failure with an exit status is left to `expect` and the executor
    ("exit status N"), so a non-ok result never goes out unexplained."""
    if result.status is HostStatus.SUCCESS or result.message or (
            result.status is HostStatus.FAILED and result.rc is not None):
        return result
    last = result.output.rstrip("\n").rpartition("\n")[2]
    if last.startswith("runbook: "):
        result.message = last.removeprefix("runbook: ")
    elif result.rc is not None:
        result.message = f"exit status {result.rc}"
    else:
        result.message = f"{result.status.value} without an exit status"
    return result


async def _reset_quietly(host: Host) -> None:
    """After a hard timeout the shell may be mid-command: drop it so the next use starts clean."""
    try:
        async with asyncio.timeout(5.0):
            await host.reset_connection()
    except (Exception, TimeoutError):  # best effort; the step already failed
        pass


async def _dispatch(action: ConcreteAction, host: Host, timeout: float | None,
                    output_limit: int) -> ActionResult:
    kind = action.kind
    if kind == "run":
        result = await host.run(list(action.commands), timeout=timeout, output_limit=output_limit)
        return _timeout_as_failure(
            ActionResult(_STATUS[result.status], result.retcode, result.output))
    if kind == "oneshot":
        return _timeout_as_failure(await _oneshot(action, host, timeout, output_limit))
    if kind == "put":
        return await _put(action, host)
    if kind == "get":
        status, message = await host.get(list(action.sources), action.dest)
        return _transfer(status, message)
    return await _power(action, host)


def _timeout_as_failure(result: ActionResult) -> ActionResult:
    """A host reports a command it stopped at `timeout` as an error whose output ends with a
    `runbook: command timed out ...` note; for the run that is a failure of the step."""
    if result.status is HostStatus.ERROR:
        last = result.output.rstrip("\n").rpartition("\n")[2]
        if last.startswith(_TIMEOUT_NOTE):
            result.status = HostStatus.FAILED
            result.timed_out = True
            result.message = last.removeprefix("runbook: ")
    return result


async def _oneshot(action: ConcreteAction, host: Host, timeout: float | None,
                   output_limit: int) -> ActionResult:
    """Each command in a fresh process, one after another, stopping at the first failure."""
    outputs: list[str] = []
    rc: int | None = None
    status = HostStatus.SUCCESS
    for command in action.commands:
        cs = await host.oneshot(command, timeout=timeout, output_limit=output_limit)
        outputs.append(cs.output)
        rc = cs.retcode
        status = _STATUS[cs.status]
        if status is not HostStatus.SUCCESS:
            break
    return ActionResult(status, rc, "".join(outputs))


def _transfer(status: Status, message: str) -> ActionResult:
    mapped = _STATUS[status]
    return ActionResult(mapped, None, message if mapped is HostStatus.SUCCESS else "",
                        "" if mapped is HostStatus.SUCCESS else message)


async def _put(action: ConcreteAction, host: Host) -> ActionResult:
    if action.content is None:
        status, message = await host.put(list(action.sources), action.dest, mode=action.mode)
        return _transfer(status, message)
    # A rendered template: write this host's text under the source's name, upload, clean up.
    name = Path(action.sources[0]).name
    with tempfile.TemporaryDirectory(prefix="runbook-put-") as tmp:
        local = Path(tmp) / name
        local.write_text(action.content, encoding="utf-8")
        status, message = await host.put([local], action.dest, mode=action.mode)
    return _transfer(status, message)


async def _power(action: ConcreteAction, host: Host) -> ActionResult:
    if host.power_control is None:
        return ActionResult(HostStatus.ERROR, None, "",
                            f"host {host.id!r} has no power_control in the lab")
    if action.verb == "status":
        state = await host.power_status()
        value = None if state is None else str(getattr(state, "value", state))
        if value is None:
            return ActionResult(HostStatus.FAILED, None, "",
                                "the power controller could not report a state", state=None)
        return ActionResult(HostStatus.SUCCESS, 0, f"power: {value}\n", state=value)
    status, message = await host.power(action.verb)
    mapped = _STATUS[status]
    lines = [message] if message else []
    if mapped is not HostStatus.SUCCESS:
        return ActionResult(mapped, None, "\n".join(lines), message or f"power {action.verb} failed")
    if action.wait_down is not None:
        if not await host.wait_until_down(action.wait_down):
            return ActionResult(HostStatus.FAILED, None, "\n".join(lines),
                                f"still answering {action.wait_down:g}s after power {action.verb}")
        lines.append("down")
    if action.wait_up is not None:
        if not await host.wait_until_up(action.wait_up):
            return ActionResult(HostStatus.FAILED, None, "\n".join(lines),
                                f"not up {action.wait_up:g}s after power {action.verb}")
        lines.append("up")
    return ActionResult(HostStatus.SUCCESS, 0, "\n".join(lines) + ("\n" if lines else ""))


def describe_power(action: ConcreteAction, host: Host) -> list[str]:
    """Dry-run lines of a power action, using the controller's own description when it has one."""
    control = host.power_control
    if control is None:
        return [f"power {action.verb}: ERROR host {host.id!r} has no power_control"]
    try:
        text = control.describe(host, action.verb)
    except (RunbookError, NotImplementedError, AttributeError) as exc:
        text = f"power {action.verb} ({exc})"
    lines = [text]
    if action.wait_down is not None:
        lines.append(f"wait until down ({action.wait_down:g}s)")
    if action.wait_up is not None:
        lines.append(f"wait until up ({action.wait_up:g}s)")
    return lines


def apply_expect(step: Step, raw: ActionResult, action: ConcreteAction) -> ActionResult:
    """Judge a run/oneshot result by `expect`: allowed exit codes and output regexes (the
    regexes as rendered for this host, from `action`)."""
    expect = step.expect
    if step.action.kind not in ("run", "oneshot") or raw.status not in (
            HostStatus.SUCCESS, HostStatus.FAILED) or raw.timed_out:
        return raw
    if expect is None:
        return raw
    if expect.rc is not None and raw.rc is not None:
        raw.status = HostStatus.SUCCESS if raw.rc in expect.rc else HostStatus.FAILED
        if raw.status is HostStatus.FAILED:
            raw.message = f"exit status {raw.rc}, expected {', '.join(map(str, expect.rc))}"
    output, not_output = action.expect_output, action.expect_not_output
    try:
        if raw.status is HostStatus.SUCCESS and output is not None and not \
                bounded_search(output, raw.output):
            raw.status = HostStatus.FAILED
            raw.message = f"output does not match {output!r}"
        if raw.status is HostStatus.SUCCESS and not_output is not None and \
                bounded_search(not_output, raw.output):
            raw.status = HostStatus.FAILED
            raw.message = f"output matches {not_output!r}"
    except RegexTimeout as exc:
        raw.status = HostStatus.ERROR
        raw.message = f"expect: {exc}"
    return raw
