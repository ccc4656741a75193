"""Ctrl-C and SIGTERM for the commands that change things (`apply`, `power`).

The contract every such command keeps (exit code 130, documented in docs/apply.md and
docs/power.md):

* the first SIGINT or SIGTERM cancels the running work; the work's own cleanup runs (kill the
  commands it started, close hosts) and the command reports what finished;
* cleanup is bounded: `grace` seconds after the first signal the command exits regardless;
* a second signal exits at once.

`run_interruptible` implements that inside an event loop; `sigterm_interrupts` makes SIGTERM
before the loop runs (while loading files) behave like Ctrl-C, i.e. raise KeyboardInterrupt,
instead of killing the process silently with status -15.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: Signals that interrupt a run.
INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Seconds after the first signal before the command stops waiting for its cleanup.
INTERRUPT_GRACE = 4.0


@dataclass
class Interruptible(Generic[T]):
    """How `run_interruptible` ended: the work's `result` (None when it was cancelled before
    returning one) and the name of the first signal received (None when there was none)."""

    result: T | None = None
    signal: str | None = None

    @property
    def interrupted(self) -> bool:
        """True when a signal arrived while the work ran (even if it then finished)."""
        return self.signal is not None


async def run_interruptible(work: Coroutine[Any, Any, T], *, on_signal: Callable[[str], None],
                            force_exit: Callable[[], Any],
                            grace: float = INTERRUPT_GRACE) -> Interruptible[T]:
    """Run `work` as a task that SIGINT/SIGTERM cancel; return how it ended.

    On the first signal `on_signal(name)` is called (say what happens next) and the task is
    cancelled, so its `finally` blocks and `except CancelledError` handlers clean up. If that
    takes longer than `grace` seconds, or a second signal arrives, `force_exit()` is called;
    it must not return (typically: write what is known, flush, `os._exit(130)`). The work may
    absorb the cancellation and return a result (the engine records an interrupted outcome);
    otherwise `result` is None. Afterwards the signals' previous handlers are back.

    Cancelling the task that awaits this one still propagates (only the signal's own
    cancellation is absorbed).
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    outcome: Interruptible[T] = Interruptible()
    deadline: asyncio.TimerHandle | None = None

    def handle(name: str) -> None:
        nonlocal deadline
        if outcome.signal is not None:
            force_exit()
            return
        outcome.signal = name
        on_signal(name)
        task.cancel()
        deadline = loop.call_later(grace, force_exit)

    previous = {sig: signal.getsignal(sig) for sig in INTERRUPT_SIGNALS}
    for sig in INTERRUPT_SIGNALS:
        loop.add_signal_handler(sig, handle, sig.name)
    try:
        outcome.result = await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if outcome.signal is None or (current is not None and current.cancelling()):
            raise
    finally:
        if deadline is not None:
            deadline.cancel()
        for sig in INTERRUPT_SIGNALS:
            loop.remove_signal_handler(sig)
            handler = previous[sig]
            if handler is not None:  # asyncio would leave SIG_DFL: put back what was there
                signal.signal(sig, handler)
    return outcome


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While inside, SIGTERM raises KeyboardInterrupt like Ctrl-C does (restored on exit).

    A no-op outside the main thread, where Python cannot install signal handlers.
    """
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
