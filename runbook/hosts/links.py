"""How a console host reaches its device (`TelnetLink`, `SerialLink`, `SshLink`) and logs in.

A link opens a `ConsoleStream`; `open_line` then answers the login and password prompts when
the host has a `user` and waits until the device is ready (a shell or CLI prompt). Enter is
sent as the link's `enter`: CR LF on telnet (the NVT newline), CR on a serial line and a pty.
"""

from __future__ import annotations

import re
from dataclasses import field
from typing import TYPE_CHECKING

from runbook._dataclass import frozen
from runbook._lazyimport import lazy_module
from runbook.errors import ExpectTimeoutError, HostUnreachableError, StreamEndedError
from runbook.hosts.console_tap import received, typed
from runbook.hosts.expect import Expecter, strip_terminal_codes

if TYPE_CHECKING:
    import asyncio

    from runbook.hosts.hostlog import HostLog
    from runbook.hosts.ssh import RemoteHost
    from runbook.hosts.streams import ConsoleStream
else:
    asyncio = lazy_module("asyncio")

DEFAULT_LOGIN_PROMPT = r"(?im)(login|user ?name)\s*:\s*$"
DEFAULT_PASSWORD_PROMPT = r"(?im)password\s*:\s*$"
#: What login programs print when they refuse a user or a password.
LOGIN_FAILED = re.compile(r"(?i)login incorrect|incorrect password|authentication fail|"
                          r"access denied|permission denied|bad password")
#: Seconds to wait for a login prompt before pressing Enter to wake the line up.
WAKE_AFTER = 2.0
DEFAULT_LOGIN_TIMEOUT = 30.0


@frozen
class TelnetLink:
    """A telnet port: a device's own telnetd, or a console server's port for a serial line."""

    address: str
    port: int = 23
    connect_timeout: float = 10.0
    enter = "\r\n"
    transport = "telnet"

    async def open(self) -> ConsoleStream:
        from runbook.hosts.streams import TelnetStream

        return await TelnetStream.open(self.address, self.port, self.connect_timeout)

    def describe(self) -> str:
        return f"{self.address}:{self.port}"


@frozen
class SerialLink:
    """A serial line: a device path or a pyserial URL (`rfc2217://cs1:7004`, `socket://...`)."""

    device: str
    baud: int = 115200
    connect_timeout: float = 10.0
    enter = "\r"
    transport = "serial"

    async def open(self) -> ConsoleStream:
        from runbook.hosts.streams import SerialStream

        return await SerialStream.open(self.device, self.baud, self.connect_timeout)

    def describe(self) -> str:
        return self.device


@frozen
class SshLink:
    """An SSH session with a pty running the account's login shell or the device's CLI."""

    remote: RemoteHost
    enter = "\r"
    transport = "ssh"

    async def open(self) -> ConsoleStream:
        from runbook.hosts.streams import SshPtyStream

        return await SshPtyStream.open(await self.remote.connection())

    def describe(self) -> str:
        return f"{self.remote.address}:{self.remote.port}"


Link = TelnetLink | SerialLink | SshLink


@frozen
class Login:
    """Credentials and prompts answered on a console (telnet, serial) before the shell is ready."""

    user: str
    password: str | None = field(default=None, repr=False)  # never in a repr or a log
    login_prompt: str = DEFAULT_LOGIN_PROMPT
    password_prompt: str = DEFAULT_PASSWORD_PROMPT
    timeout: float = DEFAULT_LOGIN_TIMEOUT


async def open_line(host_id: str, link: Link, login: Login | None,
                    ready: re.Pattern[str] | None, *, log: HostLog | None = None,
                    again: bool = False) -> Expecter:
    """Open the link, log in when `login` is given and wait for `ready` (a prompt) if given.

    HostUnreachableError when the link does not open, login fails or the prompt never comes.
    `log` (a run's transcript) is told the connection, a reconnection (`again`), the login
    exchange as it happens (what the line shows, each key typed, the password as `***`) and
    the outcome.
    """
    say = log.note if log is not None else (lambda text: None)
    say(f"reconnecting to {link.transport} {link.describe()} (the last session ended)" if again
        else f"connecting to {link.transport} {link.describe()}")
    try:
        line = await _open_line(host_id, link, login, ready, log)
    except HostUnreachableError as exc:
        say(f"connection failed: {exc.cause}")
        raise
    say(f"connected to {link.describe()}" + (f", logged in as {login.user}" if login else ""))
    return line


async def _open_line(host_id: str, link: Link, login: Login | None,
                     ready: re.Pattern[str] | None, log: HostLog | None) -> Expecter:
    try:
        stream = await link.open()
    except (OSError, TimeoutError, ImportError) as exc:
        raise HostUnreachableError(host_id, link.describe(), _describe(exc)) from exc
    except Exception as exc:  # pyserial's SerialException and friends
        raise HostUnreachableError(host_id, link.describe(), _describe(exc)) from exc
    line = Expecter(stream)
    try:
        if login is not None:
            with received(line, log):
                await _log_in(line, link, login, ready, log)
    except (ExpectTimeoutError, StreamEndedError, HostUnreachableError) as exc:
        await stream.close()
        if isinstance(exc, HostUnreachableError):
            raise HostUnreachableError(host_id, link.describe(), exc.cause) from None
        what = "the connection closed" if isinstance(exc, StreamEndedError) else str(exc)
        raise HostUnreachableError(host_id, link.describe(), f"login failed: {what}") from None
    return line


async def _log_in(line: Expecter, link: Link, login: Login, ready: re.Pattern[str] | None,
                  log: HostLog | None) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + login.timeout
    user_prompt = re.compile(login.login_prompt, re.MULTILINE)
    password_prompt = re.compile(login.password_prompt, re.MULTILINE)
    try:
        await line.expect(user_prompt, min(WAKE_AFTER, login.timeout))
    except ExpectTimeoutError:
        typed(line, link.enter, log)  # a quiet serial line shows its prompt after Enter
        index, _, _ = await line.expect_any([user_prompt, password_prompt],
                                            max(0.1, deadline - loop.time()))
        if index == 1:
            # The line was left at a password prompt (its login prompt came before we
            # listened, and Enter answered it): give up that login and wait for the next one.
            typed(line, link.enter, log)
            await line.expect(user_prompt, max(0.1, deadline - loop.time()))
    typed(line, login.user + link.enter, log)
    if login.password is not None:
        await line.expect(password_prompt, max(0.1, deadline - loop.time()))
        # Written as *** whether or not it is a secret() the transcript would mask.
        typed(line, login.password + link.enter, log, shown="***" + link.enter)
    outcomes = [LOGIN_FAILED, user_prompt, ready or re.compile(r"[$#%>]\s*$", re.MULTILINE)]
    index, answer, _ = await line.expect_any(outcomes, max(0.1, deadline - loop.time()))
    if index != 2:
        shown = " ".join(strip_terminal_codes(answer).split())[-120:]
        raise HostUnreachableError("", "", f"login failed for user {login.user!r} (wrong user or "
                                   f"password?); the device answered {shown!r}")


async def shows_prompt(stream: ConsoleStream, enter: str, login: Login | None,
                       timeout: float, log: HostLog | None = None) -> bool:
    """Whether `stream` shows a login prompt (or a shell prompt) within `timeout` seconds,
    pressing Enter once if the line stays quiet; closes the stream. `log` gets what the line
    showed and the Enter typed."""
    prompts = [re.compile(r"[$#%>]\s*$", re.MULTILINE)]
    if login is not None:
        # A password prompt is a login program at work too: the Enter pressed on a quiet line
        # answers a login prompt printed before the line was opened (a serial getty).
        prompts += [re.compile(p, re.MULTILINE) for p in (login.login_prompt, login.password_prompt)]
    line = Expecter(stream)
    try:
        with received(line, log):
            try:
                await line.expect_any(prompts, min(WAKE_AFTER, timeout))
            except ExpectTimeoutError:
                typed(line, enter, log)
                await line.expect_any(prompts, max(0.1, timeout - WAKE_AFTER))
        return True
    except (ExpectTimeoutError, StreamEndedError):
        return False
    finally:
        await stream.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__
