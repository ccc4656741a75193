"""Dry-run stand-ins for registered results print as placeholders but still compute."""

from __future__ import annotations

from runbook.model import Location, PowerAction, RunAction, Step
from runbook.plan.placeholders import dry_run_result
from runbook.render.templating import Templater


def make(action: RunAction | PowerAction) -> Step:
    return Step(0, "check", ("a",), action, Location("b.yml", 3, 5))


def test_fields_print_as_placeholders_and_compute_like_a_success() -> None:
    value = dry_run_result(make(RunAction(("x",))))
    assert set(value) == {"output", "rc", "status"}
    text = Templater().render("{{ r.output }}|{{ r.rc }}|{{ r.status }}|{{ r.rc + 1 }}|"
                              "{{ r.status == 'success' }}|{{ '%d' % r.rc }}", {"r": value})
    assert text == ("<output of step 'check'>|<rc of step 'check'>|<status of step 'check'>|"
                    "1|True|0")


def test_power_steps_also_register_a_state() -> None:
    value = dry_run_result(make(PowerAction("status")))
    assert value["state"] == "<power state of step 'check'>"
