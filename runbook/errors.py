"""The one error tree of runbook: every error the library raises derives from `RunbookError`.

Subclasses also inherit the matching builtin where one exists, so callers can catch either.
Only the CLI turns these into messages and exit codes.

    RunbookError
    ├── HostUnreachableError (ConnectionError)
    ├── CommandTimeoutError (TimeoutError)
    ├── RegexTimeoutError (TimeoutError)     an `expect` regex ran past its time limit
    ├── WaitTimeoutError (CommandTimeoutError)   a `wait_for` condition did not hold in time
    ├── ShellDiedError                       internal: a host's shell ended mid-command
    ├── TransferStoppedError                 internal: a cancelled local copy stopped
    ├── ExpectTimeoutError (TimeoutError)    internal: a console pattern did not come in time
    ├── StreamEndedError (EOFError)          internal: a console stream ended
    ├── BecomeError (PermissionError)        sudo would not run as the become user
    ├── HeaderTemplateError                  a step's `name` / `hosts` template cannot render
    ├── ConfigError (ValueError)             bad input, with file:line:col when known
    │   ├── YamlSyntaxError
    │   ├── ValidationError                  every finding of a runbook or lab
    │   └── PowerSpecError                   a bad `power_control` entry
    ├── TemplateError (ValueError)
    │   ├── TemplateRenderError
    │   └── MissingSecretError
    └── PowerError
        └── RedfishHttpError
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from runbook.model import Location

__all__ = [
    "BecomeError",
    "BrokerError",
    "CommandTimeoutError",
    "ConfigError",
    "ExpectTimeoutError",
    "HeaderTemplateError",
    "HostUnreachableError",
    "KeeperError",
    "LocatedProblem",
    "LockBackendError",
    "LockError",
    "LockLostError",
    "LockSpecError",
    "LocksHeldError",
    "MissingSecretError",
    "PowerError",
    "PowerSpecError",
    "RedfishHttpError",
    "RegexTimeoutError",
    "RunNotFoundError",
    "RunRecordError",
    "RunbookError",
    "ShellDiedError",
    "StreamEndedError",
    "TemplateError",
    "TemplateRenderError",
    "TransferStoppedError",
    "UnsupportedSchemaError",
    "ValidationError",
    "WaitTimeoutError",
    "YamlSyntaxError",
]


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


class RegexTimeoutError(RunbookError, TimeoutError):
    """A regex search took longer than its limit (catastrophic backtracking)."""


class ShellDiedError(RunbookError):
    """The shell ended while a command ran (internal; turned into a result)."""


class TransferStoppedError(RunbookError):
    """A local copy was asked to stop (its task was cancelled); internal."""
class ExpectTimeoutError(RunbookError, TimeoutError):
    """A console pattern did not come in time (internal; hosts turn it into a result or an
    unreachable host). Carries the pattern, the timeout and the last output received."""

    def __init__(self, pattern: str, timeout: float, last_output: str) -> None:
        self.pattern = pattern
        self.timeout = timeout
        self.last_output = last_output
        super().__init__(f"{pattern} did not come within {timeout:g} s; "
                         f"last output received:\n{last_output}")


class StreamEndedError(RunbookError, EOFError):
    """A console stream ended: connection closed, device gone (internal)."""


class UnsupportedSchemaError(RunbookError, NotImplementedError):
    """The quick schema check met a keyword it does not implement: ask jsonschema (internal)."""


class HeaderTemplateError(RunbookError):
    """A `name` / `hosts` template that cannot be rendered; the message says why and what to do."""


class WaitTimeoutError(CommandTimeoutError):
    """A `wait_for` condition did not hold in time; says what was awaited and for how long."""

    def __init__(self, host_id: str, awaited: str, elapsed: float) -> None:
        self.host_id = host_id
        self.awaited = awaited
        self.elapsed = elapsed
        super().__init__(f"host {host_id!r}: timed out after {elapsed:.1f} s waiting for {awaited}")


class BecomeError(RunbookError, PermissionError):
    """sudo would not run as the become user (wrong or missing password, refused, no sudo)."""

    def __init__(self, host_id: str, become_user: str, cause: str) -> None:
        self.host_id = host_id
        self.become_user = become_user
        self.cause = cause
        super().__init__(f"host {host_id!r}: cannot become {become_user!r}: {cause}")


class KeeperError(RunbookError, ConnectionError):
    """The connection keeper (`runbook persist`) could not be started, reached or trusted."""


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


class BrokerError(RunbookError, ConnectionError):
    """The site broker (Redis, docs/sites.md) cannot be reached or used; the URL is masked."""


class PowerError(RunbookError):
    """A power controller could not be built or could not act."""


class TemplateError(RunbookError, ValueError):
    """A Jinja template failed to render (undefined name, syntax, filter error)."""


class YamlSyntaxError(ConfigError):
    """The file is not well-formed YAML/JSON (or cannot be read)."""


class LocatedProblem(Protocol):
    """What `ValidationError` needs of a finding (`runbook.language.findings.Finding` is one)."""

    @property
    def file(self) -> str: ...

    def __str__(self) -> str: ...


class ValidationError(ConfigError):
    """A runbook or lab is invalid; `findings` holds every problem (one per line of message)."""

    def __init__(self, findings: Sequence[LocatedProblem]) -> None:
        self.findings = list(findings)
        text = "\n".join(str(f) for f in self.findings) or "invalid input"
        first = self.findings[0] if self.findings else None
        super().__init__(text)
        # `where()` stays empty: every finding already carries its own position.
        self.file = first.file if first else None


class PowerSpecError(ConfigError):
    """A `power_control` entry of a lab is invalid.

    `key` is the offending key of the spec mapping (`'type'` for a bad or unknown type, a field
    name for an unknown or mistyped field) or None when the problem is the value as a whole
    (a missing field, a spec that is not a mapping). The language layer maps `key` to a line.
    `host_id` names the lab host the spec belongs to, when known; `detail` is the bare reason.
    """

    def __init__(
        self,
        detail: str,
        *,
        key: str | None = None,
        host_id: str | None = None,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.detail = detail
        self.key = key
        self.host_id = host_id
        where = f"host {host_id!r}: " if host_id is not None else ""
        field = "power_control" + (f".{key}" if key else "")
        super().__init__(f"{where}{field}: {detail}", file=file, line=line, column=column)

    def for_host(self, host_id: str | None) -> PowerSpecError:
        """The same error, naming `host_id` (used when a spec is read for a given lab host)."""
        if host_id is None or self.host_id is not None:
            return self
        return PowerSpecError(self.detail, key=self.key, host_id=host_id, file=self.file,
                              line=self.line, column=self.column)


class TemplateRenderError(TemplateError):
    """A template failed: carries where (`location`), for what, and the undefined name."""

    def __init__(self, message: str, *, location: Location | None = None, what: str = "",
                 undefined: str | None = None) -> None:
        self.location = location
        self.what = what
        self.undefined = undefined
        self.problem = message
        prefix = f"{location}: " if location is not None else ""
        super().__init__(prefix + (f"{what}: " if what else "") + message)


class MissingSecretError(TemplateError):
    """A secret that is neither in the environment nor in the secrets file; `name` says which."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(message)


class RedfishHttpError(PowerError):
    """The BMC answered a request with an HTTP error status."""

    def __init__(self, message: str, *, method: str, code: int) -> None:
        super().__init__(message)
        self.method = method
        self.code = code
class RunRecordError(RunbookError, OSError):
    """A run folder (`.runbook/runs/<run id>/`) could not be created or written."""


class RunNotFoundError(RunbookError, LookupError):
    """`runbook show RUN`: no recorded run matches RUN, or a prefix matches several."""


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
