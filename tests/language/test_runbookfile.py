"""load_runbook: the runbook file as runbook.model dataclasses."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook.errors import ValidationError
from runbook.language.runbookfile import LoadedRunbook, load_runbook
from runbook.model import (
    Expect,
    GetAction,
    OneshotAction,
    PowerAction,
    PutAction,
    RunAction,
)

RUNBOOK = """\
name: upgrade
description: Upgrade routers
lab: labs/rack.yml
fail_fast: true
vars: {version: 1.2}
steps:
  - name: check
    hosts: ^router
    run: [cd /tmp, ls]
    register: listing
    timeout: 30
    concurrent: 2
    expect: {rc: [0, 1], output: ok, not_output: fail}
  - hosts: [jump1, pdu]
    oneshot: uptime
    concurrent: false
    ignore_errors: true
    vars: {x: 1}
  - hosts: local
    put: {src: files/a.conf, dest: /etc, mode: "0640", template: true}
  - hosts: local
    get: {src: /var/log/syslog, dest: logs}
  - hosts: router1
    power: on
  - hosts: router1
    power: {action: cycle, wait_up: true, wait_down: 20}
  - hosts: local
    oneshot: curl -f localhost
    register: probe
    until: probe.rc == 0
    when: version is defined
  - hosts: local
    put: {src: files/b, dest: /opt, mode: 0o755}
"""


@pytest.fixture
def runbook(tmp_path: Path) -> LoadedRunbook:
    path = tmp_path / "rb.yml"
    path.write_text(RUNBOOK)
    return load_runbook(path)


def test_top_level(runbook: LoadedRunbook, tmp_path: Path) -> None:
    assert runbook.name == "upgrade"
    assert runbook.description == "Upgrade routers"
    assert runbook.lab == tmp_path / "labs" / "rack.yml"
    assert runbook.fail_fast is True
    assert runbook.vars == {"version": 1.2}
    assert len(runbook.steps) == 8


def test_run_step_with_modifiers(runbook: LoadedRunbook, tmp_path: Path) -> None:
    step = runbook.steps[0]
    assert step.index == 0
    assert step.name == "check"
    assert step.hosts == ("^router",)
    assert step.action == RunAction(("cd /tmp", "ls"))
    assert step.register == "listing"
    assert step.timeout == 30.0
    assert step.concurrent == 2
    assert step.expect == Expect(rc=(0, 1), output="ok", not_output="fail")
    assert step.location.line == 7


def test_oneshot_step_and_default_name(runbook: LoadedRunbook) -> None:
    step = runbook.steps[1]
    assert step.action == OneshotAction(("uptime",))
    assert step.hosts == ("jump1", "pdu")
    assert step.concurrent is False
    assert step.ignore_errors is True
    assert step.vars == {"x": 1}
    assert step.name == "oneshot: uptime"


def test_put_get_and_modes(runbook: LoadedRunbook) -> None:
    assert runbook.steps[2].action == PutAction("files/a.conf", "/etc", mode=0o640, template=True)
    assert runbook.steps[3].action == GetAction("/var/log/syslog", "logs")
    assert runbook.steps[7].action == PutAction("files/b", "/opt", mode=0o755)
    assert runbook.steps[2].name == "put files/a.conf -> /etc"


def test_power_shorthand_and_mapping(runbook: LoadedRunbook) -> None:
    assert runbook.steps[4].action == PowerAction("on")
    assert runbook.steps[5].action == PowerAction("cycle", wait_up=300.0, wait_down=20.0)
    assert runbook.steps[4].name == "power on"


def test_until_defaults_retries_and_delay(runbook: LoadedRunbook) -> None:
    step = runbook.steps[6]
    assert (step.until, step.retries, step.delay) == ("probe.rc == 0", 3, 5.0)
    assert step.when == "version is defined"
    assert (runbook.steps[0].retries, runbook.steps[0].delay) == (0, 0.0)


def test_location_of_nodes(runbook: LoadedRunbook) -> None:
    assert runbook.location_of(runbook.steps[0], "timeout").line == 11
    assert runbook.location_of(None, "lab").line == 3


def test_invalid_runbook_raises_with_all_findings(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("name: x\nsteps:\n  - hosts: a\n    onshot: b\n  - hosts: a\n    run: c\n"
                    "    run: d\n")
    with pytest.raises(ValidationError) as info:
        load_runbook(path)
    lines = [f.line for f in info.value.findings]
    assert lines == [7, 4]  # duplicate key first (loader), then schema
    assert "did you mean 'oneshot'" in str(info.value)


def test_syntax_error_raises_validation_failed(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("name: [x\n")
    with pytest.raises(ValidationError, match="YAML syntax error") as info:
        load_runbook(path)
    assert info.value.findings[0].line == 2


def test_bool_when_becomes_expression(tmp_path: Path) -> None:
    path = tmp_path / "rb.yml"
    path.write_text("name: x\nsteps:\n  - {hosts: a, run: b, when: false}\n")
    assert load_runbook(path).steps[0].when == "false"


def test_runbook_in_json(tmp_path: Path) -> None:
    path = tmp_path / "rb.json"
    path.write_text('{"name": "j", "steps": [{"hosts": "local", "run": "true"}]}')
    assert load_runbook(path).steps[0].action == RunAction(("true",))


def test_x_keys_hold_anchors_that_steps_merge(tmp_path: Path) -> None:
    path = tmp_path / "rb.yml"
    path.write_text("name: x\nx-patient: &p {retries: 5, delay: 2}\nsteps:\n"
                    "  - {hosts: local, run: 'true', <<: *p, delay: 1}\n")
    step = load_runbook(path).steps[0]
    assert (step.retries, step.delay) == (5, 1.0)


def test_load_runbook_takes_a_str_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "book.yml").write_text("name: t\nlab: lab.yml\nsteps:\n  - {hosts: local, run: x}\n")
    monkeypatch.chdir(tmp_path)
    book = load_runbook("book.yml")
    assert book.lab == Path("lab.yml") and book.steps[0].named is False


@pytest.mark.parametrize(("text", "expected"), [("65536", 65536), ("64k", 65536), ('"1 MiB"', 1 << 20),
                                                ("2g", 2 << 30), ("0", 0)])
def test_output_limit_sizes(tmp_path: Path, text: str, expected: int) -> None:
    path = tmp_path / "book.yml"
    path.write_text(f"name: b\nsteps:\n  - hosts: local\n    output_limit: {text}\n    run: 'true'\n")
    assert load_runbook(path).steps[0].output_limit == expected


def test_output_limit_that_is_no_size_is_a_finding(tmp_path: Path) -> None:
    path = tmp_path / "book.yml"
    path.write_text("name: b\nsteps:\n  - hosts: local\n    output_limit: 12x\n    run: 'true'\n")
    with pytest.raises(ValidationError) as info:
        load_runbook(path)
    [finding] = info.value.findings
    assert finding.line == 4 and "is not a size" in finding.message, finding
