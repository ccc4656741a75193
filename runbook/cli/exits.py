"""Exit codes and the failure helper of every command (docs/apply.md, language.md, power.md,
locks.md).

0 success; 1 the thing checked or run failed (a host failed or was unreachable, a file is
invalid, no host matches); 2 invalid input or usage; 3 hosts locked by someone else (at the
--lock-wait deadline), the lock backend unusable, or the run lost its lock; 130 interrupted
(SIGINT / SIGTERM / SIGHUP).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_INTERRUPTED = 130

_F = TypeVar("_F", bound=Callable[..., Any])


def fail(message: str, code: int = EXIT_USAGE,
         mask: Callable[[str], str] = str) -> NoReturn:
    """Print `message` on stderr (through `mask`: it may quote a rendered secret) and exit
    with `code` (default: invalid input or usage)."""
    click.echo(mask(message), err=True)
    sys.exit(code)


def exit_130_on_interrupt(func: _F) -> _F:
    """Ctrl-C exits 130 with "interrupted" (click alone says "Aborted!" and exits 1)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)

    return wrapper  # type: ignore[return-value]
