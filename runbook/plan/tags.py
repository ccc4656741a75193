"""Choosing steps by tag (`--tags`, `--skip-tags`) and a start (`--start-at-step`).

Selection is done on the flat step list, at plan time, before anything connects:

* `--tags a,b` keeps the steps tagged `a` or `b` (tags are inherited from blocks and includes)
  and the steps tagged `always`; `--skip-tags c` drops the steps tagged `c` (also `always`
  ones, when named). Skipping wins over choosing.
* A block that keeps a step of its `block` section also keeps its `rescue` and `always`
  steps (unless skipped by name): cleanup belongs to the work it cleans up after.
* `--start-at-step NAME` drops every step before the first one whose name (as written) or
  path (`block 'upgrade' > restart`) equals NAME; no such step is an error with did-you-mean.

Kept steps are renumbered 0..n-1 and each block's range is recomputed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import TypeVar

from runbook._suggest import hint
from runbook.errors import ConfigError
from runbook.model import Block, Runbook, Step

ALWAYS_TAG = "always"
R = TypeVar("R", bound=Runbook)


def split_tags(text: str | Sequence[str] | None) -> frozenset[str]:
    """`"a,b"` (or several such strings) as a set of tags."""
    if not text:
        return frozenset()
    parts = [text] if isinstance(text, str) else list(text)
    return frozenset(t.strip() for part in parts for t in part.split(",") if t.strip())


def unknown_tags(runbook: Runbook, tags: Collection[str]) -> list[str]:
    """Messages for tags given on the command line that no step has."""
    known = sorted({t for s in runbook.steps for t in s.tags} | {ALWAYS_TAG})
    return [f"no step has the tag {tag!r}; {hint(tag, known)}"
            for tag in sorted(tags) if tag not in known]


def select_steps(runbook: R, *, tags: Collection[str] = (), skip_tags: Collection[str] = (),
                 start_at: str | None = None) -> R:
    """`runbook` with only the chosen steps; `ConfigError` for unknown tags or start step."""
    if not tags and not skip_tags and start_at is None:
        return runbook
    problems = unknown_tags(runbook, set(tags) | set(skip_tags))
    if problems:
        raise ConfigError("; ".join(problems))
    kept = [_tag_chosen(s, set(tags), set(skip_tags)) for s in runbook.steps]
    _keep_cleanup(runbook, kept, set(skip_tags))
    if start_at is not None:
        first = _start_index(runbook.steps, start_at)
        kept = [k and i >= first for i, k in enumerate(kept)]
    steps = [dataclasses.replace(s, index=n)
             for n, s in enumerate(s for s, k in zip(runbook.steps, kept, strict=True) if k)]
    return dataclasses.replace(runbook, steps=tuple(steps), blocks=renumber_blocks(
        runbook.blocks, steps))


def _tag_chosen(step: Step, tags: set[str], skip: set[str]) -> bool:
    if step.tags & skip:
        return False
    return not tags or bool(step.tags & tags) or ALWAYS_TAG in step.tags


def _keep_cleanup(runbook: Runbook, kept: list[bool], skip: set[str]) -> None:
    """Keep the rescue / always steps of every block whose block section keeps a step."""
    working = {b for step, k in zip(runbook.steps, kept, strict=True) if k
               for b, phase in step.blocks if phase == "block"}
    for i, step in enumerate(runbook.steps):
        if kept[i] or step.tags & skip:
            continue
        if any(b in working and phase != "block" for b, phase in step.blocks):
            kept[i] = True


def _start_index(steps: Sequence[Step], name: str) -> int:
    for i, step in enumerate(steps):
        if name in (step.name, step.path):
            return i
    raise ConfigError(f"--start-at-step {name!r}: no step has that name; "
                      f"{hint(name, [s.name for s in steps])} (see --list-steps)")


def renumber_blocks(blocks: Sequence[Block], steps: Sequence[Step]) -> tuple[Block, ...]:
    """Each block's first and last step in `steps` (-1 and -2 when none is left)."""
    span: dict[int, list[int]] = {}
    for step in steps:
        for block_id, _ in step.blocks:
            span.setdefault(block_id, []).append(step.index)
    return tuple(dataclasses.replace(b, first=min(span.get(b.id, [-1])),
                                     last=max(span.get(b.id, [-2]))) for b in blocks)
