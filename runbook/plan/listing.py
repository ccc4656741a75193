"""`--list-steps`: the step tree (blocks, includes, sections), names, tags and `file:line`.

Pure text from the loaded runbook: nothing connects and no template is rendered.
"""

from __future__ import annotations

from runbook.model import Frame, Runbook, Step

INDENT = "  "


def _frame_key(frame: Frame) -> tuple[object, ...]:
    return (frame.kind, frame.name, frame.location, frame.block_id)


def _tags(step_or_tags: frozenset[str]) -> str:
    return f"  [{', '.join(sorted(step_or_tags))}]" if step_or_tags else ""


def step_tree_lines(runbook: Runbook) -> list[str]:
    """One line per block, include, section and step, indented by nesting."""
    lines: list[str] = []
    previous: tuple[Frame, ...] = ()
    for step in runbook.steps:
        lines += _opened_frames(previous, step)
        depth = len(step.frames) + sum(1 for f in step.frames if f.kind == "block")
        loop = "  (loop)" if step.loop is not None else ""
        lines.append(f"{INDENT * depth}{step.index + 1}. {step.name}{loop}{_tags(step.tags)}"
                     f"  {step.location.file}:{step.location.line}")
        previous = step.frames
    return lines


def _opened_frames(previous: tuple[Frame, ...], step: Step) -> list[str]:
    """Headers for the blocks, includes and sections `step` enters that `previous` did not."""
    lines: list[str] = []
    depth = 0
    same = True
    for level, frame in enumerate(step.frames):
        before = previous[level] if level < len(previous) else None
        new_frame = not same or before is None or _frame_key(before) != _frame_key(frame)
        if new_frame:
            where = f"{frame.location.file}:{frame.location.line}"
            what = f"block {frame.name!r}" if frame.kind == "block" else f"include {frame.name}"
            lines.append(f"{INDENT * depth}{what}  {where}")
        depth += 1
        if frame.kind == "block":
            if new_frame or before is None or before.phase != frame.phase:
                lines.append(f"{INDENT * depth}{frame.phase}:")
                new_frame = True
            depth += 1
        same = not new_frame
    return lines
