"""How many hosts a run works on at once: the default, clamped by the open-file limit."""

from __future__ import annotations

# Default hosts worked on at once: a lab of 500 hosts in one wave. An SSH host costs one TCP
# connection plus a few channels multiplexed on it; the real limit is open file descriptors.
DEFAULT_FORKS = 500
# File descriptors one host may need while it works (SSH: the socket; local: shell and
# oneshot pipes), and how many to keep free for the process itself (logs, reports, stdio).
FDS_PER_HOST = 4
FDS_RESERVED = 64


def choose_forks(requested: int | None, fd_limit: int) -> int:
    """`requested` (or DEFAULT_FORKS), clamped so the open-file limit cannot be exhausted."""
    budget = max(1, (fd_limit - FDS_RESERVED) // FDS_PER_HOST)
    return max(1, min(requested or DEFAULT_FORKS, budget))
