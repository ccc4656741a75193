"""The run journal (`journal.jsonl`): one JSON line per event, on disk as soon as it happens.

The journal is an `EventBus` subscriber. Each line is written and flushed to the kernel before
the engine goes on, so `kill -9` of runbook loses at most the results still in flight. A
background thread fdatasyncs the file 50 ms after lines were added (group commit: the lines of
those 50 ms go in one sync), and `close()` syncs once more, so a machine crash loses at most
about the last 50 ms too.
Syncing every line in the event loop instead cost 0.2 ms a line on an idle ext4 disk but
4.6 ms on the shared test machine (14 s over 1,000 one-host steps, 46 s over 500 hosts x 20
steps), time the run would spend blocked. Every string, registered values and extra vars
included, passes through the run's mask first.

Lines (`event` names the kind; times are epoch seconds; see docs/records.md):

    run_start    run_id, runbook, runbook_path, runbook_sha256, lab_path, extra_vars, hosts,
                 steps [{index, key, name, action, location, register, path/frames/tags}], options, pid,
                 repairs, started, check, sites {host: site} (multi-site runs only)
    resume       pid, started (`runbook resume` continues the run in the same folder)
    step_start   step, name, action, hosts (active), skipped
    host_result  step, path, host, result (the report's hostResult), register, registered,
                 site (only for a host a site's worker drove)
    item_result  step, path, host, item (position, from 0), entry (item, status, rc, output,
                 message): one item of a looped step ended on a host
    rescued      host, block, steps (paths): the block's rescue recovered the host's failures
                 in those steps
    step_end     step, started, ended
    run_end      status, ended, duration_s, error (only after an internal error)

Reading it back is journal_reader.py (kept apart so `runbook runs` / `show` need no engine).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from runbook.engine.delegate import run_once_source
from runbook.engine.events import (
    Event,
    HostResult,
    ItemResult,
    Rescued,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)
from runbook.engine.results import HostStepResult, StepOutcome
from runbook.records.runfolder import step_path
from runbook.render.secrets import mask_strings

JOURNAL_VERSION = 1
Mask = Callable[[str], str]


class Journal:
    """Writes the run's events to `path` as JSON lines; call `close()` when the run is over.

    `header` holds what the events do not carry (run id, runbook hash, lab, extra vars, the
    steps); it goes into the `run_start` line. Registered values and extra vars are masked.
    """

    def __init__(self, path: Path, header: Mapping[str, Any], mask: Mask, *,
                 resumed: bool = False) -> None:
        self.path = path
        self.mask = mask
        self.resumed = resumed
        self._header = dict(header)
        self._registers: dict[int, str | None] = {
            s["index"]: s.get("register") for s in self._header.get("steps", [])}
        self._sites: dict[str, str] = dict(self._header.get("sites") or {})
        #: step index -> host id -> registered value, of the host_result lines written
        self._journaled: dict[int, dict[str, Mapping[str, Any] | None]] = {}
        self._file: IO[str] | None = path.open("a", encoding="utf-8")
        # held until close (or the process dies): the run is in progress (runfolder.in_progress)
        fcntl.flock(self._file.fileno(), fcntl.LOCK_SH)
        self._syncer = _Syncer(self._file.fileno())

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepFinished):
            for line in self._unannounced(event.outcome):
                self.write(line)
        record = self._record(event)
        if record is not None:
            self.write(record)

    def _host_record(self, step_index: int, result: HostStepResult,
                     registered: Mapping[str, Any] | None) -> dict[str, Any]:
        """A host's result, keyed by step path too (what rerun/resume match on)."""
        self._journaled.setdefault(step_index, {})[result.host_id] = registered
        record: dict[str, Any] = {"event": "host_result", "step": step_index,
                                  "path": step_path(step_index),
                                  "host": result.host_id, "result": result.to_dict(),
                                  "register": self._registers.get(step_index),
                                  "registered": registered}
        if result.host_id in self._sites:
            record["site"] = self._sites[result.host_id]
        return record

    def _unannounced(self, step: StepOutcome) -> list[dict[str, Any]]:
        """host_result lines for the step's results no HostResult event announced: the copies
        of a `run_once` step (the console shows that step once; the record keeps every host),
        registered like the host the step ran on."""
        seen = self._journaled.get(step.index, {})
        return [self._host_record(step.index, result, seen.get(run_once_source(result) or ""))
                for host_id, result in step.results.items() if host_id not in seen]

    def _record(self, event: Event) -> dict[str, Any] | None:
        if isinstance(event, HostResult):
            return self._host_record(event.step_index, event.result, event.registered)
        if isinstance(event, ItemResult | Rescued):
            return _progress_record(event)
        if isinstance(event, StepStarted):
            return {"event": "step_start", "step": event.index, "name": event.name,
                    "action": event.action, "hosts": event.total, "skipped": event.skipped,
                    **({"path": event.path} if event.path else {})}
        if isinstance(event, StepFinished):
            step = event.outcome
            return {"event": "step_end", "step": step.index, "started": step.started,
                    "ended": step.ended}
        if isinstance(event, RunStarted | RunFinished):
            return self._run_record(event)
        return None

    def _run_record(self, event: RunStarted | RunFinished) -> dict[str, Any]:
        """The run_start (or resume) and run_end lines."""
        if isinstance(event, RunStarted):
            if self.resumed:
                return {"event": "resume", **self._header, "started": event.started}
            return {"event": "run_start", "version": JOURNAL_VERSION, **self._header,
                    "runbook": event.runbook, "hosts": list(event.hosts),
                    "started": event.started, "check": event.check}
        outcome = event.outcome
        end: dict[str, Any] = {"event": "run_end", "status": outcome.status.value,
                               "ended": outcome.ended, "duration_s": round(outcome.duration, 6)}
        if outcome.error:
            end["error"] = outcome.error
        if outcome.batches:
            end["batches"] = [b.to_dict() for b in outcome.batches]
        if outcome.rescued:
            end["rescued"] = dict(outcome.rescued)
        return end

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one masked line and push it to the disk before returning."""
        if self._file is None:
            return
        line = json.dumps(mask_strings(record, self.mask), ensure_ascii=False,
                          separators=(",", ":"))
        self._file.write(line + "\n")
        self._file.flush()
        self._syncer.poke()

    def close(self) -> None:
        """Stop the sync thread, sync the file a last time and close it."""
        if self._file is None:
            return
        self._syncer.stop()
        # the lines are written; a failing sync only risks them across a machine crash
        with contextlib.suppress(OSError):
            _sync(self._file.fileno())
        self._file.close()
        self._file = None


def _progress_record(event: ItemResult | Rescued) -> dict[str, Any]:
    """The lines that say how far a host got inside a step or block (rerun and resume read
    them: records/progress.py)."""
    if isinstance(event, ItemResult):
        return {"event": "item_result", "step": event.step_index,
                "path": step_path(event.step_index), "host": event.host_id,
                "item": event.position, "entry": dict(event.entry)}
    return {"event": "rescued", "host": event.host_id, "block": event.block,
            "steps": [step_path(i) for i in range(event.first, event.last + 1)]}


class _Syncer:
    """A daemon thread that fdatasyncs `fd` after `poke()`s: it gathers the lines of the next
    `GATHER` seconds into one sync (a 50-host step's results arrive within a few ms of each
    other; one sync per line cost 0.12 ms of CPU a line, docs/performance.md)."""

    GATHER = 0.05  # a machine crash may lose the last 50 ms of lines; kill -9 loses none
    STOP_TIMEOUT = 5.0  # a disk that will not sync must not hold the end of the run

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="runbook-journal-sync",
                                        daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._pending.set()

    def _loop(self) -> None:
        while True:
            self._pending.wait()
            if self._stopping.wait(self.GATHER):
                return  # close() syncs once more itself
            self._pending.clear()
            try:
                _sync(self._fd)
            except OSError:
                return  # the file went away (closed): nothing left to sync

    def stop(self) -> None:
        self._stopping.set()
        self._pending.set()
        self._thread.join(self.STOP_TIMEOUT)


def _sync(fd: int) -> None:
    """fdatasync where there is one (it skips the metadata flush), else fsync."""
    sync = getattr(os, "fdatasync", os.fsync)
    sync(fd)
