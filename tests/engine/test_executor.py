"""The scheduler on in-memory hosts: barriers, concurrency bounds, failure policy, cancellation."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from runbook.engine.events import (
    HostResult,
    PlannedHost,
    Progress,
    RunFinished,
    StepFinished,
    StepStarted,
)
from runbook.engine.forks import choose_forks
from runbook.engine.results import RunStatus
from runbook.model import Expect, OneshotAction, RunAction
from runbook.results import Status
from tests.engine.fakes import (
    FakeHost,
    Tracker,
    fake_lab,
    make_executor,
    run,
    runbook,
    statuses,
    step,
)


def test_steps_are_barriers() -> None:
    tracker = Tracker()
    lab = fake_lab(6, tracker)
    book = runbook(step(0, "one", "sleep:0.01"), step(1, "two", "sleep:0"))
    outcome = run(book, lab)
    assert outcome.status is RunStatus.SUCCESS
    first = [c for c in tracker.calls if c[1] == "sleep:0.01"]
    second = [c for c in tracker.calls if c[1] == "sleep:0"]
    assert len(first) == len(second) == 6
    assert min(c[2] for c in second) >= max(c[3] for c in first)


def test_concurrent_by_default_and_bounded_by_forks() -> None:
    tracker = Tracker()
    outcome = run(runbook(step(0, "s", "sleep:0.02")), fake_lab(10, tracker), forks=3)
    assert outcome.status is RunStatus.SUCCESS
    assert tracker.peak == 3


def test_concurrent_n_bounds_a_step() -> None:
    tracker = Tracker()
    run(runbook(step(0, "s", "sleep:0.02", concurrent=2)), fake_lab(8, tracker), forks=50)
    assert tracker.peak == 2


def test_all_hosts_at_once_when_forks_allow() -> None:
    tracker = Tracker()
    run(runbook(step(0, "s", "sleep:0.02")), fake_lab(12, tracker), forks=50)
    assert tracker.peak == 12


def test_concurrent_false_is_serial_in_lab_order() -> None:
    tracker = Tracker()
    run(runbook(step(0, "s", "sleep:0.005", concurrent=False)), fake_lab(5, tracker))
    assert tracker.peak == 1
    assert [c[0] for c in tracker.calls] == ["f01", "f02", "f03", "f04", "f05"]
    for before, after in zip(tracker.calls, tracker.calls[1:], strict=False):
        assert after[2] >= before[3]


def test_failed_host_sits_out_later_steps() -> None:
    book = runbook(step(0, "fail-f02", "rc:3", hosts=("f02",)), step(1, "all", "echo:hi"))
    outcome = run(book, fake_lab(3))
    assert outcome.status is RunStatus.FAILED
    assert statuses(outcome) == [{"f02": "failed"},
                                 {"f01": "success", "f02": "skipped", "f03": "success"}]
    first = outcome.steps[0].results["f02"]
    assert first.rc == 3
    assert first.message == "exit status 3"
    assert "fail-f02" in outcome.steps[1].results["f02"].message


def test_ignore_errors_keeps_the_host_going() -> None:
    book = runbook(step(0, "may-fail", "rc:1", ignore_errors=True), step(1, "next", "echo:x"))
    outcome = run(book, fake_lab(2))
    assert outcome.status is RunStatus.SUCCESS
    assert statuses(outcome) == [{"f01": "failed", "f02": "failed"},
                                 {"f01": "success", "f02": "success"}]
    assert outcome.steps[0].results["f01"].ignored


def test_unreachable_host_among_reachable_ones() -> None:
    book = runbook(step(0, "a", "echo:a", ignore_errors=True), step(1, "b", "echo:b"))
    outcome = run(book, fake_lab(3, unreachable=["f02"]))
    assert outcome.status is RunStatus.FAILED
    assert statuses(outcome) == [
        {"f01": "success", "f02": "unreachable", "f03": "success"},
        {"f01": "success", "f02": "skipped", "f03": "success"},
    ]
    assert "connection refused" in outcome.steps[0].results["f02"].message


def test_fail_fast_cancels_running_hosts_and_starts_nothing_new() -> None:
    tracker = Tracker()
    lab = fake_lab(4, tracker)
    book = runbook(
        step(0, "mixed", "rc:1", hosts=("f01",)),
        step(1, "slow", "sleep:30", hosts=("f0[234]",)),
        step(2, "never", "echo:x"),
        fail_fast=True,
    )
    outcome = run(book, lab)
    assert outcome.status is RunStatus.FAILED
    assert statuses(outcome)[1] == {"f02": "skipped", "f03": "skipped", "f04": "skipped"}
    assert set(statuses(outcome)[2].values()) == {"skipped"}
    assert not [c for c in tracker.calls if c[1] == "sleep:30"]


def test_fail_fast_cancels_what_runs_in_the_same_step() -> None:
    tracker = Tracker()
    lab = fake_lab(3, tracker)
    book = runbook(step(0, "s", "{{ 'rc:2' if host.id == 'f01' else 'sleep:30' }}"),
                   step(1, "later", "echo:x"))
    outcome = run(book, lab, fail_fast=True)
    results = outcome.steps[0].results
    assert results["f01"].status is Status.Failed
    for host_id in ("f02", "f03"):
        assert results[host_id].status is Status.Error
        assert "fail_fast" in results[host_id].message
    assert set(statuses(outcome)[1].values()) == {"skipped"}


def test_when_false_skips_and_register_feeds_later_templates() -> None:
    book = runbook(
        step(0, "probe", "echo:{{ host.id }}", register="probe"),
        step(1, "only-f02", "echo:yes", when="probe.output.strip() == 'f02'"),
        step(2, "use", "echo:{{ probe.rc }}-{{ probe.status }}"),
    )
    outcome = run(book, fake_lab(3))
    assert statuses(outcome)[1] == {"f01": "skipped", "f02": "success", "f03": "skipped"}
    assert outcome.steps[2].results["f01"].output == "0-success\n"
    assert "when" in outcome.steps[1].results["f01"].message


def test_retries_until() -> None:
    book = runbook(step(0, "poll", "count", register="c", retries=5, delay=0.0,
                        until="c.output.strip() == '3'"))
    outcome = run(book, fake_lab(1))
    result = outcome.steps[0].results["f01"]
    assert result.status is Status.Success
    assert result.attempts == 3


def test_until_never_true_fails_after_all_attempts() -> None:
    book = runbook(step(0, "poll", "count", register="c", retries=2,
                        until="c.output.strip() == '99'"))
    result = run(book, fake_lab(1)).steps[0].results["f01"]
    assert result.status is Status.Failed
    assert result.attempts == 3
    assert "still false" in result.message


def test_retries_without_until_retry_failures() -> None:
    lab = fake_lab(1)
    book = runbook(step(0, "r", "rc:1", retries=2))
    result = run(book, lab).steps[0].results["f01"]
    assert result.status is Status.Failed
    assert result.attempts == 3


def test_expect_rc_and_output() -> None:
    book = runbook(
        step(0, "rc-ok", "rc:2", expect=Expect(rc=(0, 2))),
        step(1, "out-ok", "echo:ready", expect=Expect(output="^ready$")),
        step(2, "out-bad", "echo:error", hosts=("f01",), expect=Expect(not_output="err")),
    )
    outcome = run(book, fake_lab(2))
    assert statuses(outcome) == [{"f01": "success", "f02": "success"},
                                 {"f01": "success", "f02": "success"},
                                 {"f01": "failed"}]
    assert "err" in outcome.steps[2].results["f01"].message


def test_expect_regexes_are_templates_rendered_per_host() -> None:
    lab = fake_lab(2)
    lab["f01"].vars["want"] = "abc"
    lab["f02"].vars["want"] = "xyz"
    book = runbook(
        step(0, "sum", "echo:abc", expect=Expect(output="^{{ want }}$")),
        step(1, "reg", "echo:abc", register="r", hosts=("f01",)),
        step(2, "not", "echo:abc", hosts=("f01",),
             expect=Expect(not_output="{{ r.output | trim }}")),
    )
    outcome = run(book, lab)
    assert statuses(outcome) == [{"f01": "success", "f02": "failed"}, {"f01": "success"},
                                 {"f01": "failed"}]
    assert outcome.steps[0].results["f02"].message == "output does not match '^xyz$'"
    assert outcome.steps[2].results["f01"].message == "output matches 'abc'"


def test_template_error_names_step_host_location_and_name() -> None:
    book = runbook(step(0, "reg", "echo:1", register="r", hosts=("f01",)),
                   step(1, "uses", "echo:{{ r.output }}"))
    outcome = run(book, fake_lab(2))
    result = outcome.steps[1].results["f02"]
    assert result.status is Status.Failed
    assert "'uses'" in result.message and "'f02'" in result.message
    assert "book.yml:6:5" in result.message
    assert "'r'" in result.message
    assert outcome.steps[1].results["f01"].status is Status.Success


def test_limit_intersects_targets() -> None:
    outcome = run(runbook(step(0, "s", "echo:x", hosts=("f0[12]",))), fake_lab(3), limit="2$")
    assert statuses(outcome) == [{"f02": "success"}]


def test_events_order_and_progress() -> None:
    executor, events = make_executor(runbook(step(0, "s", "echo:x")), fake_lab(3))
    asyncio.run(executor.run())
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert kinds.index("StepStarted") < kinds.index("HostResult") < kinds.index("StepFinished")
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.done for p in progress] == [1, 2, 3]
    assert sum(isinstance(e, HostResult) for e in events) == 3
    assert isinstance(events[-1], RunFinished) and events[-1].outcome.status is RunStatus.SUCCESS
    started = next(e for e in events if isinstance(e, StepStarted))
    assert started.total == 3
    assert any(isinstance(e, StepFinished) for e in events)


def test_hosts_are_disconnected_at_the_end_without_a_kill() -> None:
    lab = fake_lab(2)
    run(runbook(step(0, "s", "echo:x")), lab)
    assert all(h.resets == 1 and h.closed == 0 for h in lab.hosts)  # type: ignore[attr-defined]


def test_hosts_are_closed_with_kill_after_fail_fast() -> None:
    lab = fake_lab(2)
    run(runbook(step(0, "s", "rc:1")), lab, fail_fast=True)
    assert all(h.closed == 1 for h in lab.hosts)  # type: ignore[attr-defined]


def test_cancellation_records_interrupt_closes_hosts_and_reraises() -> None:
    lab = fake_lab(3)
    executor, events = make_executor(
        runbook(step(0, "fast", "echo:x"), step(1, "slow", "sleep:30"), step(2, "after", "echo:y")),
        lab)

    async def main() -> None:
        task = asyncio.create_task(executor.run())
        while not any(isinstance(e, StepStarted) and e.name == "slow" for e in events):
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    outcome = executor.outcome
    assert outcome.status is RunStatus.INTERRUPTED
    assert set(statuses(outcome)[0].values()) == {"success"}
    assert set(statuses(outcome)[1].values()) == {"error"}
    assert all(r.message == "interrupted" for r in outcome.steps[1].results.values())
    assert set(statuses(outcome)[2].values()) == {"skipped"}
    assert all(h.closed == 1 for h in lab.hosts)  # type: ignore[attr-defined]
    assert isinstance(events[-1], RunFinished)


def test_oneshot_multiple_commands_stop_at_first_failure() -> None:
    book = runbook(step(0, "o", OneshotAction(("echo:a", "rc:4", "echo:never"))))
    result = run(book, fake_lab(1)).steps[0].results["f01"]
    assert result.status is Status.Failed
    assert result.rc == 4
    assert result.output == "a\n"


def test_run_list_output_is_joined() -> None:
    result = run(runbook(step(0, "r", RunAction(("echo:a", "echo:b")))),
                 fake_lab(1)).steps[0].results["f01"]
    assert result.output == "a\nb\n"
    assert result.rc == 0


def test_check_mode_renders_without_running() -> None:
    tracker = Tracker()
    executor, events = make_executor(
        runbook(step(0, "s", "echo:{{ host.id }}"), step(1, "reg", "echo:x", register="r"),
                step(2, "p", "echo:{{ r.rc }}", when="true")), fake_lab(2, tracker))
    outcome = executor.check()
    assert not tracker.calls
    assert outcome.check and outcome.status is RunStatus.SUCCESS
    lines = {(e.step_name, e.host_id): e.lines for e in events if isinstance(e, PlannedHost)}
    assert lines[("s", "f02")] == ("run: echo:f02",)
    assert lines[("p", "f01")] == ("when: true", "run: echo:<rc of step 'reg'>")


def test_check_mode_reports_template_errors() -> None:
    executor, events = make_executor(runbook(step(0, "s", "echo:{{ nope }}")), fake_lab(1))
    outcome = executor.check()
    assert outcome.status is RunStatus.FAILED
    planned = [e for e in events if isinstance(e, PlannedHost)]
    assert planned[0].lines[0].startswith("ERROR step 's' on host 'f01'")
    assert "nope" in planned[0].lines[0]


def test_choose_forks_clamps_by_fd_limit() -> None:
    assert choose_forks(None, 1 << 20) == 500
    assert choose_forks(10, 1 << 20) == 10
    assert choose_forks(None, 1024) == (1024 - 64) // 4
    assert choose_forks(None, 10) == 1


def test_abandon_finishes_the_record_at_once_and_only_once() -> None:
    executor, events = make_executor(runbook(step(0, "slow", "sleep:30"), step(1, "b", "echo:x")),
                                     fake_lab(2))

    async def main() -> None:
        task = asyncio.create_task(executor.run())
        while not any(isinstance(e, StepStarted) for e in events):
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.01)
        outcome = executor.abandon()
        assert outcome.status is RunStatus.INTERRUPTED
        assert set(statuses(outcome)[0].values()) == {"error"}
        assert set(statuses(outcome)[1].values()) == {"skipped"}
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert sum(isinstance(e, RunFinished) for e in events) == 1


def test_host_results_carry_the_masked_command_and_registered_value() -> None:
    book = runbook(step(0, "say", "echo:pw-123", register="said"), step(1, "plain", "echo:x"))
    executor, events = make_executor(book, fake_lab(2))
    executor.mask = lambda text: text.replace("pw-123", "***")
    asyncio.run(executor.run())
    results = [e for e in events if isinstance(e, HostResult)]
    said = [e for e in results if e.step_index == 0]
    assert [e.registered for e in said] == [{"output": "***\n", "rc": 0, "status": "success"}] * 2
    assert [e.result.command for e in said] == ["run: echo:***"] * 2
    assert executor.registered["f01"]["said"]["output"] == "pw-123\n"  # the run keeps the value
    assert {e.registered for e in results if e.step_index == 1} == {None}
    assert executor.outcome.steps[0].results["f01"].to_dict()["command"] == "run: echo:***"


def test_a_host_is_released_after_its_last_step_while_others_still_work() -> None:
    lab = fake_lab(2)
    f01, f02 = (cast(FakeHost, h) for h in lab.hosts)
    resets_when_step_2_starts: list[int] = []
    executor, _ = make_executor(
        runbook(step(0, "both", "echo:x"), step(1, "f02 only", "echo:y", hosts=("f02",))), lab)
    executor.bus.subscribe(lambda e: resets_when_step_2_starts.extend(
        [f01.resets, f02.resets]) if isinstance(e, StepStarted) and e.index == 1 else None)
    asyncio.run(executor.run())
    assert resets_when_step_2_starts == [1, 0]
    assert (f01.resets, f02.resets) == (1, 1)


def test_no_early_release_when_a_host_is_a_jump_host() -> None:
    from runbook import RemoteHost
    from runbook.engine.release import release_points
    from runbook.hosts.lab import Lab

    jump = RemoteHost("jump", "192.0.2.1")
    lab = Lab([*fake_lab(2).hosts, jump, RemoteHost("inner", "192.0.2.2", hop=jump)])
    executor, _ = make_executor(runbook(step(0, "s", "echo:x", hosts=("f0",))), lab)
    assert release_points(executor.plan) == {}
    assert set(release_points(make_executor(runbook(step(0, "s", "echo:x")),
                                            fake_lab(2))[0].plan)) == {"f01", "f02"}
