"""`HostLog`: what a transcript of one host is told, whatever the host's transport.

The engine (and a host itself, for its connection events) calls these as things happen; a
writer (`runbook.records.transcript`) turns them into `hosts/<host id>.log` in the run folder.
Nothing here knows about SSH: a console host (telnet, serial) feeds the same calls. Texts are
given as they are (unmasked); the writer masks them.
"""

from __future__ import annotations

from typing import Protocol


class HostLog(Protocol):
    """The transcript of one host; every call appends, in order."""

    def command(self, text: str, *, kind: str = "run") -> None:
        """A command is sent now (rendered); `kind` says how: run, oneshot, console..."""

    def output(self, chunk: bytes) -> None:
        """Output of the command being run, as received (unbounded; no output limit)."""

    def received(self, chunk: bytes) -> None:
        """What a console line brought outside any command's output (a login exchange, a CLI's
        `setup` answers, a `wait_up` probe), as received; no command's byte count includes it."""

    def sent(self, keys: str) -> None:
        """Keys are typed on a terminal now (an `interact` send), as sent (unmasked)."""

    def command_end(self, rc: int | None, status: str) -> None:
        """The command ended: its exit status (None: none known) and how it ended."""

    def transfer(self, direction: str, path: str, size: int, sha256: str) -> None:
        """A file was sent (`put`) or received (`get`): its local path, size and checksum."""

    def note(self, text: str) -> None:
        """Anything else that happened: a step began, power actions, connects, reconnects."""
