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

import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]

import runbook
from runbook.errors import ConfigError
from runbook.suggest import closest, did_you_mean, hint, one_of
from runbook.validate import Finding
from runbook.yamlload import Document, JsonPath

ACTIONS = ("run", "oneshot", "put", "get", "power")
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
    return jsonschema.Draft202012Validator(load_schema(name))


def check(doc: Document, name: str) -> list[Finding]:
    """Every schema violation of `doc` against schema `name`, as located, readable findings."""
    return [finding for _, finding in check_paths(doc, name)]


def check_paths(doc: Document, name: str) -> list[tuple[JsonPath, Finding]]:
    """Like `check`, each finding with the JSON path of the node that failed (sorted by line)."""
    found: dict[tuple[int, int, str], tuple[JsonPath, Finding]] = {}
    for error in _validator(name).iter_errors(doc.data):
        for finding in _explain(error, doc, name):
            key = (finding.line, finding.column, finding.message)
            found.setdefault(key, (tuple(error.absolute_path), finding))
    return [found[k] for k in sorted(found)]


# -- turning jsonschema errors into findings -------------------------------------------------
def owner_of(name: str, data: Any, path: JsonPath) -> tuple[str, JsonPath]:
    """Who a path belongs to, for messages: ("step 2 ('upload')", rest) or ("host 'r1'", rest)."""
    if name == "runbook" and len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
        steps = data.get("steps") if isinstance(data, dict) else None
        step = steps[path[1]] if isinstance(steps, list) and path[1] < len(steps) else None
        label = step.get("name") if isinstance(step, dict) else None
        text = f"step {path[1] + 1}" + (f" ({label!r})" if isinstance(label, str) else "")
        return text, path[2:]
    if name == "lab" and len(path) >= 2 and path[0] == "hosts":
        return f"host {path[1]!r}", path[2:]
    if name == "lab" and path[:1] == ("defaults",):
        return "defaults", path[1:]
    return "", path


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
    for py, text in ((str, "a string"), (int, "an integer"), (float, "a number"),
                     (list, "a list"), (dict, "a mapping")):
        if isinstance(value, py):
            return text
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _explain(error: jsonschema.ValidationError, doc: Document, name: str) -> list[Finding]:
    path: JsonPath = tuple(error.absolute_path)
    owner, rest = owner_of(name, doc.data, path)
    field = field_text(rest)
    inst = error.instance
    validator = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}

    def at(p: JsonPath, message: str, *, key: bool = False) -> Finding:
        loc = doc.location(p, key=key)
        return Finding(loc.file, loc.line, loc.column, f"{owner}: {message}" if owner else message)

    subject = field or ("a runbook" if name == "runbook" else f"a {name} file")

    if validator == "additionalProperties" and isinstance(inst, dict):
        allowed = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        extras = [k for k in inst if k not in allowed and not any(re.search(p, k) for p in patterns)]
        where = f" in {field}" if field else ""
        return [at((*path, k), f"unknown key {k!r}{where}; {hint(k, allowed)}", key=True)
                for k in extras]
    if validator == "required" and isinstance(inst, dict):
        where = f" in {field}" if field else ""
        return [at(path, f"missing required key {k!r}{where}")
                for k in error.validator_value if k not in inst]
    if validator == "oneOf" and _is_action_choice(schema) and isinstance(inst, dict):
        return _action_findings(inst, path, at)
    if validator == "type":
        expected = error.validator_value
        names = [_TYPE_NAMES.get(t, t) for t in ([expected] if isinstance(expected, str) else expected)]
        wanted = " or ".join(names)
        if not path:
            what = "a mapping with name and steps" if name == "runbook" else "a mapping"
            return [at(path, f"{subject} must be {what}, not {_type_text(inst)}")]
        if inst is None:
            return [at(path, f"{field} has no value: give it {wanted}", key=True)]
        message = f"{field} must be {wanted}, not {_type_text(inst)} {_short(inst)}"
        if "boolean" in expected and isinstance(inst, str) and inst.lower() in (
                "yes", "no", "on", "off", "y", "n"):
            message += " (write true or false)"
        return [at(path, message)]
    if validator == "enum":
        choices = [str(c) for c in error.validator_value]
        suggestion = did_you_mean(str(inst), choices) if isinstance(inst, str) else None
        message = f"{field} must be one of {', '.join(choices)}, not {_short(inst)}"
        return [at(path, message + (f"; {suggestion}" if suggestion else ""))]
    if validator == "pattern":
        reason = schema.get("errorMessage") or f"does not match {error.validator_value!r}"
        if "propertyNames" in error.schema_path:
            return [at((*path, str(inst)), f"{_short(inst)} {reason}", key=True)]
        return [at(path, f"{field} {_short(inst)} {reason}")]
    if validator in ("minItems", "minLength", "minProperties"):
        return [at(path, f"{subject} must not be empty")]
    bounds = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
    if validator in bounds:
        return [at(path, f"{field} must be {bounds[str(validator)]} {error.validator_value}, "
                         f"not {_short(inst)}")]
    return [at(path, f"{field}: {error.message}" if field else error.message)]


def _is_action_choice(schema: dict[str, Any]) -> bool:
    branches = schema.get("oneOf")
    return isinstance(branches, list) and all(
        isinstance(b, dict) and b.get("required", [None])[0] in ACTIONS for b in branches)


def _action_findings(inst: dict[str, Any], path: JsonPath, at: Any) -> list[Finding]:
    present = [a for a in ACTIONS if a in inst]
    if len(present) > 1:
        return [at((*path, present[1]), f"a step does exactly one thing, this one has "
                   f"{' and '.join(present)}: split it into {len(present)} steps", key=True)]
    # An unknown key that looks like an action is reported (with did-you-mean) already.
    step_keys = set(load_schema("runbook")["$defs"]["step"]["properties"])
    for key in inst:
        if key not in step_keys and closest(key, ACTIONS) is not None:
            return []
    return [at(path, f"step has no action: add one of {', '.join(ACTIONS)}")]


__all__ = ["ACTIONS", "check", "check_paths", "field_text", "load_schema", "one_of", "owner_of",
           "schema_names", "schema_path", "schemas_dir"]
