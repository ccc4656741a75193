"""Validation of runbooks and labs: every problem of every file, each with file:line:col.

`validate_paths` is `runbook validate`: it tells a runbook (has `steps`) from a lab, checks
the schema, then the semantics the schema cannot express. `check_runbook` runs the semantic
checks on already-loaded objects; the scheduler calls it before a run.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from runbook._dataclass import mutable
from runbook.language.findings import Finding, finding_from_error

if TYPE_CHECKING:
    from runbook.hosts.lab import Lab
    from runbook.model import Runbook


FileKind = Literal["runbook", "lab", "unreadable"]


@mutable
class ValidationReport:
    """Result of validating files: findings and what each file turned out to be."""

    findings: list[Finding] = field(default_factory=list)
    files: dict[str, FileKind] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings

    def invalid_files(self) -> set[str]:
        return {f.file for f in self.findings}

    def to_json(self) -> str:
        """The `--format json` document."""
        bad = self.invalid_files()
        return json.dumps({
            "valid": self.ok,
            "files": [{"file": name, "kind": kind, "valid": name not in bad}
                      for name, kind in self.files.items()],
            "findings": [f.as_dict() for f in self.findings],
        }, indent=2)


def is_runbook_data(data: Any) -> bool:
    """A runbook has `steps`; a mapping with `hosts` or `defaults` (and no steps) is a lab.

    Anything else counts as a (broken) runbook, so a misspelled `steps:` is reported as such.
    """
    if not isinstance(data, dict):
        return True
    return "steps" in data or not ("hosts" in data or "defaults" in data)


def validate_paths(paths: list[Path], *, lab: Path | None = None,
                   extra_vars: Mapping[str, Any] | None = None) -> list[Finding]:
    """Every finding of every file in `paths` (runbooks are checked against `lab`, else the
    lab they name, else the default lab of just `local`)."""
    return validate_files(paths, lab=lab, extra_vars=extra_vars).findings


def validate_files(paths: list[Path], *, lab: Path | None = None,
                   extra_vars: Mapping[str, Any] | None = None,
                   tags: Collection[str] = ()) -> ValidationReport:
    """Like `validate_paths`, also telling which files are runbooks and which are labs.

    `tags` (from `--tags` / `--skip-tags`): each runbook must have a step with each of them.
    """
    validator = _FileValidator(extra_vars)
    validator.tags = set(tags)
    return validator.run(paths, lab=lab)


def check_runbook(runbook: Runbook, lab: Lab, *,
                  extra_vars: Mapping[str, Any] | None = None) -> list[Finding]:
    """Semantic checks of a loaded runbook against a loaded lab (the scheduler runs these
    before `apply`): regexes compile, hosts match, templates parse and use defined names,
    power steps have power control, put sources exist."""
    from runbook.language.checks import RunbookChecker

    return RunbookChecker(runbook, lab, extra_vars=extra_vars).run()


class _FileValidator:
    """Validates files one by one; each lab file is read (and reported) once."""

    def __init__(self, extra_vars: Mapping[str, Any] | None) -> None:
        self.extra = dict(extra_vars or {})
        self.report = ValidationReport()
        self.labs: dict[Path, Lab | None] = {}
        #: The host ids, and the names its vars define, of each lab file that has findings
        #: but could be read.
        self.lab_ids: dict[Path, tuple[list[str], set[str]]] = {}
        self._seen: set[Finding] = set()
        self.tags: set[str] = set()

    def add(self, findings: list[Finding]) -> None:
        for finding in findings:
            if finding not in self._seen:
                self._seen.add(finding)
                self.report.findings.append(finding)

    def run(self, paths: list[Path], *, lab: Path | None) -> ValidationReport:
        if lab is not None:
            self.lab(lab)
        for path in paths:
            if path.resolve() in self.labs:
                continue
            self.file(path, lab)
        order = {name: i for i, name in enumerate(self.report.files)}
        self.report.findings.sort(key=lambda f: (order.get(f.file, len(order)), f.line, f.column))
        return self.report

    def load(self, path: Path) -> Any:
        """The parsed document of `path`, or None after recording why it cannot be read."""
        from runbook.errors import YamlSyntaxError
        from runbook.language.yamlload import display_name, load_file

        try:
            doc = load_file(path)
        except YamlSyntaxError as exc:
            self.report.files[display_name(path)] = "unreadable"
            self.add([finding_from_error(exc)])
            return None
        self.add([finding_from_error(p) for p in doc.problems])
        return doc

    def lab(self, path: Path) -> Lab | None:
        """The lab at `path`, built once; None when invalid (its findings are recorded)."""
        key = path.resolve()
        if key not in self.labs:
            self.labs[key] = None
            doc = self.load(path)
            if doc is not None:
                self.read_lab(doc, path)
        return self.labs[key]

    def read_lab(self, doc: Any, path: Path) -> None:
        from runbook.language.labfile import read_lab

        self.report.files[doc.file] = "lab"
        built, findings = read_lab(doc, path, secrets=None)
        self.add(findings)
        self.labs[path.resolve()] = built
        if built is None and isinstance(doc.data, dict) and isinstance(doc.data.get("hosts"), dict):
            from runbook.language.labfile import merged_hosts

            hosts = merged_hosts(doc.data)
            names = {str(n) for f in hosts.values() for n in f["vars"]}
            names |= set(doc.data["vars"]) if isinstance(doc.data.get("vars"), dict) else set()
            self.lab_ids[path.resolve()] = [str(h) for h in hosts], names

    def file(self, path: Path, lab: Path | None) -> None:
        from runbook.hosts.lab import Lab
        from runbook.language.checks import RunbookChecker
        from runbook.language.runbookfile import read_runbook

        doc = self.load(path)
        if doc is None:
            return
        if doc.data is None:
            self.report.files[doc.file] = "unreadable"
            self.add([Finding(doc.file, 1, 1, "file is empty: a runbook needs name and steps, "
                                              "a lab needs hosts")])
            return
        if not is_runbook_data(doc.data):
            self.read_lab(doc, path)
            return
        self.report.files[doc.file] = "runbook"
        runbook, findings, lost = read_runbook(doc, path)
        self.add(findings)
        for included in sorted({f.file for f in findings} | {
                s.source.file for s in (runbook.steps if runbook else ()) if s.source}):
            self.report.files.setdefault(included, "runbook")  # files it includes
        if runbook is None:
            return
        self._check_tags(runbook)
        lab_path = lab or runbook.lab
        lab_obj: Lab | None = Lab.default()
        if lab_path is not None:
            from runbook.language.runbookfile import lab_problem

            problem = lab_problem(runbook, lab)
            if problem is not None:
                self.add([problem])
                lab_obj = None
            else:
                lab_obj = self.lab(lab_path)
        unbuilt = self.lab_ids.get(lab_path.resolve()) if lab_obj is None and lab_path else None
        checker = RunbookChecker(runbook, lab_obj, extra_vars=self.extra, lost_registers=lost,
                                 lab_names=unbuilt[1] if unbuilt else ())
        self._check_hosts_of_broken_steps(checker, runbook, doc.data["steps"])
        self.add(checker.run())
        if unbuilt is not None:
            self._check_against_unbuilt_lab(runbook, unbuilt[0], doc.data["steps"])

    def _check_against_unbuilt_lab(self, runbook: Any, ids: list[str], raw_steps: Any) -> None:
        """A lab with findings is not built, but its host ids are known: the runbook's `hosts`
        and `delegate_to` are still checked against them (every problem in one pass)."""
        from runbook.hosts.lab import Lab
        from runbook.hosts.local import LocalHost
        from runbook.language.checks import RunbookChecker

        builtin = () if "local" in ids else ("local",)
        stand_in = Lab([LocalHost(i) for i in dict.fromkeys([*ids, *builtin])], builtin=builtin)
        checker = RunbookChecker(runbook, stand_in, extra_vars=self.extra)
        self._check_hosts_of_broken_steps(checker, runbook, raw_steps)
        self.add(checker.target_findings())

    def _check_tags(self, runbook: Any) -> None:
        """Tags given on the command line that no step of the runbook has."""
        from runbook.plan.tags import unknown_tags

        loc = runbook.location_of(None, "steps")
        self.add([Finding(loc.file, loc.line, loc.column, message)
                  for message in unknown_tags(runbook, self.tags)])

    @staticmethod
    def _check_hosts_of_broken_steps(checker: Any, runbook: Any, raw_steps: list[Any]) -> None:
        """Steps left out for schema errors still get their `hosts` checked (all in one run)."""
        from runbook.model import RunAction, Step

        built = {_top_level_index(step) for step in runbook.steps}
        for index, raw in enumerate(raw_steps):
            if index in built or not isinstance(raw, dict):
                continue
            hosts = raw.get("hosts")
            if isinstance(hosts, str):
                hosts = [hosts]
            if not (isinstance(hosts, list) and hosts
                    and all(isinstance(h, str) and h for h in hosts)):
                continue
            name = raw.get("name")
            placeholder = Step(index=index, name=name if isinstance(name, str) else "",
                               hosts=tuple(hosts), action=RunAction(("",)),
                               location=runbook.location_of(None, "steps", index))
            checker.check_hosts(placeholder)


def _top_level_index(step: Any) -> Any:
    """The place in the runbook's `steps` of the step, or of the block or include it is in
    (its flat `index` counts the steps inside blocks and includes)."""
    path = step.frames[0].json_path if step.frames else step.json_path
    return path[1] if len(path) >= 2 and path[0] == "steps" else step.index
