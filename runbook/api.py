"""The library entry point: load → check → compile → run, the chain `runbook apply` uses.

    import asyncio
    from runbook import api

    book, lab = api.load("upgrade.yml")              # ValidationError lists every problem
    findings = api.check(book, lab, extra_vars={"version": "1.2.3"})
    plan = api.compile(book, lab, extra_vars={"version": "1.2.3"})
    outcome = asyncio.run(api.run(plan, subscribers=[print]))
    print(outcome.status)

`subscribers` receive the engine's events (`runbook.engine.events`); `api.show(plan)` is the
dry run (`runbook plan`). Nothing here prints or exits: errors are `runbook.errors` classes.
Every import is deferred, so `import runbook.api` costs nothing until a function is called.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runbook.engine.events import Subscriber
    from runbook.engine.executor import Executor
    from runbook.engine.results import RunOutcome
    from runbook.hosts.base import Host
    from runbook.hosts.lab import Lab
    from runbook.language.findings import Finding
    from runbook.language.runbookfile import LoadedRunbook
    from runbook.plan.compiler import Plan
    from runbook.render.secrets import SecretStore
    from runbook.sites.controller import SiteRun


def load(runbook: Path | str, *, lab: Path | str | None = None,
         secrets: SecretStore | None = None) -> tuple[LoadedRunbook, Lab]:
    """The runbook and its lab: `lab` if given, else the runbook's `lab:`, else just `local`.

    Raises `ValidationError` (every finding) or `ConfigError` (a file that cannot be read).
    """
    from runbook.hosts.lab import Lab
    from runbook.language.runbookfile import load_runbook

    book = load_runbook(runbook)
    lab_path = Path(lab) if lab is not None else book.lab
    return book, (load_lab(lab_path, secrets=secrets) if lab_path is not None else Lab.default())


def load_lab(path: Path | str, *, secrets: SecretStore | None = None) -> Lab:
    """A lab file for a run (secrets from `secrets`, default the environment)."""
    from runbook.language.labfile import load_lab as read

    return read(path, secrets=secrets)


def keep_connections(lab: Lab, idle: float) -> int:
    """Warm re-runs: drive `lab`'s plain SSH hosts through this user's connection keeper,
    started if needed, which keeps the connections for later runs until idle for `idle`
    seconds (docs/persist.md). Call before `compile`; returns how many hosts it covers."""
    from runbook.persist.kepthost import keep_connections as keep

    return keep(lab, idle)


def check(runbook: LoadedRunbook, lab: Lab, *,
          extra_vars: Mapping[str, Any] | None = None) -> list[Finding]:
    """What `runbook validate` finds beyond the schema: hosts, templates, regexes, power, files."""
    from runbook.language.validate import check_runbook

    return check_runbook(runbook, lab, extra_vars=extra_vars)


def compile(runbook: LoadedRunbook, lab: Lab, *, secrets: SecretStore | None = None,
            extra_vars: Mapping[str, Any] | None = None, limit: str | None = None,
            fail_fast: bool = False, dry_run: bool = False, tags: Iterable[str] = (),
            skip_tags: Iterable[str] = (), start_at: str | None = None,
            output_limit: int | None = None) -> Plan:
    """The plan: targets per step (`limit` is a regex on host ids), actions rendered.

    `output_limit`: bytes of each command's output kept from each end, for steps without
    their own `output_limit` (None: the hosts' default, 64 KiB; 0: everything).

    `dry_run`: unset secrets render as `***`; otherwise a targeted host needing one is a
    `ValidationError`. `tags` / `skip_tags` / `start_at` choose steps (`runbook.plan.tags`;
    an unknown tag or step name is a `ConfigError`).
    """
    from runbook.plan.compiler import compile_plan
    from runbook.plan.tags import select_steps
    from runbook.render.secrets import SecretStore
    from runbook.render.templating import Templater

    templater = Templater(secrets if secrets is not None else SecretStore())
    runbook = select_steps(runbook, tags=set(tags), skip_tags=set(skip_tags), start_at=start_at)
    plan = compile_plan(runbook, lab, templater, extra_vars=extra_vars, limit=limit,
                        fail_fast=fail_fast, dry_run=dry_run, output_limit=output_limit)
    plan.selection = {"tags": sorted(tags), "skip_tags": sorted(skip_tags), "start_at": start_at}
    return plan


def executor(plan: Plan, *, subscribers: Iterable[Subscriber] = (), forks: int | None = None,
             mask: Callable[[str], str] | None = None) -> Executor:
    """The engine for `plan`, its events going to `subscribers` (for `abandon()` on a second
    Ctrl-C; most callers want `run` or `show`). `forks` defaults to 500, clamped by `fd_limit`."""
    from runbook.engine.events import EventBus
    from runbook.engine.executor import Executor
    from runbook.engine.forks import choose_forks

    return Executor(plan, forks=choose_forks(forks, fd_limit()), bus=EventBus(list(subscribers)),
                    mask=mask)


def site_executor(plan: Plan, *, secrets: SecretStore, subscribers: Iterable[Subscriber] = (),
                  forks: int | None = None, mask: Callable[[str], str] | None = None,
                  extra_vars: Mapping[str, Any] | None = None,
                  site_timeout: float | None = None) -> SiteRun | None:
    """The multi-site runner (docs/sites.md) when `plan` targets a host that a site drives;
    None otherwise. The broker URL is rendered with `secrets` and PINGed first: `BrokerError`
    (URL masked) when it does not answer, `ConfigError` without the `runbook[sites]` extra."""
    if not any(h.id in plan.lab.site_of for h in plan.hosts):
        return None
    from runbook.engine.events import EventBus
    from runbook.engine.forks import choose_forks
    from runbook.sites.broker import broker_url, check_reachable
    from runbook.sites.controller import DEFAULT_SITE_TIMEOUT, SiteRun

    url = broker_url(plan.lab, secrets)
    check_reachable(url, mask=secrets.mask)
    return SiteRun(plan, broker_url=url, bus=EventBus(list(subscribers)),
                   forks=choose_forks(forks, fd_limit()), mask=mask, extra_vars=extra_vars,
                   site_timeout=DEFAULT_SITE_TIMEOUT if site_timeout is None else site_timeout)


async def run(plan: Plan, *, subscribers: Iterable[Subscriber] = (), forks: int | None = None,
              mask: Callable[[str], str] | None = None) -> RunOutcome:
    """Run `plan` on its hosts; the outcome holds every host's result of every step."""
    return await executor(plan, subscribers=subscribers, forks=forks, mask=mask).run()


def show(plan: Plan, *, subscribers: Iterable[Subscriber] = (),
         mask: Callable[[str], str] | None = None) -> RunOutcome:
    """The dry run: `PlannedHost` events say what each host would do; nothing connects."""
    return executor(plan, subscribers=subscribers, mask=mask).check()


def power_targets(lab: Lab, pattern: str, *, waits: bool, dry_run: bool = False,
                  site: str | None = None) -> list[Host]:
    """The hosts `runbook power PATTERN` acts on (a regex searched in ids); `site`: this
    machine is inside that site and drives its hosts (docs/sites.md).

    `ConfigError` when none matches, when one is driven by another site's worker, or (unless
    `dry_run`) when one needs an unset secret.
    """
    from runbook.errors import ConfigError

    hosts = lab.select(pattern)
    if not hosts:
        ids = ", ".join(h.id for h in lab.hosts) or "none"
        raise ConfigError(f"no host in {lab.path} matches {pattern!r} (hosts: {ids})")
    _refuse_other_sites(lab, hosts, site)
    if dry_run:
        return hosts
    unset: list[str] = []
    for host in hosts:
        needs = lab.missing_secrets.get(host.id)
        if needs is not None:
            unset += [m.message(target=host.id) for m in needs.for_action("power", waits=waits)]
    if unset:
        raise ConfigError("\n".join(unset))
    return hosts


def _refuse_other_sites(lab: Lab, hosts: list[Host], site: str | None) -> None:
    """`ConfigError` naming the hosts a site's worker drives (not `site`): `runbook power`
    acts from this machine only, so it must be run inside their site."""
    from runbook.errors import ConfigError

    if site is not None and site not in lab.sites:
        raise ConfigError(f"site {site!r} is not declared in {lab.path} (sites: "
                          f"{', '.join(lab.sites) or 'none'})")
    elsewhere: dict[str, list[str]] = {}
    for host in hosts:
        where = lab.site_of.get(host.id)
        if where is not None and where != site:
            elsewhere.setdefault(where, []).append(host.id)
    if elsewhere:
        named = ", ".join(f"{h} (site {name})" for name, ids in elsewhere.items() for h in ids)
        raise ConfigError(f"host(s) driven by a site's worker: {named}; power them from inside "
                          f"their site: run `runbook power` on a machine there with "
                          f"`--site {next(iter(elsewhere))}` (docs/sites.md)")


def fd_limit() -> int:
    """Raise the soft open-files limit to the hard one (fan-out needs fds); return the soft."""
    return fd_limits()[0]


def fd_limits() -> tuple[int, int]:
    """Raise the soft open-files limit toward the hard one; return both (soft, hard).

    An unlimited hard limit raises the soft one to at least 65536; a failed raise keeps the
    soft limit as it was. Unlimited values are returned as 2**20."""
    try:
        import resource
    except ImportError:  # not POSIX
        return 1024, 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    unlimited = 1 << 20
    return (soft if soft != resource.RLIM_INFINITY else unlimited,
            hard if hard != resource.RLIM_INFINITY else unlimited)


def open_files_notes(plan: Plan, forks: int | None) -> list[str]:
    """What the open-files limit bounds in a run of `plan` with `forks` (after raising the
    soft limit to the hard one): lines for the user, empty when it bounds nothing."""
    from runbook.engine.forks import open_files_notes as notes

    soft, hard = fd_limits()
    return notes(forks, len(plan.hosts), soft, hard)
