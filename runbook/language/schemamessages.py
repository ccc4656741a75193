"""jsonschema errors rewritten as findings a user can act on, at the offending node's line.

jsonschema's own messages ("'x' is not valid under any of the given schemas") are not what a
user should read: unknown keys get a did-you-mean, a step without an action says which actions
exist, a YAML type mix-up says what to write instead, and every message names its owner
("step 2 ('upload')", "host 'r1'"). `runbook.language.schema` runs the checks and calls
`explain` for each error.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runbook._suggest import closest, did_you_mean, hint
from runbook.language.findings import Finding

if TYPE_CHECKING:
    import jsonschema  # type: ignore[import-untyped,unused-ignore]

    from runbook.language.yamlload import Document, JsonPath

ACTIONS = ("run", "oneshot", "put", "get", "power", "wait_for", "interact")
STEP_KINDS = (*ACTIONS, "include", "block")
"""What a step can be: one action, an include or a block (exactly one of them)."""
NESTING_KEYS = ("block", "rescue", "always")
_TYPE_NAMES = {"string": "a string", "array": "a list", "object": "a mapping",
               "integer": "an integer", "number": "a number", "boolean": "true or false",
               "null": "null"}


def owner_of(name: str, data: Any, path: JsonPath) -> tuple[str, JsonPath]:
    """Who a path belongs to, for messages: ("step 2 ('upload')", rest) or ("host 'r1'", rest).

    Nested steps are named by their place: `step 2 > rescue[1] ('roll back')`. A file that is
    a plain list of steps (an include) starts with the step's index.
    """
    if name == "runbook":
        return _step_owner(data, path)
    if name == "lab" and len(path) >= 2 and path[0] == "hosts":
        return f"host {path[1]!r}", path[2:]
    if name == "lab" and path[:1] == ("defaults",):
        return "defaults", path[1:]
    return "", path


def _step_owner(data: Any, path: JsonPath) -> tuple[str, JsonPath]:
    """The innermost step a runbook (or step-list) path leads into, as text, and the rest."""
    if path and isinstance(path[0], int) and isinstance(data, list):
        data, path = {"steps": data}, ("steps", *path)
    node, place, label, rest = data, "", "", path
    while len(rest) >= 2 and isinstance(rest[1], int) and (
            rest[0] == "steps" if not place else rest[0] in NESTING_KEYS):
        items = node.get(rest[0]) if isinstance(node, dict) else None
        node = items[rest[1]] if isinstance(items, list) and rest[1] < len(items) else None
        place = f"step {rest[1] + 1}" if not place else f"{place} > {rest[0]}[{rest[1] + 1}]"
        name = node.get("name") if isinstance(node, dict) else None
        label = place + (f" ({name!r})" if isinstance(name, str) else "")
        rest = rest[2:]
    return label, rest


def field_text(path: JsonPath) -> str:
    """`("put", "mode")` -> "put.mode"; list indices as `run[1]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _type_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, datetime.date):
        return "a date"
    for py, text in ((str, "a string"), (int, "an integer"), (float, "a number"),
                     (list, "a list"), (dict, "a mapping")):
        if isinstance(value, py):
            return text
    return type(value).__name__


def _type_hint(expected: str | list[str], inst: Any, raw: str | None) -> str:
    """What to write instead, for the type mix-ups YAML invites."""
    wanted = [expected] if isinstance(expected, str) else expected
    if isinstance(inst, datetime.date) and "string" in wanted:
        return f" (YAML reads {raw or inst} as a date: quote it, '{raw or inst}')"
    if isinstance(inst, str) and ("number" in wanted or "integer" in wanted):
        text = inst.strip()
        unit = re.fullmatch(r"([0-9.]+)\s*(s|sec|secs|seconds?)", text)
        if unit:
            return f" (seconds are plain numbers: write {unit.group(1)})"
        if re.fullmatch(r"[-+]?[0-9]*\.?[0-9]+[eE][-+]?[0-9]+", text):
            number = float(text)
            if math.isfinite(number) and abs(number) < 1e15:
                return f" (YAML reads this exponent form as text: write {number:.15g})"
            return " (YAML reads this exponent form as text: write the number out)"
        if re.fullmatch(r"[-+]?[0-9_.]+", text):
            return " (remove the quotes)"
    if isinstance(inst, int | float) and not isinstance(inst, bool) and wanted == ["string"]:
        return f" (quote it: '{raw}')" if raw else ""
    return ""


def short_repr(value: Any) -> str:
    """`repr(value)`, cut to 40 characters for a message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Explainer:
    """One schema error of one document, turned into findings at the right lines."""

    def __init__(self, error: jsonschema.ValidationError, doc: Document, name: str) -> None:
        self.error = error
        self.doc = doc
        self.name = name
        self.path: JsonPath = tuple(error.absolute_path)
        self.owner, self.rest = owner_of(name, doc.data, self.path)
        self.field = field_text(self.rest)
        self.inst = error.instance
        self.schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
        self.subject = self.field or ("a runbook" if name == "runbook" else f"a {name} file")

    def at(self, p: JsonPath, message: str, *, key: bool = False) -> Finding:
        loc = self.doc.location(p, key=key)
        owner = self.owner
        return Finding(loc.file, loc.line, loc.column, f"{owner}: {message}" if owner else message)

    def findings(self) -> list[Finding]:
        validator = str(self.error.validator)
        handler = _HANDLERS.get(validator)
        if handler is not None:
            found = handler(self)
            if found is not None:
                return found
        if validator in _BOUNDS:
            return [self.at(self.path, f"{self.field} must be {_BOUNDS[validator]} "
                                       f"{self.error.validator_value}, not {short_repr(self.inst)}")]
        field, message = self.field, self.error.message
        return [self.at(self.path, f"{field}: {message}" if field else message)]

    def additional_properties(self) -> list[Finding] | None:
        inst, field = self.inst, self.field
        if not isinstance(inst, dict):
            return None
        allowed = list(self.schema.get("properties", {}))
        patterns = list(self.schema.get("patternProperties", {}))
        extras = [k for k in inst if k not in allowed and not any(re.search(p, k) for p in patterns)]
        where = f" in {field}" if field else ""
        return [self.at((*self.path, k), f"unknown key {k!r}{where}; {hint(k, allowed)}", key=True)
                for k in extras]

    def required(self) -> list[Finding] | None:
        if not isinstance(self.inst, dict):
            return None
        where = f" in {self.field}" if self.field else ""
        return [self.at(self.path, f"missing required key {k!r}{where}")
                for k in self.error.validator_value if k not in self.inst]

    def one_of(self) -> list[Finding] | None:
        if not _is_action_choice(self.schema):
            return None
        # A step that is not a mapping already has its `type` finding.
        if not isinstance(self.inst, dict):
            return []
        return _action_findings(self.inst, self.path, self.at, set(self.schema.get("properties", {})))

    def type(self) -> list[Finding]:
        path, inst, field = self.path, self.inst, self.field
        expected = self.error.validator_value
        names = [_TYPE_NAMES.get(t, t) for t in ([expected] if isinstance(expected, str) else expected)]
        wanted = " or ".join(names)
        if not path:
            what = "a mapping with name and steps" if self.name == "runbook" else "a mapping"
            return [self.at(path, f"{self.subject} must be {what}, not {_type_text(inst)}")]
        if not field:  # the whole entry: a step, a host
            entry = {"step": "a mapping with hosts and one action (run, oneshot, put, get or "
                             "power)", "host": "a mapping of its settings (address, user, ...)"}
            kind = self.owner.split(" ", 1)[0]
            return [self.at(path, f"must be {entry.get(kind, wanted)}, not {_type_text(inst)}"
                                  + ("" if inst is None else f" {short_repr(inst)}"))]
        if inst is None:
            return [self.at(path, f"{field} has no value: give it {wanted}", key=True)]
        raw = self.doc.raw(path)
        shown = raw if isinstance(inst, datetime.date) and raw else short_repr(inst)
        message = f"{field} must be {wanted}, not {_type_text(inst)} {shown}"
        if "boolean" in expected and _looks_boolean(inst):
            message += " (write true or false)"
        message += _type_hint(expected, inst, raw)
        return [self.at(path, message)]

    def enum(self) -> list[Finding]:
        inst = self.inst
        choices = [str(c) for c in self.error.validator_value]
        suggestion = did_you_mean(str(inst), choices) if isinstance(inst, str) else None
        message = f"{self.field} must be one of {', '.join(choices)}, not {short_repr(inst)}"
        return [self.at(self.path, message + (f"; {suggestion}" if suggestion else ""))]

    def pattern(self) -> list[Finding]:
        reason = self.schema.get("errorMessage") or f"does not match {self.error.validator_value!r}"
        if "propertyNames" in self.error.schema_path:
            return [self.at((*self.path, str(self.inst)), f"{short_repr(self.inst)} {reason}", key=True)]
        return [self.at(self.path, f"{self.field} {short_repr(self.inst)} {reason}")]

    def too_many(self) -> list[Finding] | None:
        if not isinstance(self.inst, list):
            return None
        why = self.schema.get("errorMessage")
        return [self.at(self.path, f"{self.subject} has {len(self.inst)} items, more than "
                                   f"{self.error.validator_value}" + (f": {why}" if why else ""),
                        key=True)]

    def empty(self) -> list[Finding]:
        why = self.schema.get("errorMessage") if self.error.validator == "minLength" else None
        return [self.at(self.path, f"{self.subject} must not be empty"
                        + (f": {why}" if why else ""))]


_HANDLERS: dict[str, Callable[[_Explainer], list[Finding] | None]] = {
    "additionalProperties": _Explainer.additional_properties,
    "required": _Explainer.required,
    "oneOf": _Explainer.one_of,
    "type": _Explainer.type,
    "enum": _Explainer.enum,
    "pattern": _Explainer.pattern,
    "minItems": _Explainer.empty,
    "maxItems": _Explainer.too_many,
    "minLength": _Explainer.empty,
    "minProperties": _Explainer.empty,
}
_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


def _looks_boolean(inst: Any) -> bool:
    """A YAML 1.1 boolean word or 0/1 where a boolean was expected."""
    if isinstance(inst, str):
        return inst.lower() in ("yes", "no", "on", "off", "y", "n")
    return type(inst) is int and inst in (0, 1)


def explain(error: jsonschema.ValidationError, doc: Document, name: str) -> list[Finding]:
    """The findings one jsonschema error of `doc` (checked against schema `name`) stands for."""
    return _Explainer(error, doc, name).findings()


def _is_action_choice(schema: dict[str, Any]) -> bool:
    branches = schema.get("oneOf")
    return isinstance(branches, list) and all(
        isinstance(b, dict) and b.get("required", [None])[0] in STEP_KINDS for b in branches)


def _action_findings(inst: dict[str, Any], path: JsonPath, at: Any,
                     step_keys: set[str]) -> list[Finding]:
    """Why a step mapping matches no action: two actions in one step, or none at all."""
    present = [a for a in STEP_KINDS if a in inst]
    if len(present) > 1:
        return [at((*path, present[1]), f"a step does exactly one thing, this one has "
                   f"{' and '.join(present)}: split it into {len(present)} steps", key=True)]
    # An unknown key that looks like an action is reported (with did-you-mean) already.
    for key in inst:
        if key not in step_keys and closest(key, STEP_KINDS) is not None:
            return []
    sections = [k for k in ("rescue", "always") if k in inst]
    if sections:
        return [at((*path, k), f"{k!r} belongs to a block: add `block:` with the steps to "
                               f"protect next to it", key=True) for k in sections]
    return [at(path, f"step has no action: add one of {', '.join(ACTIONS)}, "
                     "or make it an include or a block")]
