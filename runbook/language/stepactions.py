"""Building the `wait_for` and `interact` actions of a schema-valid step.

The schema checks each field's type; what it cannot say is checked here, with findings at
the offending key: a wait needs exactly one of `port`, `path` and `command`, each with its own
`state` values and extra fields, and an `interact` send needs something to wait for or send.
"""

from __future__ import annotations

from typing import Any, cast

from runbook._suggest import did_you_mean
from runbook.language.findings import Finding
from runbook.language.schemamessages import owner_of
from runbook.language.yamlload import Document, JsonPath
from runbook.model import InteractAction, InteractPair, WaitForAction, WaitState

WAIT_TARGETS = ("port", "path", "command")
#: The `state` values of each wait target (the first is the default) and its own extra fields.
WAIT_STATES = {"port": ("started", "stopped"), "path": ("present", "absent"), "command": ()}
WAIT_ONLY = {"address": "port", "contains": "path"}
DEFAULT_WAIT_TIMEOUT = 300.0


def _finding(doc: Document, path: JsonPath, message: str, *, key: bool = False) -> Finding:
    """A finding at `path`, said for its step (`step 2 ('name'): ...`) like the schema's."""
    loc = doc.location(path, key=key)
    owner, _ = owner_of("runbook", doc.data, tuple(path[:2]))
    return Finding(loc.file, loc.line, loc.column, f"{owner}: {message}" if owner else message)


def build_wait_for(spec: dict[str, Any], doc: Document, path: JsonPath,
                   findings: list[Finding]) -> WaitForAction | None:
    """The `wait_for` action of `spec` (at `path`), or None with findings added."""
    targets = [t for t in WAIT_TARGETS if t in spec]
    if len(targets) != 1:
        where = (*path, targets[1]) if targets else path
        what = " and ".join(targets) if targets else "none of them"
        findings.append(_finding(doc, where, f"wait_for waits for exactly one of port, path and "
                                 f"command; this one has {what}", key=bool(targets)))
        return None
    target = targets[0]
    problems = _misplaced_fields(spec, target, doc, path)
    if problems:
        findings.extend(problems)
        return None
    state = spec.get("state")
    if state is None and target != "command":
        state = WAIT_STATES[target][0]
    return WaitForAction(
        port=spec.get("port"), path=spec.get("path"), command=spec.get("command"),
        state=cast("WaitState | None", state),
        contains=spec.get("contains"), address=spec.get("address"),
        timeout=float(spec.get("timeout", DEFAULT_WAIT_TIMEOUT)),
        delay=float(spec.get("delay", 0.0)))


def _misplaced_fields(spec: dict[str, Any], target: str, doc: Document,
                      path: JsonPath) -> list[Finding]:
    """Fields of another kind of wait, and a `state` this kind does not have."""
    problems = [_finding(doc, (*path, name), f"wait_for.{name} is only for a {owner} wait "
                         f"(this one waits for a {target})", key=True)
                for name, owner in WAIT_ONLY.items() if name in spec and owner != target]
    state = spec.get("state")
    allowed = WAIT_STATES[target]
    if state is not None and state not in allowed:
        choice = (f"use {' or '.join(allowed)}" if allowed
                  else "a command wait has no state: it waits until the command exits 0")
        hint = did_you_mean(str(state), allowed) if allowed else None
        problems.append(_finding(doc, (*path, "state"), f"wait_for.state {state!r} does not "
                                 f"fit a {target} wait: {hint + ' ' if hint else ''}{choice}"))
    return problems


def build_interact(pairs: list[dict[str, Any]], doc: Document, path: JsonPath,
                   findings: list[Finding]) -> InteractAction | None:
    """The `interact` action of a schema-valid list of pairs, or None with findings added."""
    built = []
    for number, pair in enumerate(pairs):
        if "expect" not in pair and "send" not in pair:
            findings.append(_finding(doc, (*path, number), f"interact pair {number + 1} needs "
                                     "`expect` (what to wait for) and/or `send` (what to type)"))
            return None
        timeout = pair.get("timeout")
        built.append(InteractPair(pair.get("expect"), pair.get("send"),
                                  None if timeout is None else float(timeout)))
    return InteractAction(tuple(built))


def wait_or_dialog_name(action: WaitForAction | InteractAction) -> str:
    """A default step name: `wait_for port 22 started`, `interact: Password:`."""
    if isinstance(action, InteractAction):
        first = next((p.expect for p in action.pairs if p.expect), None) or "(send)"
        return f"interact: {first}"
    if action.port is not None:
        return f"wait_for port {action.port} {action.state}"
    if action.path is not None:
        return f"wait_for {action.path} {action.state}"
    return f"wait_for command: {action.command}"
