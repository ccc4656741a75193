"""Extra variables from the command line: `-e KEY=VALUE` and `-e @vars.yml`.

Values are parsed as YAML scalars (`-e count=3` is the integer 3, `-e debug=true` a boolean,
`-e 'hosts=[a, b]'` a list because it starts with a bracket; anything else stays a string). `@file` loads a
YAML or JSON mapping (relative to the current folder). Later arguments override earlier ones.
Shared by `runbook validate` and `runbook apply`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runbook.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names every template has built in; a variable cannot take them.
RESERVED_NAMES = frozenset({"host", "secret"})


def reserved_name_problem(name: str) -> str | None:
    """Why `name` cannot be a variable name, or None when it can."""
    if name in RESERVED_NAMES:
        what = "the host's own fields" if name == "host" else "the secret() function"
        return f"{name!r} is a reserved name (templates use it for {what}): rename the variable"
    return None


def parse_value(text: str) -> Any:
    """A command-line value as YAML (booleans only true/false), or the text itself."""
    from runbook.errors import YamlSyntaxError
    from runbook.language.yamlload import load_text

    if text == "":
        return ""
    try:
        doc = load_text(text, file="<-e>")
    except YamlSyntaxError:
        return text
    if doc.problems:
        return text
    if doc.data is None and text.strip() not in ("~", "null", "Null", "NULL"):
        return text  # e.g. only a comment
    if isinstance(doc.data, dict | list) and not text.lstrip().startswith(("[", "{")):
        return text  # "a: b" is a string here, not a mapping
    if isinstance(doc.data, int) and re.fullmatch(r"[-+]?0[0-9_]+", text.strip()):
        return text  # "0123" is a build number or an id, not YAML 1.1 octal
    return doc.data


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
        result[name] = parse_value(value)
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
