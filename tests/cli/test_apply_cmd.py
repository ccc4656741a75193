"""`runbook apply` / `runbook plan` through click: exit codes, output, reports, masking."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from runbook.cli.console import Console
from runbook.cli.main import cli
from runbook.engine.events import HostResult, Progress, StepStarted
from runbook.engine.executor import Executor
from runbook.engine.results import HostStepResult
from runbook.results import Status

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "schemas" / "report.schema.json").read_text())


def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def write(tmp_path: Path, text: str, name: str = "book.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def report_of(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    jsonschema.validate(data, SCHEMA)
    return data


def test_hello_example_runs_on_the_local_host(tmp_path: Path) -> None:
    report, junit, page = tmp_path / "r.json", tmp_path / "j.xml", tmp_path / "r.html"
    result = invoke("apply", str(REPO / "examples" / "hello.yml"), "--report-json", str(report),
                    "--junit", str(junit), "--report-html", str(page))
    assert result.exit_code == 0, result.output
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert "recap" in result.output and "success in" in result.output
    data = report_of(report)
    assert data["status"] == "success"
    statuses = [next(iter(s["results"].values()))["status"] for s in data["steps"]]
    assert statuses[-1] == "skipped" and statuses.count("success") == len(statuses) - 1
    assert ET.parse(junit).getroot().get("failures") == "0"
    assert "\x1b[" not in result.output  # not a terminal: no colour


def test_failure_exits_1_and_shows_output(tmp_path: Path) -> None:
    book = write(tmp_path, """
name: failing
steps:
  - name: breaks
    hosts: local
    run: echo "something broke"; exit 4
  - name: never
    hosts: local
    run: echo never
""")
    report = tmp_path / "r.json"
    result = invoke("apply", str(book), "--report-json", str(report))
    assert result.exit_code == 1
    assert "FAILED" in result.output and "exit status 4" in result.output
    assert "| something broke" in result.output
    data = report_of(report)
    assert data["status"] == "failed"
    assert data["steps"][1]["results"]["local"]["status"] == "skipped"


def test_invalid_runbook_exits_2_with_locations_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    book = write(tmp_path, f"""
name: invalid
steps:
  - hosts: local
    run: touch {marker}
  - hosts: local
    run: echo {{{{ undefined_thing }}}}
""")
    result = invoke("apply", str(book))
    assert result.exit_code == 2
    assert f"{book}:7:" in result.output and "undefined_thing" in result.output
    assert not marker.exists()


def test_plan_shows_rendered_commands_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    book = write(tmp_path, f"""
name: planned
vars:
  target: {marker}
steps:
  - name: touch
    hosts: local
    run: touch {{{{ target }}}}
""")
    for args in (("plan", str(book)), ("apply", "--check", str(book))):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        assert f"run: touch {marker}" in result.output
        assert "plan is valid" in result.output
    assert not marker.exists()


def test_extra_vars_and_limit(tmp_path: Path) -> None:
    book = write(tmp_path, """
name: vars
vars:
  word: book
steps:
  - hosts: local
    run: echo "word={{ word }}"
""")
    report = tmp_path / "r.json"
    result = invoke("apply", str(book), "-e", "word=cli", "--report-json", str(report))
    assert result.exit_code == 0, result.output
    assert report_of(report)["steps"][0]["results"]["local"]["output"] == "word=cli\n"
    result = invoke("apply", str(book), "--limit", "^nothing$")
    assert result.exit_code == 2 and "matches no host" in result.output
    for empty in ("", " "):  # `--limit "$HOSTS"` with HOSTS unset: not every host
        result = invoke("apply", str(book), "--limit", empty, "--report-json", str(report))
        assert result.exit_code == 2 and "is empty, which would match every host" in result.output
    assert invoke("apply", str(book), "--forks", "0").exit_code == 2


def test_a_dead_entry_in_a_hosts_list_is_invalid_input_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    book = write(tmp_path, f"""
name: dead entry
steps:
  - hosts: [local, "^lcoal"]
    run: touch {marker}
""")
    expected = f"{book}:4:20: step 1: hosts[1] '^lcoal' matches no host of the lab (hosts: local)"
    for command, code in (("apply", 2), ("plan", 2), ("validate", 1)):
        result = invoke(command, str(book))
        assert result.exit_code == code, result.output
        assert expected in result.output
        assert "did you mean 'local'?" in result.output
    assert not marker.exists()
    # --limit narrows after the check: a dead entry is still reported
    assert invoke("apply", str(book), "--limit", "local").exit_code == 2


def test_a_malformed_extra_list_is_an_error_naming_the_argument(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    book = write(tmp_path, f"""
name: extra list
steps:
  - hosts: local
    run: echo "{{{{ a }}}}" > {marker}
""")
    for command in ("apply", "plan", "validate"):
        result = invoke(command, str(book), "-e", "a=[1,2")
        assert result.exit_code == 2, result.output
        assert "-e 'a=[1,2': the value starts with '[' but is not a valid YAML/JSON list" \
            in result.output
    assert not marker.exists()
    # the real command line, as a user types it; a plain string and a quoted one stay text
    proc = subprocess.run([sys.executable, "-m", "runbook", "apply", str(book), "-e", "a={x: 1"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "is not a valid YAML/JSON mapping" in proc.stderr
    assert "Traceback" not in proc.stderr and not marker.exists()
    assert invoke("apply", str(book), "-e", 'a="[1,2"').exit_code == 0
    assert marker.read_text() == "[1,2\n"


def test_a_symlinked_runbook_resolves_relative_paths_next_to_its_target(tmp_path: Path) -> None:
    """`current.yml -> ../releases/v2/upgrade.yml`: `lab:`, `put.src` (also as a template)
    and `get.dest` are relative to the real file's folder, not the link's."""
    real = tmp_path / "releases" / "v2"
    (real / "files").mkdir(parents=True)
    (real / "files" / "motd").write_text("v2 {{ release }}\n")
    (real / "lab.yml").write_text("vars: {release: two}\nhosts:\n  r1: {address: 192.0.2.1}\n")
    remote = tmp_path / "remote"
    write(real, f"""
name: upgrade
lab: lab.yml
steps:
  - hosts: local
    put: {{src: files/motd, dest: {remote}, template: true}}
  - hosts: local
    get: {{src: {remote}/motd, dest: fetched}}
""", name="upgrade.yml")
    (tmp_path / "current").mkdir()
    link = tmp_path / "current" / "current.yml"
    link.symlink_to(Path("..") / "releases" / "v2" / "upgrade.yml")
    for command in ("validate", "plan"):
        result = invoke(command, str(link))
        assert result.exit_code == 0, result.output
    result = invoke("apply", str(link))
    assert result.exit_code == 0, result.output
    assert (remote / "motd").read_text() == "v2 two\n"
    assert (real / "fetched" / "local" / "motd").read_text() == "v2 two\n"
    assert not (tmp_path / "current" / "fetched").exists()


def test_secrets_are_masked_in_output_and_reports(tmp_path: Path) -> None:
    book = write(tmp_path, """
name: secret
steps:
  - hosts: local
    run: echo "token={{ secret('api_token') }}"; exit 1
""")
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    result = invoke("apply", str(book), "-v", "--report-json", str(report), "--junit", str(junit),
                    env={"RUNBOOK_SECRET_API_TOKEN": "hunter2-secret"})
    assert result.exit_code == 1
    for text in (result.output, report.read_text(), junit.read_text()):
        assert "hunter2-secret" not in text
    assert "token=***" in result.output


def test_internal_error_still_writes_the_report(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(self: Executor, planned: Any, outcome: Any) -> None:
        raise RuntimeError("engine bug")

    monkeypatch.setattr(Executor, "_run_step", boom)
    report = tmp_path / "r.json"
    result = CliRunner().invoke(cli, ["apply", str(REPO / "examples" / "hello.yml"),
                                      "--report-json", str(report)])
    assert result.exit_code == 1
    assert "internal error" in result.output
    data = report_of(report)
    assert data["status"] == "failed" and "engine bug" in data["error"]


def test_console_colour_only_when_asked() -> None:
    result = HostStepResult("h1", Status.Failed, 1, "oops\n", 0.0, 1.0, message="exit 1")
    plain, coloured = io.StringIO(), io.StringIO()
    Console(stream=plain)(HostResult(0, "step", result))
    Console(stream=coloured, color=True)(HostResult(0, "step", result))
    assert "\x1b[" not in plain.getvalue() and "FAILED" in plain.getvalue()
    assert "\x1b[" in coloured.getvalue()
    assert "    | oops" in plain.getvalue()


def test_no_color_env_wins_over_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("NO_COLOR", "1")
    stream = Tty()
    ok = HostStepResult("h1", Status.Success, 0, "", 0.0, 1.0)
    Console(stream=stream)(HostResult(0, "step", ok))
    assert "\x1b[" not in stream.getvalue()


def test_progress_line_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        console = Console(stream=stream)
        console(StepStarted(0, "deploy", "run", 500, 500))
        console(Progress(0, "deploy", 3, 500))
    assert "0/500 hosts done" in tty.getvalue()  # drawn as soon as the step starts
    assert "hosts done" not in pipe.getvalue()


def test_internal_error_inside_a_step_names_the_real_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(self: Executor, planned: Any, host: Any) -> Any:
        raise KeyError("inner detail")

    monkeypatch.setattr(Executor, "_run_host", boom)
    report = tmp_path / "r.json"
    result = CliRunner().invoke(cli, ["apply", str(REPO / "examples" / "hello.yml"),
                                      "--report-json", str(report)])
    assert result.exit_code == 1
    assert "KeyError: 'inner detail'" in result.output
    assert "KeyError" in report_of(report)["error"]


def _start_long_local_run(tmp_path: Path) -> tuple[subprocess.Popen[str], str, Path]:
    """`runbook apply` of a step running `sleep 60` on the local host, once the sleep runs."""
    marker = f"term-{uuid.uuid4().hex}"
    book = write(tmp_path, f"""
name: terminated
steps:
  - name: long
    hosts: local
    run: sh -c 'sleep 60; echo {marker}'
""")
    report = tmp_path / "r.json"
    proc = subprocess.Popen([sys.executable, "-m", "runbook", "apply", str(book),
                             "--report-json", str(report),
                             "--report-html", str(report.with_suffix(".html"))], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while not _pids(marker) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    if not _pids(marker):
        proc.kill()
        raise AssertionError(f"the step never started: {proc.communicate()[0]}")
    return proc, marker, report


@pytest.mark.parametrize("second_after", [0.0, 0.05, 0.15, 0.3])
def test_a_second_signal_at_any_moment_still_exits_130_with_the_report(
    tmp_path: Path, second_after: float
) -> None:
    proc, _marker, report = _start_long_local_run(tmp_path)
    try:
        proc.send_signal(signal.SIGINT)
        time.sleep(second_after)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert "Traceback" not in out
    assert report_of(report)["status"] == "interrupted"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_stops_a_local_run_kills_the_command_and_reports(tmp_path: Path,
                                                                 sig: signal.Signals) -> None:
    proc, marker, report = _start_long_local_run(tmp_path)
    try:
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert report_of(report)["status"] == "interrupted"
    assert '"status":"interrupted"' in report.with_suffix(".html").read_text()
    deadline = time.monotonic() + 5
    while _pids(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _pids(marker) == []


def _pids(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-f", marker], check=False, capture_output=True, text=True)
    return found.stdout.split()


@pytest.mark.parametrize("name", ["hello", "rolling-update", "firmware", "collect-logs"])
def test_every_example_plans_cleanly(name: str) -> None:
    # no secret set: build1's BMC password is only needed by runs that power build1
    result = invoke("plan", str(REPO / "examples" / f"{name}.yml"),
                    env={"RUNBOOK_SECRET_BUILD1_BMC_PASSWORD": None})
    assert result.exit_code == 0, result.output
    assert "plan is valid" in result.output


def test_plan_report_marks_a_dry_run(tmp_path: Path) -> None:
    report = tmp_path / "plan.json"
    result = invoke("plan", str(REPO / "examples" / "hello.yml"), "--report-json", str(report))
    assert result.exit_code == 0, result.output
    data = report_of(report)
    assert data["check"] is True and data["status"] == "success"
    assert {r["status"] for s in data["steps"] for r in s["results"].values()} == {"skipped"}


def test_an_unwritable_report_path_fails_before_anything_runs(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    book = write(tmp_path, f"""
name: never
steps:
  - {{name: touch, hosts: local, run: touch {ran}}}
""")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    for option in ("--report-json", "--junit", "--report-html"):
        result = invoke("apply", str(book), option, str(blocker / "sub" / "r.out"))
        assert result.exit_code == 2, result.output
        assert f"cannot write report {blocker / 'sub' / 'r.out'}" in result.output
        assert not ran.exists()
    folder_report = tmp_path / "new" / "folders" / "r.json"
    result = invoke("apply", str(book), "--report-json", str(folder_report))
    assert result.exit_code == 0, result.output
    assert report_of(folder_report)["status"] == "success"


def test_a_report_never_overwrites_an_input(tmp_path: Path) -> None:
    book = write(tmp_path, "name: x\nsteps:\n  - {hosts: local, run: 'true'}\n")
    original = book.read_text()
    secrets = tmp_path / "secrets.yml"
    secrets.write_text("PW: hunter2\n")
    extra = tmp_path / "extra.yml"
    extra.write_text("v: 1\n")
    cases = [
        (["--report-json", str(book)], "it is the runbook"),
        (["--junit", str(secrets), "--secrets", str(secrets)], "it is the secrets file"),
        (["--report-json", str(extra), "-e", f"@{extra}"], "it is an -e file"),
        (["--report-json", str(tmp_path / "r"), "--junit", str(tmp_path / "r")],
         "give them different files"),
        (["--report-html", str(tmp_path / "r"), "--junit", str(tmp_path / "r")],
         "--junit and --report-html both name"),
        (["--report-html", str(book)], "it is the runbook"),
    ]
    for args, message in cases:
        result = invoke("apply", str(book), *args)
        assert result.exit_code == 2, result.output
        assert message in result.output
    assert book.read_text() == original
    assert secrets.read_text() == "PW: hunter2\n"


def test_run_folder_that_cannot_be_created_fails_before_anything_runs(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    book = write(tmp_path, f"name: x\nsteps:\n  - {{hosts: local, run: touch {ran}}}\n")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    result = invoke("apply", str(book), "--runs-dir", str(blocker / "runs"))
    assert result.exit_code == 2, result.output
    assert f"cannot create a run folder in {blocker / 'runs'}" in result.output
    assert "--no-record" in result.output and not ran.exists()
    result = invoke("apply", str(book), "--runs-dir", str(blocker / "runs"), "--no-record")
    assert result.exit_code == 0 and ran.exists() and "recorded" not in result.output


def test_run_is_recorded_under_runbook_runs_dir_env(tmp_path: Path) -> None:
    book = write(tmp_path, "name: x\nsteps:\n  - {hosts: local, run: echo hi}\n")
    runs = tmp_path / "from-env"
    result = invoke("apply", str(book), "--report-html", str(tmp_path / "r.html"),
                    env={"RUNBOOK_RUNS_DIR": str(runs)})
    assert result.exit_code == 0, result.output
    (folder,) = runs.iterdir()
    assert f"run {folder.name}: recording in {folder}" in result.output
    assert result.output.rstrip().endswith(f"run {folder.name} recorded in {folder}")
    assert report_of(folder / "report.json")["run_id"] == folder.name
    assert f'"run_id":"{folder.name}"' in (tmp_path / "r.html").read_text()
    plan = invoke("plan", str(book), env={"RUNBOOK_RUNS_DIR": str(runs)})
    assert plan.exit_code == 0 and len(list(runs.iterdir())) == 1  # dry runs are not recorded
