"""How many hosts a run works on at once: the default, clamped by the open-file limit, and
what to tell the user when that limit bounds a run."""

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


#: How to raise the hard limit, for the messages below.
RAISE_HINT = ("raise the hard limit (`ulimit -Hn N` as root, `LimitNOFILE=` in a systemd unit, "
              "`nofile` in /etc/security/limits.conf; at most `fs.nr_open`)")


def open_files_notes(requested: int | None, hosts: int, soft: int, hard: int) -> list[str]:
    """Lines saying what the open-files limit (`soft`, already raised toward `hard`) bounds in
    a run on `hosts` hosts: fewer at once than `--forks` (or the default) would run, or more
    connected hosts than descriptors. Empty when it bounds nothing."""
    notes = []
    wanted = min(requested or DEFAULT_FORKS, hosts)
    chosen = choose_forks(requested, soft)
    if chosen < wanted:
        asked = f"--forks {requested}" if requested else f"the default of {DEFAULT_FORKS}"
        notes.append(f"working on {chosen} hosts at once, not {wanted} ({asked}): the "
                     f"open-files limit is {soft} (hard limit {hard}), and each busy host "
                     f"needs {FDS_PER_HOST} with {FDS_RESERVED} kept for the process; {RAISE_HINT}")
    if hosts + FDS_RESERVED > soft:
        notes.append(f"{hosts} hosts each keep a connection from their first step to their "
                     f"last: about {hosts + FDS_RESERVED} open files, over the limit of {soft} "
                     f"(hard limit {hard}); hosts past it fail with 'Too many open files'; "
                     f"{RAISE_HINT}")
    return notes
