"""Helpers shared by the file transfer code of local and SSH hosts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

PathLike = str | Path


def as_paths(src_files: PathLike | Sequence[PathLike]) -> list[Path]:
    """One path or a sequence of paths, as a list of `Path` with `~` expanded."""
    items = [src_files] if isinstance(src_files, str | Path) else list(src_files)
    return [Path(item).expanduser() for item in items]


def missing_sources(sources: list[Path]) -> str | None:
    """A message naming the local sources that do not exist, or None when all do."""
    missing = [str(p) for p in sources if not p.exists()]
    if not missing:
        return None
    return f"local file(s) not found: {', '.join(missing)}"
