"""Per-host transcripts: `hosts/<host id>.log` in the run folder (docs/records.md).

Each host's file holds, in order, every command sent to it (rendered, masked), its whole output
as received (no output limit: the host layer's unbounded `sink` streams here), its exit status,
start and end times, the files transferred with their size and sha256, power actions and
(re)connects. Lines written by runbook start with `#| ` and a UTC time; everything between
a command line and its end line is the command's output, byte for byte except that secrets are
masked (a secret split across two chunks too: `render.streammask`).

The writer is host-agnostic (`hosts.hostlog.HostLog`): SSH and local hosts feed it from the
engine, console hosts can feed it the same calls. Files are appended to (a resumed run
continues its hosts' logs) and closed after each command and note, so a run on 500 hosts
does not hold 500 files open and `kill -9` loses at most the command in flight.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

from runbook.records.runfolder import RunFolder
from runbook.render.streammask import StreamMasker

Mask = Callable[[str], str]


def _stamp(now: float) -> str:
    """UTC time to the millisecond: 2026-12-02T07:10:00.123Z."""
    whole = int(now)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((now - whole) * 1000):03d}Z"


_SPELLED = {"\r": "\\r", "\n": "\\n", "\t": "\\t", "\x1b": "\\e", "\\": "\\\\", "^": "\\^"}


def _spell(keys: str) -> str:
    """`keys` as `interact` sends are written (docs/consoles.md): `\\r`, `^C`, `\\\\`..."""
    return "".join(_SPELLED.get(c) or (f"^{chr(ord(c) + 64)}" if ord(c) < 32 else
                                       "^?" if c == "\x7f" else c) for c in keys)


class HostTranscript:
    """The transcript file of one host (a `HostLog`)."""

    def __init__(self, path: Path, mask: Mask, secrets: Callable[[], Iterable[str]]) -> None:
        self.path = path
        self._mask = mask
        self._masker = StreamMasker(mask, secrets)
        self._file: IO[str] | None = None
        self._at_line_start = True
        self._command_started: float | None = None
        self._bytes = 0

    def _handle(self) -> IO[str]:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        return self._file

    def _raw(self, text: str) -> None:
        if text:
            self._handle().write(text)
            self._at_line_start = text.endswith("\n")

    def _line(self, text: str, now: float | None = None) -> None:
        """One runbook line (`#| <time> <text>`), on a line of its own, masked.

        Output the masker still holds back goes first, so the file keeps the order things
        happened in (a secret cannot span the `#|` line: it would not be one string there)."""
        self._raw(self._masker.flush())
        if not self._at_line_start:
            self._raw("\n")
        stamp = _stamp(time.time() if now is None else now)
        body = self._mask(text).replace("\n", "\n#|     ")
        self._raw(f"#| {stamp} {body}\n")

    def command(self, text: str, *, kind: str = "run") -> None:
        self._command_started = time.time()
        self._bytes = 0
        self._line(f"{kind}: {text}", self._command_started)

    def output(self, chunk: bytes) -> None:
        """Append output, handed to the operating system at once: `kill -9` of runbook, or a
        look at the file while a long command runs, finds everything received so far."""
        self._bytes += len(chunk)
        self._raw(self._masker.feed(chunk))
        if self._file is not None:
            self._file.flush()

    def received(self, chunk: bytes) -> None:
        self._raw(self._masker.feed(chunk))
        if self._file is not None:
            self._file.flush()

    def sent(self, keys: str) -> None:
        """Keys typed on a terminal, masked first, then control keys spelled (`\\r`, `^C`)."""
        self._line("send: " + _spell(self._mask(keys)))

    def command_end(self, rc: int | None, status: str) -> None:
        now = time.time()
        took = "" if self._command_started is None else f" in {now - self._command_started:.3f} s"
        code = "no exit status" if rc is None else f"exit status {rc}"
        self._line(f"end: {code}, {status}{took}, {self._bytes} bytes of output", now)
        self._command_started = None
        self.flush()

    def transfer(self, direction: str, path: str, size: int, sha256: str) -> None:
        self._line(f"{direction}: {path} ({size} bytes, sha256 {sha256})")

    def note(self, text: str) -> None:
        self._line(text)
        self.flush()

    def append(self, text: str) -> None:
        """Text a transcript elsewhere already wrote (a site's worker: runbook.sites), added
        as it is but masked again with this run's secrets."""
        self._raw(self._mask(text))
        self.flush()

    def flush(self) -> None:
        """Close the file (the next write opens it again, appending)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def close(self) -> None:
        self._raw(self._masker.flush())
        self.flush()


class Transcripts:
    """The transcripts of one run folder: `host(host_id)` gives that host's `HostTranscript`."""

    def __init__(self, folder: RunFolder, mask: Mask,
                 secrets: Callable[[], Iterable[str]] = frozenset) -> None:
        self.folder = folder
        self.mask = mask
        self.secrets = secrets
        self._hosts: dict[str, HostTranscript] = {}

    def host(self, host_id: str) -> HostTranscript:
        log = self._hosts.get(host_id)
        if log is None:
            log = self._hosts[host_id] = HostTranscript(self.folder.host_log(host_id),
                                                        self.mask, self.secrets)
        return log

    def close(self) -> None:
        """Close every file (the run is over); errors closing one do not stop the others."""
        for log in self._hosts.values():
            with contextlib.suppress(OSError):
                log.close()
