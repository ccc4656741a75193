"""Rolling batches: a restart runs only its hosts, each in the batch it had, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from runbook.engine.batchrun import BatchRunner
from runbook.engine.events import EventBus
from runbook.engine.results import RunOutcome
from runbook.model import Block, Location

ALL = ["h1", "h2", "h3", "h4", "h5", "h6"]


def steps_run(hosts: Sequence[str], spec: int | str, blocks: Sequence[Block] = (),
              failed: frozenset[str] = frozenset()) -> list[tuple[int, list[str]]]:
    """(step index, hosts) of each step run, for steps 0-1 on `hosts` cut from ALL;
    `failed`: hosts out of the run (max_failed 0)."""
    ran: list[tuple[int, list[str]]] = []

    async def step(index: int, batch: frozenset[str]) -> None:
        ran.append((index, sorted(batch)))

    runner = BatchRunner(blocks, ALL, step, lambda _a, _b, done: set(done) & failed,
                         lambda: False, EventBus(),
                         RunOutcome("rb", "rb.yml", None, list(hosts), [], started=0.0))
    asyncio.run(runner.run(spec, 0, (0, 1), hosts, full=ALL))
    return ran


def test_a_restart_keeps_each_host_in_the_batch_it_had() -> None:
    def batches(hosts: Sequence[str], spec: int | str) -> list[list[str]]:
        return [batch for index, batch in steps_run(hosts, spec) if index == 0]

    assert batches(ALL, 2) == [["h1", "h2"], ["h3", "h4"], ["h5", "h6"]]
    assert batches(["h1", "h4", "h5"], 2) == [["h1"], ["h4"], ["h5"]]
    assert batches(["h3", "h4"], "50%") == [["h3"], ["h4"]]  # 50% of the six hosts: 3


def test_a_batched_block_is_cut_from_the_hosts_its_batch_had() -> None:
    block = Block(0, "b", Location("b.yml", 1), (), first=1, last=1, batch=1)
    assert steps_run(["h2", "h3", "h5"], 3, [block]) == [
        (0, ["h2", "h3"]), (1, ["h2"]), (1, ["h3"]), (0, ["h5"]), (1, ["h5"])]


def test_hosts_not_run_again_count_for_max_failed() -> None:
    # h2 failed in the earlier run and is not resumed: batch 1 is over the limit, as it was
    assert steps_run(["h1", "h3"], 2, failed=frozenset({"h2"})) == [(0, ["h1"]), (1, ["h1"])]
    assert steps_run(["h1", "h3"], 2) == [(0, ["h1"]), (1, ["h1"]), (0, ["h3"]), (1, ["h3"])]
