"""The JSON Schemas of runbooks and labs, and schema errors turned into readable findings.

`schemas/*.schema.json` is the single source of truth: editors use it for completion
(`# yaml-language-server: $schema=...`) and `runbook validate` checks files against it. The
wheel ships the folder inside the package (`runbook/schemas`); a source checkout uses the
repository's top-level `schemas/`.

jsonschema's own messages are not what a user should read: every error is rewritten by
`runbook.language.schemamessages`. Numbers a schema cannot refuse (NaN, infinities, integers
too big for a float) are found here.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import runbook
from runbook._suggest import hint
from runbook.errors import ConfigError, UnsupportedSchemaError
from runbook.language.findings import Finding
from runbook.language.quickschema import QuickValidator
from runbook.language.schemamessages import explain, field_text, owner_of, short_repr
from runbook.language.yamlload import Document, JsonPath

if TYPE_CHECKING:
    import jsonschema  # type: ignore[import-untyped,unused-ignore]

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
        for finding in explain(error, doc, name):
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
        shown = short_repr(doc.raw(path) or value)
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


__all__ = ["check", "check_paths", "load_schema", "schema_names", "schema_path", "schemas_dir"]
