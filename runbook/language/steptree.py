"""Nested steps (`block`, `include`) read into the runbook's flat list of steps.

A runbook is a tree (blocks hold steps, includes pull in files of steps) but it runs as a
list: every action step becomes one `Step` in runbook order, carrying its ancestry (`frames`,
for paths in output and reports), the blocks it sits in with the section (`blocks`, for the
engine's rescue / always bookkeeping), the host patterns of every enclosing level (`narrow`:
a host must match each), its inherited tags, and `when` and-ed with the enclosing ones.

Includes are resolved here, at load time, relative to the including file's real folder (so a
symlinked runbook includes from where it really lives). A cycle is a finding naming the chain;
findings inside an included file name that file and line, plus the chain that led there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any

from runbook._dataclass import frozen
from runbook.errors import YamlSyntaxError
from runbook.language import schema
from runbook.language.findings import Finding, finding_from_error
from runbook.language.schemamessages import owner_of
from runbook.language.yamlload import Document, JsonPath, load_file
from runbook.model import Block, BlockPhase, Frame, Step

MAX_INCLUDE_DEPTH = 32
SECTIONS: tuple[BlockPhase, ...] = ("block", "rescue", "always")
# Keys that mean something only on an action step; on a block or include they are refused.
ACTION_ONLY = ("register", "until", "retries", "delay", "expect", "loop", "loop_var",
               "run_once", "delegate_to")
# Modifiers a block or include passes to its steps (a step's own value wins).
INHERITED = ("timeout", "ignore_errors", "concurrent", "become", "become_user")
BECOME_KEYS = ("become", "become_user")
BLOCK_ONLY = ("rescue", "always", "batch", "max_failed")


@frozen
class Scope:
    """What the enclosing blocks and includes pass to the steps inside them."""

    doc: Document
    real: Path
    hosts: tuple[tuple[str, ...], ...] = ()
    when: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    frames: tuple[Frame, ...] = ()
    blocks: tuple[tuple[int, BlockPhase], ...] = ()
    chain: tuple[tuple[Path, str], ...] = ()
    inherited: dict[str, Any] = field(default_factory=dict)


StepBuilder = Callable[[int, dict[str, Any], Document, JsonPath],
                      tuple[Step | None, list[Finding]]]
"""Builds one action step (runbookfile._build_step): flat index, raw mapping, file, path."""


def as_runbook_document(doc: Document, name: str) -> Document:
    """A file that is a plain list of steps, seen as a runbook `{name, steps: [...]}` so one
    schema and one set of paths (`steps`, i, ...) serve both forms."""
    if not isinstance(doc.data, list):
        return doc
    return doc.nested({"name": name, "steps": doc.data}, ("steps",))


def combine_when(outer: str | None, inner: str | None) -> str | None:
    """Both conditions must hold: `(outer) and (inner)`."""
    if outer is None or inner is None:
        return inner if outer is None else outer
    return f"({outer}) and ({inner})"


def as_tags(value: Any) -> frozenset[str]:
    """`tags: a` or `tags: [a, b]` as a set."""
    if isinstance(value, str):
        return frozenset([value])
    return frozenset(t for t in value or () if isinstance(t, str))


class StepTreeReader:
    """Walks a runbook's step tree; `steps`, `blocks` and `findings` fill as it goes."""

    def __init__(self, build_step: StepBuilder, file: str, bad_paths: set[JsonPath]) -> None:
        self.build_step = build_step
        self.bad_paths = {(file, p) for p in bad_paths}
        self.steps: list[Step] = []
        self.blocks: list[Block] = []
        self.findings: list[Finding] = []
        self.lost_registers: set[str] = set()

    # -- walking --------------------------------------------------------------------------
    def read_list(self, items: list[Any], prefix: JsonPath, scope: Scope) -> None:
        """Every step of the list at `prefix` of `scope.doc`, in order."""
        for position, raw in enumerate(items):
            path = (*prefix, position)
            if (scope.doc.file, path) in self.bad_paths or not isinstance(raw, dict):
                self._lose(raw)
                continue
            if not self._modifiers_fit(raw, path, scope):
                self._lose(raw)
                continue
            if "block" in raw:
                self.read_block(raw, path, scope)
            elif "include" in raw:
                self.read_include(raw, path, scope)
            else:
                self.read_action(raw, path, scope)

    def read_action(self, raw: dict[str, Any], path: JsonPath, scope: Scope) -> None:
        """One action step, with what its scope passes in."""
        if "hosts" not in raw and not scope.hosts:
            self.add(scope, path, "missing required key 'hosts': which lab hosts the step "
                                  "runs on (inside a block or include with hosts it may be "
                                  "left out)")
            self._lose(raw)
            return
        inherited = {k: v for k, v in scope.inherited.items()
                     if k not in raw and (k not in BECOME_KEYS or _runs_as_user(raw))}
        built, problems = self.build_step(len(self.steps), {**inherited, **raw}, scope.doc, path)
        self.findings.extend(self._in_chain(scope, problems))
        if built is None:
            self._lose(raw)
            return
        own = "hosts" in raw
        step = dataclasses.replace(
            built, hosts=built.hosts if own else scope.hosts[-1],
            narrow=scope.hosts if own else scope.hosts[:-1],
            when=combine_when(scope.when, built.when), vars={**scope.vars, **built.vars},
            tags=scope.tags | as_tags(raw.get("tags")), frames=scope.frames,
            blocks=scope.blocks, json_path=path, source=scope.doc,
            files_dir=scope.real.parent if scope.chain else None)
        self.steps.append(step)

    def read_block(self, raw: dict[str, Any], path: JsonPath, scope: Scope) -> None:
        """A block: its sections in order (block, rescue, always), flattened."""
        block_id = len(self.blocks)
        location = scope.doc.location(path)
        name = raw.get("name") or f"block at line {location.line}"
        self.blocks.append(Block(block_id, name, location, ()))  # placeholder, keeps ids
        inner = self._inner_scope(raw, scope)
        first = len(self.steps)
        for section in SECTIONS:
            items = raw.get(section)
            if not isinstance(items, list):
                continue
            frame = Frame("block", name, location, section, block_id, _own_hosts(raw), path,
                          scope.doc)
            section_scope = dataclasses.replace(
                inner, frames=(*scope.frames, frame),
                blocks=(*scope.blocks, (block_id, section)))
            self.read_list(items, (*path, section), section_scope)
        self.blocks[block_id] = Block(
            block_id, name, location, inner.hosts, first, len(self.steps) - 1,
            has_rescue=isinstance(raw.get("rescue"), list),
            parent=scope.blocks[-1] if scope.blocks else None,
            batch=_batch_value(raw.get("batch")), max_failed=raw.get("max_failed", 0))

    def read_include(self, raw: dict[str, Any], path: JsonPath, scope: Scope) -> None:
        """An include: the file's steps read here, with the include's modifiers around them."""
        written = raw["include"]
        target = scope.real.parent / written
        real = target.resolve()
        chain = (*scope.chain, (scope.real, str(scope.doc.location(path))))
        if any(real == seen for seen, _ in chain):
            names = " -> ".join([*(where for _, where in chain), str(written)])
            self.add(scope, (*path, "include"), f"include cycle: {names}")
            return
        if len(chain) > MAX_INCLUDE_DEPTH:
            self.add(scope, (*path, "include"), f"includes nest deeper than "
                                                f"{MAX_INCLUDE_DEPTH} levels")
            return
        doc = self._load_included(target, written, path, scope)
        if doc is None:
            return
        data = doc.data
        file_vars = data.get("vars") if isinstance(data.get("vars"), dict) else {}
        inner = self._inner_scope(raw, scope)
        frame = Frame("include", str(written), scope.doc.location(path), None, None,
                      _own_hosts(raw), path, scope.doc)
        included = dataclasses.replace(
            inner, doc=doc, real=real, chain=chain, frames=(*scope.frames, frame),
            vars={**file_vars, **scope.vars, **(raw.get("vars") or {})})
        self.read_list(data["steps"], ("steps",), included)

    # -- helpers --------------------------------------------------------------------------
    def _inner_scope(self, raw: dict[str, Any], scope: Scope) -> Scope:
        """The scope a block's or include's own modifiers make for its steps."""
        hosts = raw.get("hosts")
        levels = scope.hosts
        if hosts is not None:
            levels = (*levels, (hosts,) if isinstance(hosts, str) else tuple(hosts))
        when = raw.get("when")
        if isinstance(when, bool):
            when = "true" if when else "false"
        inherited = dict(scope.inherited)
        for key in INHERITED:
            if key in raw:
                inherited[key] = raw[key]
        return dataclasses.replace(
            scope, hosts=levels, when=combine_when(scope.when, when),
            vars={**scope.vars, **(raw.get("vars") or {})},
            tags=scope.tags | as_tags(raw.get("tags")), inherited=inherited)

    def _load_included(self, target: Path, written: str, path: JsonPath,
                       scope: Scope) -> Document | None:
        """The included file, schema-checked; None (with findings) when it is unusable."""
        where = (*path, "include")
        if not target.is_file():
            self.add(scope, where, f"include {written!r}: no such file (looked for {target}; "
                                   "a path is relative to the folder of the file that "
                                   "includes it)")
            return None
        try:
            doc = as_runbook_document(load_file(target), target.stem)
        except YamlSyntaxError as exc:
            self.findings.append(self._chained(scope, path, finding_from_error(exc)))
            return None
        problems = [finding_from_error(p) for p in doc.problems]
        checked = schema.check_paths(doc, "runbook")
        problems += [f for _, f in checked]
        self.bad_paths |= {(doc.file, _step_path(p)) for p, _ in checked}
        included_scope = dataclasses.replace(scope, chain=(
            *scope.chain, (scope.real, str(scope.doc.location(path)))))
        self.findings.extend(self._in_chain(included_scope, problems))
        if not isinstance(doc.data, dict) or not isinstance(doc.data.get("steps"), list):
            if not problems:
                self.add(scope, where, f"include {written!r}: the file must be a list of "
                                       "steps or a runbook with steps")
            return None
        return doc

    def _modifiers_fit(self, raw: dict[str, Any], path: JsonPath, scope: Scope) -> bool:
        """Keys used where they mean nothing are findings (`rescue` without `block`, ...)."""
        kind = "block" if "block" in raw else "include" if "include" in raw else "action"
        wrong: list[tuple[str, str]] = []
        if kind != "block":
            wrong += [(k, f"{k!r} belongs to a block: put the steps in `block:` and this "
                          f"next to it") for k in BLOCK_ONLY if k in raw]
        if kind != "action":
            wrong += [(k, f"{k!r} does not apply to {'a' if kind == 'block' else 'an'} "
                          f"{kind}: put it on the steps inside") for k in ACTION_ONLY if k in raw]
        if kind == "action" and "loop_var" in raw and "loop" not in raw:
            wrong.append(("loop_var", "'loop_var' names the item of a `loop`: add loop, "
                                      "or remove loop_var"))
        if kind == "block" and "max_failed" in raw and "batch" not in raw:
            wrong.append(("max_failed", "'max_failed' on a block needs its `batch`"))
        for key, message in wrong:
            self.add(scope, (*path, key), message, key=True)
        return not wrong

    def add(self, scope: Scope, path: JsonPath, message: str, *, key: bool = False) -> None:
        """A finding at `path` of the scope's file (with the include chain when included)."""
        loc = scope.doc.location(path, key=key)
        owner, _ = owner_of("runbook", scope.doc.data, path)
        text = f"{owner}: {message}" if owner else message
        self.findings.extend(self._in_chain(scope, [Finding(loc.file, loc.line, loc.column,
                                                            text)]))

    @staticmethod
    def _in_chain(scope: Scope, found: list[Finding]) -> list[Finding]:
        """Findings of an included file say how it was included."""
        if not scope.chain:
            return found
        via = " > ".join(where for _, where in scope.chain)
        return [dataclasses.replace(f, message=f"{f.message} (included from {via})")
                for f in found]

    def _chained(self, scope: Scope, path: JsonPath, finding: Finding) -> Finding:
        chain = (*scope.chain, (scope.real, str(scope.doc.location(path))))
        return self._in_chain(dataclasses.replace(scope, chain=chain), [finding])[0]

    def _lose(self, raw: Any) -> None:
        """Remember the `register` names of steps left out (their uses are not undefined)."""
        if not isinstance(raw, dict):
            return
        if isinstance(raw.get("register"), str):
            self.lost_registers.add(raw["register"])
        for section in SECTIONS:
            for inner in raw.get(section) or ():
                self._lose(inner)


def _step_path(path: JsonPath) -> JsonPath:
    """The innermost step a schema error's path points into: ("steps", 0, "block", 1)."""
    found: JsonPath = ()
    for i in range(1, len(path)):
        if isinstance(path[i], int) and path[i - 1] in ("steps", *SECTIONS) and (
                i == 1 or found or path[0] == "steps"):
            found = path[: i + 1]
    return found


def bad_step_paths(paths: list[JsonPath]) -> set[JsonPath]:
    """The steps schema errors point into (each error marks its innermost step)."""
    return {p for p in (_step_path(path) for path in paths) if p}


def _own_hosts(raw: dict[str, Any]) -> tuple[str, ...] | None:
    hosts = raw.get("hosts")
    if hosts is None:
        return None
    return (hosts,) if isinstance(hosts, str) else tuple(hosts)


def _batch_value(value: Any) -> int | str | tuple[int | str, ...] | None:
    return tuple(value) if isinstance(value, list) else value


def _runs_as_user(raw: dict[str, Any]) -> bool:
    """Whether an action step runs something as a user on the host, so an enclosing block's
    `become` applies to it (not to power, interact or a port wait, which refuse their own)."""
    if "power" in raw or "interact" in raw:
        return False
    wait = raw.get("wait_for")
    return not (isinstance(wait, dict) and "port" in wait)
