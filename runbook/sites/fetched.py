"""Files a `get` step downloads on a site host, shipped back to the controller through Redis.

A worker runs a share in a private folder that is deleted when the share ends, so a `get`
there would lose its files. On the worker, `FetchShipper.wrap` makes each host's `get`
download into that folder (a relative `dest` already resolves there; an absolute one is moved
under it, so the worker's own filesystem is never written), then sends every downloaded file
as `fetched` messages, in chunks of CHUNK_BYTES, ahead of the step's result. A share may ship
at most MAX_FETCHED_BYTES (docs/sites.md); a `get` that would go past the limit fails on its
host with a message naming the limit.

On the controller, `FetchReceiver.take` writes each file under the controller's `dest`,
laid out as a local run lays it out (`dest/<host id>/<name>`). It writes only under a `get`
dest of that host: the one the controller rendered itself when the step compiled before the
run, else (a dest rendered at run time) the worker's, which must end in the host's folder;
a path with `..` or one naming another host is refused (logged), so a worker cannot write
elsewhere on the controller.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from runbook.model import GetAction
from runbook.plan.actions import GetFiles
from runbook.results import Status

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.plan.compiler import Plan
    from runbook.sites.codec import Message

log = logging.getLogger(__name__)

MAX_FETCHED_BYTES = 16 * 1024 * 1024
"""What the `get` steps of one share may ship back to the controller, in all."""
CHUNK_BYTES = 256 * 1024


class FetchShipper:
    """Worker side: redirect each host's `get` under `root` and ship what it downloaded."""

    def __init__(self, root: Path, send: Callable[[Message], None],
                 limit: int = MAX_FETCHED_BYTES) -> None:
        self.root = root
        self.send = send
        self.limit = limit
        self.shipped = 0

    def wrap(self, host: Host) -> None:
        """Replace `host.get` on this host object by one that downloads and ships back."""
        original = host.get

        async def get(src_files: Any, dest_dir: Any, **kwargs: Any) -> tuple[Status, str]:
            controller_dest = self.controller_path(Path(dest_dir))
            local = self.root / controller_dest.relative_to("/")
            status, message = await original(src_files, local, **kwargs)
            message = self.unrooted(message)
            if status is not Status.Success:
                return status, message
            sources = [src_files] if isinstance(src_files, str | Path) else list(src_files)
            files = _files(local, [PurePosixPath(str(s)).name for s in sources])
            size = sum(f.stat().st_size for f in files)
            if self.shipped + size > self.limit:
                return Status.Failed, (
                    f"the files fetched on this site exceed {_size(self.limit)} per run ("
                    f"{_size(size)} more for {controller_dest}): they cannot be shipped "
                    "back to the controller; fetch large files another way (docs/sites.md)")
            self.shipped += size
            for file in files:
                self._ship(host.id, controller_dest, file.relative_to(local).as_posix(), file)
            return status, message

        setattr(host, "get", get)  # noqa: B010  (mypy forbids assigning to a method)

    def controller_path(self, dest: Path) -> Path:
        """`dest` as the controller names it: a path under the share's folder is the
        controller's path the bundle was unpacked at (bundle.unpack)."""
        try:
            return Path("/") / dest.relative_to(self.root)
        except ValueError:
            return dest

    def unrooted(self, text: str) -> str:
        """`text` with the share's folder cut out of its paths, so a transcript names the
        controller's paths (where the files are), not the worker's deleted folder."""
        return text.replace(str(self.root), "")

    def _ship(self, host_id: str, dest: Path, name: str, file: Path) -> None:
        data = file.read_bytes()
        chunks = range(0, max(1, len(data)), CHUNK_BYTES)
        for n, start in enumerate(chunks):
            self.send({"t": "fetched", "host": host_id, "dest": str(dest), "path": name,
                       "chunk": n, "data": base64.b64encode(
                           data[start:start + CHUNK_BYTES]).decode("ascii")})


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def _files(folder: Path, names: Iterable[str]) -> list[Path]:
    """The files `get` placed in `folder` for these source names (a folder walked)."""
    found: list[Path] = []
    for name in names:
        path = folder / name
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            found.append(path)
    return found


class FetchReceiver:
    """Controller side: write the `fetched` messages of the site hosts under their dests."""

    def __init__(self, plan: Plan) -> None:
        self.static: dict[str, set[str]] = {}
        self.runtime: set[str] = set()  # hosts with a `get` whose dest renders at run time
        for planned in plan.steps:
            if not isinstance(planned.step.action, GetAction):
                continue
            for host in planned.targets:
                concrete = planned.precompiled(host.id)
                if isinstance(concrete, GetFiles):
                    self.static.setdefault(host.id, set()).add(str(Path(concrete.dest).resolve()))
                else:
                    self.runtime.add(host.id)

    def take(self, hosts: Iterable[str], message: Message) -> None:
        """Write one chunk of one file of one of `hosts` (a site's); refuse a bad path."""
        host_id = str(message.get("host"))
        dest = str(message.get("dest"))
        name = PurePosixPath(str(message.get("path")))
        problem = self._problem(host_id, set(hosts), dest, name)
        if problem:
            log.warning("fetched file %s of %s refused: %s", name, host_id, problem)
            return
        target = Path(dest) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb" if int(message.get("chunk") or 0) == 0 else "ab") as handle:
            handle.write(base64.b64decode(str(message.get("data") or "")))

    def _problem(self, host_id: str, hosts: set[str], dest: str, name: PurePosixPath) -> str:
        if host_id not in hosts:
            return "not a host of this site"
        if name.is_absolute() or ".." in name.parts or not name.parts:
            return "not a relative path inside the dest"
        if dest in self.static.get(host_id, ()):
            return ""
        if host_id in self.runtime and PurePosixPath(dest).is_absolute() \
                and PurePosixPath(dest).name == host_id and ".." not in PurePosixPath(dest).parts:
            return ""
        return f"{dest} is not a get dest of {host_id}"
