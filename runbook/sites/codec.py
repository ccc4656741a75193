"""The engine's events and results as JSON messages, for the Redis stream from worker to controller.

Only what the controller needs travels: a worker's `started`, `step` (StepStarted), `host`
(HostResult, with the value the step registered), `item` (ItemResult: a loop item done on a
host) and `rescued` (Rescued: a block's rescue recovered a host), which the controller's
journal records so the run can be restarted, `step_done` (StepFinished times, and the
results the engine records without an event: run_once copies), `log` (transcript text,
`transcript.py`), `fetched` (a `get`'s files, `fetched.py`), and at the end `done` with the
share's whole outcome (authoritative: it also holds results recorded without an event, and
the share's batches) or `failed` when the share could not start (a bad file, a secret unset
on the worker). Output, registered values, loop items and transcripts are already masked by
the worker.

The other way, a restarted run's task carries each host's `RestartPoints` (`points_to_dict`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from runbook.engine.events import (
    Event,
    HostResult,
    ItemResult,
    Rescued,
    RunFinished,
    StepFinished,
    StepStarted,
)
from runbook.engine.restart import RestartPoints
from runbook.engine.results import BatchOutcome, HostStepResult, RunOutcome
from runbook.results import Status

Message = dict[str, Any]


def result_to_dict(result: HostStepResult) -> Message:
    """Every field of a host's step result, the status by name."""
    data = asdict(result)
    data["status"] = result.status.name
    return data


def result_from_dict(data: Message) -> HostStepResult:
    """The inverse of `result_to_dict`."""
    fields = dict(data)
    fields["status"] = Status[fields["status"]]
    return HostStepResult(**fields)


def event_message(event: Event) -> Message | None:
    """The message for an engine event, or None for events the controller rebuilds itself."""
    if isinstance(event, HostResult):
        message = {"t": "host", "step": event.step_index, "result": result_to_dict(event.result)}
        if event.registered is not None:
            message["registered"] = dict(event.registered)
        return message
    if isinstance(event, StepStarted):
        return {"t": "step", "step": event.index, "limit": event.limit}
    if isinstance(event, StepFinished):
        return {"t": "step_done", "step": event.outcome.index,
                "started": event.outcome.started, "ended": event.outcome.ended}
    if isinstance(event, RunFinished):
        return outcome_message(event.outcome)
    if isinstance(event, ItemResult):
        return {"t": "item", "step": event.step_index, "host": event.host_id,
                "item": event.position, "entry": dict(event.entry)}
    if isinstance(event, Rescued):
        return {"t": "rescued", "host": event.host_id, "block": event.block,
                "first": event.first, "last": event.last}
    return None


def progress_event(message: Message) -> ItemResult | Rescued | None:
    """The `item` or `rescued` message back as its event (None: another kind)."""
    kind = message.get("t")
    if kind == "item":
        return ItemResult(int(message["step"]), str(message["host"]), int(message["item"]),
                          dict(message.get("entry") or {}))
    if kind == "rescued":
        return Rescued(str(message["host"]), str(message.get("block") or ""),
                       int(message["first"]), int(message["last"]))
    return None


def outcome_message(outcome: RunOutcome) -> Message:
    """The share's final record: status, error, and every step's results."""
    return {"t": "done", "status": outcome.status.value, "error": outcome.error,
            "rescued": dict(outcome.rescued),
            "batches": [batch_to_dict(b) for b in outcome.batches],
            "steps": [{"step": s.index, "started": s.started, "ended": s.ended,
                       "results": [result_to_dict(r) for r in s.results.values()]}
                      for s in outcome.steps]}


def batch_to_dict(batch: BatchOutcome) -> Message:
    """A batch record, every field by its attribute name."""
    return asdict(batch)


def batch_from_dict(data: Message) -> BatchOutcome:
    """The inverse of `batch_to_dict`."""
    return BatchOutcome(**data)


def points_to_dict(points: RestartPoints) -> Message:
    """A share's restart points as JSON can carry them (item positions become strings)."""
    return {"starts": dict(points.starts),
            "registered": {h: dict(v) for h, v in points.registered.items()},
            "failures": {h: [list(f) for f in fs] for h, fs in points.failures.items()},
            "items": {h: {path: {str(n): dict(e) for n, e in done.items()}
                          for path, done in by_path.items()}
                      for h, by_path in points.items.items()},
            "dropped": dict(points.dropped),
            "batch_hosts": None if points.batch_hosts is None else list(points.batch_hosts)}


def points_from_dict(data: Message) -> RestartPoints:
    """The inverse of `points_to_dict`."""
    return RestartPoints(
        starts={str(h): str(p) for h, p in data.get("starts", {}).items()},
        registered=dict(data.get("registered") or {}),
        failures={h: [(str(f[0]), str(f[1])) for f in fs]
                  for h, fs in (data.get("failures") or {}).items()},
        items={h: {path: {int(n): e for n, e in done.items()} for path, done in by_path.items()}
               for h, by_path in (data.get("items") or {}).items()},
        dropped=dict(data.get("dropped") or {}),
        batch_hosts=data.get("batch_hosts"))


def encode(message: Message) -> str:
    """Compact JSON for a stream entry."""
    return json.dumps(message, separators=(",", ":"))


def decode(text: str | bytes) -> Message:
    """A message from a stream entry; a malformed one becomes a `failed` message."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        return {"t": "failed", "message": f"malformed message from the worker: {exc}"}
    return data if isinstance(data, dict) else {"t": "failed", "message": "malformed message"}
