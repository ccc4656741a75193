"""The controller of a multi-site run (`runbook apply` on a lab with sites): `SiteRun`.

It compiles nothing itself: it takes the plan compiled once by `runbook.api`, runs the hosts
without a site with the ordinary `Executor` (on a copy of the plan limited to them), sends each
site one task, and merges everything into one outcome on one `EventBus` (`merge.Merger`).
It offers what the CLI uses of an `Executor`: `run()`, `abandon()`, `check()`, `outcome`.

The workers' transcript text for their hosts is appended to the run folder's transcripts
(`host_logs`); `max_failed` with a rolling `batch` counts failed hosts across every part.
Failures are bounded and named: a site whose task no worker takes within `site_timeout` has
its hosts unreachable ("no worker for site X"); a worker whose heartbeat stops has its
running hosts `error: worker for site X lost`; fail_fast anywhere halts every part;
cancellation (Ctrl-C) asks every worker to interrupt, waits at most CANCEL_WAIT for their
records and fills in the rest as interrupted. While it runs, a thread renews the controller's
heartbeat (`channel.controller_key`): a worker that stops hearing it for `controller_grace`
(this process killed, its machine off the network) interrupts its share as a Ctrl-C would.

`start_part_way` makes it a restart (`--rerun-failed`, `runbook resume`): each part starts its
hosts at their steps, the sites through the restart points their tasks carry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from runbook.engine.blockstate import BlockTracker
from runbook.engine.events import EventBus
from runbook.engine.executor import Executor
from runbook.engine.restart import RestartPoints, narrow_plan
from runbook.engine.results import RunStatus
from runbook.plan.batches import failure_limit
from runbook.records.transcript import HostTranscript
from runbook.results import Status
from runbook.sites.broker import async_client, celery_app
from runbook.sites.channel import (
    CONTROLLER_BEAT,
    CONTROLLER_GRACE,
    HEARTBEAT_TTL,
    ControllerChannel,
    HeartbeatThread,
    controller_key,
)
from runbook.sites.fetched import FetchReceiver
from runbook.sites.merge import LOCAL, Merger
from runbook.sites.share import SiteShare, build_task, new_run_id, send_task, site_hosts

if TYPE_CHECKING:
    from runbook.engine.results import RunOutcome
    from runbook.hosts.hostlog import HostLog
    from runbook.plan.compiler import Plan
    from runbook.sites.codec import Message

log = logging.getLogger(__name__)

DEFAULT_SITE_TIMEOUT = 30.0
CANCEL_WAIT = 3.0
ABANDON_TIMEOUT = 1.0
POLL = 0.25


def local_plan(plan: Plan) -> Plan:
    """`plan` limited to the hosts without a site (every step kept, so indexes line up)."""
    site_of = plan.lab.site_of
    steps = [replace(p, targets=tuple(h for h in p.targets if h.id not in site_of))
             for p in plan.steps]
    return replace(plan, steps=steps, hosts=[h for h in plan.hosts if h.id not in site_of])


class SiteRun:
    """Runs one plan across this machine and the lab's sites, once."""

    def __init__(self, plan: Plan, *, broker_url: str, bus: EventBus, forks: int,
                 mask: Callable[[str], str] | None = None,
                 extra_vars: Mapping[str, Any] | None = None,
                 site_timeout: float = DEFAULT_SITE_TIMEOUT,
                 heartbeat_timeout: float = HEARTBEAT_TTL,
                 controller_grace: float = CONTROLLER_GRACE) -> None:
        self.plan = plan
        self.broker_url = broker_url
        self.site_timeout = site_timeout
        self.heartbeat_timeout = heartbeat_timeout
        self.controller_grace = controller_grace
        self.run_id = new_run_id()
        self.shares = {site: SiteShare(site, hosts) for site, hosts in site_hosts(plan).items()}
        self.merger = Merger(plan, bus, [LOCAL, *self.shares], on_failure=self._failed)
        self.local = Executor(local_plan(plan), forks=forks, bus=EventBus([self.merger.local_event]),
                              mask=mask)
        self.extra_vars = dict(extra_vars or {})
        self.fetched = FetchReceiver(plan)  # the files a site host's `get` ships back
        self.payloads = {site: self._payload(site) for site in self.shares}
        #: the site hosts a restart keeps out of the run (the local ones: `local.dropped`)
        self.site_dropped: dict[str, str] = {}
        self.mask = self.local.mask
        self._host_logs: Callable[[str], HostLog | None] = self.local.host_logs
        self._failed_hosts: dict[str, None] = {}
        self._max_failed = failure_limit(plan.runbook.max_failed, len(plan.hosts)) \
            if plan.runbook.batch is not None else None
        self._channel: ControllerChannel | None = None
        self._halt: str | None = None
        self._requests: list[tuple[str, str]] = []  # cancel requests not yet sent to workers

    def _payload(self, site: str, restart: RestartPoints | None = None) -> dict[str, Any]:
        payload = build_task(self.plan, run_id=self.run_id, site=site,
                             hosts=self.shares[site].hosts, extra_vars=self.extra_vars,
                             forks=self.local.forks, restart=restart)
        payload["heartbeat_ttl"] = self.heartbeat_timeout
        payload["controller_grace"] = self.controller_grace  # absent: the worker does not watch
        return payload

    def start_part_way(self, points: RestartPoints, path_of: Callable[[int], str]) -> None:
        """A restart (docs/records.md): each part gets the points of its own hosts; a site
        with no host left gets no task; the others' tasks carry their points, which the
        worker applies to its executor (`RestartPoints.apply`)."""
        site_of = self.plan.lab.site_of
        everyone = {*points.starts, *points.dropped, *(points.batch_hosts or ()),
                    *(h.id for h in self.plan.hosts)}
        points.part({h for h in everyone if h not in site_of}).apply(self.local, path_of)
        steps = [p.step for p in self.plan.steps]
        position = {path_of(step.index): i for i, step in enumerate(steps)}
        first = narrow_plan(self.plan, points.starts, path_of)
        tracker = BlockTracker(self.plan.runbook.blocks)  # who sits out, as a worker will see
        for host, index in first.items():
            out = tracker.restore(host, steps[index], [
                (steps[position[path]], message)
                for path, message in points.failures.get(host, ()) if path in position])
            if host in site_of and out is not None:
                self.site_dropped[host] = out
        self.site_dropped.update({h: r for h, r in points.dropped.items() if h in site_of})
        for site, share in list(self.shares.items()):
            share.hosts = [h for h in share.hosts if h in first]
            if share.hosts:
                self.payloads[site] = self._payload(site, points.part(
                    {h for h in everyone if site_of.get(h) == site}))
            else:
                del self.shares[site], self.payloads[site]
        self.merger.narrow([LOCAL, *self.shares])

    @property
    def dropped(self) -> dict[str, str]:
        """The hosts a restart keeps out of the run (they sit its steps out), with why."""
        return {**self.local.dropped, **self.site_dropped}

    @property
    def outcome(self) -> RunOutcome:
        return self.merger.outcome

    @property
    def bus(self) -> EventBus:
        """The run's one bus: every part's events, merged (what a recorder subscribes to)."""
        return self.merger.bus

    @property
    def host_logs(self) -> Callable[[str], HostLog | None]:
        """Each host's transcript (`RunRecorder` sets it): the local hosts' executor writes
        to it, and the site hosts' text the workers ship is appended to it."""
        return self._host_logs

    @host_logs.setter
    def host_logs(self, logs: Callable[[str], HostLog | None]) -> None:
        self._host_logs = self.local.host_logs = logs

    @property
    def halted(self) -> str | None:
        """Why nothing new starts any more, on this machine or any site (None: running)."""
        return self._halt or self.local.halted

    def halt(self, reason: str, *, cancel: bool = False, keep: str | None = None) -> None:
        """Stop starting steps everywhere (`Executor.halt` here, forwarded to the workers):
        a lab lock lost (cli.locking) lets what runs finish ("stop"), fail_fast (`cancel`)
        cancels it but `keep`'s task ("halt"). Every part then runs its pending `always`
        steps."""
        if self._halt is not None:
            return
        self._halt = reason
        self.local.halt(reason, cancel=cancel, keep=keep)
        self._requests.append(("halt" if cancel else "stop", reason))

    def cleanup_budget(self) -> float:
        """Seconds the `always` steps may take after an interruption (every part runs the
        same steps on its own hosts, at the same time)."""
        return self.local.cleanup_budget()

    def check(self) -> RunOutcome:
        """The dry run needs no site: every host's plan is known here."""
        return Executor(self.plan, forks=self.local.forks, bus=self.merger.bus,
                        mask=self.local.mask).check()

    def abandon(self) -> RunOutcome:
        """Finish the record now as interrupted (a second Ctrl-C); nothing is awaited, but the
        workers are still told to interrupt (one blocking SET, bounded by ABANDON_TIMEOUT)."""
        self._tell_workers_now()
        self.merger.take_outcome(LOCAL, self.local.abandon())
        for share in self.shares.values():
            if not share.done:
                share.done = True
                self.merger.fill(share.site, Status.Error, "interrupted", later="not run: interrupted")
        return self.merger.finish(RunStatus.INTERRUPTED)

    def _tell_workers_now(self) -> None:
        import json

        import redis

        from runbook.sites.channel import KEY_TTL, cancel_key

        client = redis.Redis.from_url(self.broker_url, socket_connect_timeout=ABANDON_TIMEOUT,
                                      socket_timeout=ABANDON_TIMEOUT)
        with contextlib.suppress(Exception):
            client.set(cancel_key(self.run_id), json.dumps(
                {"kind": "interrupt", "reason": "interrupted"}), ex=KEY_TTL)
        with contextlib.suppress(Exception):
            client.close()

    # -- the run ------------------------------------------------------------------------
    async def run(self) -> RunOutcome:
        """Run every part; returns the merged outcome, re-raises cancellation after cleanup."""
        from runbook.engine.events import RunStarted

        out = self.outcome
        self.merger.bus.emit(RunStarted(out.runbook, len(self.plan.steps), tuple(out.hosts),
                                        out.started))
        client = async_client(self.broker_url)
        self._channel = ControllerChannel(client, self.run_id, self.shares)
        beater = HeartbeatThread(self.broker_url, controller_key(self.run_id),
                                 self.controller_grace, CONTROLLER_BEAT)
        local_task: asyncio.Task[RunOutcome] | None = None
        try:
            await self._channel.beat(self.controller_grace)
            beater.start()
            await self._send_tasks()
            local_task = asyncio.create_task(self.local.run())
            await self._follow(local_task)
            local_task.result()
            self.merger.take_outcome(LOCAL, self.local.outcome)
        except BaseException as exc:  # Ctrl-C, or an internal error: stop every site too
            interrupted = isinstance(exc, asyncio.CancelledError)
            await self._cancel(local_task, "interrupted" if interrupted else f"internal error: {exc}")
            self.merger.take_outcome(LOCAL, self.local.outcome)
            if not interrupted:
                self.outcome.error = self.outcome.error or f"{type(exc).__name__}: {exc}"
            self.merger.finish(RunStatus.INTERRUPTED if interrupted else RunStatus.FAILED)
            raise
        finally:
            beater.stop()
            if beater.is_alive():  # its last beat lands before cleanup deletes the key
                await asyncio.to_thread(beater.join, 2.0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._channel.cleanup(linger=2 * self.site_timeout + 60),
                                       2.0)
            with contextlib.suppress(Exception):
                await client.aclose()
        return self.merger.finish()

    async def _send_tasks(self) -> None:
        app = celery_app(self.broker_url)
        try:
            for site, payload in self.payloads.items():
                await asyncio.wait_for(asyncio.to_thread(
                    send_task, app, payload, expires=self.site_timeout), self.site_timeout)
                self.shares[site].sent_at = asyncio.get_running_loop().time()
        finally:
            await asyncio.to_thread(app.close)

    async def _follow(self, local_task: asyncio.Task[RunOutcome]) -> None:
        """Take messages until the local part and every share are done."""
        assert self._channel is not None
        while not (local_task.done() and all(s.done for s in self.shares.values())):
            pending = [s for s in self.shares.values() if not s.done]
            if pending:
                for site, message in await self._channel.read(POLL):
                    self._on_message(site, message)
                await self._check_shares()
            else:
                await asyncio.wait([local_task], timeout=POLL)
            await self._send_halt()

    def _on_message(self, site: str, message: Message) -> None:
        share = self.shares[site]
        if share.done:
            return
        share.last_message = asyncio.get_running_loop().time()
        kind = message.get("t")
        if kind == "started":
            share.started = True
            share.worker = str(message.get("worker", ""))
            log.info("site %s: worker %s took the share", site, share.worker)
        elif kind == "done":
            share.done = True
            self.merger.site_done(site, message)
        elif kind == "failed":
            share.done = True
            self.merger.fill(site, Status.Error, f"site {site}: {message.get('message')}")
        elif kind == "fetched":
            self.fetched.take(share.hosts, message)
        elif kind == "log":
            self._transcript(str(message.get("host")), str(message.get("text") or ""), site)
        else:
            self.merger.site_message(site, message)

    async def _check_shares(self) -> None:
        """No worker within site_timeout; a worker whose heartbeat stopped."""
        assert self._channel is not None
        now = asyncio.get_running_loop().time()
        for share in self.shares.values():
            if share.done:
                continue
            if not share.started and now - share.sent_at > self.site_timeout:
                share.done = True
                busy = await self._channel.running_shares(share.site)
                self.merger.fill(share.site, Status.Error, f"no worker for site {share.site}"
                                 if not busy else f"worker(s) for site {share.site} busy: "
                                 f"{busy} running share(s); start more or raise --concurrency",
                                 unreachable=True, later="skipped: unreachable")
            elif share.started and now - share.last_check >= POLL * 4 \
                    and now - share.last_message > self.heartbeat_timeout:
                share.last_check = now  # lost: no heartbeat, and nothing heard for as long
                if not await self._channel.alive(share.site):
                    share.done = True
                    for host_id in share.hosts:
                        self._transcript(host_id, None, share.site)
                    self.merger.fill(share.site, Status.Error,
                                     f"worker for site {share.site} lost",
                                     later=f"not run: worker for site {share.site} lost")

    def _transcript(self, host_id: str, text: str | None, site: str) -> None:
        """Append a site host's shipped transcript text to its log in the run folder (None:
        note that its worker was lost, so the transcript ends there)."""
        if host_id not in self.shares[site].hosts:
            return
        log = self._host_logs(host_id)
        if isinstance(log, HostTranscript):
            if text is None:
                log.note(f"worker for site {site} lost: nothing more was shipped")
            else:
                log.append(text)

    def _failed(self, host_id: str, step_name: str) -> None:
        """A host failed somewhere: with fail_fast, every part halts; with a rolling `batch`,
        once more hosts failed across the parts than `max_failed` tolerates, no part starts
        another batch (docs/sites.md)."""
        if self.plan.fail_fast:
            self.halt(f"fail_fast after {host_id!r} failed step {step_name!r}", cancel=True,
                      keep=host_id)
        self._failed_hosts[host_id] = None
        if self._max_failed is None or len(self._failed_hosts) <= self._max_failed \
                or self.local.stop_batches is not None or self.halted is not None:
            return
        failed = sorted(self._failed_hosts)
        reason = (f"{len(failed)} host(s) failed across the sites ({', '.join(failed)}), more "
                  f"than max_failed {self.plan.runbook.max_failed}")
        self.local.stop_batches = reason
        self._requests.append(("batches", reason))

    async def _send_halt(self) -> None:
        """Pass on to the workers what `_failed` or `halted` asked for (halt, stop, batches)."""
        while self._requests and self._channel is not None:
            kind, reason = self._requests.pop(0)
            await asyncio.wait_for(self._channel.cancel(kind, reason), 5.0)

    async def _cancel(self, local_task: asyncio.Task[RunOutcome] | None, reason: str) -> None:
        """Interrupt every part: ask the workers, wait CANCEL_WAIT for their records."""
        if local_task is not None:
            local_task.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CANCEL_WAIT + self.cleanup_budget()  # workers run `always`
        with contextlib.suppress(Exception):
            if self._channel is not None:
                await asyncio.wait_for(self._channel.cancel("interrupt", reason), 1.0)
                while any(s.started and not s.done for s in self.shares.values()) \
                        and loop.time() < deadline:
                    for site, message in await self._channel.read(POLL):
                        self._on_message(site, message)
        if local_task is not None:
            await asyncio.wait([local_task], timeout=max(0.1, deadline - loop.time()))
        for share in self.shares.values():
            if not share.done:
                share.done = True
                self.merger.fill(share.site, Status.Error, reason, later=f"not run: {reason}")
