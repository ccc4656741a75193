"""Concrete actions: one frozen record per action kind, every template already rendered.

The compiler (or, for steps that need earlier results, the renderer at run time) turns a
step's `model` action into one of these for one host; the engine dispatches on their type.
`describe()` gives the dry-run lines (a power action is described by its controller instead).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from runbook._dataclass import frozen
from runbook._text import unspell_keys

if TYPE_CHECKING:
    from runbook.hosts.base import Host


def become_tag(as_user: str | None) -> str:
    """` [become USER]` after a command that runs as another user, else nothing."""
    return f" [become {as_user}]" if as_user else ""


def _command_lines(kind: str, commands: tuple[str, ...], expect_output: str | None,
                   expect_not_output: str | None, as_user: str | None) -> list[str]:
    lines = [f"{kind}: {c}{become_tag(as_user)}" for c in commands]
    if expect_output is not None:
        lines.append(f"expect output to match: {expect_output}")
    if expect_not_output is not None:
        lines.append(f"expect output not to match: {expect_not_output}")
    return lines


@frozen(slots=True)
class RunCommands:
    """Commands for the host's persistent shell, with the step's `expect` regexes for this host."""

    kind: ClassVar[str] = "run"
    commands: tuple[str, ...]
    expect_output: str | None = None
    expect_not_output: str | None = None
    become: bool | None = None
    become_user: str | None = None

    def describe(self, as_user: str | None = None) -> list[str]:
        """Dry-run lines: each command (run as `as_user`), then the expected output patterns."""
        return _command_lines(self.kind, self.commands, self.expect_output,
                              self.expect_not_output, as_user)


@frozen(slots=True)
class OneshotCommands:
    """Commands each run in a fresh process, with the step's `expect` regexes for this host."""

    kind: ClassVar[str] = "oneshot"
    commands: tuple[str, ...]
    expect_output: str | None = None
    expect_not_output: str | None = None
    become: bool | None = None
    become_user: str | None = None

    def describe(self, as_user: str | None = None) -> list[str]:
        """Dry-run lines: each command (run as `as_user`), then the expected output patterns."""
        return _command_lines(self.kind, self.commands, self.expect_output,
                              self.expect_not_output, as_user)


@frozen(slots=True)
class PutFiles:
    """Upload `sources` (absolute local paths) into the remote folder `dest`.

    `content` is set when the file is a template: this host's rendered text replaces the file.
    """

    kind: ClassVar[str] = "put"
    sources: tuple[str, ...]
    dest: str
    mode: int | None = None
    content: str | None = None
    become: bool | None = None
    become_user: str | None = None

    def describe(self, as_user: str | None = None) -> list[str]:
        """Dry-run lines: one per source."""
        mode = f" (mode {self.mode:04o})" if self.mode is not None else ""
        what = "rendered template " if self.content is not None else ""
        return [f"put {what}{s} -> {self.dest}{mode}{become_tag(as_user)}" for s in self.sources]


@frozen(slots=True)
class GetFiles:
    """Download remote `sources` into the local folder `dest` (which ends in the host id)."""

    kind: ClassVar[str] = "get"
    sources: tuple[str, ...]
    dest: str
    become: bool | None = None
    become_user: str | None = None

    def describe(self, as_user: str | None = None) -> list[str]:
        """Dry-run lines: one per source."""
        return [f"get {s} -> {self.dest}{become_tag(as_user)}" for s in self.sources]


@frozen(slots=True)
class PowerSwitch:
    """Power `verb` (on, off, cycle, status) through the host's controller, then the waits."""

    kind: ClassVar[str] = "power"
    verb: str
    wait_up: float | None = None
    wait_down: float | None = None

    def wait_lines(self) -> list[str]:
        """The waits after the power change, in the order they happen."""
        waits = []
        if self.wait_down is not None:
            waits.append(f"wait until down ({self.wait_down:g}s)")
        if self.wait_up is not None:
            waits.append(f"wait until up ({self.wait_up:g}s)")
        return waits

    def describe(self, as_user: str | None = None) -> list[str]:
        """One dry-run line (without the controller's own description)."""
        waits = self.wait_lines()
        return [f"power {self.verb}" + (", then " + ", ".join(waits) if waits else "")]


@frozen(slots=True)
class WaitForPort:
    """Wait from this machine until TCP `port` of `address` (None: the host's) is `state`."""

    kind: ClassVar[str] = "wait_for"
    port: int
    state: str = "started"
    address: str | None = None
    timeout: float = 300.0
    delay: float = 0.0

    def describe(self, as_user: str | None = None) -> list[str]:
        """One dry-run line."""
        where = f"{self.address}:{self.port}" if self.address else f"port {self.port}"
        return [f"wait_for {where} to be {self.state} (from this machine){_limits(self)}"]


@frozen(slots=True)
class WaitForPath:
    """Wait on the host until `path` is `state` (present: with a line matching `contains`)."""

    kind: ClassVar[str] = "wait_for"
    path: str
    state: str = "present"
    contains: str | None = None
    timeout: float = 300.0
    delay: float = 0.0
    become: bool | None = None
    become_user: str | None = None

    def describe(self, as_user: str | None = None) -> list[str]:
        """One dry-run line."""
        what = f"{self.path} containing /{self.contains}/" if self.contains else self.path
        return [f"wait_for {what} to be {self.state}{_limits(self)}{become_tag(as_user)}"]


@frozen(slots=True)
class WaitForCommand:
    """Wait until `command` exits 0 on the host (run once a second, as a oneshot)."""

    kind: ClassVar[str] = "wait_for"
    command: str
    timeout: float = 300.0
    delay: float = 0.0
    become: bool | None = None
    become_user: str | None = None

    def describe(self, as_user: str | None = None) -> list[str]:
        """One dry-run line."""
        return [f"wait_for command to exit 0: {self.command}{_limits(self)}{become_tag(as_user)}"]


def _limits(wait: WaitForPort | WaitForPath | WaitForCommand) -> str:
    delay = f", after {wait.delay:g}s" if wait.delay else ""
    return f" (timeout {wait.timeout:g}s{delay})"


@frozen(slots=True)
class DialogPair:
    """One rendered exchange of an `interact` dialog (`send` may hold a secret: mask it)."""

    expect: str | None
    send: str | None
    timeout: float | None = None

    def as_mapping(self) -> dict[str, str | float]:
        """The `{expect, send, timeout}` pair `Host.interact` takes (unset keys left out)."""
        pair: dict[str, str | float] = {}
        if self.expect is not None:
            pair["expect"] = self.expect
        if self.send is not None:
            pair["send"] = self.send
        if self.timeout is not None:
            pair["timeout"] = self.timeout
        return pair


@frozen(slots=True)
class InteractDialog:
    """An expect/send dialog in a terminal session of the host."""

    kind: ClassVar[str] = "interact"
    pairs: tuple[DialogPair, ...]

    def describe(self, as_user: str | None = None) -> list[str]:
        """Dry-run lines: one per pair (the caller masks secrets in `send`)."""
        lines = []
        for number, pair in enumerate(self.pairs, 1):
            parts = []
            if pair.expect is not None:
                parts.append(f"expect /{pair.expect}/")
            if pair.send is not None:
                parts.append(f"send '{_typed(pair.send)}'")
            limit = f" (timeout {pair.timeout:g}s)" if pair.timeout is not None else ""
            lines.append(f"interact {number}: " + ", then ".join(parts) + limit)
        return lines


WaitFor = WaitForPort | WaitForPath | WaitForCommand
"""A `wait_for` step's concrete action."""

ConcreteAction = (RunCommands | OneshotCommands | PutFiles | GetFiles | PowerSwitch | WaitForPort
                  | WaitForPath | WaitForCommand | InteractDialog)
"""Any concrete action; the engine matches on the type."""


def as_user(action: ConcreteAction, host: Host) -> str | None:
    """Whom `action` runs as on `host` through become (step setting, else the host's), or None."""
    if not isinstance(action, RunCommands | OneshotCommands | PutFiles | GetFiles | WaitForPath
                      | WaitForCommand):
        return None
    who = host.become_for(action.become, action.become_user)
    return who.user if who is not None else None


def _typed(send: str) -> str:
    """A send in its key spelling as a plan shows it: values rendered into it are spelled
    already (`render.jinjaenv`); control characters written in the YAML are spelled here."""
    return "".join(unspell_keys(char) if ord(char) < 0x20 else char for char in send)
