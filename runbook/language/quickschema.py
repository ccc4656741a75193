"""A small yes/no JSON Schema check, so that valid files never pay for importing jsonschema.

`runbook validate` and `runbook apply` check every file against `schemas/*.schema.json`.
Importing jsonschema (with referencing, rpds, attrs) and building its Draft 2020-12 validator
cost about 110 ms of a 400 ms `validate`, yet almost every file checked is valid. `is_valid`
answers only "is this instance valid?" for the keywords our schemas use; when it says no, or
meets a keyword it does not know (`UnsupportedSchemaError`), the caller asks jsonschema, which
produces the errors the findings are made of. So the messages stay exactly jsonschema's, and
a schema edit that uses a new keyword falls back safely instead of being half-checked.

The semantics follow jsonschema's Draft 2020-12 validator: bool is not a number, 1.0 is an
integer, `pattern` is `re.search`, `enum`/`const` compare without True == 1.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sized
from typing import Any

from runbook.errors import UnsupportedSchemaError

#: Keywords that only annotate; they never make an instance invalid.
_ANNOTATIONS = frozenset({
    "$schema", "$id", "$comment", "title", "description", "examples", "default", "deprecated",
    "errorMessage", "markdownDescription", "readOnly", "writeOnly", "$defs", "definitions",
})


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": _is_integer,
}


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: booleans never equal numbers, containers compare element-wise."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


class QuickValidator:
    """`is_valid(instance)` against one root schema (local `$ref`s resolved in it)."""

    def __init__(self, root: dict[str, Any]) -> None:
        self._root = root

    def is_valid(self, instance: Any) -> bool:
        """True or False; raises UnsupportedSchemaError for a keyword it does not know."""
        return self._valid(instance, self._root)

    def _valid(self, value: Any, schema: Any) -> bool:
        if schema is True or schema == {}:
            return True
        if schema is False:
            return False
        for keyword, arg in schema.items():
            if keyword in _ANNOTATIONS:
                continue
            check = _KEYWORDS.get(keyword)
            if check is None:
                raise UnsupportedSchemaError(keyword)
            if not check(self, value, arg, schema):
                return False
        return True

    def _ref(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise UnsupportedSchemaError(f"$ref {ref}")
        node: Any = self._root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node


_Check = Callable[[QuickValidator, Any, Any, dict[str, Any]], bool]


def _type(v: QuickValidator, value: Any, arg: Any, _: dict[str, Any]) -> bool:
    names = [arg] if isinstance(arg, str) else arg
    return any(_TYPES[name](value) for name in names)


def _properties(v: QuickValidator, value: Any, arg: Any, _: dict[str, Any]) -> bool:
    if not isinstance(value, dict):
        return True
    return all(v._valid(value[k], sub) for k, sub in arg.items() if k in value)


def _pattern_properties(v: QuickValidator, value: Any, arg: Any, _: dict[str, Any]) -> bool:
    if not isinstance(value, dict):
        return True
    return all(v._valid(item, sub) for pattern, sub in arg.items()
               for key, item in value.items() if _regex(pattern).search(key))


def _additional(v: QuickValidator, value: Any, arg: Any, schema: dict[str, Any]) -> bool:
    if not isinstance(value, dict):
        return True
    known = schema.get("properties", {})
    patterns = [_regex(p) for p in schema.get("patternProperties", {})]
    extra = [k for k in value if k not in known and not any(p.search(k) for p in patterns)]
    return all(v._valid(value[k], arg) for k in extra)


def _property_names(v: QuickValidator, value: Any, arg: Any, _: dict[str, Any]) -> bool:
    return not isinstance(value, dict) or all(v._valid(k, arg) for k in value)


def _items(v: QuickValidator, value: Any, arg: Any, _: dict[str, Any]) -> bool:
    return not isinstance(value, list) or all(v._valid(item, arg) for item in value)


def _if(v: QuickValidator, value: Any, arg: Any, schema: dict[str, Any]) -> bool:
    branch = "then" if v._valid(value, arg) else "else"
    return branch not in schema or v._valid(value, schema[branch])


def _number(test: Callable[[Any, Any], bool]) -> _Check:
    def check(v: QuickValidator, value: Any, arg: Any, _: dict[str, Any]) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return True
        return test(value, arg)
    return check


def _length(test: Callable[[int, Any], bool], kind: type[Sized]) -> _Check:
    def check(v: QuickValidator, value: Any, arg: Any, _: dict[str, Any]) -> bool:
        return not isinstance(value, kind) or test(len(value), arg)
    return check


_KEYWORDS: dict[str, _Check] = {
    "type": _type,
    "properties": _properties,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional,
    "propertyNames": _property_names,
    "required": lambda v, value, arg, _: not isinstance(value, dict) or all(
        k in value for k in arg),
    "items": _items,
    "minItems": _length(lambda n, arg: n >= arg, list),
    "maxItems": _length(lambda n, arg: n <= arg, list),
    "minLength": _length(lambda n, arg: n >= arg, str),
    "maxLength": _length(lambda n, arg: n <= arg, str),
    "minProperties": _length(lambda n, arg: n >= arg, dict),
    "pattern": lambda v, value, arg, _: not isinstance(value, str) or bool(
        _regex(arg).search(value)),
    # Written as jsonschema writes them, so NaN passes as it does there (schema.py refuses it).
    "minimum": _number(lambda n, arg: not n < arg),
    "maximum": _number(lambda n, arg: not n > arg),
    "exclusiveMinimum": _number(lambda n, arg: not n <= arg),
    "exclusiveMaximum": _number(lambda n, arg: not n >= arg),
    "enum": lambda v, value, arg, _: any(_equal(value, option) for option in arg),
    "const": lambda v, value, arg, _: _equal(value, arg),
    "$ref": lambda v, value, arg, _: v._valid(value, v._ref(arg)),
    "if": _if,
    "then": lambda v, value, arg, _: True,  # applied by "if"
    "else": lambda v, value, arg, _: True,
    "allOf": lambda v, value, arg, _: all(v._valid(value, sub) for sub in arg),
    "anyOf": lambda v, value, arg, _: any(v._valid(value, sub) for sub in arg),
    "oneOf": lambda v, value, arg, _: sum(1 for sub in arg if v._valid(value, sub)) == 1,
    "not": lambda v, value, arg, _: not v._valid(value, arg),
}
