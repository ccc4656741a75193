"""`runbook.api`: the load → check → compile → run chain a library user calls (local host)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from runbook import api
from runbook.engine.events import Event, HostResult, PlannedHost, RunFinished
from runbook.engine.results import RunStatus
from runbook.errors import ConfigError, ValidationError

REPO = Path(__file__).resolve().parents[1]


def write_book(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "book.yml"
    path.write_text(f"name: t\nsteps:\n{body}")
    return path


def test_load_check_compile_run_reports_through_subscribers(tmp_path: Path) -> None:
    path = write_book(tmp_path, "  - {hosts: local, run: 'echo {{ greeting }}', register: r}\n"
                                "  - {hosts: local, run: 'echo got {{ r.output | trim }}'}\n")
    book, lab = api.load(path)
    assert [h.id for h in lab] == ["local"]
    assert api.check(book, lab, extra_vars={"greeting": "hi"}) == []
    plan = api.compile(book, lab, extra_vars={"greeting": "hi"})
    events: list[Event] = []
    outcome = asyncio.run(api.run(plan, subscribers=[events.append]))
    assert outcome.status is RunStatus.SUCCESS
    assert [s.results["local"].output for s in outcome.steps] == ["hi\n", "got hi\n"]
    assert [e.result.word for e in events if isinstance(e, HostResult)] == ["success", "success"]
    assert isinstance(events[-1], RunFinished)


def test_show_is_the_dry_run(tmp_path: Path) -> None:
    path = write_book(tmp_path, "  - {hosts: local, run: 'touch {{ target }}'}\n")
    book, lab = api.load(path)
    events: list[Event] = []
    outcome = api.show(api.compile(book, lab, extra_vars={"target": str(tmp_path / "x")},
                                   dry_run=True), subscribers=[events.append])
    assert outcome.check and outcome.status is RunStatus.SUCCESS
    assert [e.lines for e in events if isinstance(e, PlannedHost)] == [
        (f"run: touch {tmp_path / 'x'}",)]
    assert not (tmp_path / "x").exists()


def test_check_returns_findings_and_load_raises_validation_failed(tmp_path: Path) -> None:
    path = write_book(tmp_path, "  - {hosts: nowhere, run: 'echo {{ missing }}'}\n")
    book, lab = api.load(path)
    messages = [f.message for f in api.check(book, lab)]
    assert any("nowhere" in m for m in messages) and any("missing" in m for m in messages)
    with pytest.raises(ValidationError):
        api.load(write_book(tmp_path, "  - {hosts: local}\n"))


def test_power_targets_name_the_lab_when_nothing_matches() -> None:
    lab = api.load_lab(REPO / "examples" / "lab.yml")
    with pytest.raises(ConfigError, match=r"no host in .*lab\.yml matches 'zzz'"):
        api.power_targets(lab, "zzz", waits=False)


def test_importing_the_api_imports_no_engine() -> None:
    code = ("import sys, runbook.api\n"
            "print(sorted(m for m in ('asyncio', 'jinja2', 'runbook.engine.executor')"
            " if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=60, check=False,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert result.stdout.strip() == "[]", result.stderr


def test_the_docs_example_runs() -> None:
    text = (REPO / "docs" / "api.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=False,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "prepare a scratch folder local success"
    assert lines[-1] == "success"
