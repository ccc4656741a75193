"""`BoundedOutput`: what one command keeps of its output, however much it prints.

A command's output is kept whole up to `2 * limit` bytes; past that only the first `limit` and
the last `limit` bytes are kept, with a line in the middle saying how much was left out. So a
host-step's memory (and its share of the reports) stays bounded even when a command prints
gigabytes. An optional `sink` receives every chunk, unbounded, as it arrives: the place to
stream the full output to a file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from runbook.results import CommandStatus

#: Bytes kept from each end of a command's output unless told otherwise (64 KiB).
DEFAULT_OUTPUT_LIMIT = 64 * 1024

#: Receives every chunk of output, unbounded, in order.
OutputSink = Callable[[bytes], None]


class BoundedOutput:
    """First and last `limit` bytes of a stream (`limit` 0: everything), plus a byte count."""

    __slots__ = ("_filled", "_head", "_limit", "_ring", "_sink", "_start", "total")

    def __init__(self, limit: int = DEFAULT_OUTPUT_LIMIT, sink: OutputSink | None = None) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"output limit must be a whole number of bytes >= 0, not {limit!r}")
        self._limit = limit
        self._sink = sink
        # Grows as output arrives; once full it is frozen to exactly `limit` bytes (a growing
        # bytearray holds up to an eighth more than it uses: 4 MB at 500 hosts).
        self._head: bytearray | bytes = bytearray()
        # The tail is a ring of exactly `limit` bytes (made when first needed): no growth,
        # no over-allocation, whatever the chunk sizes.
        self._ring = bytearray()
        self._start = 0  # where the oldest tail byte sits in the ring
        self._filled = 0  # tail bytes held
        self.total = 0

    def write(self, chunk: bytes) -> None:
        """Add `chunk`: pass it to the sink, keep what fits the head, roll the tail."""
        if not chunk:
            return
        if self._sink is not None:
            self._sink(chunk)
        self.total += len(chunk)
        data = memoryview(chunk)  # slices without copies
        room = self._limit - len(self._head)
        if self._limit == 0 or room > 0:
            assert isinstance(self._head, bytearray)  # frozen only when full
            self._head += data if self._limit == 0 else data[:room]
            if len(self._head) == self._limit:
                self._head = bytes(self._head)
            data = data[room:] if self._limit else data[:0]
        if data:
            self._roll(data[-self._limit:])

    def _roll(self, data: memoryview) -> None:
        """Append `data` (at most `limit` bytes) to the ring, overwriting the oldest bytes."""
        size = self._limit
        if not self._ring:
            self._ring = bytearray(size)
        end = (self._start + self._filled) % size
        first = min(len(data), size - end)
        self._ring[end:end + first] = data[:first]
        self._ring[:len(data) - first] = data[first:]
        overflow = max(0, self._filled + len(data) - size)
        self._filled = min(size, self._filled + len(data))
        self._start = (self._start + overflow) % size

    def _tail(self) -> list[memoryview]:
        """The tail bytes in order: one or two views of the ring."""
        ring = memoryview(self._ring)
        end = self._start + self._filled
        if end <= self._limit:
            return [ring[self._start:end]]
        return [ring[self._start:], ring[:end - self._limit]]

    @property
    def omitted(self) -> int:
        """Bytes counted but not kept."""
        return self.total - len(self._head) - self._filled

    def text(self) -> str:
        """The kept output as text (invalid UTF-8 replaced), with a line where bytes were cut.

        Decoded once from the joined bytes: a character split between head and tail (nothing
        left out) stays whole, and no decoded copy of each half is made on the way.
        """
        pieces: list[bytes | bytearray | memoryview] = [self._head]
        if omitted := self.omitted:
            sep = b"" if self._head.endswith(b"\n") else b"\n"
            note = (f"[runbook: {omitted} bytes of output left out here, {self.total} in "
                    f"all; output_limit keeps the first and last {self._limit} bytes]\n")
            pieces += [sep, note.encode()]
        pieces += self._tail()
        return b"".join(pieces).decode(errors="replace")


async def drain(read: Callable[[], Awaitable[bytes]], out: BoundedOutput) -> None:
    """Write every chunk `read()` gives into `out`, until it gives b"" (end of stream).

    No chunk is held while waiting for the next one: a `while chunk := await read()` loop keeps
    the last (up to 64 KiB) chunk alive across the wait, 27 MB for 500 hosts printing at once.
    """
    while True:
        chunk = await read()
        if not chunk:
            return
        out.write(chunk)
        del chunk


def bounded_status(result: CommandStatus, limit: int = DEFAULT_OUTPUT_LIMIT) -> CommandStatus:
    """`result` with its output passed through a `BoundedOutput`: for hosts that clean a
    command's output whole once it ended (console lines, small by nature; they stream what they
    receive to the sink themselves, `console_tap`) yet must keep the same bound."""
    kept = BoundedOutput(limit)
    kept.write(result.output.encode())
    return result._replace(output=kept.text())
