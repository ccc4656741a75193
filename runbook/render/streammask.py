"""`StreamMasker`: mask secrets in text that arrives in chunks (a command's output as received).

Masking each chunk on its own would miss a secret split across two chunks (`...tok` + `en...`).
The masker keeps back the end of what it has seen, as much as the longest secret minus one
character, and never cuts inside an occurrence of a secret: whatever it gives out is masked
text that no later chunk can complete into a secret. Bytes are decoded incrementally (a UTF-8
character split across chunks stays whole; invalid bytes become U+FFFD).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable


class StreamMasker:
    """Feed raw chunks with `feed`, get masked text back; `flush` at the end of the stream.

    `mask` masks a complete text (`SecretStore.mask`); `secrets` returns the secret values
    known now (they may grow while a run renders templates).
    """

    def __init__(self, mask: Callable[[str], str],
                 secrets: Callable[[], Iterable[str]]) -> None:
        self._mask = mask
        self._secrets = secrets
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, chunk: bytes) -> str:
        """The masked text that can safely be written now (may be empty)."""
        self._pending += self._decoder.decode(chunk)
        values = [v for v in self._secrets() if v]
        cut = _safe_cut(self._pending, values)
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return self._mask(ready) if ready else ""

    def flush(self) -> str:
        """Everything still held back, masked (the stream ended)."""
        ready = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        self._decoder.reset()
        return self._mask(ready) if ready else ""


def _safe_cut(text: str, values: list[str]) -> int:
    """Where `text` may be cut: no secret can begin before the cut and end after the text (it
    may still be arriving), and no occurrence of one (in any letter case) spans the cut."""
    if not values:
        return len(text)
    cut = max(0, len(text) - (max(map(len, values)) - 1))
    moved = True
    while moved and cut > 0:
        moved = False
        for value in values:
            start = max(0, cut - len(value) + 1)
            for match in re.finditer(re.escape(value), text[start:cut + len(value) - 1],
                                     re.IGNORECASE):
                begin = start + match.start()
                if begin < cut < begin + len(value):
                    cut, moved = begin, True
                    break
    return cut
