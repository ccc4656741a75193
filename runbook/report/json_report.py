"""The JSON report (`--report-json`), shaped as documented in `schemas/report.schema.json`."""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runbook.engine.results import RunOutcome

REPORT_VERSION = 1


def build_json_report(outcome: RunOutcome) -> dict[str, Any]:
    """The report as plain data: run status and times, per-host summary, steps in runbook order."""
    summary = {
        host_id: {status.value: n for status, n in counts.items()}
        for host_id, counts in outcome.host_counts().items()
    }
    report: dict[str, Any] = {
        "version": REPORT_VERSION,
        "runbook": outcome.runbook,
        "runbook_path": outcome.runbook_path,
        "lab_path": outcome.lab_path,
        "status": outcome.status.value,
        "check": outcome.check,
        "started": round(outcome.started, 6),
        "ended": round(outcome.ended if outcome.ended is not None else outcome.started, 6),
        "duration_s": round(outcome.duration, 6),
        "hosts": summary,
        "steps": [
            {
                "index": step.index,
                "name": step.name,
                "action": step.action,
                "location": step.location,
                "started": None if step.started is None else round(step.started, 6),
                "ended": None if step.ended is None else round(step.ended, 6),
                "results": {h: r.to_dict() for h, r in step.results.items()},
            }
            for step in outcome.steps
        ],
    }
    if outcome.error:
        report["error"] = outcome.error
    return report


def write_json_report(outcome: RunOutcome, path: str | Path) -> None:
    """Write the report atomically (temp file + rename) so CI never reads half a file."""
    # Encoded piece by piece into the file: a report of 500 hosts' outputs is never held whole
    # as one string (memory stays bounded, docs/apply.md "Output limits").
    chunks = json.JSONEncoder(indent=2).iterencode(build_json_report(outcome))
    atomic_write(Path(path), itertools.chain(chunks, ["\n"]))


def atomic_write(path: Path, text: str | Iterable[str]) -> None:
    """Write `text` (a string, or strings written one after another) to `path` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if isinstance(text, str):
                handle.write(text)
            else:
                handle.writelines(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
