"""Nested steps (block / rescue / always, include, loop, tags, batch): how they load into the
flat step list, and validate's findings for each construct (exact file:line:col messages)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook.errors import ValidationError
from runbook.language.runbookfile import load_runbook
from runbook.language.validate import validate_files

CORPUS = Path(__file__).parents[1] / "corpus" / "includes"

EXPECTED = [
    "nested_bad.yml:2:8: batch '0%' is not a batch size: give a number of hosts (2) or a "
    "percentage of all the run's hosts ('25%')",
    "nested_bad.yml:8:5: step 1 ('lonely rescue'): 'rescue' belongs to a block: put the steps "
    "in `block:` and this next to it",
    "nested_bad.yml:14:5: step 2 ('typo block'): unknown key 'resuce'; did you mean 'rescue'?",
    "nested_bad.yml:19:5: step 3 ('shadow'): loop_var 'port' hides the variable or registered "
    "result of the same name inside this step: name the item differently "
    "(loop_var: port_item)",
    "nested_bad.yml:23:5: step 4 ('no loop'): 'loop_var' names the item of a `loop`: add loop, "
    "or remove loop_var",
    "nested_bad.yml:27:5: step 5 ('registers a block'): 'register' does not apply to a block: "
    "put it on the steps inside",
    "nested_bad.yml:31:9: step 6 > block[1] ('no hosts anywhere'): missing required key "
    "'hosts': which lab hosts the step runs on (inside a block or include with hosts it may "
    "be left out)",
    "nested_bad.yml:33:14: step 7: include 'lib/missing.yml': no such file (looked for "
    "{dir}/lib/missing.yml; a path is relative to the folder of the file that includes it)",
    "nested_bad.yml:34:14: step 8: include 'lib/{{ x }}.yml' must be a static path (no "
    "templates): validate follows includes before anything runs",
    "nested_bad.yml:39:11: step 10 ('loop over expression'): undefined variable "
    "'undefined_list' in loop: define it in vars (lab, runbook, host or step), pass -e, or "
    "register it in an earlier step",
    "nested_bad.yml:43:10: step 11 ('failed outside rescue'): undefined variable 'failed_step' "
    "in run: define it in vars (lab, runbook, host or step), pass -e, or register it in an "
    "earlier step",
    "lib/broken.yml:3:3: step 1 ('inner typo'): unknown key 'rnu'; did you mean 'run'? "
    "(included from nested_bad.yml:35:5)",
    "lib/broken.yml:6:8: step 2 ('inner undefined'): undefined variable 'nope' in run: define "
    "it in vars (lab, runbook, host or step), pass -e, or register it in an earlier step "
    "(included from nested_bad.yml:35:5)",
]


def test_validate_finds_each_construct_at_its_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS)
    report = validate_files([Path("nested_bad.yml")])
    expected = [e.replace("{dir}", str(CORPUS.resolve())) for e in EXPECTED]
    assert [str(f) for f in report.findings] == expected
    assert set(report.files) == {"nested_bad.yml", "lib/broken.yml"}


def _write(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / next(iter(files))


def test_blocks_flatten_with_sections_ancestry_and_inherited_modifiers(tmp_path: Path) -> None:
    book = load_runbook(_write(tmp_path, {"book.yml": """
name: b
steps:
  - name: outer
    hosts: "^r"
    when: go
    tags: [x]
    vars: {a: 1}
    timeout: 30
    block:
      - name: one
        hosts: "1$"
        tags: y
        when: more
        run: echo
      - name: inner
        block:
          - name: two
            run: echo
        always:
          - name: three
            run: echo
    rescue:
      - name: four
        run: echo
"""}))
    one, two, three, four = book.steps
    assert [s.index for s in book.steps] == [0, 1, 2, 3]
    assert one.hosts == ("1$",) and one.narrow == (("^r",),)
    assert two.hosts == ("^r",) and two.narrow == ()
    assert one.when == "(go) and (more)" and two.when == "go"
    assert one.tags == {"x", "y"} and four.tags == {"x"}
    assert one.vars == {"a": 1} and one.timeout == 30.0
    assert three.blocks == ((0, "block"), (1, "always"))
    assert four.blocks == ((0, "rescue"),)
    assert three.path == "block 'outer' > block 'inner'/always > three"
    outer, inner = book.blocks
    assert (outer.first, outer.last, outer.has_rescue) == (0, 3, True)
    assert (inner.first, inner.last, inner.parent) == (1, 2, (0, "block"))


def test_include_vars_rank_and_file_vars_are_defaults(tmp_path: Path) -> None:
    book = load_runbook(_write(tmp_path, {
        "book.yml": "name: b\nsteps:\n  - include: lib/x.yml\n    hosts: h\n"
                    "    vars: {image: v2}\n",
        "lib/x.yml": "name: x\nvars: {image: v1, mode: fast}\nsteps:\n"
                     "  - {hosts: ., run: echo}\n"}))
    [step] = book.steps
    assert step.vars == {"image": "v2", "mode": "fast"}
    assert step.location.file.endswith("lib/x.yml") and step.location.line == 4
    assert step.frames[0].kind == "include" and step.frames[0].location.line == 3


def test_includes_are_relative_to_the_real_folder(tmp_path: Path) -> None:
    real = tmp_path / "real"
    _write(real, {"book.yml": "name: b\nsteps:\n  - include: lib/x.yml\n    hosts: h\n",
                  "lib/x.yml": "- {run: echo}\n"})
    (tmp_path / "link.yml").symlink_to(real / "book.yml")
    assert len(load_runbook(tmp_path / "link.yml").steps) == 1


def test_include_cycle_names_the_chain(tmp_path: Path) -> None:
    path = _write(tmp_path, {"a.yml": "name: a\nsteps:\n  - include: b.yml\n",
                             "b.yml": "- include: c.yml\n",
                             "c.yml": "- include: b.yml\n"})
    with pytest.raises(ValidationError) as caught:
        load_runbook(path)
    [finding] = caught.value.findings
    assert "include cycle: " in finding.message
    assert "a.yml:3:5 -> " in finding.message and "b.yml:1:3 -> " in finding.message
    assert finding.message.count("->") == 3 and finding.file.endswith("c.yml")


def test_validate_reports_tags_no_step_has(tmp_path: Path) -> None:
    path = _write(tmp_path, {"book.yml": "name: b\nsteps:\n  - {hosts: ., tags: [deploy], "
                                         "run: echo}\n"})
    report = validate_files([path], tags={"deploy", "dpeloy"})
    assert [f.message for f in report.findings] == [
        "no step has the tag 'dpeloy'; did you mean 'deploy'?"]


def test_block_and_include_hosts_are_checked_once_at_their_line(tmp_path: Path) -> None:
    path = _write(tmp_path, {
        "book.yml": "name: b\nsteps:\n  - name: blk\n    hosts: routr\n    block:\n"
                    "      - {run: echo}\n      - {run: echo}\n"
                    "  - include: lib.yml\n    hosts: '[bad'\n",
        "lib.yml": "- {run: echo}\n"})
    report = validate_files([path])
    assert [(f.line, f.message.split(":")[0]) for f in report.findings] == [
        (4, "step 1 ('blk')"), (9, "step 2")]
    assert "hosts 'routr' matches no host" in report.findings[0].message
    assert "invalid regular expression '[bad'" in report.findings[1].message


def test_a_blocks_become_passes_to_inner_steps_that_run_as_a_user(tmp_path: Path) -> None:
    book = load_runbook(_write(tmp_path, {"book.yml": """
name: b
steps:
  - name: as postgres
    hosts: "."
    become: true
    become_user: postgres
    block:
      - name: inherits
        run: psql -c 'select 1'
      - name: own choice
        become: false
        run: whoami
      - name: port wait
        wait_for: {port: 22}
      - name: power
        power: status
"""}))
    inherits, own, port, power = book.steps
    assert (inherits.become, inherits.become_user) == (True, "postgres")
    assert (own.become, own.become_user) == (False, "postgres")
    assert (port.become, port.become_user) == (None, None)
    assert (power.become, power.become_user) == (None, None)


def test_run_once_and_delegate_to_on_a_block_are_findings(tmp_path: Path) -> None:
    _write(tmp_path, {"book.yml": """
name: b
steps:
  - name: outer
    hosts: "."
    run_once: true
    delegate_to: local
    block:
      - run: echo
"""})
    report = validate_files([tmp_path / "book.yml"])
    messages = [f.message for f in report.findings]
    assert any("'run_once' does not apply to a block" in m for m in messages), messages
    assert any("'delegate_to' does not apply to a block" in m for m in messages), messages


def test_rescue_or_always_without_block_or_action_says_it_belongs_to_a_block(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, {"book.yml": """
name: b
steps:
  - name: lonely
    hosts: .
    rescue:
      - run: echo y
  - name: only always
    hosts: .
    always:
      - run: echo z
"""})
    report = validate_files([Path("book.yml")])
    assert [str(f) for f in report.findings] == [
        "book.yml:6:5: step 1 ('lonely'): 'rescue' belongs to a block: add `block:` with the "
        "steps to protect next to it",
        "book.yml:10:5: step 2 ('only always'): 'always' belongs to a block: add `block:` with "
        "the steps to protect next to it"]
