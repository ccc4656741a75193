"""Results and errors as JSON for the keeper's wire (`runbook.persist.wire`), both ways.

The host API's results (`RunResult`, `CommandStatus`, `(Status, message)`) and the errors a
host raises on purpose (`HostUnreachableError`, `BecomeError`, others by message) cross the
socket and come out as the same objects, so the engine cannot tell a kept host from a direct one.
"""

from __future__ import annotations

from typing import Any

from runbook.errors import BecomeError, ConfigError, HostUnreachableError, RunbookError
from runbook.results import CommandStatus, RunResult, Status


def command_to_json(result: CommandStatus) -> list[Any]:
    return [result.command, result.output, result.status.value, result.retcode]


def command_from_json(data: list[Any]) -> CommandStatus:
    command, output, status, retcode = data
    return CommandStatus(command, output, Status(status), retcode)


def run_to_json(result: RunResult) -> dict[str, Any]:
    return {"status": result.status.value,
            "statuses": [command_to_json(s) for s in result.statuses]}


def run_from_json(data: dict[str, Any]) -> RunResult:
    return RunResult(Status(data["status"]), [command_from_json(s) for s in data["statuses"]])


def transfer_to_json(result: tuple[Status, str]) -> list[Any]:
    return [result[0].value, result[1]]


def transfer_from_json(data: list[Any]) -> tuple[Status, str]:
    return Status(data[0]), data[1]


def error_to_json(exc: BaseException) -> dict[str, Any]:
    """What the client needs to raise the same error again."""
    if isinstance(exc, HostUnreachableError):
        return {"kind": "unreachable", "host_id": exc.host_id, "address": exc.address,
                "cause": exc.cause, "port": exc.port, "route": exc.route}
    if isinstance(exc, BecomeError):
        return {"kind": "become", "host_id": exc.host_id, "user": exc.become_user,
                "cause": exc.cause}
    if isinstance(exc, ConfigError | ValueError | TypeError):
        return {"kind": "config", "message": str(exc)}
    if isinstance(exc, RunbookError):
        return {"kind": "runbook", "message": str(exc)}
    return {"kind": "internal", "message": f"{type(exc).__name__}: {exc}"}


def error_from_json(data: dict[str, Any]) -> Exception:
    """The error `error_to_json` described (a plain `RunbookError` for the rest)."""
    kind = data.get("kind")
    if kind == "unreachable":
        return HostUnreachableError(data["host_id"], data["address"], data["cause"],
                                    port=data["port"], route=data["route"])
    if kind == "become":
        return BecomeError(data["host_id"], data["user"], data["cause"])
    if kind == "config":
        return ConfigError(data["message"])
    prefix = "the connection keeper failed: " if kind == "internal" else ""
    return RunbookError(prefix + str(data.get("message")))
