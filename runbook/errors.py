"""The one error tree of runbook: every error the library raises derives from `RunbookError`.

Subclasses also inherit the matching builtin where one exists, so callers can catch either.
Only the CLI turns these into messages and exit codes.
"""

from __future__ import annotations


class RunbookError(Exception):
    """Base of every error runbook raises on purpose."""


class HostUnreachableError(RunbookError, ConnectionError):
    """A host could not be connected to (refused, timeout, auth, host key, DNS)."""

    def __init__(self, host_id: str, address: str, cause: str) -> None:
        self.host_id = host_id
        self.address = address
        self.cause = cause
        super().__init__(f"host {host_id!r} ({address}) is unreachable: {cause}")


class CommandTimeoutError(RunbookError, TimeoutError):
    """A command ran past its timeout."""


class ConfigError(RunbookError, ValueError):
    """Bad input in a lab file, a runbook, a power spec or an argument.

    `file`, `line` and `column` point at the offending node when known (1-based).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        super().__init__(self.where() + message)

    def where(self) -> str:
        """`FILE:LINE:COL: ` for the known part of the location, or an empty string."""
        parts = [p for p in (self.file, self.line, self.column) if p is not None]
        return ":".join(str(p) for p in parts) + ": " if parts else ""


class PowerError(RunbookError):
    """A power controller could not be built or could not act."""


class TemplateError(RunbookError, ValueError):
    """A Jinja template failed to render (undefined name, syntax, filter error)."""


class LockError(RunbookError):
    """Lab locks could not be taken, kept or given back (see runbook.locks)."""


class LocksHeldError(LockError):
    """Hosts a run needs are held by someone else; `holders` says who holds which (exit 3)."""

    def __init__(self, message: str, holders: list[object]) -> None:
        self.holders = holders
        super().__init__(message)


class LockLostError(LockError):
    """A lease could not be renewed: it expired, was taken or was force-released (exit 3)."""


class LockBackendError(LockError, ConnectionError):
    """The lock backend could not be reached or answered wrongly (redis down, unwritable folder)."""


class LockSpecError(ConfigError):
    """A lab's `lock:` block is invalid; `key` names the offending field when known."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        super().__init__(message)
