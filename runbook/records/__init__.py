"""Run records: every `runbook apply` leaves a folder with its journal and reports.

A package of its own rather than part of `runbook.report`: reports are pure functions of one
finished outcome, while records live across runs (naming, finding, pruning folders, reading
an unfinished run back from its journal) and write while the run goes. The CLI's `runs` and
`show` commands and, later, rerun and resume read the same folders through this package.
"""

from runbook.records.journal import Journal, mask_data, read_journal, report_from_journal
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

__all__ = [
    "DEFAULT_KEEP_RUNS", "DEFAULT_RUNS_DIR", "RUNS_DIR_ENV", "Journal", "RunFolder",
    "RunRecorder", "find_run", "list_runs", "mask_data", "new_run_id", "prune_runs",
    "read_journal", "report_from_journal", "resolve_runs_dir",
]
