"""validate_paths / check_runbook: the corpus of invalid files (exact messages and lines),
mixed runs, and semantic checks on loaded objects."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

from runbook.errors import ValidationError
from runbook.hosts.lab import Lab
from runbook.language.findings import Finding
from runbook.language.labfile import load_lab
from runbook.language.runbookfile import load_runbook
from runbook.language.validate import check_runbook, validate_files, validate_paths
from runbook.model import Location, PowerAction, RunAction, Runbook, Step

CORPUS = Path(__file__).parents[1] / "corpus"
INVALID = CORPUS / "invalid"


def _expected() -> dict[str, list[str]]:
    table: dict[str, list[str]] = defaultdict(list)
    for line in (CORPUS / "expected.txt").read_text().splitlines():
        if line.strip():
            table[line.split(":", 1)[0]].append(line)
    return table


EXPECTED = _expected()


def test_corpus_is_complete() -> None:
    files = sorted(p.name for p in INVALID.iterdir())
    assert len(files) >= 25
    assert sorted(EXPECTED) == files  # every file has an expectation and vice versa


@pytest.mark.parametrize("name", sorted(p.name for p in INVALID.iterdir()))
def test_corpus_file(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(INVALID)
    findings = validate_paths([Path(name)])
    assert [str(f) for f in findings] == EXPECTED[name]


def test_shared_corpus_lab_is_valid() -> None:
    assert validate_paths([CORPUS / "labs" / "good.yml"]) == []


def test_all_files_in_one_run_and_lab_reported_once(tmp_path: Path) -> None:
    lab = tmp_path / "lab.yml"
    lab.write_text("hosts:\n  r1: {prot: 22}\n")
    for name in ("a.yml", "b.yml"):
        (tmp_path / name).write_text("name: x\nlab: lab.yml\nsteps:\n  - {hosts: r1, run: y}\n")
    (tmp_path / "c.yml").write_text("name: x\nsteps:\n  - {hosts: local, runn: y}\n")
    report = validate_files([tmp_path / "a.yml", lab, tmp_path / "b.yml", tmp_path / "c.yml"])
    messages = [f.message for f in report.findings]
    assert sum("unknown key 'prot'" in m for m in messages) == 1
    assert any("unknown key 'runn'" in m for m in messages)
    assert set(report.files.values()) == {"runbook", "lab"}
    payload = json.loads(report.to_json())
    assert payload["valid"] is False
    assert {f["file"] for f in payload["files"] if not f["valid"]} == {
        f.file for f in report.findings}


def test_explicit_lab_overrides_runbook_lab(tmp_path: Path) -> None:
    (tmp_path / "lab.yml").write_text("hosts:\n  r1: {}\n")
    runbook = tmp_path / "rb.yml"
    runbook.write_text("name: x\nlab: nowhere.yml\nsteps:\n  - {hosts: r1, run: y}\n")
    assert validate_paths([runbook], lab=tmp_path / "lab.yml") == []
    assert "does not exist" in validate_paths([runbook])[0].message


def test_runbook_lab_that_is_a_folder_or_fifo_is_reported_at_the_lab_line(
        tmp_path: Path) -> None:
    (tmp_path / "labs").mkdir()
    os.mkfifo(tmp_path / "pipe.yml")
    for target, reason in (("labs", "is a folder, not a file"),
                           ("pipe.yml", "is not a regular file")):
        runbook = tmp_path / "rb.yml"
        runbook.write_text(f"name: x\nlab: {target}\nsteps:\n  - {{hosts: local, run: y}}\n")
        [finding] = validate_paths([runbook])
        assert (finding.line, finding.column) == (2, 6)
        assert finding.message.startswith(f"lab file {target!r} {reason}")


def test_extra_vars_define_names(tmp_path: Path) -> None:
    runbook = tmp_path / "rb.yml"
    runbook.write_text("name: x\nsteps:\n  - {hosts: local, run: 'echo {{ version }}'}\n")
    assert len(validate_paths([runbook])) == 1
    assert validate_paths([runbook], extra_vars={"version": "1"}) == []


def test_until_sees_own_register_and_later_steps_see_it(tmp_path: Path) -> None:
    runbook = tmp_path / "rb.yml"
    runbook.write_text(
        "name: x\nsteps:\n"
        "  - {hosts: local, oneshot: probe, register: p, until: p.rc == 0}\n"
        "  - {hosts: local, oneshot: probe, until: result.rc == 0}\n"
        "  - {hosts: local, run: 'echo {{ p.output }}', when: p.rc == 0}\n")
    assert validate_paths([runbook]) == []


def test_template_file_of_put_is_checked(tmp_path: Path) -> None:
    (tmp_path / "conf.j2").write_text("server {{ ntp }}\nport {{ prot }}\n")
    runbook = tmp_path / "rb.yml"
    runbook.write_text("name: x\nvars: {ntp: 1, port: 2}\nsteps:\n"
                       "  - {hosts: local, put: {src: conf.j2, dest: /etc, template: true}}\n")
    [finding] = validate_paths([runbook])
    assert "undefined variable 'prot'" in finding.message
    assert "did you mean 'port'" in finding.message


def test_runbook_vars_may_use_lab_and_host_names(tmp_path: Path) -> None:
    (tmp_path / "lab.yml").write_text("vars: {domain: lab}\nhosts:\n  r1: {vars: {role: x}}\n")
    runbook = tmp_path / "rb.yml"
    runbook.write_text("name: x\nlab: lab.yml\nvars: {fqdn: '{{ host.id }}.{{ domain }}',"
                       " r: '{{ role }}', bad: '{{ nope }}'}\n"
                       "steps:\n  - {hosts: r1, run: 'echo {{ fqdn }}'}\n")
    [finding] = validate_paths([runbook])
    assert finding.line == 3 and "undefined variable 'nope' in vars.bad" in finding.message


def test_finding_str_and_validation_failed() -> None:
    finding = Finding("rb.yml", 3, 5, "bad thing")
    assert str(finding) == "rb.yml:3:5: bad thing"
    error = ValidationError([finding, Finding("lab.yml", 1, 1, "other")])
    assert error.findings[0] is finding
    assert str(error) == "rb.yml:3:5: bad thing\nlab.yml:1:1: other"


def _step(index: int, hosts: str, action: RunAction | PowerAction, **kw: object) -> Step:
    return Step(index=index, name=f"s{index}", hosts=(hosts,), action=action,
                location=Location("rb.yml", index + 3, 5), **kw)  # type: ignore[arg-type]


def test_check_runbook_on_hand_built_objects() -> None:
    runbook = Runbook(path=Path("rb.yml"), name="x", steps=(
        _step(0, "local", RunAction(("echo {{ a }}",))),
        _step(1, "[", RunAction(("true",))),
        _step(2, "nohost", RunAction(("true",))),
        _step(3, "local", PowerAction("on")),
        _step(4, "local", RunAction(("true",)), when="{{ x }}"),
    ))
    messages = [str(f) for f in check_runbook(runbook, Lab.default(), extra_vars={})]
    assert messages[0].startswith("rb.yml:3:5: step 1 ('s0'): undefined variable 'a' in run")
    assert messages[1].startswith("rb.yml:4:5: step 2 ('s1'): invalid regular expression '['")
    assert messages[2].startswith("rb.yml:5:5: step 3 ('s2'): hosts 'nohost' matches no host")
    assert messages[3].startswith("rb.yml:6:5: step 4 ('s3'): power on needs power_control")
    assert messages[4].startswith("rb.yml:7:5: step 5 ('s4'): when is a Jinja expression")
    assert len(messages) == 5


def test_check_runbook_with_loaded_files_points_at_nodes(tmp_path: Path) -> None:
    (tmp_path / "lab.yml").write_text("hosts:\n  r1: {}\n")
    runbook_path = tmp_path / "rb.yml"
    runbook_path.write_text("name: x\nsteps:\n  - hosts: r1\n    run:\n      - ok\n"
                            "      - 'echo {{ missing }}'\n")
    runbook = load_runbook(runbook_path)
    lab = load_lab(tmp_path / "lab.yml")
    [finding] = check_runbook(runbook, lab)
    assert (finding.line, finding.column) == (6, 9)
    assert "in run[1]" in finding.message
    assert check_runbook(runbook, lab, extra_vars={"missing": 1}) == []


def test_hosts_of_steps_with_schema_errors_are_still_checked(tmp_path: Path) -> None:
    runbook = tmp_path / "rb.yml"
    runbook.write_text("name: x\nsteps:\n  - {hosts: nohost, oneshot: uptime, timeout: x}\n")
    messages = [f.message for f in validate_paths([runbook])]
    assert len(messages) == 2
    assert messages[0].startswith("step 1: hosts 'nohost' matches no host of the lab")
    assert messages[1] == "step 1: timeout must be a number, not a string 'x'"


def test_hosts_of_a_broken_step_after_a_block_are_checked(tmp_path: Path) -> None:
    runbook = tmp_path / "rb.yml"
    runbook.write_text("name: x\nsteps:\n  - block: [{run: a}, {run: b}]\n    hosts: local\n"
                       "  - {hosts: nohost, oneshot: uptime, timeout: x}\n"
                       "  - {hosts: '^{{ later }}', run: c}\n")
    messages = [f.message for f in validate_paths([runbook])]
    assert [m.split(":")[1] for m in messages] == [
        " hosts 'nohost' matches no host of the lab (hosts", " timeout must be a number, not a "
        "string 'x'", " undefined variable 'later' in hosts"], messages


def test_long_host_lists_are_shortened(tmp_path: Path) -> None:
    lab = tmp_path / "lab.yml"
    lab.write_text("hosts:\n" + "".join(f"  h{i}: {{}}\n" for i in range(30)))
    runbook = tmp_path / "rb.yml"
    runbook.write_text("name: x\nsteps:\n  - {hosts: zzz, run: uptime}\n")
    [finding] = validate_paths([runbook], lab=lab)
    assert "h9, ... (31 hosts))" in finding.message


def _paths(data: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _paths(value, (*prefix, i))
    return found


@pytest.mark.parametrize("example", ["lab.yml", "firmware.yml"])
def test_mutated_examples_never_crash_the_validator(example: str, tmp_path: Path) -> None:
    """Every node of an example replaced by values of every other type: findings, no crash."""
    import copy

    from runbook.language.yamlload import load_file

    examples = Path(__file__).resolve().parents[2] / "examples"
    (tmp_path / "lab.yml").write_text((examples / "lab.yml").read_text())
    base = load_file(examples / example).data
    case = tmp_path / "case.json"
    for path in _paths(base):
        for value in (None, 7, "x", "{{ ", [], {}, True, ["["]):
            data = copy.deepcopy(base)
            if path:
                node = data
                for part in path[:-1]:
                    node = node[part]
                node[path[-1]] = value
            else:
                data = value
            case.write_text(json.dumps(data))
            assert isinstance(validate_paths([case]), list), (path, value)


def test_runbook_hosts_and_delegates_are_checked_against_a_lab_with_findings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("lab.yml").write_text("vars: {group: r}\nhosts:\n"
                               "  r1: {key: missing.key, vars: {role: db}}\n"
                               "  pdu1: {address: 10.0.0.2}\n")
    Path("book.yml").write_text("""name: t
lab: lab.yml
steps:
  - {name: typo, hosts: r2, run: echo}
  - {name: fine, hosts: [r1, local], delegate_to: pdu2, run: echo}
  - name: blk
    hosts: rr
    block:
      - {hosts: pdu1, run: echo}
  - {name: broken, hosts: nohost, run: echo, timeout: x}
  - {name: lab names, hosts: "^{{ group }}", run: "echo {{ role }} {{ group }} {{ nope }}"}
""")
    lines = [str(f) for f in validate_files([Path("book.yml")]).findings]
    no_match = "matches no host of the lab (hosts: r1, pdu1, local)"
    assert lines == [
        f"book.yml:4:25: step 1 ('typo'): hosts 'r2' {no_match}",
        "book.yml:5:51: step 2 ('fine'): delegate_to: no host 'pdu2' in the lab; did you mean "
        "'pdu1'?",
        f"book.yml:7:12: step 3 ('blk'): hosts 'rr' {no_match}",
        f"book.yml:10:27: step 4 ('broken'): hosts 'nohost' {no_match}",
        "book.yml:10:55: step 4 ('broken'): timeout must be a number, not a string 'x'",
        "book.yml:11:51: step 5 ('lab names'): undefined variable 'nope' in run: define it in "
        "vars (lab, runbook, host or step), pass -e, or register it in an earlier step",
        "lab.yml:3:13: host 'r1': key: the key file missing.key does not exist (a relative key "
        "path is relative to the lab file's folder); fix the path, or remove `key` to use your "
        "default keys and ssh-agent"], lines
