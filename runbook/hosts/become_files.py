"""`put` and `get` as the become user, for any host that can run oneshots (local, SSH).

put: the items are uploaded as the login user into a fresh staging folder (``mktemp -d``
mode 0711, holding a folder named by 128 random bits, so nobody who does not know the name
can list or find the copy), then copied into place by a become oneshot (``cp``, ``chown`` to
the become user, ``chmod mode``), and the staging folder is removed. The final items belong to
the become user whatever the login user is.

get: a become oneshot packs the items with ``tar`` into a private temporary file and sends it
base64-encoded on the channel; it is unpacked locally (tarfile's ``data`` filter: no absolute
paths, no links out of `dest_dir`). So a root-only file (0600 root) can be fetched.

`~` at the start of a remote path means the become user's home (``~USER``).
"""

from __future__ import annotations

import base64
import binascii
import io
import secrets
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from runbook._lazyimport import lazy_module
from runbook.hosts.become import Become
from runbook.hosts.shelltext import quote
from runbook.hosts.transfer import PathLike
from runbook.results import Status

if TYPE_CHECKING:
    import asyncio
    import tarfile

    from runbook.hosts.base import Host
else:
    asyncio = lazy_module("asyncio")
    tarfile = lazy_module("tarfile")  # only for `get` with become: ~5 ms of every apply

#: Seconds allowed for the small helper commands (make / remove the staging folder).
HELPER_TIMEOUT = 30.0

_MAKE_STAGING = ("umask 077; d=$(mktemp -d /tmp/.runbook-put.XXXXXXXX) && chmod 0711 \"$d\" "
                 "&& mkdir -m 0700 \"$d/{token}\" && printf '%s\\n' \"$d\"")


def become_path(path: PathLike, user: str) -> str:
    """`path` as a shell word for the become user's shell: `~` / `~/x` mean that user's home."""
    text = str(path)
    if text == "~":
        return f"~{user}"
    if text.startswith("~/"):
        return f"~{user}/{quote(text[2:])}"
    return quote(text)


async def become_put(host: Host, sources: list[Path], dest_dir: PathLike, mode: int | None,
                     who: Become) -> tuple[Status, str]:
    """Upload `sources` into `dest_dir` on `host` so they belong to `who.user` (see module doc)."""
    token = secrets.token_hex(16)
    made = await host.oneshot(_MAKE_STAGING.format(token=token), HELPER_TIMEOUT, become=False)
    lines = made.output.strip().splitlines()
    if not made.status.is_ok or not lines:
        return Status.Error, (f"upload to {host.id}:{dest_dir} failed: could not make a staging "
                              f"folder: {made.output.strip()}")
    staging_root = lines[-1]
    staging = f"{staging_root}/{token}"
    try:
        status, message = await host.put(sources, staging, become=False)
        if status is not Status.Success:
            return status, message
        opened = await host.oneshot(f"chmod -R a+rX {quote(staging)}", HELPER_TIMEOUT,
                                    become=False)
        if not opened.status.is_ok:
            return Status.Error, f"upload to {host.id}:{dest_dir} failed: {opened.output.strip()}"
        placed = await host.oneshot(_place_command(staging, [s.name for s in sources],
                                                   dest_dir, mode, who.user),
                                    become=True, become_user=who.user)
    finally:
        await host.oneshot(f"rm -rf {quote(staging_root)}", HELPER_TIMEOUT, become=False)
    if not placed.status.is_ok:
        return Status.Error, (f"upload to {host.id}:{dest_dir} as {who.user!r} failed: "
                              f"{placed.output.strip()}")
    return Status.Success, (f"uploaded {len(sources)} item(s) to {host.id}:{dest_dir} "
                            f"as {who.user!r}")


def _place_command(staging: str, names: list[str], dest_dir: PathLike, mode: int | None,
                   user: str) -> str:
    """Shell code (run as the become user) that copies the staged items into `dest_dir`."""
    dest = become_path(dest_dir, user)
    parts = ["set -e", f"mkdir -p -- {dest}"]
    for name in names:
        source, target = quote(f"{staging}/{name}"), f"{dest}/{quote(name)}"
        parts.append(f"if [ -d {source} ]; then cp -R -- {source} {dest}/; "
                     f"else rm -f -- {target}; cp -- {source} {target}; fi")
        parts.append(f"chown -R \"$(id -u):$(id -g)\" -- {target}")
        if mode is not None:
            parts.append(f"chmod {mode:o} -- {target}")
    return "; ".join(parts)


async def become_get(host: Host, src_files: PathLike | list[PathLike], dest_dir: Path,
                     who: Become) -> tuple[Status, str]:
    """Download items of `host` read as `who.user` into the local folder `dest_dir`."""
    items = [src_files] if isinstance(src_files, str | Path) else list(src_files)
    members = []
    for item in items:
        path = PurePosixPath(str(item).rstrip("/") or "/")
        members.append(f"-C {become_path(str(path.parent), who.user)} {quote(path.name)}")
    command = ("t=$(mktemp) || exit 1; "
               f"if tar -cf \"$t\" {' '.join(members)}; then base64 < \"$t\"; rc=$?; "
               "else rc=1; fi; rm -f \"$t\"; exit $rc")
    packed = await host.oneshot(command, become=True, become_user=who.user)
    where = f"{host.id}:{', '.join(str(i) for i in items)}"
    if not packed.status.is_ok:
        return Status.Error, (f"download from {where} as {who.user!r} failed: "
                              f"{packed.output.strip()}")
    try:
        data = base64.b64decode("".join(packed.output.split()), validate=True)
        await asyncio.to_thread(_unpack, data, dest_dir)
    except (binascii.Error, tarfile.TarError, OSError) as exc:
        return Status.Error, f"download from {where} as {who.user!r} failed: {exc}"
    return Status.Success, f"downloaded {len(items)} item(s) from {host.id} to {dest_dir}"


def _unpack(data: bytes, dest_dir: Path) -> None:
    dest_dir.expanduser().mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(dest_dir.expanduser(), filter="data")
