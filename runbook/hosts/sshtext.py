"""Small helpers of the SSH host (`hosts.ssh`): messages for connection and key problems,
and the path conventions of SFTP."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from runbook.hosts.transfer import PathLike


def key_problem(keys: Sequence[Path], has_passphrase: bool, exc: ValueError) -> str:
    """What to do about a private key asyncssh could not load (passphrase missing or wrong)."""
    names = ", ".join(str(k) for k in keys) or "your default key"
    if not has_passphrase:
        return (f"the private key {names} is protected by a passphrase ({exc}): set "
                "key_passphrase for this host in the lab (normally "
                "\"{{ secret('NAME') }}\"), or load the key into an ssh-agent (ssh-add) and "
                "remove `key` from the host so the agent is used")
    return (f"the private key {names} could not be decrypted with key_passphrase ({exc}): "
            "check the secret's value")


def make_local_dir(path: Path) -> Path:
    """Make the local folder `path` (`~` expanded) and return its expanded path."""
    path = path.expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def remote_path(path: PathLike) -> str:
    """SFTP paths are relative to the login folder: `~/x` becomes `x`."""
    text = str(path)
    if text == "~":
        return "."
    return text[2:] if text.startswith("~/") else text


def describe_error(exc: BaseException) -> str:
    """An asyncssh or OS error in a few words (its reason when it has one)."""
    reason = getattr(exc, "reason", None)
    text = reason or str(exc) or type(exc).__name__
    if isinstance(exc, ConnectionRefusedError) or str(text).lower() == "connection refused":
        return "connection refused"
    return str(text)
