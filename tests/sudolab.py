"""Test accounts for `become`: real system users, real sudo, reachable through the sshd lab.

``SudoAccounts`` (needs root, which CI and the dev machine have) creates three system users,
named after this test process so concurrent test sessions do not fight over them:

- ``nopass``: ``ALL=(ALL:ALL) NOPASSWD: ALL``
- ``withpass``: ``ALL=(ALL:ALL) ALL``; its sudo asks for its password (`password`, random per
  session, set with ``chpasswd``: it is the test secret)
- ``nosudo``: not in sudoers at all (same password, so sudo can be seen refusing)

and one sudoers drop-in ``/etc/sudoers.d/runbook-tests-<pid>``, checked with ``visudo -cf``
before it is installed and removed by ``close()``, with the users. Leftovers of an earlier
session that died (its pid gone) are removed first, so set-up is idempotent and safe to rerun.

The users log in with the sshd lab's client key: the lab's ``AuthorizedKeysFile`` is one file in
the lab folder for every user (sshd reads it as the user), so ``allow_lab_logins`` makes that
folder traversable and the key list readable (the private key stays 0600).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
from pathlib import Path

SUDOERS_DIR = Path("/etc/sudoers.d")
_PREFIX = "runbook-tests-"
_COMMENT = "runbook test account"
INSTALL_HINT = "sudo not installed; run scripts/install-test-deps.sh or `apt-get install sudo`"


class SudoLabError(RuntimeError):
    """The accounts or the sudoers drop-in could not be set up."""


def sudo_available() -> bool:
    """True when sudo, visudo and the account tools exist and we are root (to make accounts)."""
    tools = ("sudo", "visudo", "useradd", "userdel", "chpasswd")
    return all(shutil.which(t) for t in tools) and os.geteuid() == 0


def require_sudo() -> None:
    """In a pytest test: skip without sudo (or root), but fail under CI."""
    import pytest

    from tests.sshlab import running_in_ci

    if sudo_available():
        return
    reason = INSTALL_HINT if os.geteuid() == 0 else "become tests need root to create accounts"
    if running_in_ci():
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    pytest.skip(reason)


class SudoAccounts:
    """Three sudo test users and their sudoers drop-in (see module docstring)."""

    def __init__(self) -> None:
        tag = str(os.getpid())
        self.nopass = f"rbnp{tag}"
        self.withpass = f"rbpw{tag}"
        self.nosudo = f"rbns{tag}"
        self.password = secrets.token_urlsafe(18)
        self.sudoers = SUDOERS_DIR / f"{_PREFIX}{tag}"

    @property
    def users(self) -> tuple[str, str, str]:
        return self.nopass, self.withpass, self.nosudo

    def __enter__(self) -> SudoAccounts:
        try:
            self.create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create(self) -> None:
        """Remove stale leftovers, then add the users, their passwords and the drop-in."""
        remove_stale()
        for user in self.users:
            if not _user_exists(user):
                _run(["useradd", "--system", "--create-home", "--shell", "/bin/bash",
                      "--comment", _COMMENT, user])
        lines = "".join(f"{user}:{self.password}\n" for user in self.users)
        _run(["chpasswd"], stdin=lines)
        rules = (f"{self.nopass} ALL=(ALL:ALL) NOPASSWD: ALL\n"
                 f"{self.withpass} ALL=(ALL:ALL) ALL\n")
        staged = self.sudoers.with_name(f".{self.sudoers.name}.new")  # sudo skips dot files
        staged.write_text(rules)
        staged.chmod(0o440)
        _run(["visudo", "-cf", str(staged)])
        staged.replace(self.sudoers)

    def close(self) -> None:
        """Remove the drop-in and the users (idempotent)."""
        with contextlib.suppress(FileNotFoundError):
            self.sudoers.unlink()
        for user in self.users:
            if _user_exists(user):
                subprocess.run(["userdel", "--force", "--remove", user], capture_output=True, check=False)


def allow_lab_logins(lab_directory: Path, authorized_keys: Path) -> None:
    """Let other users' sshd sessions read the lab's shared authorized_keys file."""
    lab_directory.chmod(0o711)
    authorized_keys.chmod(0o644)


def remove_stale() -> None:
    """Delete drop-ins and accounts of test sessions whose process is gone."""
    for path in SUDOERS_DIR.glob(f"*{_PREFIX}*"):
        tag = path.name.rsplit("-", 1)[-1].removesuffix(".new")
        if not _session_alive(tag):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    for line in Path("/etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if len(fields) > 4 and fields[4] == _COMMENT and not _session_alive(fields[0][4:]):
            subprocess.run(["userdel", "--force", "--remove", fields[0]], capture_output=True, check=False)


def _session_alive(tag: str) -> bool:
    """True when the test process whose pid is `tag` still runs."""
    return tag.isdigit() and (int(tag) == os.getpid() or Path(f"/proc/{int(tag)}").exists())


def _user_exists(user: str) -> bool:
    return subprocess.run(["id", user], capture_output=True, check=False).returncode == 0


def _run(argv: list[str], stdin: str | None = None) -> None:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SudoLabError(f"{argv[0]} failed: {result.stderr.strip()}")
