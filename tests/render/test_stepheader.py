"""Step `name` and `hosts` templates: what they see, how they render, how they fail."""

from __future__ import annotations

import pytest

from runbook.errors import ConfigError, HeaderTemplateError
from runbook.model import Location, RunAction, Step
from runbook.render.stepheader import (
    header_context,
    render_step_header,
    render_text,
    templated_fields,
    unseen_name_hint,
)
from runbook.render.templating import Templater


def make(name: str, *hosts: str, named: bool = True) -> Step:
    return Step(0, name, hosts, RunAction(("x",)), Location("b.yml", 3, 5), named=named)


def test_extra_vars_win_over_runbook_over_lab() -> None:
    assert header_context(lab_vars={"a": 1, "b": 1, "c": 1}, runbook_vars={"b": 2, "c": 2},
                          extra_vars={"c": 3}) == {"a": 1, "b": 2, "c": 3}


def test_only_given_names_and_templated_patterns_are_fields() -> None:
    assert templated_fields(make("run: {{ x }}", "a", "{{ g }}", named=False)) == [
        (("hosts", 1), "{{ g }}")]
    assert templated_fields(make("up {{ v }}", "{{ g }}")) == [
        (("name",), "up {{ v }}"), (("hosts",), "{{ g }}")]


def test_render_step_header_replaces_name_and_hosts() -> None:
    step = make("up {{ v }}", "^{{ g }}$", "edge")
    done = render_step_header(step, Templater(), {"v": "2.0", "g": "r1"})
    assert (done.name, done.hosts) == ("up 2.0", ("^r1$", "edge"))
    plain = make("plain", "a")
    assert render_step_header(plain, Templater(), {}) is plain


def test_failures_are_config_errors_at_the_field() -> None:
    def where(step: Step, *field: str | int) -> Location:
        return Location("b.yml", 10 + len(field), 7)

    with pytest.raises(ConfigError) as info:
        render_step_header(make("n", "a", "{{ nope }}"), Templater(), {}, where)
    assert (info.value.line, info.value.column) == (12, 7)
    assert info.value.message == (
        "step 1: hosts[1]: undefined variable 'nope' (hosts[1] is rendered once per step and "
        "sees lab vars, runbook vars and -e only)")


def test_an_empty_pattern_is_refused_and_patterns_are_stripped() -> None:
    with pytest.raises(HeaderTemplateError, match="would match every host"):
        render_text(Templater(), ("hosts",), "{{ g }}", {"g": " "})
    assert render_text(Templater(), ("hosts",), "{{ g }}\n", {"g": "r1"}) == "r1"
    assert render_text(Templater(), ("name",), "{{ g }} ", {"g": "r1"}) == "r1 "


@pytest.mark.parametrize(("name", "hint"), [
    ("host", "not `host`"),
    ("sv", "not the step's own vars: move 'sv' to the runbook's vars"),
    ("hv", "not host vars"),
    ("r", "not registered results"),
    ("grop", "define it in the runbook's or the lab's vars, or pass -e; did you mean 'group'?"),
])
def test_hints_say_why_a_name_is_not_seen(name: str, hint: str) -> None:
    step = Step(0, "n", ("{{ x }}",), RunAction(("x",)), Location("b.yml", 3, 5),
                vars={"sv": 1})
    text = unseen_name_hint(step, "hosts", name, {"group"}, host_vars=[{"hv": 1}],
                            registers={"r"})
    assert text.endswith(hint)
