"""The lock backend interface and the record of who holds a host.

A backend keeps one lease per (namespace, host id). A lease is a `Holder` record plus an
expiry: a run renews its leases while it works, a manual reservation (`runbook lock`) just
expires. Every method is all-or-nothing over the hosts it is given and visits them in sorted
order, so two runs asking for overlapping hosts can never deadlock.
"""

from __future__ import annotations

import json
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, field, replace
from typing import Any, ClassVar

from runbook._dataclass import frozen
from runbook._numbers import finite_number
from runbook._text import one_line

MANUAL = "manual"


@frozen
class Holder:
    """Who holds (or wants) a lease: `user@machine`, the run id (None: a manual reservation),
    when it was taken and until when it lasts (epoch seconds), a free-text note.

    `token` tells this acquisition apart from every other one (even the same owner's), so
    renewing or releasing never touches a lease someone else took in the meantime.
    """

    user: str
    machine: str
    run_id: str | None = None
    since: float = 0.0
    until: float = 0.0
    note: str = ""
    token: str = field(default_factory=lambda: os.urandom(16).hex())

    @property
    def owner(self) -> str:
        return f"{self.user}@{self.machine}"

    @property
    def manual(self) -> bool:
        return self.run_id is None

    @property
    def run_text(self) -> str:
        """The run id, or "manual" for a reservation."""
        return self.run_id if self.run_id is not None else MANUAL

    def with_times(self, since: float, until: float) -> Holder:
        return replace(self, since=since, until=until)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Holder:
        """The record stored by `to_json`; a foreign or damaged one reads as 'unknown'."""
        try:
            data: Any = json.loads(text)
            holder = cls(**{k: data[k] for k in ("user", "machine", "run_id", "since", "until",
                                                 "note", "token") if k in data})
        except (ValueError, TypeError, KeyError):
            holder = None
        if holder is None or not holder._well_typed():
            return cls(user="unknown", machine="unknown", note="unreadable lock record",
                       token="")
        return holder

    def _well_typed(self) -> bool:
        """Whether a record read back has the field types `to_json` writes."""
        texts = (self.user, self.machine, self.note, self.token)
        return (all(isinstance(t, str) for t in texts)
                and (self.run_id is None or isinstance(self.run_id, str))
                and finite_number(self.since) and finite_number(self.until))

    def can_use(self, other: Holder) -> bool:
        """Whether a run by `self` may work on a host `other` holds: it is the same lease, or
        a manual reservation by the same owner."""
        return other.token == self.token or (other.manual and other.owner == self.owner)


@frozen
class HostLock:
    """One host's current lease in a namespace."""

    host: str
    holder: Holder

    def describe(self) -> str:
        """`router1: held by alice@ws1 (run 3f2a...) since 10:02:03 until 10:03:03, "flashing"`."""
        h = self.holder
        run = "manual reservation" if h.manual else f"run {h.run_id}"
        note = f', note "{h.note}"' if h.note else ""
        # other people wrote these texts: no control sequence reaches this user's terminal
        return one_line(f"{self.host}: held by {h.owner} ({run}) since {format_time(h.since)} "
                        f"until {format_time(h.until)}{note}")


@frozen
class ForcedRelease:
    """What `unlock --force` leaves behind so the holder learns who took its lease away."""

    host: str
    by: str
    at: float
    previous: Holder

    def describe(self) -> str:
        return one_line(f"{self.host}: lease of {self.previous.owner} ({self.previous.run_text}) "
                        f"was released with --force by {self.by} at {format_time(self.at)}")

    def to_json(self) -> str:
        return json.dumps({"by": self.by, "at": self.at, "previous": self.previous.to_json()})

    @classmethod
    def from_json(cls, host: str, text: str | bytes) -> ForcedRelease | None:
        """The record stored by `to_json`, or None when it is unreadable."""
        try:
            data: Any = json.loads(text)
            return cls(host, str(data["by"]), float(data["at"]),
                       Holder.from_json(data["previous"]))
        except (ValueError, TypeError, KeyError):
            return None


def format_time(epoch: float) -> str:
    """Local time of day, with the date when it is not today."""
    now = time.localtime()
    try:
        then = time.localtime(epoch)
    except (OverflowError, OSError, ValueError, TypeError):  # a damaged or foreign record
        return f"(time {epoch!r} out of range)"
    if (then.tm_year, then.tm_yday) == (now.tm_year, now.tm_yday):
        return time.strftime("%H:%M:%S", then)
    return time.strftime("%Y-%m-%d %H:%M:%S", then)


class LockBackend(ABC):
    """Where leases live. Subclasses set `type_name` and take `namespace` plus their own
    keyword settings from the lab's `lock:` block (checked against the constructor's type
    hints). Constructors must not connect: the lab is also read by `runbook validate`.

    Errors: `LockBackendError` when the store cannot be reached; `LockLostError` from
    `renew` when a lease is gone.
    """

    type_name: ClassVar[str] = ""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    @abstractmethod
    async def acquire(self, hosts: Sequence[str], holder: Holder,
                      ttl: float) -> list[HostLock]:
        """Take every host for `ttl` seconds, or none; return the conflicting leases
        (empty when all were taken). Hosts held by `holder`'s owner manually are used as they
        are (`Holder.can_use`): left untouched, not counted as conflicts."""

    @abstractmethod
    async def renew(self, hosts: Sequence[str], holder: Holder, ttl: float) -> None:
        """Extend `holder`'s leases on `hosts` to `ttl` from now, only where they are still
        its own; `LockLostError` naming what happened otherwise."""

    @abstractmethod
    async def release(self, hosts: Sequence[str], holder: Holder) -> None:
        """Drop `holder`'s own leases on `hosts` (others' are left alone)."""

    @abstractmethod
    async def holders(self) -> list[HostLock]:
        """Every live lease in the namespace, sorted by host."""

    @abstractmethod
    async def force_release(self, hosts: Sequence[str], by: str) -> list[HostLock]:
        """Drop whatever leases `hosts` have, recording `by`; return what was dropped."""

    async def forced(self, host: str) -> ForcedRelease | None:
        """The last `--force` release of `host`, if the backend remembers one."""
        return None

    def describe(self) -> str:
        """Where the leases live, for messages (never a password)."""
        return f"{self.type_name} namespace {self.namespace!r}"

    async def close(self) -> None:
        """Drop connections; the backend is not used afterwards (default: nothing to drop)."""
        return
