"""Extra variables from the command line: `-e KEY=VALUE` and `-e @vars.yml`.

Values are parsed as YAML scalars (`-e count=3` is the integer 3, `-e debug=true` a boolean,
`-e 'hosts=[a, b]'` a list because it starts with a bracket, and an error when such a value
does not parse; anything else stays a string). `@file` loads a YAML or JSON mapping (relative
to the current folder). Later arguments override earlier ones.
Shared by `runbook validate` and `runbook apply`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runbook.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names every template has built in; a variable cannot take them.
RESERVED_NAMES = frozenset({"host", "secret"})
# A value starting with these is a template (`-e 'url={{ base }}/x'`), not a mapping.
_JINJA = ("{{", "{%", "{#")


def reserved_name_problem(name: str) -> str | None:
    """Why `name` cannot be a variable name, or None when it can."""
    if name in RESERVED_NAMES:
        what = "the host's own fields" if name == "host" else "the secret() function"
        return f"{name!r} is a reserved name (templates use it for {what}): rename the variable"
    return None


def parse_value(text: str) -> Any:
    """A command-line value as YAML (booleans only true/false), or the text itself.

    A value starting with `[` or `{` (but not Jinja's `{{`, `{%`, `{#`) is meant as a list or
    mapping: when it does not parse as one, `ConfigError` says why instead of passing the
    text on (`a=[1,2` is a typo, not the string "[1,2").
    """
    from runbook.errors import YamlSyntaxError
    from runbook.language.yamlload import load_text

    if text == "":
        return ""
    stripped = text.lstrip()
    collection = stripped.startswith(("[", "{")) and not stripped.startswith(_JINJA)
    try:
        doc = load_text(text, file="<-e>")
    except YamlSyntaxError as exc:
        if collection:
            raise ConfigError(_not_a_collection(text, exc.message)) from None
        return text
    if doc.problems:
        if collection:
            raise ConfigError(_not_a_collection(text, doc.problems[0].message))
        return text
    if doc.data is None and text.strip() not in ("~", "null", "Null", "NULL"):
        return text  # e.g. only a comment
    if isinstance(doc.data, dict | list) and not collection:
        return text  # "a: b" is a string here, not a mapping
    if isinstance(doc.data, int) and re.fullmatch(r"[-+]?0[0-9_]+", text.strip()):
        return text  # "0123" is a build number or an id, not YAML 1.1 octal
    return doc.data


def _not_a_collection(text: str, problem: str) -> str:
    """Why a value starting with a bracket was refused (the YAML problem, without the
    parser's context, which only repeats the position in a one-line value)."""
    kind = "list" if text.lstrip().startswith("[") else "mapping"
    problem = re.sub(r" \(while parsing [^)]*\)", "", problem.removeprefix("YAML syntax error: "))
    return f"the value starts with {text.lstrip()[0]!r} but is not a valid YAML/JSON {kind}: {problem}"


def parse_extra_vars(items: Iterable[str], *, base: Path | None = None) -> dict[str, Any]:
    """Merge `KEY=VALUE` and `@file` arguments into one mapping; `ConfigError` if malformed."""
    result: dict[str, Any] = {}
    for item in items:
        if item.startswith("@"):
            if not item[1:].strip():
                raise ConfigError("-e @: give the vars file after @, like -e @vars.yml")
            result.update(_read_vars_file(Path(item[1:]) if base is None else base / item[1:]))
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise ConfigError(f"-e {item!r}: expected KEY=VALUE or @FILE")
        if not _NAME.match(name):
            raise ConfigError(f"-e {item!r}: {name!r} is not a valid variable name (letters, "
                              "digits and _, not starting with a digit)")
        problem = reserved_name_problem(name)
        if problem:
            raise ConfigError(f"-e {item!r}: {problem}")
        try:
            result[name] = parse_value(value)
        except ConfigError as exc:
            quote = (f"-e {shlex.quote(f'{name}={chr(34)}{value}{chr(34)}')}"
                     if '"' not in value and "\\" not in value else "a quoted YAML string")
            raise ConfigError(f"-e {item!r}: {exc.message}; fix it, or pass the text as it "
                              f"is as {quote}") from None
    return result


def _read_vars_file(path: Path) -> dict[str, Any]:
    from runbook.language.yamlload import load_data, not_a_regular_file

    problem = not_a_regular_file(path)
    if problem is not None:
        raise ConfigError(f"-e @{path}: {problem}")
    data = load_data(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"-e @{path}: a vars file must be a mapping of name: value",
                          file=str(path), line=1, column=1)
    for name in data:
        if not _NAME.match(str(name)):
            raise ConfigError(f"-e @{path}: {name!r} is not a valid variable name")
        problem = reserved_name_problem(str(name))
        if problem:
            raise ConfigError(f"-e @{path}: {problem}")
    return dict(data)
