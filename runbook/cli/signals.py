"""Ctrl-C, SIGTERM and SIGHUP for the commands that change things (`apply`, `power`).

The contract every such command keeps (exit status 130, see docs/apply.md and docs/power.md),
the same for all three signals (`INTERRUPT_SIGNALS`): SIGHUP is the terminal closing or the
SSH session to the workstation dropping, and the remote commands must not outlive it either.

* from its first line, SIGINT, SIGTERM and SIGHUP (`INTERRUPT_SIGNALS`) raise
  KeyboardInterrupt (`interrupts_raise`), so a signal while files load exits 130 instead of
  killing the process (status -15);
* while the work runs in the event loop (`run_interruptible`) the first signal cancels it:
  its own cleanup runs (kill the commands it started, close hosts) and the command reports
  what finished; cleanup is bounded to `grace` seconds, and a second signal exits at once;
* once the outcome is decided, `hold_signals_until_exit` keeps a late signal pending, since
  interpreter shutdown restores the default handlers and a signal then would kill the
  process with -2/-15 instead of the documented status;
* when a SIGHUP comes because the terminal is gone, stdout and stderr are pointed at
  /dev/null (`detach_hung_up_terminal`): writing the recap to a hung-up terminal would fail
  (EIO) and must not stop the cleanup and the reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import stat
from collections.abc import Callable, Coroutine, Iterator
from types import FrameType
from typing import Any, Generic, TypeVar

from runbook._dataclass import mutable

T = TypeVar("T")
#: What `signal.signal` accepts: a function, SIG_DFL or SIG_IGN.
Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers

#: Signals that interrupt a run: Ctrl-C, a polite kill, the terminal or SSH session closing.
INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Seconds after the first signal before the command stops waiting for its cleanup.
INTERRUPT_GRACE = 4.0


@mutable
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
                            force_exit: Callable[[str], Any],
                            grace: float = INTERRUPT_GRACE,
                            then: Handler | None = None) -> Interruptible[T]:
    """Run `work` as a task that SIGINT/SIGTERM/SIGHUP cancel; return how it ended.

    On the first signal `on_signal(name)` is called (say what happens next) and the task is
    cancelled, so its `finally` blocks and `except CancelledError` handlers clean up. If that
    takes longer than `grace` seconds, or a second signal arrives, `force_exit(reason)` is
    called with a reason to show ("SIGINT again", "cleanup not done after 4s"); it must not
    return (typically: say so, write what is known, flush, `os._exit(130)`). The work may
    absorb the cancellation and return a result (the engine records an interrupted outcome);
    otherwise `result` is None.

    Afterwards the signals' previous handlers are back, or `then` for both (e.g. one that
    ignores a late signal while reports are written). The hand-over is gapless: the signals
    are blocked while the loop's handlers go, so one arriving then is delivered to the next
    handler (with `interrupts_raise`: a KeyboardInterrupt out of this call), never to the
    default action that asyncio would otherwise leave behind. Cancelling the task
    that awaits this call still propagates; only the signal's own cancellation is absorbed.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    outcome: Interruptible[T] = Interruptible()
    deadline: asyncio.TimerHandle | None = None

    def handle(name: str) -> None:
        nonlocal deadline
        if name == "SIGHUP":
            detach_hung_up_terminal()
        if outcome.signal is not None:
            force_exit(f"{name} again")
            return
        outcome.signal = name
        on_signal(name)
        task.cancel()
        deadline = loop.call_later(grace, force_exit, f"cleanup not done after {grace:g}s")

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
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPT_SIGNALS)
        try:
            for sig in INTERRUPT_SIGNALS:
                loop.remove_signal_handler(sig)
                handler = previous[sig] if then is None else then
                if handler is not None:  # asyncio would leave SIG_DFL: put back what was there
                    signal.signal(sig, handler)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return outcome


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    if signum == signal.SIGHUP:
        detach_hung_up_terminal()
    raise KeyboardInterrupt(signal.Signals(signum).name)


def detach_hung_up_terminal() -> None:
    """Point stdout and stderr at /dev/null where they are a terminal that has hung up.

    After a hangup every write to the terminal fails with EIO: the note, the recap, even the
    flush at exit (which would turn the exit status into 120). A terminal that still works
    (SIGHUP sent with `kill`) and pipes and files are left alone.
    """
    for fd in (1, 2):
        if _hung_up_terminal(fd):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, fd)
            finally:
                os.close(devnull)


def _hung_up_terminal(fd: int) -> bool:
    import termios

    try:
        if not stat.S_ISCHR(os.fstat(fd).st_mode):
            return False
        termios.tcgetattr(fd)
    except termios.error as exc:
        return bool(exc.args) and exc.args[0] == errno.EIO
    except OSError:
        return False
    return False


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """While inside, INTERRUPT_SIGNALS raise KeyboardInterrupt (handlers restored on exit).

    Usable as a decorator of a command. Our own SIGINT handler (rather than Python's default)
    also keeps `asyncio.run` from installing and later restoring one of its own. A no-op
    outside the main thread, where Python cannot install signal handlers.
    """
    try:
        previous = {sig: signal.signal(sig, _raise_interrupt) for sig in INTERRUPT_SIGNALS}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def hold_signals_until_exit() -> None:
    """Block INTERRUPT_SIGNALS: call once the exit status is decided, right before exiting.

    A signal from then on stays pending and dies with the process, which exits with the
    status already chosen. (Tests running a command in-process must restore the mask.)
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPT_SIGNALS)
