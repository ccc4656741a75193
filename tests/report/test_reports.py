"""JSON report against its schema, JUnit XML structure; both from real engine outcomes."""

from __future__ import annotations

import json
import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from runbook.engine.results import RunOutcome
from runbook.report import build_json_report, write_json_report, write_junit
from tests.engine.fakes import fake_lab, run, runbook, step

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "report.schema.json"


@pytest.fixture(scope="module")
def outcome() -> RunOutcome:
    book = runbook(
        step(0, "ok", "echo:hello"),
        step(1, "fails on f02", "{{ 'rc:1' if host.id == 'f02' else 'echo:fine' }}"),
        step(2, "ignored", "rc:5", hosts=("f01",), ignore_errors=True),
        step(3, "after", "echo:x", when="host.id != 'f03'"),
    )
    return run(book, fake_lab(4, unreachable=["f04"]))


def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA.read_text())
    return loaded


def test_json_report_matches_schema(outcome: RunOutcome, tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.json"
    write_json_report(outcome, path)
    report = json.loads(path.read_text())
    jsonschema.validate(report, _schema())
    assert report["status"] == "failed"
    assert [s["name"] for s in report["steps"]] == ["ok", "fails on f02", "ignored", "after"]
    assert report["steps"][0]["action"] == "run"
    assert list(report["steps"][0]["results"]) == ["f01", "f02", "f03", "f04"]
    assert report["steps"][0]["results"]["f04"]["status"] == "unreachable"
    assert report["steps"][1]["results"]["f02"]["rc"] == 1
    assert report["steps"][2]["results"]["f01"]["ignored"] is True
    assert report["steps"][3]["results"]["f02"]["status"] == "skipped"
    assert report["steps"][3]["results"]["f03"]["status"] == "skipped"
    assert report["hosts"]["f02"]["failed"] == 1
    r = report["steps"][0]["results"]["f01"]
    assert r["output"] == "hello\n" and r["started"] <= r["ended"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_reports_get_the_umask_mode(outcome: RunOutcome, tmp_path: Path, umask: int,
                                    mode: int) -> None:
    """A CI uploader running as another user must be able to read the reports (issue 9.5)."""
    previous = os.umask(umask)
    try:
        write_json_report(outcome, tmp_path / "report.json")
        write_junit(outcome, tmp_path / "junit.xml")
        write_json_report(outcome, tmp_path / "report.json")  # replacing an existing one
    finally:
        os.umask(previous)
    for name in ("report.json", "junit.xml"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml", "report.json"]


def test_schema_documents_every_property() -> None:
    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                assert "description" in sub, f"{where}.{name} has no description"
            for key, sub in node.items():
                walk(sub, f"{where}.{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{where}[{i}]")

    walk(_schema(), "$")


def test_schema_rejects_a_wrong_status(outcome: RunOutcome) -> None:
    report = build_json_report(outcome)
    report["steps"][0]["results"]["f01"]["status"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, _schema())


def test_junit_parses_with_one_testcase_per_step_and_host(outcome: RunOutcome,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit(outcome, path)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 4
    cases = root.findall("testsuite/testcase")
    assert len(cases) == sum(len(s.results) for s in outcome.steps)
    failed = suites[1].find("testcase[@name='f02']")
    assert failed is not None
    failure = failed.find("failure")
    assert failure is not None and "exit status 1" in failure.get("message", "")
    unreachable = suites[0].find("testcase[@name='f04']/error")
    assert unreachable is not None and unreachable.get("type") == "unreachable"
    assert suites[3].find("testcase[@name='f03']/skipped") is not None
    assert int(root.get("failures", "0")) == 1
    assert int(root.get("tests", "0")) == len(cases)


def test_junit_strips_characters_xml_cannot_hold(tmp_path: Path) -> None:
    outcome = run(runbook(step(0, "ctl", "rc:1")), fake_lab(1))
    outcome.steps[0].results["f01"].output = "colour \x1b[31mred\x1b[0m\x00"
    path = tmp_path / "j.xml"
    write_junit(outcome, path)
    ET.parse(path)


def test_each_hosts_site_is_recorded_in_both_reports() -> None:

    from runbook.engine.results import HostStepResult, RunOutcome, StepOutcome
    from runbook.report.json_report import build_json_report
    from runbook.report.junit import build_junit
    from runbook.results import Status

    step = StepOutcome(0, "one", "run", "b.yml:3:5", results={
        "r1": HostStepResult("r1", Status.Success), "r7": HostStepResult("r7", Status.Success)})
    outcome = RunOutcome("b", "b.yml", "lab.yml", ["r1", "r7"], [step], started=1.0, ended=2.0,
                         sites={"r7": "bldg-b"})
    assert build_json_report(outcome)["sites"] == {"r7": "bldg-b"}
    cases = {c.get("name"): c for c in build_junit(outcome).iter("testcase")}
    assert cases["r7"].find("properties/property[@name='site']").get("value") == "bldg-b"
    assert cases["r1"].find("properties") is None
    outcome.sites = {}
    assert "sites" not in build_json_report(outcome)
