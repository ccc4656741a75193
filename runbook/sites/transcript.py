"""Site hosts' transcripts, shipped back to the controller's run folder (docs/sites.md).

A worker writes each of its hosts' transcript exactly as a run folder would
(`records.transcript.HostTranscript`: commands, output, ends, transfers, notes; masked with
the worker's own secrets, a secret split across output chunks too), but into memory instead
of `hosts/<id>.log`. The worker's pump `drain()`s what accumulated into `log` messages on the
share's event stream, before each event and at least every SHIP_INTERVAL, so a host's text
reaches the controller before its result, and what was sent is kept when the worker is killed
mid-step. The controller appends each message to that host's transcript in its run folder.

Each host ships at most MAX_HOST_BYTES (UTF-8) per share; beyond that one line says the
transcript was cut, and the rest is dropped (the result's output, bounded by the output
limit, still travels with the result).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from runbook.records.transcript import HostTranscript

if TYPE_CHECKING:
    from runbook.sites.codec import Message

MAX_HOST_BYTES = 16 * 1024 * 1024
CHUNK_CHARS = 256 * 1024
SHIP_INTERVAL = 0.5


class _Buffer:
    """The 'file' a shipped transcript writes to: text goes to the shipper's pending list."""

    def __init__(self, shipper: TranscriptShipper, host_id: str) -> None:
        self.shipper = shipper
        self.host_id = host_id

    def write(self, text: str) -> int:
        self.shipper.add(self.host_id, text)
        return len(text)

    def flush(self) -> None:
        """Nothing to flush: the shipper sends pending text with the next events."""

    def close(self) -> None:
        """Nothing to close: the text is already with the shipper."""


class ShippedTranscript(HostTranscript):
    """A `HostTranscript` (a `HostLog`) whose text is shipped instead of written to a file."""

    def __init__(self, shipper: TranscriptShipper, host_id: str, mask: Callable[[str], str],
                 secrets: Callable[[], Iterable[str]]) -> None:
        super().__init__(Path(host_id), mask, secrets)
        self._buffer = _Buffer(shipper, host_id)

    def _handle(self) -> IO[str]:
        self._file = cast("IO[str]", self._buffer)
        return self._file


class TranscriptShipper:
    """The transcripts of one share's hosts, waiting to be shipped."""

    def __init__(self, mask: Callable[[str], str], secrets: Callable[[], Iterable[str]],
                 limit: int = MAX_HOST_BYTES) -> None:
        self.mask = mask
        self.secrets = secrets
        self.limit = limit
        self._logs: dict[str, ShippedTranscript] = {}
        self._pending: dict[str, list[str]] = {}
        self._shipped: dict[str, int] = {}

    def host(self, host_id: str) -> ShippedTranscript:
        """The transcript of `host_id` (what `Executor.host_logs` and `Host.notes` use)."""
        log = self._logs.get(host_id)
        if log is None:
            log = self._logs[host_id] = ShippedTranscript(self, host_id, self.mask, self.secrets)
        return log

    def add(self, host_id: str, text: str) -> None:
        """Queue `text` (already masked) for `host_id`, within the host's byte budget."""
        used = self._shipped.get(host_id, 0)
        if used >= self.limit or not text:
            return
        data = text.encode("utf-8")
        if used + len(data) > self.limit:
            kept = data[:self.limit - used].decode("utf-8", errors="ignore")
            text = (f"{kept}\n#| transcript cut: more than {self.limit // (1024 * 1024)} MiB "
                    "from the site's worker; the rest was not shipped\n")
            data = data[:self.limit]  # counts as full
        self._shipped[host_id] = used + len(data)
        self._pending.setdefault(host_id, []).append(text)

    def drain(self) -> list[Message]:
        """`log` messages for everything queued since the last drain (in chunks)."""
        messages: list[Message] = []
        for host_id, parts in self._pending.items():
            text = "".join(parts)
            messages += [{"t": "log", "host": host_id, "text": text[at:at + CHUNK_CHARS]}
                         for at in range(0, len(text), CHUNK_CHARS)]
        self._pending.clear()
        return messages

    def close(self) -> None:
        """Flush what the stream maskers still hold (the share is over)."""
        for log in self._logs.values():
            log.close()
