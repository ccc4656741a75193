"""`runbook validate`, `runbook schema`, `runbook hosts` through CliRunner and real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from runbook.cli.main import cli

REPO = Path(__file__).resolve().parent.parent.parent
CORPUS = REPO / "tests" / "corpus"
EXAMPLE_LAB = REPO / "examples" / "lab.yml"

GOOD = "name: ok\nsteps:\n  - {hosts: local, run: 'echo {{ greeting }}'}\n"
BAD = "name: bad\nsteps:\n  - hosts: local\n    onshot: uptime\n"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.yml").write_text(GOOD)
    (tmp_path / "bad.yml").write_text(BAD)
    return tmp_path


def test_validate_valid_with_extra_vars(runner: CliRunner, files: Path) -> None:
    result = runner.invoke(cli, ["validate", "good.yml", "-e", "greeting=hi"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "1 file(s) valid\n"
    assert result.stderr == ""


def test_validate_reports_undefined_without_extra_vars(runner: CliRunner, files: Path) -> None:
    result = runner.invoke(cli, ["validate", "good.yml"])
    assert result.exit_code == 1
    assert result.stdout.startswith("good.yml:3:25: step 1: undefined variable 'greeting'")


def test_validate_invalid_text(runner: CliRunner, files: Path) -> None:
    (files / "vars.yml").write_text("greeting: x\n")
    result = runner.invoke(cli, ["validate", "good.yml", "bad.yml", "-e", "@vars.yml"])
    assert result.exit_code == 1
    assert result.stdout == ("bad.yml:4:5: step 1: unknown key 'onshot'; did you mean 'oneshot'?\n"
                             "1 problem(s) in 1 of 2 file(s)\n")
    assert result.stderr == ""


def test_validate_json_format(runner: CliRunner, files: Path) -> None:
    result = runner.invoke(cli, ["validate", "--format", "json", "bad.yml", "good.yml",
                                 "-e", "greeting=x"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["valid"] is False
    assert payload["files"] == [{"file": "bad.yml", "kind": "runbook", "valid": False},
                                {"file": "good.yml", "kind": "runbook", "valid": True}]
    assert payload["findings"] == [{"file": "bad.yml", "line": 4, "column": 5, "message":
                                    "step 1: unknown key 'onshot'; did you mean 'oneshot'?"}]


def test_validate_folder_and_lab(runner: CliRunner, files: Path) -> None:
    (files / "sub").mkdir()
    (files / "sub" / "lab.yml").write_text("hosts:\n  r1: {address: 10.0.0.1}\n")
    (files / "sub" / "rb.yml").write_text("name: x\nsteps:\n  - {hosts: r1, run: uptime}\n")
    result = runner.invoke(cli, ["validate", "sub", "--lab", "sub/lab.yml"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["validate", "sub"])
    assert result.exit_code == 1
    assert "hosts 'r1' matches no host of the lab (hosts: local)" in result.stdout


@pytest.mark.parametrize("args", [
    ["validate", "missing.yml"],
    ["validate"],
    ["validate", "good.yml", "-e", "novalue"],
    ["validate", "good.yml", "--format", "xml"],
    ["validate", "good.yml", "--lab", "nolab.yml"],
])
def test_validate_usage_errors_exit_2(runner: CliRunner, files: Path, args: list[str]) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stdout == "" and result.stderr


def test_validate_lab_alone(runner: CliRunner, files: Path) -> None:
    result = runner.invoke(cli, ["validate", "--lab", str(EXAMPLE_LAB)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "1 file(s) valid\n"
    (files / "lab.yml").write_text("hosts:\n  r1: {prot: 1}\n")
    result = runner.invoke(cli, ["validate", "--lab", "lab.yml", "--format", "json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["files"] == [
        {"file": "lab.yml", "kind": "lab", "valid": False}]


def test_validate_empty_folder_is_usage_error(runner: CliRunner, files: Path) -> None:
    (files / "empty").mkdir()
    result = runner.invoke(cli, ["validate", "empty"])
    assert result.exit_code == 2
    assert "no .yml" in result.stderr


@pytest.mark.parametrize("name", ["runbook", "lab"])
def test_schema_prints_the_file(runner: CliRunner, name: str) -> None:
    result = runner.invoke(cli, ["schema", name])
    assert result.exit_code == 0
    assert result.stdout == (REPO / "schemas" / f"{name}.schema.json").read_text()


def test_schema_default_and_unknown(runner: CliRunner) -> None:
    assert json.loads(runner.invoke(cli, ["schema"]).stdout)["title"] == "runbook"
    result = runner.invoke(cli, ["schema", "labb"])
    assert result.exit_code == 2
    assert "did you mean 'lab'" in result.stderr


def test_hosts_plain_table(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["hosts", "--lab", str(EXAMPLE_LAB), "^router"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "TRANSPORT", "ADDRESS", "PORT", "USER", "HOP", "POWER"]
    assert lines[1].split() == ["router1", "ssh", "10.0.0.11", "22", "lab", "jump1", "command"]
    assert len(lines) == 3


def test_hosts_json_and_default_lab(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["hosts", "--lab", str(EXAMPLE_LAB), "--format", "json", "build"])
    assert json.loads(result.stdout) == [{"id": "build1", "transport": "ssh",
                                          "address": "10.0.0.31", "port": 22,
                                          "user": "builder", "hop": "jump1", "power": "ipmi"}]
    result = runner.invoke(cli, ["hosts", "--format", "json"])
    assert [row["id"] for row in json.loads(result.stdout)] == ["local"]


def test_hosts_no_match_bad_pattern_bad_lab(runner: CliRunner, files: Path) -> None:
    result = runner.invoke(cli, ["hosts", "--lab", str(EXAMPLE_LAB), "nothing"])
    assert result.exit_code == 1
    assert "no host matches 'nothing'" in result.stderr
    assert runner.invoke(cli, ["hosts", "("]).exit_code == 2
    (files / "lab.yml").write_text("hosts:\n  r1: {hop: nowhere}\n")
    result = runner.invoke(cli, ["hosts", "--lab", "lab.yml"])
    assert result.exit_code == 2
    assert result.stderr.startswith("lab.yml:2:13: host 'r1': hop 'nowhere' names no host")


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "runbook", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_subprocess_validate_examples_and_corpus() -> None:
    ok = _run("validate", "examples")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = _run("validate", "two_actions.yml", cwd=CORPUS / "invalid")
    assert bad.returncode == 1
    assert bad.stdout == ("two_actions.yml:5:5: step 1: a step does exactly one thing, this one "
                          "has run and oneshot: split it into 2 steps\n"
                          "1 problem(s) in 1 of 1 file(s)\n")
    assert bad.stderr == ""
    assert "Traceback" not in bad.stderr


def test_subprocess_missing_file_exit_2() -> None:
    result = _run("validate", "no/such/file.yml")
    assert result.returncode == 2
    assert "does not exist" in result.stderr


LAZY_MODULES = ("asyncssh", "pyghmi", "requests", "celery", "redis", "kombu")


@pytest.mark.parametrize("args", [
    ["validate", "examples", "tests/corpus/invalid", "SITES_LAB"],
    ["--help"],
])
def test_validate_and_help_do_not_import_heavy_or_optional_modules(
        tmp_path: Path, args: list[str]) -> None:
    sites_lab = tmp_path / "sites-lab.yml"
    sites_lab.write_text("broker: \"redis://:{{ secret('B') }}@127.0.0.1:1/0\"\n"
                         "sites: {east: {}}\nhosts: {r1: {site: east}}\n")
    argv = [str(sites_lab) if a == "SITES_LAB" else a for a in args]
    code = ("import sys\nfrom runbook.cli.main import cli\n"
            f"try:\n    cli({argv!r}, standalone_mode=False)\n"
            "except SystemExit:\n    pass\n"
            f"print(sorted(m for m in {LAZY_MODULES!r} if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr


@pytest.mark.parametrize(("args", "target"), [
    (["validate", "examples/hello.yml"], "runbook.language.validate.validate_files"),
    (["hosts", "--lab", "examples/lab.yml"], "runbook.language.labfile.read_lab"),
    (["power", "x", "on", "--lab", "examples/lab.yml"], "runbook.language.labfile.load_lab"),
])
def test_ctrl_c_exits_130_not_click_aborted(runner: CliRunner, monkeypatch: pytest.MonkeyPatch,
                                            args: list[str], target: str) -> None:
    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.chdir(REPO)
    monkeypatch.setattr(target, interrupted)
    result = runner.invoke(cli, args)
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output and "Aborted" not in result.output


def test_hosts_shows_console_transports(runner: CliRunner, files: Path) -> None:
    (files / "lab.yml").write_text("hosts:\n  b1: {transport: serial, device: /dev/ttyUSB0}\n"
                                   "  cs: {transport: telnet, address: cs1, port: 7004}\n")
    result = runner.invoke(cli, ["hosts", "--lab", "lab.yml", "--format", "json"])
    assert [(r["id"], r["transport"], r["address"], r["port"]) for r in json.loads(result.stdout)] \
        == [("b1", "serial", "/dev/ttyUSB0", None), ("cs", "telnet", "cs1", 7004),
            ("local", "local", "localhost", None)]


def test_a_loop_over_the_item_limit_fails_validate_and_plan(runner: CliRunner,
                                                            files: Path) -> None:
    items = ", ".join(str(n) for n in range(10_001))
    (files / "static.yml").write_text(
        f"name: s\nsteps:\n  - name: big\n    hosts: local\n    loop: [{items}]\n"
        "    run: echo {{ item }}\n")
    (files / "expr.yml").write_text(
        "name: e\nvars: {n: 10001}\nsteps:\n  - name: big\n    hosts: local\n"
        "    loop: '{{ range(n) | list }}'\n    run: echo {{ item }}\n")
    limit = ("loop has 10001 items, more than 10000: split the work into several steps or "
             "loop inside a command")
    static = f"static.yml:5:5: step 1 ('big'): {limit}"
    result = runner.invoke(cli, ["validate", "static.yml"])
    assert (result.exit_code, result.stdout.splitlines()[0]) == (1, static)
    result = runner.invoke(cli, ["plan", "static.yml"])
    assert result.exit_code == 2 and static in result.output
    # an expression's length is known at plan time: the plan fails, as the run would
    result = runner.invoke(cli, ["plan", "expr.yml"])
    assert result.exit_code == 2, result.output
    assert f"ERROR step 'big' on host 'local': expr.yml:4:5: {limit}" in result.output
    assert "plan has errors" in result.output
    assert runner.invoke(cli, ["plan", "expr.yml", "-e", "n=10000"]).exit_code == 0
