"""The one error tree of runbook: every error the library raises derives from `RunbookError`.

Subclasses also inherit the matching builtin where one exists, so callers can catch either.
Only the CLI turns these into messages and exit codes.
"""

from __future__ import annotations


class RunbookError(Exception):
    """Base of every error runbook raises on purpose."""


class HostUnreachableError(RunbookError, ConnectionError):
    """A host could not be connected to (refused, timeout, auth, host key, DNS).

    The message names the host id, `address:port` and, when the host is reached through jump
    hosts that answered, the `route` (" through jump host 'j' (10.0.0.1:22)"); a jump host that
    did not answer is named in `cause` instead.
    """

    def __init__(self, host_id: str, address: str, cause: str, *, port: int | None = None,
                 route: str = "") -> None:
        self.host_id = host_id
        self.address = address
        self.port = port
        self.cause = cause
        self.route = route
        super().__init__(f"host {host_id!r} ({self.endpoint}{route}) is unreachable: {cause}")

    @property
    def endpoint(self) -> str:
        """`address:port` (`[v6]:port`), or the address alone when the port is unknown."""
        if self.port is None:
            return self.address
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{address}:{self.port}"

    @property
    def detail(self) -> str:
        """The message without the host id (for lines that already show it)."""
        return f"{self.endpoint}{self.route}: {self.cause}"


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
