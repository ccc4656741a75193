"""File transfer rules shared by local and SSH hosts: atomic files, followed links.

Every file is written under a temporary name in its destination folder
(`.NAME.runbook-XXXX.part`) and renamed into place only when complete, so a transfer that fails
or is interrupted never leaves a truncated file under the final name (the old content, if any,
stays); the temporary is removed on failure or interruption. Symbolic links are followed (an
absolute target too); inside a folder, a broken link or a link loop is skipped and named in
the message without failing the transfer.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import stat
import threading
from collections.abc import Sequence
from dataclasses import field
from pathlib import Path

from runbook._dataclass import mutable
from runbook.errors import TransferStoppedError
from runbook.results import Status

PathLike = str | Path
#: Bytes copied between checks for a stop request (a cancelled local copy stops within one).
COPY_CHUNK = 1 << 20


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


def temp_name(final: str) -> str:
    """The temporary name a file is written under before it is renamed to `final`."""
    head, _, name = final.rpartition("/")
    temp = f".{name}.runbook-{secrets.token_hex(4)}.part"
    return f"{head}/{temp}" if head else temp


@mutable
class Skipped:
    """Links inside copied folders that were left out (broken, looping, unreadable)."""

    items: list[str] = field(default_factory=list)

    def add(self, path: str, why: str) -> None:
        self.items.append(f"{path} ({why})")

    def summary(self, done: str) -> str:
        """`done`, plus the skipped items when there are any."""
        if not self.items:
            return done
        return (f"{done}; skipped {len(self.items)} broken or looping link(s): "
                + ", ".join(self.items))


def copy_local(sources: list[Path], dest: Path, mode: int | None,
               stop: threading.Event) -> tuple[Status, str]:
    """Copy files or folders into `dest` (made if missing), atomically per file (see module)."""
    skipped = Skipped()
    dest = dest.expanduser()
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for src in sources:
            target = dest / src.name
            _copy_item(src, target, skipped, frozenset(), stop, top=True)
            if mode is not None:
                target.chmod(mode)
    except OSError as exc:
        return Status.Error, f"copy to {dest} failed: {exc}"
    return Status.Success, skipped.summary(f"copied {len(sources)} item(s) to {dest}")


def _copy_item(src: Path, target: Path, skipped: Skipped, ancestors: frozenset[Path],
               stop: threading.Event, *, top: bool = False) -> None:
    try:
        is_dir = stat.S_ISDIR(src.stat().st_mode)  # follows links; a broken one raises
    except OSError as exc:
        if top:
            raise
        skipped.add(str(src), exc.strerror or str(exc))
        return
    if not is_dir:
        copy_file_atomic(src, target, stop)
        return
    real = src.resolve()
    if real in ancestors:
        skipped.add(str(src), f"link loop back to {real}")
        return
    target.mkdir(exist_ok=True)
    for child in sorted(src.iterdir()):
        _copy_item(child, target / child.name, skipped, ancestors | {real}, stop)


def copy_file_atomic(src: Path, target: Path, stop: threading.Event) -> None:
    """Copy `src` to a temporary name beside `target`, then rename it into place."""
    temp = Path(temp_name(str(target)))
    try:
        with src.open("rb") as reader, temp.open("wb") as writer:
            while chunk := reader.read(COPY_CHUNK):
                if stop.is_set():
                    raise TransferStoppedError
                writer.write(chunk)
        shutil.copystat(src, temp)
        temp.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
