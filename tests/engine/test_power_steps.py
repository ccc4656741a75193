"""Power steps through the engine with an in-memory power controller."""

from __future__ import annotations

from typing import Any, ClassVar

from runbook.engine.events import PlannedHost
from runbook.engine.results import RunStatus
from runbook.hosts.base import Host
from runbook.hosts.lab import Lab
from runbook.model import PowerAction
from runbook.power import PowerController, PowerState
from runbook.results import Status
from tests.engine.fakes import FakeHost, Tracker, make_executor, run, runbook, step


class RecordingController(PowerController):
    """Records the actions asked of it; `state` is what status reports."""

    type_name: ClassVar[str] = "recording"

    def __init__(self, state: PowerState | None = PowerState.ON, fail: bool = False) -> None:
        super().__init__(cycle_delay=0.0)
        self.actions: list[tuple[str, str]] = []
        self.state = state
        self.fail = fail

    async def on(self, host: Host) -> tuple[Status, str]:
        self.actions.append(("on", host.id))
        return (Status.Failed, "outlet stuck") if self.fail else (Status.Success, "on")

    async def off(self, host: Host) -> tuple[Status, str]:
        self.actions.append(("off", host.id))
        return Status.Success, "off"

    async def status(self, host: Host) -> PowerState | None:
        return self.state


def power_lab(controller: PowerController | None, **host_kwargs: Any) -> Lab:
    return Lab([FakeHost("f01", Tracker(), power_control=controller, **host_kwargs)])


def test_cycle_then_wait_up() -> None:
    controller = RecordingController()
    book = runbook(step(0, "cycle", PowerAction("cycle", wait_up=5)),
                   step(1, "after", "echo:back"))
    outcome = run(book, power_lab(controller))
    assert outcome.status is RunStatus.SUCCESS
    assert controller.actions == [("off", "f01"), ("on", "f01")]
    assert outcome.steps[0].results["f01"].output.endswith("up\n")


def test_status_is_registered_with_its_state() -> None:
    book = runbook(step(0, "status", PowerAction("status"), register="p"),
                   step(1, "use", "echo:{{ p.state }}"))
    outcome = run(book, power_lab(RecordingController(PowerState.OFF)))
    assert outcome.steps[0].results["f01"].state == "off"
    assert outcome.steps[1].results["f01"].output == "off\n"


def test_unknown_status_fails_and_controller_failure_is_reported() -> None:
    outcome = run(runbook(step(0, "status", PowerAction("status"))),
                  power_lab(RecordingController(None)))
    assert outcome.steps[0].results["f01"].status is Status.Failed
    outcome = run(runbook(step(0, "on", PowerAction("on"))),
                  power_lab(RecordingController(fail=True)))
    result = outcome.steps[0].results["f01"]
    assert result.status is Status.Failed and "outlet stuck" in result.message


def test_host_without_power_control_is_an_error() -> None:
    result = run(runbook(step(0, "on", PowerAction("on"))), power_lab(None)).steps[0].results["f01"]
    assert result.status is Status.Error
    assert "power_control" in result.message


def test_check_mode_uses_the_controller_description() -> None:
    executor, events = make_executor(runbook(step(0, "cycle", PowerAction("cycle", wait_up=9))),
                                     power_lab(RecordingController()))
    executor.check()
    lines = next(e.lines for e in events if isinstance(e, PlannedHost))
    assert lines == ("recording controller: power off f01; wait 0s; "
                     "recording controller: power on f01", "wait until up (9s)")


def test_check_mode_shows_a_placeholder_for_every_registered_field() -> None:
    book = runbook(step(0, "st", PowerAction("status"), register="st"),
                   step(1, "u", "echo:x", register="u"),
                   step(2, "show", "echo {{ st.state }} {{ u.rc }} {{ u.status }} {{ u.output }} "
                                   "{{ u.rc + 1 }} {{ u.status == 'success' }}"))
    executor, events = make_executor(book, power_lab(RecordingController()))
    assert executor.check().status is RunStatus.SUCCESS
    lines = [e.lines for e in events if isinstance(e, PlannedHost)][2]
    assert lines == ("run: echo <power state of step 'st'> <rc of step 'u'> "
                     "<status of step 'u'> <output of step 'u'> 1 True",)


def test_check_mode_has_no_state_for_non_power_steps_as_at_run_time() -> None:
    book = runbook(step(0, "u", "echo:x", register="u"), step(1, "show", "echo {{ u.state }}"))
    executor, events = make_executor(book, power_lab(RecordingController()))
    executor.check()
    line = [e.lines for e in events if isinstance(e, PlannedHost)][1][0]
    assert line.startswith("run: (rendered at run time:") and "u has no field 'state'" in line
