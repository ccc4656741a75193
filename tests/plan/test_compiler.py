"""Compiling a runbook into a plan: targets, limit, what renders when, errors before connecting."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook.errors import ConfigError
from runbook.hosts.lab import Lab
from runbook.language.runbookfile import load_runbook
from runbook.model import Expect, GetAction, PowerAction, PutAction
from runbook.plan.compiler import compile_plan
from runbook.plan.renderer import template_message
from runbook.render.templating import Templater
from tests.engine.fakes import fake_lab, run, runbook, step


def test_targets_follow_lab_order_and_regexes() -> None:
    lab = fake_lab(5)
    plan = compile_plan(runbook(step(0, "s", "x", hosts=("f05", "f0[13]"))), lab, Templater())
    assert [h.id for h in plan.steps[0].targets] == ["f01", "f03", "f05"]
    assert [h.id for h in plan.hosts] == ["f01", "f03", "f05"]


def test_limit_intersects_and_bad_limit_is_config_error() -> None:
    lab = fake_lab(4)
    plan = compile_plan(runbook(step(0, "s", "x", hosts=("f0[123]",))), lab, Templater(),
                        limit="f0[34]")
    assert [h.id for h in plan.steps[0].targets] == ["f03"]
    with pytest.raises(ConfigError, match="--limit"):
        compile_plan(runbook(step(0, "s", "x")), lab, Templater(), limit="(")


def test_static_actions_are_shared_and_templates_rendered_once_per_host() -> None:
    lab = fake_lab(3)
    book = runbook(step(0, "static", "echo hi"), step(1, "templated", "echo {{ host.id }}"))
    plan = compile_plan(book, lab, Templater())
    assert plan.steps[0].static is not None and not plan.steps[0].rendered
    assert plan.steps[1].rendered["f02"].commands == ("echo f02",)


def test_registered_names_render_at_run_time() -> None:
    book = runbook(step(0, "a", "x", register="out"), step(1, "b", "echo {{ out.rc }}"),
                   step(2, "c", "echo {{ outside }}", vars={"outside": 1}))
    plan = compile_plan(book, fake_lab(1), Templater())
    assert plan.steps[1].runtime_render and not plan.steps[1].rendered
    assert not plan.steps[2].runtime_render
    assert plan.steps[2].rendered["f01"].commands == ("echo 1",)


def test_vars_that_use_registered_results_render_at_run_time() -> None:
    book = runbook(step(0, "a", "x", register="out"),
                   step(1, "b", "echo {{ msg }}"),
                   step(2, "c", "echo {{ via_host }}"),
                   step(3, "d", "echo {{ plain }}"),
                   vars={"msg": "{{ first }}", "first": "{{ out.output }}", "plain": "{{ 1 + 1 }}"})
    lab = fake_lab(1)
    lab.hosts[0].vars["via_host"] = "{{ out.rc }}"
    plan = compile_plan(book, lab, Templater())
    assert [s.runtime_render for s in plan.steps] == [False, True, True, False]
    assert plan.steps[3].rendered["f01"].commands == ("echo 2",)


def test_runtime_template_error_is_not_prefixed_twice() -> None:
    book = runbook(step(0, "s", "echo {{ host.vars.port }}"))
    plan = compile_plan(book, fake_lab(1), Templater())
    planned = plan.steps[0]
    with pytest.raises(Exception) as caught:
        plan.renderer.action_for(planned, plan.hosts[0], {})
    message = template_message(planned.step, plan.hosts[0], caught.value)
    assert message.count("on host 'f01'") == 1


def test_template_errors_are_found_before_running_per_host() -> None:
    book = runbook(step(0, "s", "echo {{ host.vars.port }}"))
    lab = fake_lab(2)
    lab.hosts[0].vars["port"] = 22
    plan = compile_plan(book, lab, Templater())
    assert plan.steps[0].rendered["f01"].commands == ("echo 22",)
    message = plan.steps[0].errors["f02"]
    assert message.startswith("step 's' on host 'f02': book.yml:3:5")


def test_extra_vars_win(tmp_path: Path) -> None:
    book = runbook(step(0, "s", "echo {{ v }}"), vars={"v": "book"})
    plan = compile_plan(book, fake_lab(1), Templater(), extra_vars={"v": "cli"})
    assert plan.steps[0].rendered["f01"].commands == ("echo cli",)


def test_paths_resolve_against_the_runbook_folder(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    book = runbook(step(0, "put", PutAction("f.txt", "/tmp/dest")),
                   step(1, "get", GetAction("/var/log/syslog", "logs")),
                   path=tmp_path / "book.yml")
    plan = compile_plan(book, fake_lab(2), Templater())
    assert plan.steps[0].static is not None
    assert plan.steps[0].static.sources == (str(tmp_path / "f.txt"),)
    assert plan.steps[1].rendered["f02"].dest == str(tmp_path / "logs" / "f02")


def test_unreadable_template_file_is_config_error(tmp_path: Path) -> None:
    book = runbook(step(0, "put", PutAction("missing.j2", "/tmp", template=True)),
                   path=tmp_path / "book.yml")
    with pytest.raises(ConfigError, match=r"missing\.j2"):
        compile_plan(book, fake_lab(1), Templater())


def test_describe_lines() -> None:
    plan = compile_plan(runbook(step(0, "p", PowerAction("cycle", wait_up=30))), fake_lab(1),
                        Templater())
    assert plan.steps[0].static is not None
    assert plan.steps[0].static.describe() == ["power cycle, then wait until up (30s)"]
    assert plan.steps[0].limit is None and not plan.steps[0].serial


def test_hosts_and_name_render_once_per_step_with_runbook_lab_and_extra_vars() -> None:
    book = runbook(step(0, "upgrade {{ group }} to {{ version }}", "x",
                        hosts=("{{ group }}", "^{{ also }}$")),
                   vars={"version": "2.0", "also": "f04"})
    lab = fake_lab(4, vars={"group": "f0[12]"})
    plan = compile_plan(book, lab, Templater(), extra_vars={"group": "f0[23]"})
    planned = plan.steps[0]
    assert [h.id for h in planned.targets] == ["f02", "f03", "f04"]
    assert planned.step.name == "upgrade f0[23] to 2.0"
    assert planned.step.hosts == ("f0[23]", "^f04$")


def test_names_made_from_the_action_are_not_rendered(tmp_path: Path) -> None:
    path = tmp_path / "book.yml"
    path.write_text("name: t\nsteps:\n  - {hosts: local, run: 'echo {{ host.id }}'}\n")
    plan = compile_plan(load_runbook(path), Lab.default(), Templater())
    assert plan.steps[0].step.name == "run: echo {{ host.id }}"
    assert plan.steps[0].rendered["local"].commands == ("echo local",)


@pytest.mark.parametrize(("hosts", "message"), [
    ("{{ host.id }}", "hosts: undefined variable 'host'"),
    ("{{ missing }}", "hosts: undefined variable 'missing'"),
    ("{{ '' }}", "renders to an empty pattern, which would match every host"),
])
def test_hosts_that_cannot_render_are_config_errors_at_their_line(
        tmp_path: Path, hosts: str, message: str) -> None:
    path = tmp_path / "book.yml"
    path.write_text(f"name: t\nsteps:\n  - run: uptime\n    hosts: \"{hosts}\"\n")
    with pytest.raises(ConfigError) as info:
        compile_plan(load_runbook(path), Lab.default(), Templater())
    assert message in info.value.message
    assert (info.value.file, info.value.line, info.value.column) == (str(path), 4, 12)


def test_a_run_reports_the_rendered_step_name() -> None:
    book = runbook(step(0, "ping {{ who }}", "echo:hi", hosts=("{{ who }}",)))
    outcome = run(book, fake_lab(2), extra_vars={"who": "f02"})
    assert [(s.name, list(s.results)) for s in outcome.steps] == [("ping f02", ["f02"])]


def test_expect_renders_per_host_and_a_broken_rendered_regex_is_a_plan_error() -> None:
    book = runbook(step(0, "s", "x", expect=Expect(output="^{{ host.vars.sum }}  ",
                                                    not_output="{{ bad }}")),
                   vars={"bad": "FAIL"})
    lab = fake_lab(2)
    lab["f01"].vars["sum"] = "ab12"
    lab["f02"].vars["sum"] = "(unclosed"
    planned = compile_plan(book, lab, Templater()).steps[0]
    action = planned.rendered["f01"]
    assert (action.expect_output, action.expect_not_output) == ("^ab12  ", "FAIL")
    assert action.describe() == ["run: x", "expect output to match: ^ab12  ",
                                 "expect output not to match: FAIL"]
    assert "expect.output renders to '^(unclosed  ', which is not a valid regular expression" \
        in planned.errors["f02"]
