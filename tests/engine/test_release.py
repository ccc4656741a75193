"""Early connection release with blocks and batches (runbook.engine.release): a host is
released after the last step that targets it, never before its always step or its batch."""

from __future__ import annotations

import asyncio
from typing import cast

from runbook.engine.events import StepStarted
from runbook.model import Block, Location
from runbook.results import Status
from tests.engine.fakes import FakeHost, fake_lab, make_executor, runbook, step

WHERE = Location("book.yml", 3, 5)


def test_a_host_failing_in_a_block_keeps_its_connection_for_the_always_step() -> None:
    lab = fake_lab(2)
    f01, f02 = (cast(FakeHost, h) for h in lab.hosts)
    book = runbook(
        step(0, "both", "echo:x", blocks=((0, "block"),)),
        step(1, "f01 fails", "rc:1", hosts=("f01",), blocks=((0, "block"),)),
        step(2, "cleanup", "echo:c", hosts=("f01",), blocks=((0, "always"),)),
        blocks=(Block(0, "b", WHERE, ((".*",),), first=0, last=2),))
    executor, _ = make_executor(book, lab)
    resets_at_cleanup: list[int] = []
    executor.bus.subscribe(lambda e: resets_at_cleanup.extend([f01.resets, f02.resets])
                           if isinstance(e, StepStarted) and e.index == 2 else None)
    asyncio.run(executor.run())
    assert resets_at_cleanup == [0, 1]
    assert executor.outcome.steps[2].results["f01"].status is Status.Success
    assert (f01.resets, f02.resets) == (1, 1)


def test_a_batched_block_releases_each_host_after_its_own_batch_only() -> None:
    lab = fake_lab(2)
    f01, f02 = (cast(FakeHost, h) for h in lab.hosts)
    book = runbook(
        step(0, "one", "echo:1", blocks=((0, "block"),)),
        step(1, "two", "echo:2", blocks=((0, "block"),)),
        blocks=(Block(0, "b", WHERE, ((".*",),), first=0, last=1, batch=1),))
    executor, _ = make_executor(book, lab)
    seen: list[tuple[int, int, int]] = []
    executor.bus.subscribe(lambda e: seen.append((e.index, f01.resets, f02.resets))
                           if isinstance(e, StepStarted) else None)
    asyncio.run(executor.run())
    assert seen == [(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)]
    assert all(r.status is Status.Success for s in executor.outcome.steps
               for r in s.results.values())
    assert (f01.resets, f02.resets) == (1, 1)
