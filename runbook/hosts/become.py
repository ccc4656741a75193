"""Running as another user with sudo (`become`), shared by local and SSH hosts.

A become channel runs ``sudo -S -p <prompt> -u USER -- /bin/sh -c <inner>`` where the prompt
is a random string of runbook's own and `inner` first prints a random ready marker, then
continues (the persistent shell, or one oneshot command). Before anything else is written to
the channel, `authenticate` reads its output:

- the ready marker: sudo let us in (NOPASSWD, or credentials it had cached); done;
- the prompt: the password is written on the channel's stdin (sudo reads it byte by byte, so
  the rest of stdin is left for the shell); a second prompt means it was wrong;
- end of output: sudo refused (not in sudoers, requiretty, no sudo ...); its words are quoted.

So the password is never on a command line, in argv, in an environment variable or in any
output, and every failure names the become user within seconds. Bytes read past the ready
marker are handed on (`ReplayChannel`) so the shell protocol sees them.

The command under sudo calls ``setsid`` (util-linux) when present, so it leads its own process
group and a timed-out command can be signalled as a group (as root, through another sudo).
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING

from runbook._dataclass import frozen
from runbook._lazyimport import lazy_module
from runbook.errors import BecomeError
from runbook.hosts.shell import ShellChannel
from runbook.hosts.shelltext import quote

if TYPE_CHECKING:
    import asyncio
else:
    asyncio = lazy_module("asyncio")

#: Seconds sudo may take to let us in or refuse (PAM waits ~2 s after a wrong password).
AUTH_TIMEOUT = 15.0
#: Exit status of a shell for a command it cannot find.
_NOT_FOUND = 127
#: Characters of sudo's own words kept in a failure message.
_MESSAGE_CHARS = 400


@frozen
class Become:
    """Whom to become and how: `user` (default root) and the sudo `password` (None: NOPASSWD)."""

    user: str = "root"
    password: str | None = None

    def __repr__(self) -> str:  # never show the password
        return f"Become(user={self.user!r}, password={'***' if self.password else None})"


def check_become_user(user: object) -> str:
    """A become user is a non-empty name without whitespace or a leading dash."""
    if not isinstance(user, str) or not re.fullmatch(r"[A-Za-z0-9_.][A-Za-z0-9_.@$-]*", user):
        raise ValueError(f"become_user must be a user name such as 'root', not {user!r}")
    return user


@frozen
class SudoInvocation:
    """One sudo command line (as a shell string) with its random prompt and ready marker."""

    command: str
    prompt: bytes
    ready: bytes


def sudo_command(user: str, inner: str) -> SudoInvocation:
    """Wrap the shell code `inner` so it runs as `user` under sudo (see module docstring).

    `inner` runs in ``/bin/sh`` as the leader of a new session (when `setsid` exists); it is
    passed as ``$1`` of a fixed script, so it is not re-parsed by the login shell. ``$2`` is
    the login shell's parent (sshd's session process), exported as `__runbook_sess` for the
    watchdog (`shell.WATCHDOG`): sudo itself outlives the session.
    """
    token = secrets.token_hex(8)
    prompt = f"__runbook_sudo_prompt_{token}__"
    ready = f"__runbook_become_ready_{token}__"
    script = (f"printf '%s\\n' {quote(ready)}; __runbook_sess=$2; export __runbook_sess; "
              'command -v setsid >/dev/null 2>&1 && exec setsid /bin/sh -c "$1"; '
              'exec /bin/sh -c "$1"')
    command = (f"exec 2>&1; exec sudo -S -p {quote(prompt)} -u {quote(user)} -- "
               f"/bin/sh -c {quote(script)} runbook-become {quote(inner)} \"$PPID\"")
    return SudoInvocation(command, prompt.encode(), ready.encode())


class ReplayChannel:
    """A `ShellChannel` that first returns bytes already read from the channel it wraps."""

    def __init__(self, channel: ShellChannel, leftover: bytes) -> None:
        self._channel = channel
        self._leftover = leftover

    def write(self, data: bytes) -> None:
        self._channel.write(data)

    async def read(self) -> bytes:
        if self._leftover:
            data, self._leftover = self._leftover, b""
            return data
        return await self._channel.read()

    async def exit_status(self) -> int | None:
        return await self._channel.exit_status()

    def close(self) -> None:
        self._channel.close()


async def authenticate(channel: ShellChannel, sudo: SudoInvocation, become: Become,
                       host_id: str, timeout: float = AUTH_TIMEOUT) -> ShellChannel:
    """Get past sudo on `channel`; return a channel positioned just after the ready marker.

    Raises `BecomeError` naming the become user when sudo wants a password the lab does not
    give, rejects the password, refuses, or does not answer within `timeout` seconds.
    """
    try:
        return await asyncio.wait_for(_handshake(channel, sudo, become, host_id), timeout)
    except TimeoutError:
        channel.close()
        raise BecomeError(host_id, become.user,
                          f"sudo did not let us in within {timeout:g} s") from None
    except BaseException:
        channel.close()
        raise


async def _handshake(channel: ShellChannel, sudo: SudoInvocation, become: Become,
                     host_id: str) -> ShellChannel:
    buffer = bytearray()
    answered = False
    while True:
        ready_at = buffer.find(sudo.ready + b"\n")
        if ready_at >= 0:
            return ReplayChannel(channel, bytes(buffer[ready_at + len(sudo.ready) + 1:]))
        prompt_at = buffer.find(sudo.prompt)
        if prompt_at >= 0:
            if become.password is None:
                raise BecomeError(host_id, become.user, "sudo asks for a password and the lab "
                                  "gives no become_password (set one, or allow NOPASSWD)")
            if answered:
                raise BecomeError(host_id, become.user, "sudo rejected the become_password")
            channel.write(become.password.encode() + b"\n")
            answered = True
            del buffer[: prompt_at + len(sudo.prompt)]
            continue
        chunk = await channel.read()
        if not chunk:
            said = _sudo_words(bytes(buffer), become.password)
            status = await channel.exit_status()
            if status == _NOT_FOUND:
                raise BecomeError(host_id, become.user, f"sudo is not installed: {said}")
            raise BecomeError(host_id, become.user, f"sudo refused (exit status {status})"
                              + (f": {said}" if said else ""))
        buffer += chunk


def _sudo_words(output: bytes, password: str | None) -> str:
    """What sudo said, on one line, shortened, with the password masked should it appear."""
    text = " ".join(output.decode(errors="replace").split())[-_MESSAGE_CHARS:]
    if password:
        text = text.replace(password, "***")
    return text
