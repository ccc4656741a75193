"""Console lines for the language's structure: batch progress and the recap's notes on
rescued hosts, batches that did not start and a run without lab locks."""

from __future__ import annotations

from runbook.engine.events import BatchSkipped, BatchStarted
from runbook.engine.results import RunOutcome

MAX_LISTED = 8


def _hosts(ids: tuple[str, ...] | list[str]) -> str:
    shown = ", ".join(ids[:MAX_LISTED])
    return shown + (f" ... (+{len(ids) - MAX_LISTED})" if len(ids) > MAX_LISTED else "")


def batch_line(event: BatchStarted | BatchSkipped) -> str:
    """`batch 2/5: h03, h04` or `batch 3/5 not started: ...` (of block 'x' for a block's)."""
    where = f" of block {event.block!r}" if event.block else ""
    if isinstance(event, BatchStarted):
        return f"batch {event.number}/{event.total}{where}: {_hosts(event.hosts)}"
    return f"batch {event.number}/{event.total}{where} and later not started: {event.reason}"


#: What the recap (and `runbook show`) says of a run with `--no-lock`.
NO_LOCK_TEXT = "none taken (--no-lock, break-glass)"


def recap_notes(outcome: RunOutcome) -> list[str]:
    """Lines under the recap table: hosts rescued, batches not started and why, and that the
    run took no lab locks (`--no-lock`)."""
    notes: list[str] = []
    if outcome.locks and outcome.locks.get("skipped"):
        notes.append(f"locks: {NO_LOCK_TEXT}")
    if outcome.rescued:
        notes.append("rescued (failed in a block, recovered by its rescue): "
                     + ", ".join(f"{h} ({n})" if n > 1 else h for h, n in outcome.rescued.items()))
    done = [b for b in outcome.batches if b.not_started is None and b.started is not None]
    skipped = [b for b in outcome.batches if b.not_started is not None]
    if outcome.batches:
        notes.append(f"batches: {len(done)} of {len(outcome.batches)} ran")
    if skipped:
        first = skipped[0]
        where = f" of block {first.block!r}" if first.block else ""
        notes.append(f"batch {first.number}/{first.total}{where} and {len(skipped) - 1} later "
                     f"not started: {first.not_started}")
    return notes


def sitting_out(path: str) -> str:
    """Why hosts sit a step out, as the step header says it: a rescue step is for the hosts
    that failed in its block, an always step for those that entered it."""
    section = path.rsplit(" > ", 1)[0].rsplit("/", 1)[-1] if " > " in path else ""
    if section == "rescue":
        return "skipped: nothing to rescue or failed earlier"
    if section == "always":
        return "skipped: did not enter the block"
    return "skipped after earlier failures"
