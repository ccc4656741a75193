"""Files a run writes get the mode any new file gets under the umask (issue 9 item 5): the
reports (`--report-json`, `--junit`, `--report-html`) and the run folder's files, so a
CI uploader running as another user reads them under 022 and nobody else does under 077."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from runbook.cli.main import cli


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_reports_and_run_folder_files_get_the_umask_mode(tmp_path: Path, umask: int,
                                                         mode: int) -> None:
    book = tmp_path / "book.yml"
    book.write_text("name: modes\nsteps:\n  - {hosts: local, run: echo hi}\n")
    reports = tmp_path / "reports"
    reports.mkdir()
    runs = tmp_path / "runs"
    args = ["apply", str(book), "--report-json", str(reports / "report.json"),
            "--junit", str(reports / "junit.xml"),
            "--report-html", str(reports / "report.html")]
    previous = os.umask(umask)
    try:
        result = CliRunner().invoke(cli, args, env={"RUNBOOK_RUNS_DIR": str(runs)},
                                    catch_exceptions=False)
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    (folder,) = runs.iterdir()
    written = {p: stat.S_IMODE(p.stat().st_mode) for p in [*reports.iterdir(),
                                                            *folder.rglob("*")] if p.is_file()}
    names = {str(p.relative_to(folder)) for p in written if folder in p.parents}
    assert {"journal.jsonl", "hosts/local.log", "junit.xml", "report.json"} <= names, names
    assert {p.name for p in written if reports in p.parents} == {
        "report.json", "junit.xml", "report.html"}
    wrong = {str(p): oct(m) for p, m in written.items() if m != mode}
    assert not wrong, wrong
