"""run_once and delegate_to in the executor, on in-memory hosts (the sshd lab tests are in
tests/cli/test_apply_delegate.py)."""

from __future__ import annotations

import asyncio
from typing import cast

from runbook.engine.events import HostResult, StepStarted
from runbook.engine.results import RunStatus
from runbook.model import OneshotAction
from tests.engine.fakes import FakeHost, Tracker, fake_lab, make_executor, run, runbook, statuses, step


def test_a_failing_run_once_fails_every_target_which_then_sit_out() -> None:
    tracker = Tracker()
    book = runbook(step(0, "once", OneshotAction(("rc:4",)), run_once=True, register="r"),
                   step(1, "after", "echo:x"))
    outcome = run(book, fake_lab(4, tracker))
    assert outcome.status is RunStatus.FAILED
    assert [c[0] for c in tracker.calls] == ["f01"]  # ran once, on the first target
    assert statuses(outcome) == [dict.fromkeys(("f01", "f02", "f03", "f04"), "failed"),
                                 dict.fromkeys(("f01", "f02", "f03", "f04"), "skipped")]
    assert outcome.steps[0].results["f03"].rc == 4
    assert outcome.steps[0].results["f03"].message.startswith("run_once: the result of 'f01'")


def test_run_once_emits_one_host_result_and_registers_for_all() -> None:
    import asyncio

    book = runbook(step(0, "once", OneshotAction(("echo:hello",)), run_once=True, register="r"),
                   step(1, "use", OneshotAction(("echo:{{ r.output | trim }}-{{ host.id }}",))))
    executor, events = make_executor(book, fake_lab(3))
    outcome = asyncio.run(executor.run())
    assert outcome.status is RunStatus.SUCCESS
    assert [e.result.host_id for e in events if isinstance(e, HostResult) and e.step_index == 0] \
        == ["f01"]
    assert {h: r.output for h, r in outcome.steps[1].results.items()} == {
        "f01": "hello-f01\n", "f02": "hello-f02\n", "f03": "hello-f03\n"}


def test_delegate_runs_on_the_delegate_and_records_under_the_target() -> None:
    tracker = Tracker()
    book = runbook(step(0, "via f04", OneshotAction(("echo:{{ host.id }}",)),
                        hosts=("^f0[1-3]$",), delegate_to="f04"))
    outcome = run(book, fake_lab(4, tracker))
    assert outcome.status is RunStatus.SUCCESS
    assert {c[0] for c in tracker.calls} == {"f04"}
    assert {h: r.output for h, r in outcome.steps[0].results.items()} == {
        "f01": "f01\n", "f02": "f02\n", "f03": "f03\n"}


def test_an_unreachable_delegate_fails_its_targets_naming_it() -> None:
    book = runbook(step(0, "via f04", OneshotAction(("echo:x",)), hosts=("^f0[12]$",),
                        delegate_to="f04"), step(1, "after", "echo:y", hosts=("^f0[12]$",)))
    outcome = run(book, fake_lab(4, unreachable=("f04",)))
    for result in outcome.steps[0].results.values():
        assert result.word == "error"
        assert result.message.startswith("delegate 'f04' is unreachable: fake-f04: connection refused")
    assert statuses(outcome)[1] == {"f01": "skipped", "f02": "skipped"}


def test_a_delegate_is_not_released_while_other_targets_still_run_on_it() -> None:
    """f01's last step is step 0, but step 1 delegates to it: it stays connected until the end
    (early release, runbook.engine.release.release_points, skips delegates)."""
    lab = fake_lab(3)
    f01, f02, _ = (cast(FakeHost, h) for h in lab.hosts)
    book = runbook(step(0, "all", "echo:x"),
                   step(1, "via f01", "echo:y", hosts=("^f0[23]$",), delegate_to="f01"))
    executor, _ = make_executor(book, lab)
    resets_at_step_1: list[int] = []
    executor.bus.subscribe(lambda e: resets_at_step_1.extend([f01.resets, f02.resets])
                           if isinstance(e, StepStarted) and e.index == 1 else None)
    assert asyncio.run(executor.run()).status is RunStatus.SUCCESS
    assert resets_at_step_1 == [0, 0]
    assert (f01.resets, f02.resets) == (1, 1)
