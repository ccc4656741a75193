"""Read a runbook file into the `runbook.model` dataclasses.

`load_runbook(path)` parses (with positions), checks the file against
`schemas/runbook.schema.json` and builds a `Runbook`; any problem raises `ValidationError`
with every finding. Semantic checks against a lab (hosts that match nothing, undefined
variables, ...) are `runbook.language.validate.check_runbook`.

Defaults decided here: a step without `name` is named after its action and first command;
`until` without `retries` / `delay` means 3 retries, 5 seconds apart; `power: {wait_up: true}`
waits 300 seconds; `lab` is relative to the runbook's folder.
"""

from __future__ import annotations

import re
from dataclasses import field
from pathlib import Path
from typing import Any

from runbook._dataclass import frozen
from runbook.errors import ConfigError, ValidationError, YamlSyntaxError
from runbook.language import schema
from runbook.language.findings import Finding, finding_from_error
from runbook.language.schemamessages import owner_of
from runbook.language.stepactions import build_interact, build_wait_for, wait_or_dialog_name
from runbook.language.steptree import Scope, StepTreeReader, bad_step_paths
from runbook.language.yamlload import Document, JsonPath, base_folder, expand_home, load_file
from runbook.model import (
    Action,
    Expect,
    GetAction,
    InteractAction,
    Location,
    OneshotAction,
    PowerAction,
    PutAction,
    RunAction,
    Runbook,
    Step,
    WaitForAction,
    parse_size,
)

DEFAULT_WAIT = 300.0
UNTIL_RETRIES = 3
UNTIL_DELAY = 5.0
_OCTAL = re.compile(r"^(?:0o|0)?([0-7]{1,4})$")


@frozen
class LoadedRunbook(Runbook):
    """A `Runbook` read from a file; `document` keeps every node's position for messages."""

    document: Document | None = field(default=None, compare=False, repr=False)

    def location_of(self, step: Step | None, *parts: str | int) -> Location:
        """Location of a node of `step` (or of the runbook when None), e.g. ("put", "src")."""
        if self.document is None:
            return step.location if step is not None else Location(str(self.path), 1, 1)
        if step is not None and step.source is not None:
            return step.source.location((*step.json_path, *parts))  # type: ignore[no-any-return]
        prefix: JsonPath = ("steps", step.index) if step is not None else ()
        return self.document.location((*prefix, *parts))


def load_runbook(path: Path | str) -> LoadedRunbook:
    """Load and schema-check a runbook; `ValidationError` lists every problem found."""
    path = Path(path)
    try:
        doc = load_file(path)
    except YamlSyntaxError as exc:
        raise ValidationError([finding_from_error(exc)]) from None
    runbook, findings, _ = read_runbook(doc, path)
    findings = [finding_from_error(p) for p in doc.problems] + findings
    if findings or runbook is None:
        raise ValidationError(findings)
    return runbook


def lab_problem(runbook: LoadedRunbook, lab: Path | None = None) -> Finding | None:
    """Why the runbook's `lab:` file (or `lab`, given on the command line) cannot be read.

    Points at the `lab:` line of the runbook, so a typo there is not reported as an
    unreadable file somewhere else. Callers that honour a `--lab` override check only when
    there is none.
    """
    from runbook.language.yamlload import not_a_regular_file

    lab_path = lab if lab is not None else runbook.lab
    if lab_path is None or runbook.document is None:
        return None
    problem = not_a_regular_file(lab_path)
    if problem is None:
        return None
    loc = runbook.document.location(("lab",))
    written = runbook.document.data.get("lab") if lab is None else str(lab)
    if problem.startswith("no such file"):
        problem = "does not exist"
    return Finding(loc.file, loc.line, loc.column,
                   f"lab file {written!r} {problem} (looked for {lab_path}; a runbook's lab "
                   "is relative to the runbook's folder)")


def read_runbook(doc: Document, path: Path) -> tuple[LoadedRunbook | None, list[Finding], set[str]]:
    """Build what can be built from `doc`.

    Returns the runbook (steps with schema errors left out; None when the file is unusable),
    the findings, and the `register` names of the left-out steps (so later checks do not call
    their uses undefined).
    """
    checked = schema.check_paths(doc, "runbook")
    findings = [f for _, f in checked]
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        return None, findings, set()
    reader = StepTreeReader(_build_step, doc.file, bad_step_paths([p for p, _ in checked]))
    reader.read_list(data["steps"], ("steps",), Scope(doc, path.resolve()))
    findings.extend(reader.findings)
    steps, lost_registers = reader.steps, reader.lost_registers
    lab = data.get("lab")
    lab_path: Path | None = None
    if isinstance(lab, str) and lab:  # an empty lab has its schema finding
        try:
            lab_path = base_folder(path) / expand_home(lab)
        except ConfigError as exc:
            loc = doc.location(("lab",))
            findings.append(Finding(loc.file, loc.line, loc.column, f"lab: {exc.message}"))
    runbook = LoadedRunbook(
        path=path, name=data["name"] if isinstance(data.get("name"), str) else path.stem, steps=tuple(steps),
        description=str(data.get("description") or ""),
        lab=lab_path,
        vars=dict(data["vars"]) if isinstance(data.get("vars"), dict) else {},
        fail_fast=data.get("fail_fast") is True, document=doc, blocks=tuple(reader.blocks),
        batch=tuple(batch) if isinstance(batch := data.get("batch"), list) else batch,
        max_failed=data.get("max_failed", 0))
    return runbook, findings, lost_registers


def _build_step(index: int, raw: dict[str, Any], doc: Document,
                path: JsonPath) -> tuple[Step | None, list[Finding]]:
    """One schema-valid action step as a `Step` (None plus findings when a value is unusable).

    `index` is its place in the runbook's flat list, `path` where it is written in `doc`.
    """
    findings: list[Finding] = []
    owner, _ = owner_of("runbook", doc.data, path)
    action = _build_action(path, raw, doc, owner, findings)
    if action is None:
        return None, findings
    hosts = raw.get("hosts", ".")
    until = raw.get("until")
    when = raw.get("when")
    if isinstance(when, bool):
        when = "true" if when else "false"
    expect = None
    if isinstance(raw.get("expect"), dict):
        spec = raw["expect"]
        rc = spec.get("rc")
        expect = Expect(rc=None if rc is None else tuple(rc if isinstance(rc, list) else [rc]),
                        output=spec.get("output"), not_output=spec.get("not_output"))
    step = Step(
        index=index, name=raw.get("name") or default_name(action),
        hosts=(hosts,) if isinstance(hosts, str) else tuple(hosts), action=action,
        location=doc.location(path), when=when, register=raw.get("register"),
        timeout=float(raw["timeout"]) if "timeout" in raw else None,
        output_limit=_output_limit(raw.get("output_limit")),
        concurrent=raw.get("concurrent", True), ignore_errors=raw.get("ignore_errors", False),
        retries=raw.get("retries", UNTIL_RETRIES if until else 0),
        delay=float(raw.get("delay", UNTIL_DELAY if until else 0.0)), until=until,
        expect=expect, vars=dict(raw.get("vars") or {}), named=bool(raw.get("name")),
        loop=tuple(loop) if isinstance(loop := raw.get("loop"), list) else loop,
        loop_var=raw.get("loop_var", "item"),
        become=raw.get("become"), become_user=raw.get("become_user"),
        run_once=raw.get("run_once", False), delegate_to=raw.get("delegate_to"))
    return step, findings


def _output_limit(value: Any) -> int | None:
    """The step's `output_limit` in bytes; None when unset (or invalid: the schema said so)."""
    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError:
        return None


def _build_action(path: JsonPath, raw: dict[str, Any], doc: Document, owner: str,
                  findings: list[Finding]) -> Action | None:
    if "run" in raw or "oneshot" in raw:
        kind = "run" if "run" in raw else "oneshot"
        value = raw[kind]
        commands = (value,) if isinstance(value, str) else tuple(value)
        return RunAction(commands) if kind == "run" else OneshotAction(commands)
    if "put" in raw:
        put = raw["put"]
        mode = _mode(put.get("mode"), doc, (*path, "put", "mode"), owner, findings)
        if "mode" in put and mode is None:
            return None
        return PutAction(src=put["src"], dest=put["dest"], mode=mode,
                         template=put.get("template", False))
    if "get" in raw:
        return GetAction(src=raw["get"]["src"], dest=raw["get"]["dest"])
    if "wait_for" in raw:
        return build_wait_for(raw["wait_for"], doc, (*path, "wait_for"), findings)
    if "interact" in raw:
        return build_interact(raw["interact"], doc, (*path, "interact"), findings)
    power = raw["power"]
    if isinstance(power, str):
        return PowerAction(action=power)  # type: ignore[arg-type]
    return PowerAction(action=power["action"], wait_up=_wait(power.get("wait_up")),
                       wait_down=_wait(power.get("wait_down")))


def _wait(value: Any) -> float | None:
    if value is True:
        return DEFAULT_WAIT
    if value is None or value is False:
        return None
    return float(value)


def _mode(value: Any, doc: Document, path: JsonPath, owner: str,
          findings: list[Finding]) -> int | None:
    """An octal file mode from '0644', 0644 (YAML octal) or 0o644; decimal ints are refused."""
    if value is None:
        return None
    loc = doc.location(path)
    raw = doc.raw(path) or str(value)
    if isinstance(value, str):
        match = _OCTAL.match(value.strip())
        if match:
            return int(match.group(1), 8)
        message = f"put.mode {value!r} is not an octal file mode (write it like '0644')"
    elif raw.startswith("0") and 0 <= value <= 0o7777:
        return int(value)
    elif re.fullmatch(r"[0-7]{3,4}", raw):
        message = (f"put.mode {raw} is read as the decimal number {raw}; "
                   f"write the octal mode quoted: '0{raw}'")
    else:
        message = f"put.mode {raw} is not an octal file mode (write it like '0644')"
    findings.append(Finding(loc.file, loc.line, loc.column, f"{owner}: {message}"))
    return None


def default_name(action: Action) -> str:
    """A step name from its action: `run: systemctl restart ntp`, `put files/a -> /etc`."""
    if isinstance(action, RunAction | OneshotAction):
        first = action.commands[0].strip().splitlines()[0] if action.commands[0].strip() else ""
        text = f"{action.kind}: {first}" + (" ..." if len(action.commands) > 1 else "")
    elif isinstance(action, PutAction):
        text = f"put {action.src} -> {action.dest}"
    elif isinstance(action, GetAction):
        text = f"get {action.src} -> {action.dest}"
    elif isinstance(action, WaitForAction | InteractAction):
        text = wait_or_dialog_name(action)
    else:
        text = f"power {action.action}"
    return text if len(text) <= 60 else text[:57] + "..."
