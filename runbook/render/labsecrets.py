"""Secrets a lab host needs, so a run asks only for the secrets of the hosts it touches.

A lab loaded for a run renders `{{ secret('NAME') }}` in host fields (password, power_control
fields, ...). A secret that is not set does not fail the load: the host is still built (its
secret fields read as `***`, its password is dropped) and the lab records a `MissingSecret`
per field. What a host *needs* depends on what is done with it:

- to **connect** (run, oneshot, put, get, power waits): its own address/user/password and
  become_password, and the address/user/password of every hop it tunnels through;
- to **power** it: its power_control fields, plus what connecting to the power `controller`
  host needs.

The planner (`runbook.plan.compiler`) and `runbook power` refuse targeted hosts whose needs are unmet,
before anything connects; a dry run shows `***` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from runbook._dataclass import frozen
from runbook.model import Location
from runbook.render.secrets import env_name


@frozen
class MissingSecret:
    """Host field `field` (e.g. "power_control.password") uses secret `name`, which is unset."""

    host_id: str
    name: str
    field: str
    location: Location
    secrets_file: Path | None = None

    def message(self, *, target: str | None = None) -> str:
        """`host 'build1' needs secret X (lab.yml:64:17): set RUNBOOK_SECRET_X or ...`.

        `target` is the host acted on when the secret belongs to its hop or power controller.
        """
        how = f"set {env_name(self.name)} or " + (
            f"add {self.name!r} to the secrets file {self.secrets_file}"
            if self.secrets_file is not None else "pass --secrets FILE")
        who = f"host {self.host_id!r}"
        if target is not None and target != self.host_id:
            who = f"host {target!r} (through host {self.host_id!r})"
        return f"{who} needs secret {self.name} for {self.field} ({self.location}): {how}"


@frozen
class HostSecretNeeds:
    """The unset secrets a host needs to be connected to (`connect`) and to be powered."""

    connect: tuple[MissingSecret, ...] = ()
    power: tuple[MissingSecret, ...] = ()

    def for_action(self, kind: str, *, waits: bool = False) -> tuple[MissingSecret, ...]:
        """What an action of `kind` on the host needs; power waits also connect to it."""
        if kind != "power":
            return self.connect
        return self.power + (self.connect if waits else ())


CONNECT_FIELDS = ("address", "user", "password", "key_passphrase")
#: Needed to act on the host itself, not to tunnel through it.
OWN_FIELDS = ("become_password",)


def resolve_needs(own: Mapping[str, list[MissingSecret]], hops: Mapping[str, str | None],
                  controllers: Mapping[str, str | None]) -> dict[str, HostSecretNeeds]:
    """Per host id, what it needs, following hops (and power controllers) transitively.

    `own` holds each host's own missing secrets (by field); `hops` / `controllers` name the
    host id each host tunnels through / whose shell runs its power commands. Hosts needing
    nothing are left out. Hop cycles are reported elsewhere; here they simply stop.
    """


    def connect_of(host_id: str) -> tuple[MissingSecret, ...]:
        # Walk the hop chain (short) with a visited set; a cycle simply ends the walk. (A
        # memo would cache a result cut short by a cycle and depend on the visiting order.)
        found: list[MissingSecret] = []
        visited: set[str] = set()
        current: str | None = host_id
        while current is not None and current not in visited:
            visited.add(current)
            found.extend(m for m in own.get(current, ()) if m.field in CONNECT_FIELDS
                         or (current == host_id and m.field in OWN_FIELDS))
            current = hops.get(current)
        return tuple(found)

    result: dict[str, HostSecretNeeds] = {}
    for host_id in dict.fromkeys([*own, *hops, *controllers]):  # stable order
        power_fields = tuple(m for m in own.get(host_id, ())
                             if m.field not in CONNECT_FIELDS + OWN_FIELDS)
        controller = controllers.get(host_id)
        power = power_fields + (connect_of(controller) if controller is not None else ())
        needs = HostSecretNeeds(connect_of(host_id), power)
        if needs.connect or needs.power:
            result[host_id] = needs
    return result
