"""Running a range of steps batch by batch (the runbook's `batch`, or a block's).

Each batch of hosts goes through every step of the range before the next batch starts; the
steps stay barriers within a batch. Before each batch after the first, the hosts failed so
far are counted: when they exceed `max_failed`, no further batch starts and each batch not
started is recorded (with the reason) in the outcome. A block with its own `batch` met inside
the range is run through the same way, on the hosts of the current batch.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

from runbook._dataclass import mutable
from runbook.engine.events import BatchSkipped, BatchStarted, EventBus
from runbook.engine.results import BatchOutcome, RunOutcome
from runbook.model import Block
from runbook.plan.batches import BatchSpec, failure_limit, split

RunStep = Callable[[int, frozenset[str]], Awaitable[None]]
"""Runs step `index` on the given host ids (those of the current batch)."""
FailedHosts = Callable[[int, int, Sequence[str]], set[str]]
"""Which of the hosts failed (not rescued) in steps first..last."""


@mutable
class BatchRunner:
    """Walks step ranges, splitting hosts into batches where the runbook or a block says."""

    blocks: Sequence[Block]
    order: Sequence[str]
    run_step: RunStep
    failed_hosts: FailedHosts
    halted: Callable[[], bool]
    bus: EventBus
    outcome: RunOutcome
    #: Why no further batch of the runbook's own may start (None: they may), whatever this
    #: runner counts itself: a multi-site run's max_failed across the sites (docs/sites.md).
    stopped: Callable[[], str | None] = lambda: None

    async def run(self, spec: BatchSpec, max_failed: int | str, span: tuple[int, int],
                  hosts: Sequence[str], *, within: Block | None = None,
                  full: Sequence[str] | None = None) -> None:
        """Steps first..last on `hosts`, in batches per `spec` (None: all at once);
        `within` is the block whose batches these are (None: the runbook's).

        The batches are cut from `full` (default: `hosts`), then kept to `hosts`: a restart
        runs only the hosts it repairs, each in the batch it had, in the original order; its
        hosts not run again still count for `max_failed` when they are out of the run."""
        block = within.name if within is not None else None
        first, last = span
        present = set(hosts)
        cut = split(list(full if full is not None else hosts), spec, total=len(self.order))
        groups = [[h for h in b if h in present] for b in cut]
        batches = [b for b in groups if b]
        limit = failure_limit(max_failed, len(self.order))
        records = [BatchOutcome(n + 1, len(batches), list(b), block)
                   for n, b in enumerate(batches)] if spec is not None else []
        self.outcome.batches += records
        done: list[str] = []
        for number, batch in enumerate(batches, start=1):
            if self.halted():
                self._not_started(records, number, "the run was halted", block)
                return
            stopped = self.stopped() if done and within is None else None
            if stopped is not None:
                self._not_started(records, number, stopped, block)
                return
            failed = self.failed_hosts(first, last, done) if done else set()
            if len(failed) > limit:
                reason = (f"{len(failed)} host(s) failed ({', '.join(sorted(failed))}), more "
                          f"than max_failed {max_failed}")
                self._not_started(records, number, reason, block)
                return
            if records:
                records[number - 1].started = time.time()
                self.bus.emit(BatchStarted(number, len(batches), tuple(batch), block))
            await self.range(first, last, frozenset(batch), within,
                             full=cut[groups.index(batch)] if spec is not None else full)
            if records:
                records[number - 1].ended = time.time()
            done += cut[groups.index(batch)]  # a restart: the batch's earlier failures count

    async def range(self, first: int, last: int, hosts: frozenset[str],
                    within: Block | None = None, full: Sequence[str] | None = None) -> None:
        """Steps first..last on `hosts`; a batched block inside runs in its own batches
        (cut from `full`, the hosts this range had in the original run: see `run`)."""
        index = first
        while index <= last:
            if self.halted():
                return
            block = self._batched_block_at(index, last, within)
            if block is not None:
                inside = [h for h in self.order if h in hosts]
                whole = None if full is None else [h for h in self.order if h in set(full)]
                await self.run(block.batch, block.max_failed, (block.first, block.last), inside,
                               within=block, full=whole)
                index = block.last + 1
                continue
            await self.run_step(index, hosts)
            index += 1

    def _batched_block_at(self, index: int, last: int, within: Block | None) -> Block | None:
        """The outermost batched block starting at `index`, inside the range, other than
        `within` and the blocks enclosing it (blocks are numbered outer first)."""
        floor = within.id if within is not None else -1
        for block in self.blocks:
            if (block.batch is not None and block.id > floor and block.first == index
                    and block.last <= last):
                return block
        return None

    def _not_started(self, records: list[BatchOutcome], number: int, reason: str,
                     block: str | None) -> None:
        for record in records[number - 1:]:
            record.not_started = reason
        if records:
            self.bus.emit(BatchSkipped(number, len(records), reason, block))
