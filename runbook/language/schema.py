"""The JSON Schemas of runbooks and labs, and schema errors turned into readable findings.

`schemas/*.schema.json` is the single source of truth: editors use it for completion
(`# yaml-language-server: $schema=...`) and `runbook validate` checks files against it. The
wheel ships the folder inside the package (`runbook/schemas`); a source checkout uses the
repository's top-level `schemas/`.

jsonschema's own messages ("'x' is not valid under any of the given schemas") are not what a
user should read, so every error is rewritten: unknown keys get a did-you-mean, a step without
an action says which actions exist, and each finding points at the offending node's line.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import runbook
from runbook._suggest import closest, did_you_mean, hint, one_of
from runbook.errors import ConfigError, UnsupportedSchemaError
from runbook.language.findings import Finding
from runbook.language.quickschema import QuickValidator
from runbook.language.yamlload import Document, JsonPath

if TYPE_CHECKING:
    import jsonschema  # type: ignore[import-untyped,unused-ignore]

ACTIONS = ("run", "oneshot", "put", "get", "power", "wait_for", "interact")
STEP_KINDS = (*ACTIONS, "include", "block")
"""What a step can be: one action, an include or a block (exactly one of them)."""
NESTING_KEYS = ("block", "rescue", "always")
_TYPE_NAMES = {"string": "a string", "array": "a list", "object": "a mapping",
               "integer": "an integer", "number": "a number", "boolean": "true or false",
               "null": "null"}


def schemas_dir() -> Path:
    """Folder holding `*.schema.json`: inside the package when installed, else the repo's."""
    packaged = Path(runbook.__file__).parent / "schemas"
    if packaged.is_dir():
        return packaged
    return Path(runbook.__file__).resolve().parent.parent / "schemas"


def schema_names() -> list[str]:
    """Names of the available schemas (`runbook`, `lab`, `report`, ...)."""
    return sorted(p.name.removesuffix(".schema.json")
                  for p in schemas_dir().glob("*.schema.json"))


def schema_path(name: str) -> Path:
    """Path of schema `name`; ConfigError with a hint when there is no such schema."""
    path = schemas_dir() / f"{name}.schema.json"
    if not path.is_file():
        raise ConfigError(f"no schema named {name!r}; {hint(name, schema_names())}")
    return path


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema `name` (cached)."""
    data: dict[str, Any] = json.loads(schema_path(name).read_text(encoding="utf-8"))
    return data


@functools.cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    import jsonschema  # type: ignore[import-untyped,unused-ignore]

    return jsonschema.Draft202012Validator(load_schema(name))


def _quickly_valid(data: Any, name: str) -> bool:
    """True when `data` is certainly valid, without importing jsonschema (see quickschema)."""
    try:
        return QuickValidator(load_schema(name)).is_valid(data)
    except UnsupportedSchemaError:
        return False


def check(doc: Document, name: str) -> list[Finding]:
    """Every schema violation of `doc` against schema `name`, as located, readable findings."""
    return [finding for _, finding in check_paths(doc, name)]


def check_paths(doc: Document, name: str) -> list[tuple[JsonPath, Finding]]:
    """Like `check`, each finding with the JSON path of the node that failed (sorted by line)."""
    found: dict[tuple[int, int, str], tuple[JsonPath, Finding]] = {}
    errors = [] if _quickly_valid(doc.data, name) else _drop_shadowed_type_errors(
        list(_validator(name).iter_errors(doc.data)))
    for error in errors:
        for finding in _explain(error, doc, name):
            key = (finding.line, finding.column, finding.message)
            found.setdefault(key, (tuple(error.absolute_path), finding))
    flagged = {path for path, _ in found.values()}
    for path, finding in _non_finite_numbers(doc, name):
        if path not in flagged:
            found.setdefault((finding.line, finding.column, finding.message), (path, finding))
    return [found[k] for k in sorted(found)]


def _drop_shadowed_type_errors(
        errors: list[jsonschema.ValidationError]) -> list[jsonschema.ValidationError]:
    """Of several `type` errors on one node keep the one allowing the most types.

    `power: [on]` fails both `type: [string, object]` and, through `else`, the mapping form's
    `type: object`; the user should read one message, the one naming every accepted form.
    """
    widest: dict[tuple[str | int, ...], int] = {}
    for error in errors:
        if error.validator == "type":
            path = tuple(error.absolute_path)
            count = len(error.validator_value) if isinstance(error.validator_value, list) else 1
            widest[path] = max(widest.get(path, 0), count)
    kept = []
    for error in errors:
        if error.validator == "type":
            value = error.validator_value
            count = len(value) if isinstance(value, list) else 1
            if count < widest[tuple(error.absolute_path)]:
                continue
        kept.append(error)
    return kept


def _value_at(data: Any, path: JsonPath) -> Any:
    """The node of `data` at `path`, or None when the path does not lead anywhere."""
    value = data
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _unusable_number(value: Any) -> bool:
    """NaN, an infinity, or an integer too big to be a float exactly (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float):
        return not math.isfinite(value)
    return abs(value) >= 10 ** 15


def _non_finite_numbers(doc: Document, name: str) -> list[tuple[JsonPath, Finding]]:
    """Numbers the schema cannot refuse: NaN, infinities, integers too big for a float.

    They would pass `minimum` checks and then break the run ("timed out after nan s") or
    crash converting to seconds. Free-form `vars` are left alone.
    """
    found: list[tuple[JsonPath, Finding]] = []
    for path in doc.paths():
        if "vars" in path or not path:
            continue
        value = _value_at(doc.data, path)
        if not _unusable_number(value):
            continue
        owner, rest = owner_of(name, doc.data, path)
        field = field_text(rest)
        shown = _short(doc.raw(path) or value)
        shown = shown.strip("'") if isinstance(doc.raw(path), str) else shown
        if isinstance(value, int):
            message = f"{field} {shown} is too large"
        elif math.isnan(value):
            message = f"{field} must be a number, not {shown}"
        else:
            message = f"{field} must be a finite number, not {shown}"
            if rest and rest[-1] in ("timeout", "connect_timeout", "wait_up", "wait_down"):
                message += f" (for no limit, leave {rest[-1]} out)"
        loc = doc.location(path)
        found.append((path, Finding(loc.file, loc.line, loc.column,
                                    f"{owner}: {message}" if owner else message)))
    return found


# -- turning jsonschema errors into findings -------------------------------------------------
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


def _short(value: Any) -> str:
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
                                       f"{self.error.validator_value}, not {_short(self.inst)}")]
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
        return _action_findings(self.inst, self.path, self.at) if isinstance(self.inst, dict) else []

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
                                  + ("" if inst is None else f" {_short(inst)}"))]
        if inst is None:
            return [self.at(path, f"{field} has no value: give it {wanted}", key=True)]
        raw = self.doc.raw(path)
        shown = raw if isinstance(inst, datetime.date) and raw else _short(inst)
        message = f"{field} must be {wanted}, not {_type_text(inst)} {shown}"
        if "boolean" in expected and _looks_boolean(inst):
            message += " (write true or false)"
        message += _type_hint(expected, inst, raw)
        return [self.at(path, message)]

    def enum(self) -> list[Finding]:
        inst = self.inst
        choices = [str(c) for c in self.error.validator_value]
        suggestion = did_you_mean(str(inst), choices) if isinstance(inst, str) else None
        message = f"{self.field} must be one of {', '.join(choices)}, not {_short(inst)}"
        return [self.at(self.path, message + (f"; {suggestion}" if suggestion else ""))]

    def pattern(self) -> list[Finding]:
        reason = self.schema.get("errorMessage") or f"does not match {self.error.validator_value!r}"
        if "propertyNames" in self.error.schema_path:
            return [self.at((*self.path, str(self.inst)), f"{_short(self.inst)} {reason}", key=True)]
        return [self.at(self.path, f"{self.field} {_short(self.inst)} {reason}")]

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
    "minLength": _Explainer.empty,
    "minProperties": _Explainer.empty,
}
_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


def _looks_boolean(inst: Any) -> bool:
    """A YAML 1.1 boolean word or 0/1 where a boolean was expected."""
    if isinstance(inst, str):
        return inst.lower() in ("yes", "no", "on", "off", "y", "n")
    return type(inst) is int and inst in (0, 1)


def _explain(error: jsonschema.ValidationError, doc: Document, name: str) -> list[Finding]:
    return _Explainer(error, doc, name).findings()



def _is_action_choice(schema: dict[str, Any]) -> bool:
    branches = schema.get("oneOf")
    return isinstance(branches, list) and all(
        isinstance(b, dict) and b.get("required", [None])[0] in STEP_KINDS for b in branches)


def _action_findings(inst: dict[str, Any], path: JsonPath, at: Any) -> list[Finding]:
    present = [a for a in STEP_KINDS if a in inst]
    if len(present) > 1:
        return [at((*path, present[1]), f"a step does exactly one thing, this one has "
                   f"{' and '.join(present)}: split it into {len(present)} steps", key=True)]
    # An unknown key that looks like an action is reported (with did-you-mean) already.
    step_keys = set(load_schema("runbook")["$defs"]["step"]["properties"])
    for key in inst:
        if key not in step_keys and closest(key, STEP_KINDS) is not None:
            return []
    return [at(path, f"step has no action: add one of {', '.join(ACTIONS)}, "
                     "or make it an include or a block")]


__all__ = ["ACTIONS", "check", "check_paths", "field_text", "load_schema", "one_of", "owner_of",
           "schema_names", "schema_path", "schemas_dir"]
