"""`bounded_search`: a regex search that cannot hang the run.

A user's `expect` regex with nested quantifiers (`^(a+)+$`) can take exponential time on some
output. Python's regex engine checks for signals while it matches, so a SIGALRM timer bounds
the search; on the event loop (the main thread) nothing else uses SIGALRM. Elsewhere the
search runs unbounded, as plain `re.search`.
"""

from __future__ import annotations

import re
import signal
import threading
from types import FrameType

from runbook.errors import RegexTimeoutError

#: Seconds one search may take; real expectations take microseconds.
SEARCH_TIME_LIMIT = 5.0


def bounded_search(pattern: str, text: str, *, flags: int = re.MULTILINE,
                   limit: float | None = None) -> bool:
    """True when `pattern` is found in `text`; RegexTimeoutError after `limit` seconds
    (default SEARCH_TIME_LIMIT)."""
    limit = SEARCH_TIME_LIMIT if limit is None else limit
    if threading.current_thread() is not threading.main_thread():
        return re.search(pattern, text, flags) is not None

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise RegexTimeoutError(f"regex {pattern!r} took more than {limit:g} s on {len(text)} "
                           "characters of output (nested repeats like (a+)+ backtrack "
                           "exponentially): simplify it")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return re.search(pattern, text, flags) is not None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
