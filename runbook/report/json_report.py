"""The JSON report (`--report-json`), shaped as documented in `schemas/report.schema.json`."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from runbook.engine.results import RunOutcome
from runbook.render.secrets import mask_strings

__all__ = ["build_json_report", "json_report_pieces", "mask_strings", "write_json_report"]

REPORT_VERSION = 1


def build_json_report(outcome: RunOutcome,
                      mask: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The report as plain data: run status and times, per-host summary, steps in runbook order.

    Every string in it (keys too) goes through `mask` last: the report's one masking point, so
    a secret in a step name, a message or a field added later cannot reach the file.
    """
    summary = {
        host_id: dict(counts)
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
                **({"path": step.path, "frames": step.frames} if step.frames else {}),
                **({"tags": step.tags} if step.tags else {}),
            }
            for step in outcome.steps
        ],
    }
    if outcome.sites:
        report["sites"] = dict(outcome.sites)
    if outcome.batches:
        report["batches"] = [b.to_dict() for b in outcome.batches]
    if outcome.rescued:
        report["rescued"] = dict(outcome.rescued)
    if outcome.error:
        report["error"] = outcome.error
    if outcome.run_id:
        report["run_id"] = outcome.run_id
    if outcome.repairs:
        report["repairs"] = outcome.repairs
    if outcome.locks is not None:
        report["locks"] = outcome.locks
    masked: dict[str, Any] = mask_strings(report, mask) if mask is not None else report
    return masked


def json_report_pieces(report: dict[str, Any]) -> Iterator[str]:
    """The JSON text of `report` (indented, newline at the end) in pieces, as encoded.

    Written piece by piece, a report of 500 hosts' outputs is never held whole as one string:
    memory stays bounded (docs/apply.md "Output limits", docs/performance.md).
    """
    yield from json.JSONEncoder(indent=2).iterencode(report)
    yield "\n"


def write_json_report(outcome: RunOutcome, path: str | Path,
                      mask: Callable[[str], str] | None = None) -> None:
    """Write the report atomically (temp file + rename) so CI never reads half a file."""
    atomic_write(Path(path), json_report_pieces(build_json_report(outcome, mask)))


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[IO[str]]:
    """A text file to write `path`'s new content into; renamed into place when the block
    ends without an error, removed otherwise (CI never reads half a report).

    The file gets the mode any new file gets under the umask (0644 under umask 022), as
    `open()` would give it: mkstemp's private 0600 would keep a CI artifact uploader running
    as another user from reading the report.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, text: str | Iterable[str]) -> None:
    """Write `text` (a string, or strings written one after another) to `path` atomically
    (`atomic_file`)."""
    with atomic_file(path) as handle:
        if isinstance(text, str):
            handle.write(text)
        else:
            handle.writelines(text)


def current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it (/proc), else by
    setting and restoring it at once."""
    try:
        with Path("/proc/self/status").open(encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask
