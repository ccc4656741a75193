"""Backpressure for output the keeper streams to a run (docs/persist.md, "Streamed output").

A kept host's commands stream their output to the run over the keeper's socket. When the run
reads slower than the hosts write, the keeper stops reading from the SSH channels instead of
buffering: `PacedChannel.read` first waits until the session's socket has drained below its
high-water mark (`SESSION_HIGH_WATER`). The SSH channel's receive window (64 KiB) then fills
and the command on the host blocks on its next write, as it would behind a slow terminal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from runbook.hosts.sshconnect import SshChannel

if TYPE_CHECKING:
    import asyncssh

#: Bytes the keeper may hold unsent for one run before its hosts' channels stop being read.
SESSION_HIGH_WATER = 256 * 1024

#: Waits until the run has taken enough of what the keeper sent it.
Pace = Callable[[], Awaitable[None]]


class PacedChannel(SshChannel):
    """An SSH channel whose reads wait for the run to keep up (`pace`, set by the session
    that uses the channel; None: read freely, as a spare shell that runs nothing)."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes], pace: Pace | None = None
                 ) -> None:
        super().__init__(process)
        self.pace = pace

    async def read(self) -> bytes:
        if self.pace is not None:
            await self.pace()
        return await super().read()
