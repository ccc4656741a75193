"""The pieces of runbook.sites that need no broker: codec, bundle, URL masking, the merger."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from runbook.engine.events import EventBus, HostResult, StepFinished
from runbook.engine.results import HostStepResult, RunStatus
from runbook.errors import ConfigError
from runbook.hosts.lab import Lab
from runbook.hosts.local import LocalHost
from runbook.language.runbookfile import load_runbook
from runbook.plan.compiler import compile_plan
from runbook.render.secrets import SecretStore
from runbook.render.templating import Templater
from runbook.results import Status
from runbook.sites import bundle, codec
from runbook.sites.broker import mask_url
from runbook.sites.merge import LOCAL, Merger


def test_a_result_survives_the_json_round_trip() -> None:
    result = HostStepResult("r7", Status.Failed, 3, "out", 1.5, 2.5, message="m", ignored=True,
                            attempts=2, state="on", unreachable=False)
    message = codec.decode(codec.encode(codec.event_message(HostResult(0, "s", result)) or {}))
    assert codec.result_from_dict(message["result"]) == result
    assert codec.decode(b"not json")["t"] == "failed"


def test_mask_url_hides_the_password_only() -> None:
    assert mask_url("redis://:pw@h:6379/1") == "redis://:***@h:6379/1"
    assert mask_url("rediss://user:p%40ss@h:6380/0") == "rediss://user:***@h:6380/0"
    assert mask_url("redis://h:6379/0") == "redis://h:6379/0"


def test_rediss_always_verifies_the_server_and_takes_the_ca_from_the_url() -> None:
    import ssl

    from runbook.sites.broker import celery_app

    app = celery_app("rediss://:pw@h:6380/0?ssl_ca_certs=/etc/ca.pem")
    assert app.conf.broker_use_ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED,
                                       "ssl_ca_certs": "/etc/ca.pem"}
    assert app.conf.broker_url == "rediss://:pw@h:6380/0"
    assert celery_app("redis://:pw@h:6379/0").conf.broker_use_ssl is None


def test_bundle_is_content_addressed_and_refuses_corruption(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "sub" / "b.txt"
    b.parent.mkdir()
    a.write_text("same")
    b.write_text("same")
    packed = bundle.pack([a, b])
    assert len(packed["files"]) == 2 and len(packed["blobs"]) == 1
    placed = bundle.unpack(packed, tmp_path / "root")
    assert placed[str(b.resolve())].read_text() == "same"
    assert str(placed[str(a.resolve())]).startswith(str(tmp_path / "root"))
    digest = next(iter(packed["blobs"]))
    packed["blobs"][digest] = base64.b64encode(b"tampered").decode()
    with pytest.raises(ConfigError, match="checksum"):
        bundle.unpack(packed, tmp_path / "root2")


def test_bundle_over_the_size_limit_is_refused_naming_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(ConfigError, match="exceed"):
        bundle.pack([big], limit=1024)


def _plan(tmp_path: Path):  # type: ignore[no-untyped-def]
    book = tmp_path / "book.yml"
    (tmp_path / "f.txt").write_text("payload")
    book.write_text("name: t\nsteps:\n"
                    "  - {name: one, hosts: '.', run: 'true'}\n"
                    "  - {name: two, hosts: '.', put: {src: f.txt, dest: /tmp/x/}}\n")
    lab = Lab([LocalHost("a"), LocalHost("b"), LocalHost("c")])
    lab.sites = {"east": {}}
    lab.site_of = {"b": "east", "c": "east"}
    return compile_plan(load_runbook(book), lab, Templater(SecretStore(environ={})))


def test_plan_files_lists_the_put_sources_of_the_site_hosts(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    assert bundle.plan_files(plan, ["b"]) == [tmp_path / "f.txt"]


def test_merger_emits_one_step_finished_after_every_part_and_fills_a_lost_site(
        tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    events: list[object] = []
    merger = Merger(plan, EventBus([events.append]), [LOCAL, "east"])
    merger.host_result(0, HostStepResult("a", Status.Success, 0, "", 1.0, 2.0))
    merger.step_finished(0, LOCAL, 1.0, 2.0)
    assert not any(isinstance(e, StepFinished) for e in events)
    merger.host_result(0, HostStepResult("b", Status.Success, 0, "", 1.0, 2.0))
    merger.fill("east", Status.Error, "worker for site east lost",
                later="not run: worker for site east lost")
    merger.host_result(1, HostStepResult("a", Status.Success, 0, "", 3.0, 4.0))
    outcome = merger.finish()
    assert outcome.sites == {"b": "east", "c": "east"}
    first, second = outcome.steps
    assert list(first.results) == ["a", "b", "c"]
    assert first.results["c"].message == "worker for site east lost"
    assert second.results["b"].status is Status.Error  # b got that far
    assert second.results["c"].status is Status.Skipped
    assert second.results["c"].message == "not run: worker for site east lost"
    assert outcome.status is RunStatus.FAILED
    finished = [e.outcome.index for e in events if isinstance(e, StepFinished)]
    assert finished == [0, 1]


def test_a_site_whose_engine_stopped_on_an_internal_error_fails_the_run(tmp_path: Path
                                                                        ) -> None:
    # Its hosts read "not run" (skipped), which alone would let the run end in success.
    plan = _plan(tmp_path)
    merger = Merger(plan, EventBus([]), [LOCAL, "east"])
    for index in (0, 1):
        merger.host_result(index, HostStepResult("a", Status.Success, 0, "", 1.0, 2.0))
        merger.step_finished(index, LOCAL, 1.0, 2.0)
    merger.part_finished(LOCAL)
    reason = "not run: internal error: boom"
    merger.site_done("east", {"t": "done", "status": "failed", "error": "RuntimeError: boom",
                              "steps": [{"step": i, "started": 1.0, "ended": 1.0, "results": [
                                  codec.result_to_dict(HostStepResult(
                                      h, Status.Skipped, None, "", 1.0, 1.0, message=reason))
                                  for h in ("b", "c")]} for i in (0, 1)]})
    outcome = merger.finish()
    assert outcome.steps[0].results["b"].message == reason
    assert outcome.error == "site east: RuntimeError: boom"
    assert outcome.status is RunStatus.FAILED


def test_a_shipped_transcript_is_masked_and_cut_at_its_limit() -> None:
    from runbook.sites.transcript import TranscriptShipper

    secret = "s3cr3t-value"
    shipper = TranscriptShipper(lambda text: text.replace(secret, "***"), lambda: [secret],
                                limit=2 * 1024 * 1024)
    log = shipper.host("h03")
    log.command(f"echo {secret}")
    log.output(f"{secret[:4]}".encode())  # a secret split across two chunks
    log.output(f"{secret[4:]}\n".encode())
    log.command_end(0, "success")
    [message] = shipper.drain()
    assert message["t"] == "log" and message["host"] == "h03"
    assert "run: echo ***" in message["text"] and "\n***\n" in message["text"]
    assert secret not in message["text"] and shipper.drain() == []
    log.output(b"x" * (3 * 1024 * 1024))
    text = "".join(m["text"] for m in shipper.drain())
    assert text.endswith("transcript cut: more than 2 MiB from the site's worker; the rest "
                         "was not shipped\n")
    log.output(b"more")
    assert shipper.drain() == []


def test_the_parts_batches_merge_into_one_list_in_lab_order() -> None:
    from runbook.engine.results import BatchOutcome
    from runbook.sites.merge import merge_batches

    hosts = [LocalHost(h) for h in ("h01", "h02", "h03", "h04", "h05")]
    parts = {"west": [BatchOutcome(1, 2, ["h04"]), BatchOutcome(2, 2, ["h05"], not_started="x")],
             LOCAL: [BatchOutcome(1, 1, ["h01", "h02"])], "east": [BatchOutcome(1, 1, ["h03"])]}
    merged = merge_batches(parts, hosts)
    assert [(b.number, b.total, b.hosts, b.not_started) for b in merged] == [
        (1, 4, ["h01", "h02"], None), (2, 4, ["h03"], None), (3, 4, ["h04"], None),
        (4, 4, ["h05"], "x")]


def test_restart_points_travel_as_json_and_split_per_part() -> None:
    from runbook.engine.restart import RestartPoints

    points = RestartPoints(
        {"a": "1", "b": "0"}, registered={"a": {"r": {"output": "x ***"}}},
        failures={"a": [("0", "boom")]}, items={"b": {"0": {1: {"item": "y", "status": "ok"}}}},
        dropped={"c": "failed before"}, batch_hosts=["a", "b", "c"])
    back = codec.points_from_dict(codec.decode(codec.encode(codec.points_to_dict(points))))
    assert back == points
    east = points.part({"b", "c"})
    assert (east.starts, east.dropped, east.batch_hosts) == (
        {"b": "0"}, {"c": "failed before"}, ["b", "c"])
    assert east.items == {"b": {"0": {1: {"item": "y", "status": "ok"}}}} and not east.failures


def test_loop_items_and_rescues_of_a_site_reach_the_run_bus(tmp_path: Path) -> None:
    from runbook.engine.events import ItemResult, Rescued

    plan = _plan(tmp_path)
    events: list[object] = []
    merger = Merger(plan, EventBus([events.append]), [LOCAL, "east"])
    sent: list[ItemResult | Rescued] = [ItemResult(0, "b", 1, {"item": "y", "status": "ok"}),
                                        Rescued("c", "blk", 0, 1)]
    for event in sent:
        merger.site_message("east", codec.decode(codec.encode(codec.event_message(event) or {})))
    assert events == sent
    merger.host_result(1, HostStepResult("c", Status.Failed, 1, "", 1.0, 2.0))
    merger.mark_all_rescued(merger.outcome.steps)
    assert merger.outcome.steps[1].results["c"].rescued


def test_a_restart_sends_each_site_only_its_hosts_points(tmp_path: Path) -> None:
    from runbook.engine.restart import RestartPoints
    from runbook.records.runfolder import step_path
    from runbook.sites.controller import SiteRun

    plan = _plan(tmp_path)
    run = SiteRun(plan, broker_url="redis://127.0.0.1:1/0", bus=EventBus(), forks=2)
    run.start_part_way(RestartPoints({"c": step_path(1)}, registered={"c": {"r": {"rc": 0}}},
                                     batch_hosts=["a", "b", "c"]), step_path)
    assert [h.id for h in run.plan.hosts] == ["c"] and not run.local.plan.hosts
    payload = run.payloads["east"]
    assert payload["hosts"] == ["c"] and payload["version"] == 2
    assert payload["restart"]["starts"] == {"c": step_path(1)}
    assert payload["restart"]["registered"] == {"c": {"r": {"rc": 0}}}
    assert payload["restart"]["batch_hosts"] == ["b", "c"]  # east's part: cut from its hosts
    assert [[h.id for h in p.targets] for p in run.plan.steps] == [[], ["c"]]
    local_only = SiteRun(_plan(tmp_path), broker_url="redis://127.0.0.1:1/0", bus=EventBus(),
                         forks=2)
    local_only.start_part_way(RestartPoints({"a": step_path(0)}), step_path)
    assert not local_only.shares and not local_only.payloads  # no east host: no task for east
    assert local_only.merger.parts == {LOCAL}


def test_a_worker_refuses_a_task_of_a_later_version(tmp_path: Path) -> None:
    import asyncio

    from runbook.sites.worker import _Share

    share = _Share({"version": 99, "run_id": "r", "site": "east", "hosts": []},
                   "redis://127.0.0.1:1/0", None)
    asyncio.run(share._execute(tmp_path))
    message = share.queue.get_nowait()
    assert message is not None and message["t"] == "failed"
    assert "needs a newer runbook worker (task version 99" in str(message["message"])


def test_a_worker_counts_its_controller_lost_only_when_it_cannot_hear_it() -> None:
    import time

    from runbook.sites.worker import ControllerWatch

    heard = ControllerWatch(10.0, "r")
    heard.heard(True)
    heard.heard(None)  # the broker away a moment: well within the grace
    assert heard.lost is None
    heard.heard(False)  # the key expired: no beat for the grace period
    assert heard.lost == "no heartbeat from the controller for 10 s"
    unwatched = ControllerWatch(0, "r")  # a controller that does not beat
    unwatched.heard(False)
    assert unwatched.lost is None
    cut_off = ControllerWatch(0.05, "r")
    deadline = time.monotonic() + 10
    while cut_off.lost is None and time.monotonic() < deadline:
        cut_off.heard(None)  # the broker does not answer, for longer than the grace
        time.sleep(0.01)
    assert cut_off.lost == "the broker did not answer for 0.05 s"
