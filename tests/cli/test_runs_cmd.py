"""`runbook runs` and `runbook show` on run folders recorded by a real Executor (fake hosts)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from runbook.cli.main import cli
from runbook.records import RunRecorder
from tests.records.test_journal import SECRET, recorded_run

REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_runs_lists_every_run_with_status_and_host_counts(tmp_path: Path) -> None:
    first, second = recorded_run(tmp_path), recorded_run(tmp_path)
    result = invoke("runs", "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["run", "runbook", "started"]
    assert [line.split()[0] for line in lines[1:]] == [first.run_id, second.run_id]
    assert lines[1].split()[1] == "test-book" and lines[1].split()[-2:] == ["failed", "2/1"]


def test_runs_without_any(tmp_path: Path) -> None:
    result = invoke("runs", "--runs-dir", str(tmp_path / "none"))
    assert result.exit_code == 0 and "no runs recorded in" in result.output


def test_show_recap_host_step_and_json(tmp_path: Path) -> None:
    run = recorded_run(tmp_path)
    where = ("--runs-dir", str(tmp_path / "runs"))
    recap = invoke("show", "last", *where)
    assert recap.exit_code == 0, recap.output
    assert f"run      {run.run_id}" in recap.output and "status   failed" in recap.output
    assert "2. fail f02  f02   failed  exit status 3" in recap.output
    host = invoke("show", run.run_id[:-1], "--host", "f02", *where).output
    assert "1  say       success   0" in host and "3  after     skipped" in host
    one = invoke("show", str(run.folder.path), "--host", "f01", "--step", "say").output
    assert "command:\nrun: echo:***\n\noutput:\n***\n" in one
    data = json.loads(invoke("show", "last", "--step", "2", "--format", "json", *where).output)
    assert [s["name"] for s in data["steps"]] == ["fail f02"] and data["run_id"] == run.run_id
    assert SECRET not in recap.output + host + one


def test_show_host_is_its_status_then_its_transcript(tmp_path: Path) -> None:
    """`show RUN --host H` (issue 13): the host's final status and steps, then its transcript;
    `--transcript` (the old spelling) still prints the transcript alone, as it is."""
    run = recorded_run(tmp_path)
    where = ("--runs-dir", str(tmp_path / "runs"))
    log = run.folder.host_log("f02").read_text()
    assert "rc:3" in log
    shown = invoke("show", "last", "--host", "f02", *where)
    assert shown.exit_code == 0, shown.output
    head, _, transcript = shown.output.partition(f"transcript ({run.folder.host_log('f02')}):\n")
    assert "host     f02: not ok: failed in step 2. fail f02" in head
    assert "1  say       success   0" in head
    assert transcript == log
    ok = invoke("show", "last", "--host", "f01", *where).output
    assert "host     f01: ok" in ok and ok.endswith(run.folder.host_log("f01").read_text())
    old = invoke("show", "last", "--host", "f02", "--transcript", *where)
    assert old.exit_code == 0 and old.output == log
    assert SECRET not in shown.output + ok


def test_show_rebuilds_an_unfinished_run_from_its_journal(tmp_path: Path) -> None:
    run: RunRecorder = recorded_run(tmp_path)
    run.folder.report_json.unlink()
    lines = run.folder.journal.read_text().splitlines()
    run.folder.journal.write_text("\n".join(lines[:6]) + "\n")  # killed during step 2
    out = invoke("show", str(run.folder.path)).output
    assert "status   unfinished" in out


def test_show_unknown_or_ambiguous_run_host_step_exit_2(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    run = recorded_run(tmp_path)
    shutil.copytree(run.folder.path, runs / (run.run_id[:-1] + ("0" if run.run_id[-1] != "0"
                                                                 else "1")))
    where = ("--runs-dir", str(runs))
    cases = [(("show", "nope", *where), "no run 'nope'"),
             (("show", run.run_id[:10], *where), "is ambiguous"),
             (("show", run.run_id, "--host", "f0", *where), "no host 'f0'"),
             (("show", run.run_id, "--step", "7", *where), "no step '7'"),
             (("show", "last", "--runs-dir", str(tmp_path / "empty")), "no runs recorded")]
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_runs_and_show_import_no_engine(tmp_path: Path) -> None:
    recorded_run(tmp_path)
    runs = str(tmp_path / "runs")
    code = ("import sys\nfrom runbook.cli.main import cli\n"
            f"for args in (['runs', '--runs-dir', {runs!r}], ['show', 'last', '--runs-dir', "
            f"{runs!r}]):\n"
            "    try:\n        cli(args, standalone_mode=False)\n"
            "    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('asyncio', 'asyncssh', 'jinja2', 'runbook.engine')"
            " if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


CORRUPT = {
    "report.json": ["garbage", "[1, 2]", '{"hosts": [], "steps": {}}',
                    '{"hosts": {"h": {"success": "x"}}, "steps": []}',
                    '{"hosts": {}, "steps": [{"index": 0, "name": "a", "results": {"h": 5}}]}',
                    '{"hosts": {}, "steps": [], "started": "yesterday"}'],
    "journal.jsonl": ['{"event": "run_start", "steps": "x", "hosts": 5}',
                      '{"event": "run_start", "started": "abc"}',
                      '{"event": "run_start", "steps": [{"index": 0, "name": "a"}], '
                      '"hosts": ["h"]}\n{"event": "host_result", "step": 0, "host": "h", '
                      '"result": 5}',
                      '{"event": "run_start"}\n{"event": "host_result", "step": [1]}'],
}


def test_a_corrupt_report_or_journal_is_named_never_a_traceback(tmp_path: Path) -> None:
    """Damaged files in a run folder crashed `runbook runs` and `runbook show` (traceback)."""
    runs = tmp_path / "runs"
    cases = [(name, text) for name, texts in CORRUPT.items() for text in texts]
    for number, (name, text) in enumerate(cases):
        folder = runs / f"20261202T000000Z-{number:04x}"
        folder.mkdir(parents=True)
        (folder / name).write_text(text + "\n")
    listing = invoke("runs", "--runs-dir", str(runs))
    assert listing.exit_code == 0, listing.output
    assert listing.output.count("unreadable") == len(cases)
    for number, (name, _) in enumerate(cases):
        result = invoke("show", f"20261202T000000Z-{number:04x}", "--runs-dir", str(runs))
        assert result.exit_code == 2, (name, result.output)
        assert f"cannot read the run in {runs / f'20261202T000000Z-{number:04x}'}" \
            in result.output and name in result.output


def test_an_empty_run_or_a_runs_dir_that_is_a_file_exit_2(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    recorded_run(tmp_path)
    empty = invoke("show", "", "--runs-dir", str(tmp_path / "runs"))
    assert empty.exit_code == 2 and "RUN is empty" in empty.output  # '' matched every run
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("RUNBOOK_RUNS_DIR", str(tmp_path / "file"))
    for args in (["runs"], ["show", "last"]):
        result = invoke(*args)
        assert result.exit_code == 2 and "is not a folder" in result.output, result.output


def test_show_escapes_control_characters_of_recorded_output(tmp_path: Path) -> None:
    """`runbook show --host --step` printed remote output raw: ESC]0;title BEL retitled and
    ESC[2J cleared the user's terminal (the console escapes them, docs/apply.md)."""
    book = tmp_path / "esc.yml"
    book.write_text("name: esc\nsteps:\n  - name: esc\n    hosts: local\n"
                    "    run: \"printf 'a\\\\033]0;title\\\\007\\\\033[2Jb\\\\n'\"\n")
    runs = str(tmp_path / "runs")
    applied = invoke("apply", str(book), "--runs-dir", runs)
    assert applied.exit_code == 0, applied.output
    record = next((tmp_path / "runs").iterdir()) / "report.json"
    output = json.loads(record.read_text())["steps"][0]["results"]["local"]["output"]
    assert "\x1b]0;title\x07" in output  # the record keeps the output as received
    shown = invoke("show", "last", "--host", "local", "--step", "1", "--runs-dir", runs)
    assert shown.exit_code == 0, shown.output
    assert "\x1b" not in shown.output and "\x07" not in shown.output
    assert "a\\x1b]0;title\\x07\\x1b[2Jb" in shown.output


@pytest.mark.parametrize("command", [("apply", "book.yml"), ("runs",), ("show", "last"),
                                     ("resume", "last")])
def test_an_empty_runs_dir_is_a_usage_error_not_the_current_folder(
        command: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "book.yml").write_text("steps:\n  - run: 'true'\n")
    result = invoke(*command, "--runs-dir", "")
    assert result.exit_code == 2, result.output
    assert "empty folder name" in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.yml"]
