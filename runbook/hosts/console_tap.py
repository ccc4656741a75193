"""Streaming what a console receives into a run's transcript as it arrives (`MarkerTap`,
`PromptTap`, `tapped`, `received`, `typed`).

An `Expecter` hands every piece of text it receives to its `tap`. The transcript wants a
command's output as received, without runbook's own framing around it: on a `posix` console the
output is what comes between the begin marker and the end marker, on a CLI what comes between
the echoed command line and the prompt. A tap passes on at once what surely is output and holds
back only what may still turn out to be framing (the end of the text that could be the start of
the end marker; the last, unfinished line, which may be the prompt), so a long command's output
reaches the transcript while it runs and a killed runbook leaves what was seen so far. Text is
passed on as the `Expecter` holds it: CR LF as LF, no NULs, everything else as received
(terminal codes and console noise included: the result's output is the cleaned one).

Outside commands (a login, a CLI's `setup`, a `wait_up` probe) everything the line shows goes
to the transcript as received (`received`) and every key typed as a `send:` line (`typed`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from runbook.hosts.expect import Expecter, strip_terminal_codes
from runbook.hosts.output import OutputSink

if TYPE_CHECKING:
    from runbook.hosts.hostlog import HostLog


def ignore(chunk: bytes) -> None:
    """A sink for output nobody records."""


def is_echo(line: str, command: str) -> bool:
    """Whether `line` (one received line) is a CLI's echo of the typed `command`."""
    return bool(command.strip()) and strip_terminal_codes(line).rstrip().endswith(command.strip())


class MarkerTap:
    """Passes on text until `marker` shows (the end marker), holding back a possible start of it."""

    def __init__(self, sink: OutputSink, marker: str) -> None:
        self._sink = sink
        self._marker = marker
        self._held = ""
        self.done = False

    def feed(self, text: str) -> None:
        if self.done:
            return
        text = self._held + text
        at = text.find(self._marker)
        if at >= 0:
            self._emit(text[:at])
            self._held, self.done = "", True
            return
        keep = _overlap(text, self._marker)
        self._emit(text[: len(text) - keep])
        self._held = text[len(text) - keep:]

    def close(self) -> None:
        """The command ended without its end marker (timeout, closed line): pass on the rest."""
        if not self.done:
            self._emit(self._held)
            self._held, self.done = "", True

    def _emit(self, text: str) -> None:
        if text:
            self._sink(text.encode())


class PromptTap:
    """Passes on complete lines (not the first when it echoes the command); the unfinished
    last line waits for `close`, which is told how much of it the prompt took."""

    def __init__(self, sink: OutputSink, command: str) -> None:
        self._sink = sink
        self._command = command
        self._held = ""
        self._first = True

    def feed(self, text: str) -> None:
        self._held += text
        ready, newline, self._held = self._held.rpartition("\n")
        if newline:
            self._emit(ready + newline)

    def close(self, prompt_chars: int = 0) -> None:
        """The prompt came (its last `prompt_chars` received characters) or the command ended."""
        rest, self._held = self._held, ""
        self._emit(rest[: max(0, len(rest) - prompt_chars)])

    def _emit(self, text: str) -> None:
        if self._first and text:
            self._first = False
            first, _, rest = text.partition("\n")
            if is_echo(first, self._command):
                text = rest
        if text:
            self._sink(text.encode())


def _overlap(text: str, marker: str) -> int:
    """Length of the longest end of `text` that is a start of `marker`."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0


@contextlib.contextmanager
def tapped(line: Expecter, feed: Callable[[str], None] | None) -> Iterator[None]:
    """`line.tap` also handing every piece of text to `feed` (None: to nothing more) for the
    duration of the block. A tap set around the block keeps getting everything: a CLI's `setup`
    commands go to the transcript as received (`received`) while their own tap ignores them."""
    outer = line.tap
    if feed is not None and outer is not None:
        def both(text: str) -> None:
            outer(text)
            feed(text)

        line.tap = both
    elif feed is not None:
        line.tap = feed
    try:
        yield
    finally:
        line.tap = outer


def received(line: Expecter, log: HostLog | None) -> contextlib.AbstractContextManager[None]:
    """For the block, everything `line` receives goes to `log` as received (`HostLog.received`):
    a login exchange, a CLI's set-up, a `wait_up` probe."""
    return tapped(line, None if log is None else lambda text: log.received(text.encode()))


def typed(line: Expecter, keys: str, log: HostLog | None, *, shown: str | None = None) -> None:
    """Type `keys` on `line`, telling `log` first (`shown` instead of the keys: a password)."""
    if log is not None:
        log.sent(keys if shown is None else shown)
    line.send(keys)
