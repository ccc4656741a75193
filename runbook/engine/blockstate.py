"""Per-host bookkeeping of blocks: who entered, who failed where, who was rescued.

The plan is a flat list of steps; each step knows the blocks it sits in and in which section
(`block`, `rescue`, `always`). This tracker answers, per step and host, whether the host runs
it, and turns failures into what happens next:

* a host **enters** a block at the first step of the block's `block` section that targets it
  (and that it is eligible for: not failed earlier, inside every enclosing block's rules);
* a failure in the `block` section marks the host failed in that block: it skips the rest of
  the section and runs `rescue`; a failure in `rescue` or `always` marks that section failed;
* `always` steps run on every host that entered;
* when the block's last step is done, a host is **recovered** when it failed in the block and
  its rescue steps all succeeded; otherwise a failure moves out to the enclosing block (as a
  failure in the section the block sits in) or, at top level, drops the host from the run;
* in **cleanup** mode (after fail_fast halted the run, or after the first Ctrl-C) only the
  `always` steps of blocks a host entered run, and the steps nested inside them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import field

from runbook._dataclass import mutable
from runbook.engine.results import StepOutcome
from runbook.model import Block, BlockPhase, Step


@mutable
class BlockRecord:
    """One block's hosts: entered, failed in each section, rescued."""

    entered: set[str] = field(default_factory=set)
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)
    rescue_failed: set[str] = field(default_factory=set)
    always_failed: set[str] = field(default_factory=set)
    rescued: set[str] = field(default_factory=set)


class BlockTracker:
    """The blocks' state for one run; `dropped` holds hosts out of the run (id -> reason)."""

    def __init__(self, blocks: Iterable[Block]) -> None:
        self.blocks = {b.id: b for b in blocks}
        self.records = {b: BlockRecord() for b in self.blocks}
        self.dropped: dict[str, str] = {}
        self.just_rescued: list[tuple[Block, str]] = []

    # -- who runs a step --------------------------------------------------------------------
    def skip_reason(self, step: Step, host_id: str, *, cleanup: bool = False) -> str | None:
        """Why `host_id` does not run `step` (None: it runs it; it may enter blocks now)."""
        levels = step.blocks
        start = 0
        if cleanup:
            start = self._cleanup_level(levels, host_id)
            if start < 0:
                return "not run"
        elif host_id in self.dropped:
            return f"skipped: {self.dropped[host_id]}"
        entering: list[int] = []
        for block_id, phase in levels[start:]:
            reason = self._level_reason(block_id, phase, host_id, entering)
            if reason is not None:
                return reason
        for block_id in entering:
            self.records[block_id].entered.add(host_id)
        return None

    def _cleanup_level(self, levels: tuple[tuple[int, BlockPhase], ...], host_id: str) -> int:
        """Index after the outermost `always` section the host entered, -1 when none."""
        for i, (block_id, phase) in enumerate(levels):
            if phase == "always" and host_id in self.records[block_id].entered:
                return i + 1
        return -1

    def _level_reason(self, block_id: int, phase: BlockPhase, host_id: str,
                      entering: list[int]) -> str | None:
        record = self.records[block_id]
        name = self.blocks[block_id].name
        if phase == "block":
            if host_id in record.failed:
                return f"skipped: failed in block {name!r}"
            if host_id not in record.entered:
                entering.append(block_id)
            return None
        if host_id not in record.entered:
            return f"skipped: did not enter block {name!r}"
        if phase == "rescue" and host_id not in record.failed:
            return "skipped: nothing to rescue"
        if phase == "rescue" and host_id in record.rescue_failed:
            return f"skipped: rescue of block {name!r} failed"
        return None

    # -- failures ---------------------------------------------------------------------------
    def fail(self, step: Step, host_id: str, message: str) -> bool:
        """Record `host_id` failing `step`; True when no enclosing block can rescue it (the
        run's fail_fast acts on it now)."""
        if not step.blocks:
            self.dropped[host_id] = f"failed in step {step.name!r}"
            return True
        block_id, phase = step.blocks[-1]
        self._fail_in(block_id, phase, host_id, step.name, message)
        return not (phase == "block" and self.blocks[block_id].has_rescue)

    def _fail_in(self, block_id: int, phase: BlockPhase, host_id: str, step_name: str,
                 message: str) -> None:
        record = self.records[block_id]
        if phase == "block":
            record.failed.setdefault(host_id, (step_name, message))
        elif phase == "rescue":
            record.rescue_failed.add(host_id)
        else:
            record.always_failed.add(host_id)

    def failure_of(self, host_id: str, step: Step) -> tuple[str, str] | None:
        """(failed_step, failed_message) for `host_id` in the innermost block of `step`."""
        for block_id, _ in reversed(step.blocks):
            found = self.records[block_id].failed.get(host_id)
            if found is not None:
                return found
        return None

    # -- leaving blocks ---------------------------------------------------------------------
    def leave(self, index: int) -> list[str]:
        """After step `index`: close the blocks ending there (innermost first); returns hosts
        newly dropped from the run (a failure nothing rescued)."""
        dropped: list[str] = []
        for block in sorted(self.blocks.values(), key=lambda b: -b.id):
            if block.last == index:
                dropped += self._leave_block(block)
        return dropped

    def _leave_block(self, block: Block) -> list[str]:
        record = self.records[block.id]
        dropped: list[str] = []
        for host_id in sorted(record.entered):
            failed = host_id in record.failed
            unrecovered = failed and (not block.has_rescue or host_id in record.rescue_failed)
            if failed and not unrecovered and host_id not in record.rescued:
                record.rescued.add(host_id)
                self.just_rescued.append((block, host_id))
            if not (unrecovered or host_id in record.always_failed):
                continue
            reason = record.failed.get(host_id, (block.name, ""))[0]
            if block.parent is None:
                if host_id not in self.dropped:
                    self.dropped[host_id] = (f"failed in block {block.name!r} "
                                             f"(step {reason!r})")
                    dropped.append(host_id)
            else:
                parent_id, phase = block.parent
                self._fail_in(parent_id, phase, host_id, reason,
                              record.failed.get(host_id, ("", ""))[1])
        record.entered.clear()  # done with the block: its always steps are behind the hosts
        return dropped

    def rescued_hosts(self) -> dict[str, int]:
        """Per host, how many block failures rescue recovered (for the recap)."""
        counts: dict[str, int] = {}
        for record in self.records.values():
            for host_id in record.rescued:
                counts[host_id] = counts.get(host_id, 0) + 1
        return counts

    # -- reading the outcome ----------------------------------------------------------------
    def mark_rescued(self, steps: Sequence[StepOutcome]) -> list[tuple[Block, str]]:
        """Mark the failures that a just-finished rescue recovered (`steps`: the run's, in
        order): shown, but they no longer fail the run. Returns those (block, host) pairs."""
        marked = list(self.just_rescued)
        for block, host_id in marked:
            for outcome in steps[block.first:block.last + 1]:
                result = outcome.results.get(host_id)
                if result is not None and not result.status.is_ok:
                    result.rescued = True
        self.just_rescued.clear()
        return marked

    def mark_all_rescued(self, steps: Sequence[StepOutcome]) -> None:
        """Mark again every failure some rescue of this run recovered: after a restart merged
        the earlier run's results in, the failure a resumed rescue recovered is among them."""
        self.just_rescued = [(self.blocks[b], h) for b, r in self.records.items()
                             for h in sorted(r.rescued)]
        self.mark_rescued(steps)

    # -- restarting part-way ----------------------------------------------------------------
    def restore(self, host_id: str, start: Step,
                failures: Sequence[tuple[Step, str]]) -> str | None:
        """Put `host_id` back where it stood in the blocks around `start` (the step it restarts
        at), given its failures before it in the earlier run (not ignored, not rescued).

        It has entered every block around `start`; a failure inside one of them counts in
        the innermost block holding both it and `start`, in the section it happened in (a
        failure in a block already left moved out to that one, unrecovered). A failure outside
        every block around `start` had put the host out of the run: the reason is returned.
        """
        around = [block_id for block_id, _ in start.blocks]
        for block_id in around:
            self.records[block_id].entered.add(host_id)
        for step, message in failures:
            common = 0
            while (common < min(len(step.blocks), len(around))
                   and step.blocks[common][0] == around[common]):
                common += 1
            if common == 0:
                return f"failed in step {step.name!r}"
            block_id, phase = step.blocks[common - 1]
            self._fail_in(block_id, phase, host_id, step.name, message)
        return None

    def failed_in(self, steps: Sequence[StepOutcome], hosts: Sequence[str]) -> set[str]:
        """Hosts of `hosts` out of the run, or failed (not ignored, not rescued) in `steps`."""
        rescued = {h for r in self.records.values() for h in r.rescued}
        failed = {h for h in hosts if h in self.dropped}
        for outcome in steps:
            failed |= {h for h in hosts if (r := outcome.results.get(h)) is not None
                       and not r.status.is_ok and not r.ignored and h not in rescued}
        return failed
