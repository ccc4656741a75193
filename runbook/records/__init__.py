"""Run records: every `runbook apply` leaves a folder with its journal and reports.

A package of its own rather than part of `runbook.report`: reports are pure functions of one
finished outcome, while records live across runs (naming, finding and pruning folders,
reading an unfinished run back from its journal) and are written while the run goes. The
CLI's `runs` and `show` commands, `--rerun-failed` and `resume` read the same folders here.

Names resolve on first use (PEP 562): `runbook runs` / `show` only read folders and never
import the engine that the journal writer (`Journal`, `RunRecorder`) subscribes to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbook._lazyimport import lazy_exports

if TYPE_CHECKING:
    from runbook.records.journal import Journal
    from runbook.records.journal_reader import read_journal, report_from_journal
    from runbook.records.merge import merge_earlier
    from runbook.records.progress import RunProgress
    from runbook.records.recorder import RunRecorder
    from runbook.records.runfolder import (
        DEFAULT_KEEP_RUNS,
        DEFAULT_RUNS_DIR,
        RUNS_DIR_ENV,
        RunFolder,
        find_run,
        list_runs,
        new_run_id,
        prune_runs,
        resolve_runs_dir,
    )
    from runbook.records.transcript import HostTranscript, Transcripts

_EXPORTS: dict[str, str] = {
    "Journal": "runbook.records.journal",
    "read_journal": "runbook.records.journal_reader",
    "report_from_journal": "runbook.records.journal_reader",
    "RunRecorder": "runbook.records.recorder",
    "RunProgress": "runbook.records.progress",
    "merge_earlier": "runbook.records.merge",
    "HostTranscript": "runbook.records.transcript",
    "Transcripts": "runbook.records.transcript",
    **dict.fromkeys(
        ("DEFAULT_KEEP_RUNS", "DEFAULT_RUNS_DIR", "RUNS_DIR_ENV", "RunFolder", "find_run",
         "list_runs", "new_run_id", "prune_runs", "resolve_runs_dir"),
        "runbook.records.runfolder"),
}

__all__ = [
    "DEFAULT_KEEP_RUNS", "DEFAULT_RUNS_DIR", "RUNS_DIR_ENV", "HostTranscript", "Journal",
    "RunFolder", "RunProgress", "RunRecorder", "Transcripts", "find_run", "list_runs",
    "merge_earlier", "new_run_id", "prune_runs", "read_journal", "report_from_journal",
    "resolve_runs_dir",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
