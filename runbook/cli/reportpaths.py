"""Checks on the report paths given to `apply`/`plan`, made before anything runs: a report
that could not be written, two reports in one file, or a report over one of the run's inputs
is exit 2 up front, not a lost report at the end."""

from __future__ import annotations

from pathlib import Path

__all__ = ["report_path_problem", "reports_problem"]


def reports_problem(reports: dict[str, Path | None], inputs: dict[Path, str]) -> str | None:
    """What is wrong with the reports (option -> path, None when not asked for), else None."""
    seen: dict[Path, str] = {}
    for option, report in reports.items():
        if report is None:
            continue
        if problem := report_path_problem(report, inputs):
            return f"cannot write report {report}: {problem}"
        if (other := seen.setdefault(report.resolve(), option)) != option:
            return f"{other} and {option} both name {report}: give them different files"
    return None


def report_path_problem(path: Path, inputs: dict[Path, str] | None = None) -> str | None:
    """Why a report could not be written at `path`, checked before anything runs; else None.

    Missing parent folders are created (CI artifact folders often are); the file is opened
    for appending, a real test even as root, and removed again if it did not exist. A path
    that is one of the run's input files is refused: the report would overwrite it.
    """
    if path.is_dir():
        return "it is a folder; give a file name"
    if inputs and (what := inputs.get(path.resolve())):
        return f"it is {what}, which the report would overwrite"
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            break
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a"):
            pass
        if not existed:
            path.unlink()
    except OSError as exc:
        return f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
    return None
