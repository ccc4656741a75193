"""The worker side: `runbook worker --site NAME` and the task that runs one share of a run.

`start_worker` runs a Celery worker in the foreground on the site's queue (its own logs on
stderr, a warm stop on SIGTERM). For each task `run_share` rebuilds the shipped files under a
private folder (`bundle.unpack`), loads and compiles the runbook for its hosts with the secrets
of this machine's environment (never shipped), runs it through `runbook.api` (a restarted
run's task also says where each host starts: `RestartPoints`), and streams every
event back (`channel.WorkerChannel`) with a heartbeat. A cancel request from the controller
halts the share (fail_fast elsewhere), stops it from starting steps (the controller lost a lab
lock) or interrupts it: the executor kills the remote process groups and the share ends
`interrupted`. The share is interrupted the same way when its controller's heartbeat is gone
for the grace period the task names (the controller was killed or cut off: nobody would hear
the results, and a `runbook resume` would run those steps again), or when the broker does
not answer for as long (`ControllerWatch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.engine.events import Event, HostResult, ItemResult, RunFinished, StepFinished
from runbook.errors import RunbookError, ValidationError
from runbook.render.secrets import mask_strings
from runbook.sites.broker import TASK_NAME, async_client, celery_app, queue_name
from runbook.sites.bundle import unpack
from runbook.sites.channel import (
    HEARTBEAT_INTERVAL,
    HEARTBEAT_TTL,
    HeartbeatThread,
    WorkerChannel,
    alive_key,
)
from runbook.sites.codec import Message, event_message, points_from_dict, result_to_dict
from runbook.sites.fetched import FetchShipper
from runbook.sites.share import PAYLOAD_VERSION
from runbook.sites.transcript import SHIP_INTERVAL, TranscriptShipper

if TYPE_CHECKING:
    from runbook.engine.executor import Executor
    from runbook.plan.compiler import Plan

log = logging.getLogger(__name__)

_TICK: Message = {"t": "tick"}
"""Queued every SHIP_INTERVAL: ship the transcripts' text even when no event comes."""


def start_worker(url: str, site: str, *, concurrency: int = 1, secrets_file: Path | None = None,
                 loglevel: str = "INFO") -> None:
    """Consume `site`'s queue until SIGTERM/SIGINT (Celery's warm shutdown)."""
    app = celery_app(url)

    @app.task(name=TASK_NAME)  # type: ignore[untyped-decorator]
    def run_share_task(payload: dict[str, Any]) -> None:
        run_share(payload, broker_url=url, site=site, secrets_file=secrets_file)

    pool = "solo" if concurrency <= 1 else "threads"
    app.worker_main(["worker", "-Q", queue_name(site), "-c", str(max(1, concurrency)),
                     "--pool", pool, "-O", "fair", "--without-gossip", "--without-mingle",
                     "--without-heartbeat", "-n", f"{site}@{socket.gethostname()}",
                     "--loglevel", loglevel])


def run_share(payload: dict[str, Any], *, broker_url: str, site: str,
              secrets_file: Path | None = None) -> None:
    """The task body: run one share and stream it back (blocking; one event loop per share)."""
    if payload.get("site") != site:
        log.error("task for site %r reached the worker of site %r: ignored",
                  payload.get("site"), site)
        return
    asyncio.run(_Share(payload, broker_url, secrets_file).run())


class _Share:
    """One share being run: its channel, its executor, its heartbeat."""

    def __init__(self, payload: dict[str, Any], broker_url: str,
                 secrets_file: Path | None) -> None:
        self.payload = payload
        self.broker_url = broker_url
        self.secrets_file = secrets_file
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self.executor: Executor | None = None
        self.run_task: asyncio.Task[Any] | None = None
        self.transcripts: TranscriptShipper | None = None
        self._announced: set[tuple[int, str]] = set()
        self.mask: Callable[[str], str] = str
        #: the controller's grace period (0: a controller that does not beat; not watched)
        self.grace = float(payload.get("controller_grace") or 0)

    async def run(self) -> None:
        client = async_client(self.broker_url)
        channel = WorkerChannel(client, self.payload["run_id"], self.payload["site"],
                                float(self.payload.get("heartbeat_ttl") or HEARTBEAT_TTL))
        try:
            request = await channel.cancel_request()
            if request is not None and request.get("kind") == "interrupt":
                log.info("run %s was cancelled before this share started", channel.run_id)
                return
            if self.grace and not await channel.controller_alive():
                log.warning("run %s: share dropped: its controller has not been heard for "
                            "%g s (killed or cut off before this share started)",
                            channel.run_id, self.grace)
                return
            await channel.beat()
            await channel.send({"t": "started", "worker": socket.gethostname()})
            await self._run_with(channel)
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _run_with(self, channel: WorkerChannel) -> None:
        beating = asyncio.create_task(self._heartbeat(channel))
        pumping = asyncio.create_task(self._pump(channel))
        ticking = asyncio.create_task(self._tick())
        try:
            with tempfile.TemporaryDirectory(prefix="runbook-share-") as tmp:
                await self._execute(Path(tmp))
        finally:
            ticking.cancel()
            self.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pumping, 10.0)
            for task in (beating, ticking):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def _execute(self, root: Path) -> None:
        if int(self.payload.get("version") or 1) > PAYLOAD_VERSION:
            self.queue.put_nowait({"t": "failed", "message": (
                f"the task needs a newer runbook worker (task version {self.payload['version']}"
                f", this worker knows {PAYLOAD_VERSION}): upgrade runbook on the site")})
            return
        try:  # in a thread: a big lab must not starve the heartbeat while it compiles
            plan, mask = await asyncio.to_thread(self._compile, root)
        except RunbookError as exc:
            text = _findings(exc).replace(str(root), "")
            log.warning("run %s refused: %s", self.payload["run_id"], text)
            self.queue.put_nowait({"t": "failed", "message": text})
            return
        from runbook import api

        self.executor = api.executor(plan, subscribers=[self._subscriber],
                                     forks=self.payload.get("forks"), mask=mask)
        self.mask = mask
        if self.payload.get("restart"):  # --rerun-failed / resume: each host from its step
            from runbook.records.runfolder import step_path

            points_from_dict(self.payload["restart"]).apply(self.executor, step_path)
        secrets = plan.renderer.templater.secrets
        fetched = FetchShipper(root, self.queue.put_nowait)  # a `get`'s files go back
        self.transcripts = TranscriptShipper(lambda text: fetched.unrooted(mask(text)),
                                             lambda: secrets.values)
        self.executor.host_logs = self.transcripts.host
        for host in plan.hosts:
            host.notes = self.transcripts.host(host.id).note
            fetched.wrap(host)
        log.info("run %s: %d host(s) of site %s", self.payload["run_id"],
                 len(self.payload["hosts"]), self.payload["site"])
        self.run_task = asyncio.create_task(self.executor.run())
        with contextlib.suppress(asyncio.CancelledError):
            await self.run_task
        log.info("run %s: %s", self.payload["run_id"], self.executor.outcome.status.value)

    def _compile(self, root: Path) -> tuple[Plan, Any]:
        """Load and compile the shipped runbook for this share's hosts, secrets from here."""
        from runbook import api
        from runbook.render.secrets import SecretStore

        placed = unpack(self.payload.get("bundle", {}), root)
        secrets = SecretStore(secrets_file=self.secrets_file)
        lab = self.payload.get("lab")
        book, loaded = api.load(placed[self.payload["runbook"]],
                                lab=placed[lab] if lab else None, secrets=secrets)
        loaded.site_of.clear()  # this process drives the share's hosts: their secrets count here
        hosts = self.payload["hosts"]
        limit = "^(?:" + "|".join(re.escape(h) for h in hosts) + ")$"
        chosen = self.payload.get("selection") or {}  # the controller's --tags etc.
        plan = api.compile(book, loaded, secrets=secrets, extra_vars=self.payload["extra_vars"],
                           limit=limit, fail_fast=bool(self.payload.get("fail_fast")),
                           tags=chosen.get("tags") or (), skip_tags=chosen.get("skip_tags") or (),
                           start_at=chosen.get("start_at"),
                           output_limit=self.payload.get("output_limit"))
        return plan, secrets.mask

    def _subscriber(self, event: Event) -> None:
        message = event_message(event)
        if message is None:
            return
        if isinstance(event, HostResult):
            self._announced.add((event.step_index, event.result.host_id))
        elif isinstance(event, StepFinished):  # run_once copies are recorded without an event
            message["results"] = [result_to_dict(r) for r in event.outcome.results.values()
                                  if (event.outcome.index, r.host_id) not in self._announced]
        elif isinstance(event, RunFinished) and self.transcripts is not None:
            self.transcripts.close()
        elif isinstance(event, ItemResult):  # an item's label may hold a secret of this site
            message = mask_strings(message, self.mask)
        self.queue.put_nowait(message)

    async def _tick(self) -> None:
        """Wake the pump every SHIP_INTERVAL, so a long command's output is shipped as it
        comes (and kept by the controller if this worker dies)."""
        while True:
            await asyncio.sleep(SHIP_INTERVAL)
            self.queue.put_nowait(_TICK)

    async def _pump(self, channel: WorkerChannel) -> None:
        """Send the transcripts' text, then each message, in order."""
        while True:
            message = await self.queue.get()
            for log in self.transcripts.drain() if self.transcripts is not None else []:
                await channel.send(log)
            if message is None:
                return
            if message is not _TICK:
                await channel.send(message)

    async def _heartbeat(self, channel: WorkerChannel) -> None:
        """Beat (from a thread), and act on the controller's cancel request (halt, stop,
        batches or interrupt)."""
        beater = HeartbeatThread(self.broker_url, alive_key(channel.run_id, channel.site),
                                 channel.heartbeat_ttl, HEARTBEAT_INTERVAL / 2)
        beater.start()
        try:
            await self._watch(channel)
        finally:
            beater.stop()

    async def _watch(self, channel: WorkerChannel) -> None:
        acted: str | None = None
        controller = ControllerWatch(self.grace, channel.run_id)
        while True:
            request = await self._ask(channel, controller) or {}
            if controller.lost is not None:
                request = {"kind": "interrupt", "reason": controller.lost}
            kind = str(request.get("kind") or "")
            if kind and kind != acted and self._cancel(
                    kind, str(request.get("reason") or "interrupted")):
                acted = kind
            await asyncio.sleep(HEARTBEAT_INTERVAL / 2)

    async def _ask(self, channel: WorkerChannel,
                   controller: ControllerWatch) -> dict[str, Any] | None:
        """The controller's cancel request, and whether it is still heard while the share
        runs (once it ended, the controller may end the run and delete its heartbeat); a
        broker that does not answer within a beat counts as not hearing it (the loop, and
        this share's own heartbeat thread, go on)."""
        watching = bool(self.grace) and not (self.run_task is not None and self.run_task.done())
        request: dict[str, Any] | None = None
        alive: bool | None = None
        try:
            async with asyncio.timeout(HEARTBEAT_INTERVAL * 2):
                request = await channel.cancel_request()
                alive = await channel.controller_alive() if watching else True
        except Exception as exc:  # redis errors, a timeout: the broker away a moment
            log.debug("run %s: broker not answering: %s", channel.run_id, exc)
        if watching:
            controller.heard(alive)
        return request

    def _cancel(self, kind: str, reason: str) -> bool:
        """Act on a cancel request; False while the share is still compiling (asked again
        at the next beat)."""
        if self.executor is None or self.run_task is None:
            return False
        log.info("share %s: %s (%s)", self.payload["run_id"], kind, reason)
        if kind == "halt":  # fail_fast elsewhere: cancel what runs too
            self.executor.halt(reason, cancel=True)
        elif kind == "stop":  # the controller lost a lab lock: start nothing new
            self.executor.halt(reason)
        elif kind == "batches":  # max_failed exceeded across the sites: no further batch
            self.executor.stop_batches = reason
        else:
            self.run_task.cancel()
        return True


class ControllerWatch:
    """Decides when a share's controller is lost: its heartbeat key is gone (it expires
    `grace` s after the controller's last beat), or the broker has not answered for `grace`
    s (this worker cannot hear it: the controller will count this worker lost as well)."""

    def __init__(self, grace: float, run_id: str) -> None:
        self.grace = grace
        self.run_id = run_id
        self.lost: str | None = None
        self._answered = time.monotonic()

    def heard(self, alive: bool | None) -> None:
        """Note one look at the key: True there, False gone, None the broker did not answer."""
        if self.lost is not None or not self.grace:
            return
        now = time.monotonic()
        if alive is not None:
            self._answered = now
        if alive is False:
            self.lost = f"no heartbeat from the controller for {self.grace:g} s"
        elif alive is None and now - self._answered > self.grace:
            self.lost = f"the broker did not answer for {self.grace:g} s"
        if self.lost is not None:
            log.warning("run %s: %s: interrupting the share as a Ctrl-C of the controller "
                        "would (nobody would receive its results)", self.run_id, self.lost)


def _findings(exc: RunbookError) -> str:
    if isinstance(exc, ValidationError) and exc.findings:
        return "; ".join(map(str, exc.findings))
    return str(exc)
