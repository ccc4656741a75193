"""`runbook.cli.signals`: real signals sent to this process while an event loop runs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runbook.cli.signals import INTERRUPT_SIGNALS, Interruptible, interrupts_raise, run_interruptible

REPO = Path(__file__).resolve().parents[2]
# Bounds every wait of these tests, so a regression fails instead of hanging pytest.
DEADLINE = 30.0


@pytest.fixture(autouse=True)
def _signals_deliverable() -> Iterator[None]:
    """These tests signal their own process: make sure nothing left the signals blocked."""
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, INTERRUPT_SIGNALS)
    yield
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


class Recorder:
    """Collects what the handlers were called with, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.released = asyncio.Event()

    def on_signal(self, name: str) -> None:
        self.calls.append(f"signal {name}")

    def force_exit(self, reason: str) -> None:
        self.calls.append(f"force exit: {reason}")
        self.released.set()


def kill_me(sig: signal.Signals) -> Callable[[], None]:
    return lambda: os.kill(os.getpid(), sig)


def interrupt(work: Callable[[Recorder], Any], *signals: signal.Signals,
              grace: float = 30.0) -> tuple[Interruptible[Any], Recorder]:
    async def main() -> tuple[Interruptible[Any], Recorder]:
        recorder = Recorder()
        loop = asyncio.get_running_loop()
        for sig in signals:
            loop.call_soon(kill_me(sig))
        outcome = await run_interruptible(work(recorder), on_signal=recorder.on_signal,
                                          force_exit=recorder.force_exit, grace=grace)
        return outcome, recorder

    return asyncio.run(main())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_cancels_the_work_and_its_cleanup_runs(sig: signal.Signals) -> None:
    async def work(recorder: Recorder) -> str:
        try:
            await asyncio.Event().wait()
        finally:
            recorder.calls.append("cleanup")
        return "never"

    with interrupts_raise():  # as in a command: our handlers were there before
        before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        outcome, recorder = interrupt(work, sig)
        after = {s: signal.getsignal(s) for s in before}
    assert outcome.interrupted and outcome.signal == sig.name and outcome.result is None
    assert recorder.calls == [f"signal {sig.name}", "cleanup"]
    assert after == before and before[signal.SIGTERM] is not signal.SIG_DFL  # put back
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) & set(INTERRUPT_SIGNALS) == set()


def test_work_that_absorbs_the_cancellation_returns_its_result() -> None:
    async def work(recorder: Recorder) -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return "partial"
        return "never"

    outcome, recorder = interrupt(work, signal.SIGTERM)
    assert outcome.result == "partial" and outcome.signal == "SIGTERM"
    assert recorder.calls == ["signal SIGTERM"]


def test_second_signal_forces_the_exit_while_cleanup_hangs() -> None:
    async def work(recorder: Recorder) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # impatient user: Ctrl-C again
            await asyncio.wait_for(recorder.released.wait(), DEADLINE)

    outcome, recorder = interrupt(work, signal.SIGTERM)
    assert recorder.calls == ["signal SIGTERM", "force exit: SIGINT again"]
    assert outcome.signal == "SIGTERM"


def test_cleanup_past_the_grace_period_forces_the_exit() -> None:
    async def work(recorder: Recorder) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.wait_for(recorder.released.wait(), DEADLINE)

    _, recorder = interrupt(work, signal.SIGINT, grace=0.1)
    assert recorder.calls == ["signal SIGINT", "force exit: cleanup not done after 0.1s"]


def test_then_replaces_the_handlers_afterwards() -> None:
    def ignore_late(signum: int, frame: object) -> None:
        """A late signal while reports are written: let the writing finish."""

    async def main() -> None:
        await run_interruptible(asyncio.sleep(0), on_signal=print, force_exit=print,
                                then=ignore_late)

    with interrupts_raise():
        asyncio.run(main())
        handlers = [signal.getsignal(sig) for sig in INTERRUPT_SIGNALS]
    assert handlers == [ignore_late] * len(INTERRUPT_SIGNALS)


def test_without_a_signal_the_result_comes_back() -> None:
    async def work(recorder: Recorder) -> int:
        await asyncio.sleep(0)
        return 7

    outcome, recorder = interrupt(work)
    assert outcome == Interruptible(result=7, signal=None) and not outcome.interrupted
    assert recorder.calls == []


def test_cancelling_the_caller_still_propagates() -> None:
    async def main() -> None:
        recorder = Recorder()
        inner = asyncio.create_task(run_interruptible(
            asyncio.Event().wait(), on_signal=recorder.on_signal,
            force_exit=recorder.force_exit))
        await asyncio.sleep(0)
        inner.cancel()
        await inner

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupts_raise_keyboard_interrupt_and_restore(sig: signal.Signals) -> None:
    before = signal.getsignal(sig)
    with pytest.raises(KeyboardInterrupt, match=sig.name), interrupts_raise():
        os.kill(os.getpid(), sig)  # the handler runs before the next line
    assert signal.getsignal(sig) is before


def test_held_signals_do_not_change_the_exit_status() -> None:
    code = ("import os, signal, sys\n"
            "from runbook.cli.signals import hold_signals_until_exit\n"
            "hold_signals_until_exit()\n"
            "os.kill(os.getpid(), signal.SIGTERM)\n"
            "os.kill(os.getpid(), signal.SIGINT)\n"
            "sys.exit(3)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, check=False, timeout=DEADLINE)
    assert done.returncode == 3, done.stderr
