"""`interact`: a send/expect dialog on a terminal, the host-level half of the `interact` step.

A dialog is a list of pairs `{expect: REGEX, send: TEXT, timeout: SECONDS}` (each key
optional): wait until the output received since the previous match matches `expect`
(a Python regex, multiline), then type `send`, spelled as `expect.spell_keys` documents
(nothing is appended: end with `\\r` to press Enter). Each pair waits at most its `timeout`
(default `DEFAULT_PAIR_TIMEOUT`), the whole dialog at most the dialog's timeout.

The result is a `CommandStatus` whose output is everything received during the dialog
(terminal codes and CRs removed) with no exit code; a pattern that does not come makes it
Failed with the last output received. `mask` (e.g. `SecretStore.mask`) is applied to all of it,
since a terminal may echo what was typed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from runbook._dataclass import frozen
from runbook._lazyimport import lazy_module
from runbook.errors import ExpectTimeoutError, StreamEndedError
from runbook.hosts.console_tap import tapped
from runbook.hosts.expect import spell_keys, strip_terminal_codes
from runbook.results import CommandStatus, Status

if TYPE_CHECKING:
    import asyncio

    from runbook.hosts.expect import Expecter
    from runbook.hosts.hostlog import HostLog
else:
    asyncio = lazy_module("asyncio")

DEFAULT_PAIR_TIMEOUT = 30.0
_KEYS = ("expect", "send", "timeout")


@frozen
class Pair:
    """One checked step of a dialog."""

    expect: re.Pattern[str] | None
    send: str | None
    timeout: float


def parse_pairs(pairs: Sequence[Mapping[str, Any]], pair_timeout: float | None) -> list[Pair]:
    """Check and compile a dialog; ValueError naming the pair (1-based) and what is wrong."""
    if isinstance(pairs, str | bytes) or not isinstance(pairs, Sequence) or not pairs:
        raise ValueError("interact takes a non-empty list of {expect, send, timeout} pairs")
    default = DEFAULT_PAIR_TIMEOUT if pair_timeout is None else pair_timeout
    parsed = []
    for number, pair in enumerate(pairs, 1):
        if not isinstance(pair, Mapping) or not ({"expect", "send"} & set(pair)):
            raise ValueError(f"interact pair {number}: needs `expect` and/or `send`, not {pair!r}")
        unknown = set(pair) - set(_KEYS)
        if unknown:
            raise ValueError(f"interact pair {number}: unknown key(s) {sorted(unknown)}; "
                             f"a pair has {', '.join(_KEYS)}")
        expect, send, timeout = pair.get("expect"), pair.get("send"), pair.get("timeout", default)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) \
                or not math.isfinite(timeout) or timeout <= 0:
            raise ValueError(f"interact pair {number}: timeout must be a positive number of "
                             f"seconds, not {timeout!r}")
        try:
            pattern = re.compile(expect, re.MULTILINE) if expect is not None else None
            keys = spell_keys(send) if send is not None else None
        except (re.error, TypeError, ValueError) as exc:
            raise ValueError(f"interact pair {number}: {exc}") from None
        parsed.append(Pair(pattern, keys, float(timeout)))
    return parsed


async def run_dialog(line: Expecter, pairs: Sequence[Mapping[str, Any]], timeout: float | None,
                     *, pair_timeout: float | None = None,
                     mask: Callable[[str], str] | None = None,
                     log: HostLog | None = None) -> CommandStatus:
    """Play `pairs` on `line`; the whole dialog's output, masked (see module docstring).

    `log` (a run's transcript, which masks what it writes) is told each send as it is typed and
    everything received as it arrives; announcing the dialog is the caller's part.
    """
    dialog = parse_pairs(pairs, pair_timeout)
    hide = mask or (lambda text: text)
    title = hide("interact: " + " | ".join(
        p.expect.pattern if p.expect else "(send)" for p in dialog))
    if log is not None:
        log.output(line.pending.encode())  # on the line before the dialog; its first pair sees it
    with tapped(line, None if log is None else lambda text: log.output(text.encode())):
        output, note = await _play(line, dialog, timeout, log)
    if note is None:
        return CommandStatus(title, hide(output), Status.Success, None)
    sep = "" if not output or output.endswith("\n") else "\n"
    return CommandStatus(title, hide(f"{output}{sep}{note}\n"), Status.Failed, None)


async def _play(line: Expecter, dialog: list[Pair], timeout: float | None,
                log: HostLog | None) -> tuple[str, str | None]:
    """(everything received during the dialog, why it stopped early or None)."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    line.start_transcript()
    note = None
    for number, pair in enumerate(dialog, 1):
        if pair.expect is not None:
            wait = pair.timeout if deadline is None else min(pair.timeout, deadline - loop.time())
            try:
                await line.expect(pair.expect, max(0.01, wait))
            except ExpectTimeoutError as exc:
                which = "the dialog's" if wait < pair.timeout else "its"
                note = (f"runbook: interact pair {number}: {pair.expect.pattern!r} did not come "
                        f"within {which} timeout ({max(wait, 0):g} s); last output received:\n"
                        f"{exc.last_output}")
                break
            except StreamEndedError:
                note = (f"runbook: interact pair {number}: the session ended before "
                        f"{pair.expect.pattern!r} came")
                break
        if pair.send is not None:
            if log is not None:
                log.sent(pair.send)
            line.send(pair.send)
    return strip_terminal_codes(line.stop_transcript()), note
