"""Warm re-runs (`apply --persist DURATION`): a per-user keeper process owns SSH connections.

SSH connection state cannot move between processes, so the keeper (`runbook.persist.keeper`)
holds the connections and a run drives its SSH hosts through it (`runbook.persist.kepthost`)
over a Unix socket (`runbook.persist.wire`). This module says where that socket lives: in a
folder only the user can enter (0700), `$RUNBOOK_STATE_DIR`, else `$XDG_RUNTIME_DIR/runbook`,
else `~/.local/state/runbook`. See docs/persist.md.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from runbook.errors import KeeperError

SOCKET_NAME = "keeper.sock"
LOCK_NAME = "keeper.lock"
LOG_NAME = "keeper.log"
#: The longest a keeper may wait idle (`--persist` / `persist:` above this is refused).
MAX_PERSIST_S = 24 * 3600.0


def persist_seconds(text: str) -> float:
    """`--persist` / `persist:` (`10m`, `90s`, `1h`) in seconds; ValueError saying what is wrong."""
    from runbook._numbers import parse_duration

    seconds = parse_duration(text)
    if seconds > MAX_PERSIST_S:
        raise ValueError(f"{text!r} is too long: the keeper waits at most 24h for the next run")
    return seconds


def lab_persist(defaults: object, bad: bool, problem: Callable[[str], None]) -> float | None:
    """A lab's `defaults.persist` in seconds; None when unset or wrong (told to `problem`;
    `bad`: the schema already said so)."""
    value = defaults.get("persist") if isinstance(defaults, dict) else None
    if not isinstance(value, str) or bad:
        return None
    try:
        return persist_seconds(value)
    except ValueError as exc:
        problem(f"defaults.persist: {exc}")
        return None


def state_dir() -> Path:
    """The folder of the keeper's socket, lock and log (not made here)."""
    chosen = os.environ.get("RUNBOOK_STATE_DIR")
    if chosen:
        return Path(chosen).expanduser()
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "runbook"
    return Path.home() / ".local" / "state" / "runbook"


def private_dir() -> Path:
    """`state_dir()`, made 0700 if missing; KeeperError when it is not the user's alone.

    Like OpenSSH with its ControlPath, a socket in a folder others can enter or that someone
    else owns is refused: whoever controls the folder could stand in for the keeper.
    """
    folder = state_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError as exc:
        raise KeeperError(f"cannot make the keeper's folder {folder}: {exc.strerror}") from exc
    if info.st_uid != os.getuid():
        raise KeeperError(f"the keeper's folder {folder} belongs to uid {info.st_uid}, not to "
                          "you: set RUNBOOK_STATE_DIR to a folder of your own")
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise KeeperError(f"the keeper's folder {folder} is open to other users (mode "
                          f"{stat.S_IMODE(info.st_mode):o}): run `chmod 700 {folder}`")
    return folder


def socket_path() -> Path:
    """Where the keeper listens (checked private first)."""
    return private_dir() / SOCKET_NAME
