"""Load YAML (and JSON) keeping the line and column of every node.

PyYAML throws positions away and silently keeps the last of two equal mapping keys. Here the
node tree is composed first and converted by hand, so that

* every value and every mapping key has a `Location` (looked up by its JSON path, e.g.
  `("steps", 2, "run")`), used to point errors at the offending line;
* duplicate keys are reported (as `Document.problems`, so all of them show up in one run);
* syntax errors become a `YamlSyntaxError` with file, line and column.

Booleans follow YAML 1.2: only `true` / `false` are booleans, so `power: on` stays the
string "on" (YAML 1.1 would read it as True). Integers keep YAML 1.1 rules (`0644` is octal).
JSON files are parsed by the same code (JSON is YAML), after a strict `json` check.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from runbook._dataclass import mutable
from runbook.errors import ConfigError, YamlSyntaxError
from runbook.model import Location

JsonPath = tuple[str | int, ...]

# A document that expands to more nodes than this is an alias bomb, not a runbook.
MAX_NODES = 1_000_000

_BOOL = "tag:yaml.org,2002:bool"
_MERGE = "tag:yaml.org,2002:merge"


def _yaml12_bools(resolvers: dict[Any, list[tuple[str, Any]]]) -> dict[Any, list[tuple[str, Any]]]:
    """A copy of PyYAML's implicit resolvers where only true/false resolve to booleans."""
    table = {k: [(tag, rx) for tag, rx in v if tag != _BOOL] for k, v in resolvers.items()}
    bool_rx = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
    for first in "tTfF":
        table.setdefault(first, []).insert(0, (_BOOL, bool_rx))
    return table


class _PyLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (pure-Python fallback)."""


_PyLoader.yaml_implicit_resolvers = _yaml12_bools(yaml.SafeLoader.yaml_implicit_resolvers)

if getattr(yaml, "__with_libyaml__", False):

    class _CLoader(yaml.CSafeLoader):
        """libyaml-backed SafeLoader with YAML 1.2 booleans (fast path)."""

    _CLoader.yaml_implicit_resolvers = _yaml12_bools(yaml.CSafeLoader.yaml_implicit_resolvers)
    _Loader: type[Any] = _CLoader
else:  # pragma: no cover - libyaml is nearly always there
    _Loader = _PyLoader


@mutable
class Document:
    """A loaded file: plain data (dicts, lists, scalars) plus a side table of positions."""

    file: str
    data: Any
    problems: list[ConfigError] = field(default_factory=list)
    _values: dict[JsonPath, tuple[int, int]] = field(default_factory=dict, repr=False)
    _keys: dict[JsonPath, tuple[int, int]] = field(default_factory=dict, repr=False)
    _raw: dict[JsonPath, str] = field(default_factory=dict, repr=False)

    def location(self, path: JsonPath, *, key: bool = False) -> Location:
        """Where the value at `path` starts (or its key, with `key=True`).

        Unknown paths fall back to the nearest known ancestor, so a missing key points at
        the mapping that should hold it.
        """
        if key and path in self._keys:
            line, col = self._keys[path]
            return Location(self.file, line, col)
        probe = tuple(path)
        while probe not in self._values and probe:
            probe = probe[:-1]
        line, col = self._values.get(probe, (1, 1))
        return Location(self.file, line, col)

    def raw(self, path: JsonPath) -> str | None:
        """The source text of the scalar at `path` (e.g. "0644" for an octal int)."""
        return self._raw.get(tuple(path))

    def paths(self) -> Iterator[JsonPath]:
        """Every JSON path that has a position (values of the document)."""
        return iter(self._values)

    def nested(self, data: Any, prefix: JsonPath) -> Document:
        """The same positions for `data`, which holds this document's data at `prefix`
        (a plain list of steps seen as a runbook's `steps`)."""
        def shift(table: dict[JsonPath, Any]) -> dict[JsonPath, Any]:
            return {(*prefix, *path): value for path, value in table.items()}

        return Document(self.file, data, self.problems, shift(self._values),
                        shift(self._keys), shift(self._raw))


class _Builder:
    """Turns a composed YAML node tree into plain data while recording positions."""

    def __init__(self, loader: Any, doc: Document, text: str) -> None:
        self.loader = loader
        self.doc = doc
        self.text = text
        self.count = 0

    def problem(self, message: str, line: int, col: int) -> None:
        self.doc.problems.append(ConfigError(message, file=self.doc.file, line=line, column=col))

    def build(self, node: Node, path: JsonPath, active: frozenset[int]) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise YamlSyntaxError(
                f"document expands to more than {MAX_NODES} nodes (alias bomb?)",
                file=self.doc.file, line=node.start_mark.line + 1,
                column=node.start_mark.column + 1)
        pos = (node.start_mark.line + 1, node.start_mark.column + 1)
        self.doc._values[path] = pos
        if isinstance(node, ScalarNode):
            self.doc._raw[path] = node.value
            return self.loader.construct_object(node)
        if id(node) in active:
            raise YamlSyntaxError("recursive alias: a node contains itself",
                                  file=self.doc.file, line=pos[0], column=pos[1])
        inner = active | {id(node)}
        if isinstance(node, SequenceNode):
            return [self.build(child, (*path, i), inner) for i, child in enumerate(node.value)]
        if isinstance(node, MappingNode):
            source = self.text[node.start_mark.index:node.end_mark.index]
            if node.flow_style and source.startswith("{{"):
                # `run: {{ cmd }}`: report it, and keep the text so nothing else complains.
                self.problem(JINJA_QUOTE_HINT, *pos)
                return source
            return self.build_mapping(node, path, inner, pos)
        raise YamlSyntaxError(f"unsupported YAML node {node.tag}", file=self.doc.file,
                              line=pos[0], column=pos[1])  # pragma: no cover

    def build_mapping(self, node: MappingNode, path: JsonPath, active: frozenset[int],
                      pos: tuple[int, int]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        own = [(k, v) for k, v in node.value if k.tag != _MERGE]
        # `<<: *anchor` merge keys: merged entries first, explicit keys then override them.
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE:
                continue
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                merged = self.build(source, path, active)
                if not isinstance(merged, dict):
                    self.problem("a merge key (<<) needs a mapping or a list of mappings",
                                 key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                    continue
                for k, v in merged.items():
                    result.setdefault(k, v)
        self.doc._values[path] = pos
        first_seen: dict[str, int] = {}
        for key_node, value_node in own:
            kline, kcol = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if not isinstance(key_node, ScalarNode):
                self.problem("mapping keys must be plain strings, not lists or mappings",
                             kline, kcol)
                continue
            key = str(key_node.value)
            if key in first_seen:
                self.problem(f"duplicate key {key!r} (first defined on line {first_seen[key]}); "
                             "YAML would silently keep only the last one: remove or rename one",
                             kline, kcol)
            else:
                first_seen[key] = kline
            self.doc._keys[(*path, key)] = (kline, kcol)
            result[key] = self.build(value_node, (*path, key), active)
        return result


def _reader_error(exc: yaml.reader.ReaderError, file: str, text: str) -> YamlSyntaxError:
    """A character YAML refuses (NUL, other control characters), at its line and column."""
    before = text[:max(exc.position, 0)]
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    char = exc.character if isinstance(exc.character, str) else chr(exc.character)
    return YamlSyntaxError(f"YAML syntax error: character {ord(char):#06x} is not allowed "
                           f"({exc.reason}): remove it or write it as an escape in a quoted "
                           "string", file=file, line=line, column=column)


def _syntax_error(exc: yaml.YAMLError, file: str, text: str) -> YamlSyntaxError:
    if isinstance(exc, yaml.reader.ReaderError):
        return _reader_error(exc, file, text)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    message = f"YAML syntax error: {problem}"
    if context:
        started = ""
        if context_mark is not None and mark is not None and context_mark.line != mark.line:
            started = f" started on line {context_mark.line + 1}"
        message += f" ({context}{started})"
    if mark is not None and _char_at(text, mark.line, mark.column) == "\t":
        message += "; YAML does not allow tabs for indentation: use spaces"
    elif mark is not None and _UNQUOTED_JINJA.search(_line_at(text, mark.line)):
        message += "; " + JINJA_QUOTE_HINT
    else:
        message += _syntax_hint(problem, _char_at(text, mark.line, mark.column)
                                if mark is not None else "")
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return YamlSyntaxError(message, file=file, line=line, column=column)


# `run: {{ cmd }}` is a YAML flow mapping, not a template: the value must be quoted.
_UNQUOTED_JINJA = re.compile(r"(?:^|:|-)\s+\{\{")
JINJA_QUOTE_HINT = ("YAML reads a value starting with {{ as a mapping: quote the whole value, "
                    "like run: \"{{ cmd }} --now\"")
_HINTS = (
    ("mapping values are not allowed", "; a ': ' inside a plain value starts a mapping: quote "
     "the whole value"),
    ("did not find expected key", "; check this line's indentation against the lines above"),
    ("did not find expected '-' indicator", "; check this line's indentation against the "
     "lines above"),
    ("found undefined alias", "; define the anchor (&name) before using the alias (*name)"),
    ("could not determine a constructor", "; runbooks and labs use plain YAML: remove the "
     "!tag"),
    ("but found another document", "; a file holds one runbook or lab: remove the '---' and "
     "what follows, or split the file"),
    ("found unexpected end of stream", "; a quote or bracket is not closed"),
)


def _syntax_hint(problem: str, char: str) -> str:
    """What to do about a PyYAML problem, as "; hint" (or "")."""
    if problem.startswith("found character that cannot start any token") and char:
        return f"; a plain value cannot start with {char!r}: quote the whole value"
    for start, hint in _HINTS:
        if problem.startswith(start):
            return hint
    return ""


def _line_at(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line] if line < len(lines) else ""


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column:column + 1] if line < len(lines) else ""


def load_text(text: str, *, file: str = "<string>", json_strict: bool = False) -> Document:
    """Parse `text`; raise `YamlSyntaxError` for malformed input.

    Duplicate keys and other recoverable problems land in `Document.problems`.
    """
    if json_strict:
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            hint = ""
            if exc.pos == len(text) - len(text.lstrip()) and _is_yaml_mapping(text):
                hint = ("; this looks like YAML: rename the file to .yml (JSON files must be "
                        "JSON)")
            raise YamlSyntaxError(f"JSON syntax error: {exc.msg}{hint}", file=file,
                                  line=exc.lineno, column=exc.colno) from None
        # Raw tabs can only be whitespace in valid JSON; YAML rejects them there.
        text = text.replace("\t", " ")
    doc = Document(file=file, data=None)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            doc.data = _Builder(loader, doc, text).build(node, (), frozenset())
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, file, text) from None
    except RecursionError:
        raise YamlSyntaxError("document is nested too deeply", file=file) from None
    finally:
        loader.dispose()
    return doc


def _is_yaml_mapping(text: str) -> bool:
    """Whether `text` parses as a YAML mapping (to tell a misnamed .json file apart)."""
    try:
        return isinstance(yaml.load(text, Loader=_Loader), dict)
    except (yaml.YAMLError, RecursionError):
        return False


def display_name(path: Path) -> str:
    """How a file is named in messages: relative to the current folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return str(path)


def load_file(path: Path | str, *, file: str | None = None) -> Document:
    """Read and parse a YAML or JSON file (JSON by `.json` suffix); `path` may be a str."""
    path = Path(path)
    name = file if file is not None else display_name(path)
    problem = not_a_regular_file(path)
    if problem is not None:
        raise YamlSyntaxError(problem, file=name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise YamlSyntaxError(f"cannot read file: {exc.strerror or exc}", file=name) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise YamlSyntaxError(f"not UTF-8 text: byte {data[exc.start]:#04x} ({exc.reason}); "
                              "save the file as UTF-8", file=name, line=line,
                              column=column) from None
    return load_text(text, file=name, json_strict=path.suffix.lower() == ".json")


def not_a_regular_file(path: Path | str) -> str | None:
    """Why `path` cannot be read as a file (missing, a folder, a FIFO, ...), or None.

    Checked before opening: opening a FIFO would block until something writes to it.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            return "is a broken symbolic link (its target does not exist): fix or remove it"
        return "no such file: check the path"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link loop: fix the link"
        return f"cannot read file: {exc.strerror or exc}"
    except ValueError:  # "embedded null byte"
        return "is not a usable path (it contains a NUL character): fix the path"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file: give a YAML or JSON file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a pipe, socket or device): give a YAML or JSON file"
    return None


def expand_home(text: str) -> Path:
    """`Path(text).expanduser()`, with a ConfigError for `~user` naming an unknown user
    (pathlib raises a bare RuntimeError there)."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        user = text.split("/", 1)[0]
        raise ConfigError(f"{user!r}: there is no such user, so {text!r} cannot be expanded: "
                          "write the full path") from None


def base_folder(path: Path) -> Path:
    """The folder relative paths written in the file `path` are resolved against: the folder
    of its real location (`os.path.realpath`), so a symlinked runbook or lab
    (`current.yml -> ../releases/v2/upgrade.yml`) finds its files next to its target, not
    next to the link. When the file is not a link the folder is kept as given, so messages
    show paths as the user wrote them."""
    real = Path(os.path.realpath(path))
    if real.parent == Path(os.path.realpath(path.parent)):
        return path.parent
    return real.parent


def load_data(path: Path | str) -> Any:
    """Plain data of a small YAML/JSON file; duplicate keys are errors (raised, first one)."""
    doc = load_file(path)
    if doc.problems:
        raise doc.problems[0]
    return doc.data
