"""The engine's events and results as JSON messages, for the Redis stream from worker to controller.

Only what the controller needs travels: a worker's `started`, `step` (StepStarted), `host`
(HostResult, with the value the step registered), `step_done` (StepFinished times, and the
results the engine records without an event: run_once copies), `log` (transcript text,
`transcript.py`), and at the end `done` with the share's whole outcome (authoritative: it
also holds results recorded without an event, and the share's batches) or `failed` when the
share could not start (a bad file, a secret unset on the worker). Output, registered values
and transcripts are already masked by the worker.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from runbook.engine.events import Event, HostResult, RunFinished, StepFinished, StepStarted
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
