"""Waiting for text on a console and typing into it: `Expecter`, and key spelling for sends.

Key spelling (`spell_keys`), used by `interact` sends and documented in docs/consoles.md:
`\\r` carriage return (Enter on a console), `\\n` line feed, `\\t` tab, `\\e` escape, `\\\\` one
backslash, `\\^` one caret; `^C` is control-C (`^@`, `^A`..`^Z`, `^[`, `^\\`, `^]`, `^^`, `^_`).
Nothing is added: a send without `\\r` presses no Enter (a bootloader waits for any key).
"""

from __future__ import annotations

import codecs
import contextlib
import re
from typing import TYPE_CHECKING

from runbook._lazyimport import lazy_module
from runbook.errors import ExpectTimeoutError, StreamEndedError

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from runbook.hosts.streams import ConsoleStream
else:
    asyncio = lazy_module("asyncio")

#: Characters of received output shown when a pattern does not come.
LAST_OUTPUT_CHARS = 600
_ESCAPES = {"r": "\r", "n": "\n", "t": "\t", "e": "\x1b", "\\": "\\", "^": "^"}
_KEY = re.compile(r"\\(.)|\^([@A-Z\[\\\]^_])", re.DOTALL)
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def spell_keys(text: str) -> str:
    """Turn the documented spelling (`\\r`, `^C`, ...) into the characters to send.

    ValueError for an unknown backslash escape, so a typo never sends something unexpected.
    """
    def replace(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            return chr(ord(match.group(2)) - 64)
        escaped = match.group(1)
        if escaped not in _ESCAPES:
            raise ValueError(f"unknown key escape \\{escaped} in {text!r}: use \\r, \\n, \\t, "
                             "\\e, \\\\ or \\^ (and ^A..^Z for control keys)")
        return _ESCAPES[escaped]

    return _KEY.sub(replace, text)


def strip_terminal_codes(text: str) -> str:
    """Text without ANSI control sequences and NULs (telnet's CR NUL), CR LF as LF, no stray CR."""
    text = _ANSI.sub("", text).replace("\x00", "")
    return text.replace("\r\n", "\n").replace("\r", "")


class Expecter:
    """Reads a console stream into a text buffer and waits for regexes in it.

    The buffer holds the text as received, except that CR LF becomes LF and NULs (telnet sends
    CR NUL) are dropped, so `^` and `$` in patterns work on lines.

    `expect` consumes the buffer up to the end of the match and returns what it consumed;
    `transcript` keeps every character received between `start_transcript` and
    `stop_transcript` (for `interact`). `tap`, when set, is handed every piece of text as it
    arrives (a run's transcript streams from there, `console_tap`).
    """

    def __init__(self, stream: ConsoleStream) -> None:
        self.stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self.transcript = ""
        self._recording = False
        self.ended = False
        self.tap: Callable[[str], None] | None = None

    def send(self, text: str) -> None:
        self.stream.write(text.encode())

    @property
    def pending(self) -> str:
        """Received text not consumed by a match yet."""
        return self._buffer

    def last_output(self) -> str:
        return strip_terminal_codes(self._buffer[-LAST_OUTPUT_CHARS:])

    def start_transcript(self) -> None:
        """Record everything received from now on in `transcript` (until `stop_transcript`)."""
        self.transcript = ""
        self._recording = True

    def stop_transcript(self) -> str:
        """Stop recording; the transcript so far (kept out of memory on a long-lived line)."""
        text, self.transcript, self._recording = self.transcript, "", False
        return text

    async def expect(self, pattern: re.Pattern[str], timeout: float | None) -> tuple[str, re.Match[str]]:
        """Wait for `pattern`; (text up to and including the match, the match).

        ExpectTimeoutError (with the last output) when it does not come, StreamEndedError at end of stream.
        """
        _, consumed, match = await self.expect_any([pattern], timeout)
        return consumed, match

    async def expect_any(self, patterns: list[re.Pattern[str]],
                         timeout: float | None) -> tuple[int, str, re.Match[str]]:
        """Wait for the first of `patterns` to match; (its index, text consumed, the match)."""
        try:
            return await asyncio.wait_for(self._until(patterns), timeout)
        except TimeoutError:
            shown = " or ".join(repr(p.pattern) for p in patterns)
            raise ExpectTimeoutError(shown, timeout or 0, self.last_output()) from None

    async def _until(self, patterns: list[re.Pattern[str]]) -> tuple[int, str, re.Match[str]]:
        while True:
            found = [(m.start(), i, m) for i, p in enumerate(patterns) if (m := p.search(self._buffer))]
            if found:
                _, index, match = min(found, key=lambda item: (item[0], item[1]))
                consumed = self._buffer[: match.end()]
                self._buffer = self._buffer[match.end():]
                return index, consumed, match
            await self._fill()

    async def _fill(self) -> None:
        if self.ended:
            raise StreamEndedError
        chunk = await self.stream.read()
        if not chunk:
            self.ended = True
            raise StreamEndedError
        text = self._decoder.decode(chunk).replace("\x00", "")
        if text.startswith("\n") and self._buffer.endswith("\r"):
            self._buffer = self._buffer[:-1]  # a CR LF split across two chunks
        text = text.replace("\r\n", "\n")
        self._buffer += text
        if self._recording:
            self.transcript += text
        if self.tap is not None:
            self.tap(text)

    async def settle(self, seconds: float) -> None:
        """Read (keep) what arrives for `seconds`: time for the far end to act on a key."""
        with contextlib.suppress(TimeoutError, StreamEndedError):
            await asyncio.wait_for(self._fill_forever(), seconds)

    async def _fill_forever(self) -> None:
        while True:
            await self._fill()

    async def drain(self, quiet: float) -> str:
        """Consume what arrives until the line has been quiet for `quiet` seconds."""
        while True:
            try:
                await asyncio.wait_for(self._fill(), quiet)
            except (TimeoutError, StreamEndedError):
                break
        drained, self._buffer = self._buffer, ""
        return drained
