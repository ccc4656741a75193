"""The run journal (`journal.jsonl`): one JSON line per event, on disk as soon as it happens.

The journal is an `EventBus` subscriber. Each line is written, flushed and fsynced before the
engine goes on, so `kill -9` (or a power cut) loses at most the results still in flight. Every
string, registered values and extra vars included, passes through the run's mask first.

Lines (`event` names the kind; times are epoch seconds; see docs/records.md):

    run_start    run_id, runbook, runbook_path, runbook_sha256, lab_path, extra_vars, hosts,
                 steps [{index, name, action, location}], started, check
    step_start   step, name, action, hosts (active), skipped, t
    host_result  step, host, result (the report's hostResult), register, registered
    step_end     step, started, ended
    run_end      status, ended, duration_s, error (only after an internal error)

Reading it back is journal_reader.py (kept apart so `runbook runs` / `show` need no engine).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from runbook.engine.events import (
    Event,
    HostResult,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)

JOURNAL_VERSION = 1
Mask = Callable[[str], str]


def mask_data(value: Any, mask: Mask) -> Any:
    """`value` with `mask` applied to every string in it, keys included (lists, dicts)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {mask_data(k, mask): mask_data(v, mask) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_data(v, mask) for v in value]
    return value


class Journal:
    """Writes the run's events to `path` as JSON lines; call `close()` when the run is over.

    `header` holds what the events do not carry (run id, runbook hash, lab, extra vars, the
    steps); it goes into the `run_start` line. Registered values and extra vars are masked.
    """

    def __init__(self, path: Path, header: Mapping[str, Any], mask: Mask) -> None:
        self.path = path
        self.mask = mask
        self._header = dict(header)
        self._registers: dict[int, str | None] = {
            s["index"]: s.get("register") for s in self._header.get("steps", [])}
        self._file: IO[str] | None = path.open("a", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        record = self._record(event)
        if record is not None:
            self.write(record)

    def _record(self, event: Event) -> dict[str, Any] | None:
        if isinstance(event, HostResult):
            return {"event": "host_result", "step": event.step_index,
                    "host": event.result.host_id, "result": event.result.to_dict(),
                    "register": self._registers.get(event.step_index),
                    "registered": event.registered}
        if isinstance(event, StepStarted):
            return {"event": "step_start", "step": event.index, "name": event.name,
                    "action": event.action, "hosts": event.total, "skipped": event.skipped}
        if isinstance(event, StepFinished):
            step = event.outcome
            return {"event": "step_end", "step": step.index, "started": step.started,
                    "ended": step.ended}
        if isinstance(event, RunStarted):
            return {"event": "run_start", "version": JOURNAL_VERSION, **self._header,
                    "runbook": event.runbook, "hosts": list(event.hosts),
                    "started": event.started, "check": event.check}
        if isinstance(event, RunFinished):
            outcome = event.outcome
            record = {"event": "run_end", "status": outcome.status.value,
                      "ended": outcome.ended, "duration_s": round(outcome.duration, 6)}
            if outcome.error:
                record["error"] = outcome.error
            return record
        return None

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one masked line and push it to the disk before returning."""
        if self._file is None:
            return
        line = json.dumps(mask_data(record, self.mask), ensure_ascii=False,
                          separators=(",", ":"))
        self._file.write(line + "\n")
        self._file.flush()
        _sync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _sync(fd: int) -> None:
    """fdatasync where there is one (skips the metadata flush; ~0.2 ms a line on ext4)."""
    sync = getattr(os, "fdatasync", os.fsync)
    sync(fd)
