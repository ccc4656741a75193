"""Templating: StrictUndefined with located errors, quote, secret(), lazy template variables,
static name analysis for validation, and the per-host context precedence."""

from __future__ import annotations

import re

import pytest

from runbook.errors import TemplateError, TemplateRenderError
from runbook.hosts.local import LocalHost
from runbook.model import Location
from runbook.render.secrets import SecretStore
from runbook.render.templating import Templater, host_context

LOC = Location("rb.yml", 12, 5)


@pytest.fixture
def templater() -> Templater:
    return Templater(SecretStore(environ={"RUNBOOK_SECRET_DB_PASSWORD": "hunter2"}))


def test_plain_text_is_returned_untouched(templater: Templater) -> None:
    assert templater.render("echo $HOME {x}", {}) == "echo $HOME {x}"


def test_render_with_quote_filter(templater: Templater) -> None:
    assert templater.render("rm -- {{ f | quote }}", {"f": "a b'c"}) == "rm -- 'a b'\"'\"'c'"


def test_regex_escape_filter_matches_literally(templater: Templater) -> None:
    pattern = templater.render("^{{ f | regex_escape }}$", {"f": "fw-2.4.1.bin"})
    assert re.search(pattern, "fw-2.4.1.bin") and not re.search(pattern, "fw-2x4.1.bin")


def test_undefined_variable_names_location_what_and_name(templater: Templater) -> None:
    with pytest.raises(TemplateRenderError) as info:
        templater.render("echo {{ pkgs }}", {"pkg": 1}, location=LOC,
                         what="step 'install' on host router1")
    assert str(info.value) == ("rb.yml:12:5: step 'install' on host router1: undefined variable "
                               "'pkgs'; did you mean 'pkg'?")
    assert info.value.undefined == "pkgs"
    assert isinstance(info.value, TemplateError)


def test_missing_attribute_of_registered_result_is_an_error(templater: Templater) -> None:
    with pytest.raises(TemplateError, match="r has no field 'outptu'; did you mean 'output'"):
        templater.render("{{ r.outptu }}", {"r": {"output": "x", "rc": 0}})


def test_syntax_error_at_render_time(templater: Templater) -> None:
    with pytest.raises(TemplateError, match="Jinja syntax error"):
        templater.render("{{ x ", {"x": 1}, location=LOC)


def test_secret_is_read_and_then_masked(templater: Templater) -> None:
    out = templater.render("mysql -p{{ secret('db_password') }}", {})
    assert out == "mysql -phunter2"
    assert templater.secrets.mask(out) == "mysql -p***"


def test_missing_secret_names_the_variable(templater: Templater) -> None:
    with pytest.raises(TemplateError, match="RUNBOOK_SECRET_NOPE") as info:
        templater.render("{{ secret('nope') }}", {}, location=LOC, what="step 'x'")
    assert str(info.value).startswith("rb.yml:12:5: step 'x': ")


def test_variables_holding_templates_are_rendered_lazily(templater: Templater) -> None:
    ctx = {"host": {"address": "10.0.0.1"}, "port": 8080,
           "url": "http://{{ host.address }}:{{ port }}/", "health": "{{ url }}health"}
    assert templater.render("curl {{ health }}", ctx) == "curl http://10.0.0.1:8080/health"


def test_self_referencing_variables_are_an_error(templater: Templater) -> None:
    with pytest.raises(TemplateError, match=r"refers to itself \(a -> b -> a\)"):
        templater.render("{{ a }}", {"a": "{{ b }}", "b": "{{ a }}"})


def test_registered_output_is_not_rendered_again(templater: Templater) -> None:
    ctx = {"r": {"output": "{{ boom }}"}}
    assert templater.render("{{ r.output }}", ctx) == "{{ boom }}"


def test_evaluate_expression(templater: Templater) -> None:
    ctx = {"probe": {"rc": 0, "output": "ready\n"}}
    assert templater.evaluate("probe.rc == 0 and 'ready' in probe.output", ctx) is True
    assert templater.evaluate("missing is defined", ctx) is False


def test_evaluate_bare_undefined_name_fails(templater: Templater) -> None:
    with pytest.raises(TemplateRenderError, match="undefined variable 'ready'"):
        templater.evaluate("ready", {}, location=LOC)


def test_templates_are_compiled_once(templater: Templater) -> None:
    first = templater.compile("{{ a }}")
    for i in range(50):
        assert templater.render("{{ a }}", {"a": i}) == str(i)
    assert templater.compile("{{ a }}") is first
    assert templater.compile_expression("a > 1") is templater.compile_expression("a > 1")


def test_referenced_names_skip_locals_and_guarded_names(templater: Templater) -> None:
    text = ("{{ a }}{% for i in items %}{{ i }}{% endfor %}{% set z = 1 %}{{ z }}"
            "{{ r.output | default('') }}{% if q is defined %}{{ q }}{% endif %}")
    assert templater.referenced_names(text) == {"a", "items"}
    assert templater.expression_names("res.rc == 0 and '}}' in out") == {"res", "out"}
    assert templater.referenced_names("no markup") == set()


def test_syntax_error_reports_line_within_template(templater: Templater) -> None:
    assert templater.syntax_error("line1\n{{ x | nosuchfilter }}") == (
        2, "No filter named 'nosuchfilter'.")
    assert templater.syntax_error("a ==", expression=True) is not None
    assert templater.syntax_error("a == 1", expression=True) is None


def test_host_context_precedence() -> None:
    host = LocalHost("local", vars={"v": "host", "only_host": 1})
    ctx = host_context(
        host,
        lab_vars={"v": "lab", "only_lab": 1},
        runbook_vars={"v": "runbook", "only_runbook": 1},
        step_vars={"v": "step"},
        registered={"v": {"output": "registered"}},
        extra_vars={"host": "cannot override"},
    )
    assert ctx["v"] == {"output": "registered"}
    assert (ctx["only_lab"], ctx["only_runbook"], ctx["only_host"]) == (1, 1, 1)
    assert ctx["host"]["id"] == "local"
    assert ctx["host"]["vars"] == {"v": "host", "only_host": 1}
    assert host_context(host, runbook_vars={"v": "rb"})["v"] == "host"
    assert host_context(host, step_vars={"v": "s"}, extra_vars={"v": "e"})["v"] == "e"


def test_unknown_test_is_a_syntax_error(templater: Templater) -> None:
    assert templater.syntax_error("{% if x is frobbed %}{% endif %}") == (
        1, "No test named 'frobbed'.")
    assert templater.syntax_error("x | nofilter", expression=True) == (
        1, "No filter named 'nofilter'.")


def test_expression_with_trailing_chunk_is_a_syntax_error(templater: Templater) -> None:
    assert templater.syntax_error("a) or (b", expression=True) is not None


def test_set_inside_template_does_not_leak_into_context(templater: Templater) -> None:
    ctx = {"a": 1}
    assert templater.render("{% set a = 2 %}{{ a }}", ctx) == "2"
    assert ctx == {"a": 1}
    assert templater.render("{{ a }}", ctx) == "1"


def test_context_cannot_replace_secret_function(templater: Templater) -> None:
    assert templater.render("{{ secret('db_password') }}", {"secret": "oops"}) == "hunter2"


def test_render_value_renders_nested_strings(templater: Templater) -> None:
    value = {"a": ["{{ x }}", 1, {"b": "{{ x * 2 }}"}], "c": None}
    assert templater.render_value(value, {"x": 2}) == {"a": ["2", 1, {"b": "4"}], "c": None}


def test_transitive_names_follow_template_variables(templater: Templater) -> None:
    variables = {"msg": "got {{ r.output }} from {{ where }}", "where": "{{ host.id }}", "n": 1}
    assert templater.transitive_names(["echo {{ msg }} {{ n }}"], variables) == {
        "msg", "r", "where", "host", "n"}
    assert templater.transitive_names([], variables, expressions=("msg == 'x'",)) == {
        "msg", "r", "where", "host"}


@pytest.mark.parametrize("text", [
    "{{ 'a' * 10000000000 }}",            # folded as a constant when compiled
    "{{ x * 10000000000 }}",
    "{{ [1] * 10000000000 }}",
    "{{ 7 ** 100000000 }}",
    "{{ range(1000000000) | list | length }}",
])
def test_oversized_values_are_template_errors_not_memory_exhaustion(text: str) -> None:
    templater = Templater()
    assert templater.referenced_names(text) <= {"x"}  # validation compiles without folding
    with pytest.raises(TemplateError, match=r"too large|the limit is"):
        templater.render(text, {"x": "ab"})


def test_ordinary_arithmetic_and_calls_still_work() -> None:
    templater = Templater()
    text = "{{ '-' * 3 }} {{ 2 ** 10 }} {{ range(3) | list }} {{ 'a,b'.split(',') }}"
    assert templater.render(text, {}) == "--- 1024 [0, 1, 2] ['a', 'b']"


def test_missing_field_names_the_expression_and_the_fields() -> None:
    templater = Templater()
    context = {"up": {"output": "ok", "rc": 0, "status": "success"}}
    with pytest.raises(TemplateError) as info:
        templater.render("echo {{ up.outptu }}", context)
    assert info.value.problem == ("up.outptu: up has no field 'outptu'; did you mean 'output'? "
                                  "(fields: output, rc, status)")
    with pytest.raises(TemplateError, match=r"up\.rc\.x: up\.rc has no field 'x'"):
        templater.evaluate("up.rc.x == 1", context)


@pytest.mark.parametrize("text", ["{{ secret() }}", "{{ secret(1) }}", "{{ secret('A', 'B') }}"])
def test_secret_called_wrongly_says_how_to_call_it(text: str) -> None:
    templater = Templater(SecretStore(environ={}))
    with pytest.raises(TemplateError, match=r"secret\(\) takes one secret name, like "):
        templater.render(text, {})


@pytest.mark.parametrize(("text", "rendered"), [
    ("a{{ 'b' }}\r", "ab\r"),                      # Enter after a templated word
    ("{{ x }}\r\n{{ x }}\n", "v\r\nv\n"),          # CRLF and LF of the source, as they were
    ("{{ 'c\r' }}|{{ x ~ '\r' }}", "c\r|v\r"),     # CR inside string literals
    ("{{\rx\r}}", "v"),                            # a CR inside a tag is still whitespace
    ("{% raw %}a\r{% endraw %}{{ x }}", "a\rv"),
])
def test_carriage_returns_survive_rendering(templater: Templater, text: str,
                                            rendered: str) -> None:
    assert templater.render(text, {"x": "v"}) == rendered
    assert templater.render("{{ y }}", {"y": "a\r\nb\r"}) == "a\r\nb\r"
    assert templater.evaluate("x == 'v\r'", {"x": "v\r"}) is True
