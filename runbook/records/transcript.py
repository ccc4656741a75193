"""Per-host transcripts: `hosts/<host id>.log` in the run folder (docs/records.md).

Each host's file holds, in order, every command sent to it (rendered, masked), its whole output
as received (no output limit: the host layer's unbounded `sink` streams here), its exit status,
start and end times, the files transferred with their size and sha256, power actions and
(re)connects. Lines written by runbook start with `#| ` and a UTC time; everything between
a command line and its end line is the command's output, byte for byte except that secrets are
masked (a secret split across two chunks too: `render.streammask`).

The writer is host-agnostic (`hosts.hostlog.HostLog`): SSH and local hosts feed it from the
engine, console hosts can feed it the same calls. Files are appended to (a resumed run
continues its hosts' logs) and handed to the operating system after every chunk of output,
command and note, so `kill -9` of runbook loses nothing written so far. They stay open
between writes (opening a file again for every line cost about 1 ms per host per step at
1,000 hosts), at most a third of the open-files limit of them (`OpenFiles`): past that the
least recently written is closed, and opened again, appending, when it is next written.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
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


def _open_files_budget() -> int:
    """How many transcripts may hold an open file: a third of the soft open-files limit
    (which `runbook apply` raises toward the hard one at start) less some for everything
    else, and at least 16; the connections need one descriptor per host too."""
    try:
        import resource
    except ImportError:  # not POSIX
        return 16
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return 1 << 16
    return max(16, (soft - 256) // 3)


class OpenFiles:
    """The transcripts that hold an open file, at most `budget`: writing to one more closes
    the least recently written."""

    def __init__(self, budget: int | None = None) -> None:
        self.budget = _open_files_budget() if budget is None else max(1, budget)
        self._open: OrderedDict[HostTranscript, None] = OrderedDict()

    def written(self, log: HostTranscript) -> None:
        """`log` holds an open file and was just written to."""
        self._open[log] = None
        self._open.move_to_end(log)
        while len(self._open) > self.budget:
            oldest, _ = self._open.popitem(last=False)
            oldest.close_file()

    def closed(self, log: HostTranscript) -> None:
        self._open.pop(log, None)


class HostTranscript:
    """The transcript file of one host (a `HostLog`)."""

    def __init__(self, path: Path, mask: Mask, secrets: Callable[[], Iterable[str]],
                 open_files: OpenFiles | None = None) -> None:
        self.path = path
        self._mask = mask
        self._masker = StreamMasker(mask, secrets)
        self._open_files = open_files if open_files is not None else OpenFiles(1)
        self._file: IO[str] | None = None
        self._folder_made = False
        self._at_line_start = True
        self._command_started: float | None = None
        self._bytes = 0

    def _handle(self) -> IO[str]:
        if self._file is None:
            if not self._folder_made:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._folder_made = True
            self._file = self.path.open("a", encoding="utf-8")
        self._open_files.written(self)
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
        self.flush()

    def received(self, chunk: bytes) -> None:
        self._raw(self._masker.feed(chunk))
        self.flush()

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
        """Hand what is written to the operating system (the file stays open)."""
        if self._file is not None:
            self._file.flush()

    def close_file(self) -> None:
        """Close the file; the next write opens it again, appending."""
        self._open_files.closed(self)
        if self._file is not None:
            file, self._file = self._file, None
            file.close()

    def close(self) -> None:
        self._raw(self._masker.flush())
        self.close_file()


class Transcripts:
    """The transcripts of one run folder: `host(host_id)` gives that host's `HostTranscript`."""

    def __init__(self, folder: RunFolder, mask: Mask,
                 secrets: Callable[[], Iterable[str]] = frozenset) -> None:
        self.folder = folder
        self.mask = mask
        self.secrets = secrets
        self._open_files = OpenFiles()
        self._hosts: dict[str, HostTranscript] = {}

    def host(self, host_id: str) -> HostTranscript:
        log = self._hosts.get(host_id)
        if log is None:
            log = self._hosts[host_id] = HostTranscript(self.folder.host_log(host_id),
                                                        self.mask, self.secrets,
                                                        self._open_files)
        return log

    def close(self) -> None:
        """Close every file (the run is over); errors closing one do not stop the others."""
        for log in self._hosts.values():
            with contextlib.suppress(OSError):
                log.close()
