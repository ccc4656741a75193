"""The local files a site's share needs, shipped inside its task, content-addressed.

A site worker has none of the controller's files: the runbook and the files it includes, the
lab, and every local file
the plan reads for the site's hosts (put sources, put templates; a folder is shipped whole)
travel in the task as `files` (absolute path on the controller → SHA-256) and `blobs`
(SHA-256 → base64 content), so a file used by many steps travels once. The worker rebuilds
them under a private folder at the same absolute paths (`unpack`), so paths relative to the
runbook resolve as they did on the controller. A share is limited to MAX_BUNDLE_BYTES of file
content (docs/sites.md); a bigger one is refused before anything is sent.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.errors import ConfigError
from runbook.model import PutAction
from runbook.plan.actions import PutFiles

if TYPE_CHECKING:
    from runbook.plan.compiler import Plan

MAX_BUNDLE_BYTES = 16 * 1024 * 1024
MAX_FILES = 10_000


def plan_files(plan: Plan, host_ids: Iterable[str]) -> list[Path]:
    """The local files the plan reads for `host_ids`: put sources and templates (folders walked)."""
    wanted = set(host_ids)
    found: dict[Path, None] = {}
    for planned in plan.steps:
        action = planned.step.action
        if not isinstance(action, PutAction):
            continue
        for host in planned.targets:
            if host.id not in wanted:
                continue
            concrete = planned.precompiled(host.id)
            sources = concrete.sources if isinstance(concrete, PutFiles) else \
                (str(plan.renderer.local_path(action.src)),)
            for source in sources:
                found.update(dict.fromkeys(_walk(Path(source))))
    return list(found)


def runbook_files(plan: Plan) -> list[Path]:
    """The files the runbook was read from: its own and every file it includes (as far as a
    step was read from it), so the worker loads the same step tree."""
    found = {Path(step.location.file): None for step in plan.runbook.steps}
    for step in plan.runbook.steps:
        found.update((Path(frame.location.file), None) for frame in step.frames)
    return [path for path in found if path.is_file()]


def _walk(path: Path) -> list[Path]:
    """The file itself, or every file under a folder; nothing for a path that does not exist
    (a templated source the worker renders differently: it reports the missing file itself)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return []


def pack(paths: Iterable[Path], *, limit: int = MAX_BUNDLE_BYTES) -> dict[str, Any]:
    """{"files": {path: sha256}, "blobs": {sha256: base64}}; `ConfigError` over the limits."""
    files: dict[str, str] = {}
    blobs: dict[str, str] = {}
    total = 0
    for path in paths:
        absolute = path.resolve()
        try:
            data = absolute.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {absolute} to ship it to a site: "
                              f"{exc.strerror or exc}") from None
        digest = hashlib.sha256(data).hexdigest()
        files[str(absolute)] = digest
        if digest not in blobs:
            total += len(data)
            if total > limit:
                raise ConfigError(f"the files a site needs exceed {limit // (1024 * 1024)} MiB "
                                  f"(at {absolute}): ship large files another way (docs/sites.md)")
            blobs[digest] = base64.b64encode(data).decode("ascii")
        if len(files) > MAX_FILES:
            raise ConfigError(f"a site's share may carry at most {MAX_FILES} files")
    return {"files": files, "blobs": blobs}


def unpack(bundle: dict[str, Any], root: Path) -> dict[str, Path]:
    """Write the bundle's files under `root` at their absolute paths; original → new path.

    A blob whose content does not match its address is refused (`ConfigError`).
    """
    placed: dict[str, Path] = {}
    blobs: dict[str, str] = bundle.get("blobs", {})
    for original, digest in bundle.get("files", {}).items():
        data = base64.b64decode(blobs[digest])
        if hashlib.sha256(data).hexdigest() != digest:
            raise ConfigError(f"shipped file {original} is corrupt (checksum mismatch)")
        target = root / Path(original).relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        placed[original] = target
    return placed
