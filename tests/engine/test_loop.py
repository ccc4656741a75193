"""`loop`: a host's items (list, expression, limits) and how the items' results combine."""

from __future__ import annotations

import pytest

from runbook.engine.loop import MAX_ITEMS, combine, loop_items, loop_register_value
from runbook.engine.results import HostStepResult
from runbook.errors import RunbookError
from runbook.model import Location, RunAction, Step
from runbook.render.templating import Templater
from runbook.results import Status


def looped(loop: tuple[object, ...] | str) -> Step:
    return Step(0, "s", (".",), RunAction(("echo {{ item }}",)), Location("b.yml", 3),
                loop=loop)


@pytest.mark.parametrize("loop", ["{{ ports }}", "ports", " {{ ports }} "])
def test_expression_forms_give_the_host_list(loop: str) -> None:
    assert loop_items(looped(loop), Templater(), {"ports": [22, 80]}) == [22, 80]


def test_list_items_are_rendered_per_host() -> None:
    assert loop_items(looped(("a", "{{ x }}-b")), Templater(), {"x": "h1"}) == ["a", "h1-b"]


def test_not_a_list_and_too_many_items_are_errors() -> None:
    with pytest.raises(RunbookError, match="gave str 'eth0', not a list"):
        loop_items(looped("iface"), Templater(), {"iface": "eth0"})
    with pytest.raises(RunbookError, match=f"more than {MAX_ITEMS}"):
        loop_items(looped("range(10001) | list"), Templater(), {})
    with pytest.raises(RunbookError, match="one expression"):
        loop_items(looped("{{ a }} {{ b }}"), Templater(), {})


def test_items_combine_into_the_step_result() -> None:
    ok = HostStepResult("h", Status.Success, 0, "up\n")
    bad = HostStepResult("h", Status.Failed, 1, "", message="exit status 1")
    skipped = HostStepResult("h", Status.Skipped, message="skipped: when")
    result = combine("h", 1.0, 2.0, [("eth0", ok), ("eth1", bad), ("eth2", skipped)])
    assert result.status is Status.Failed
    assert result.message == "1 of 3 items failed: eth1 (exit status 1)"
    assert result.output == "[eth0] up\n"
    assert [i["status"] for i in result.items or []] == ["success", "failed", "skipped"]
    value = loop_register_value(result)
    assert value["failed"] is True and len(value["results"]) == 3
    all_skipped = combine("h", 1.0, 2.0, [("a", skipped)])
    assert all_skipped.status is Status.Skipped
    assert loop_register_value(all_skipped)["failed"] is False
