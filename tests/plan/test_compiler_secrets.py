"""Plans ask only for the secrets of the hosts their steps target; dry runs ask for none."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from runbook.cli.main import cli
from runbook.engine.events import EventBus, PlannedHost
from runbook.engine.executor import Executor
from runbook.errors import ValidationError
from runbook.language.labfile import load_lab
from runbook.language.runbookfile import load_runbook
from runbook.plan.compiler import Plan, compile_plan
from runbook.render.secrets import SecretStore
from runbook.render.templating import Templater

LAB = """\
hosts:
  jump1:
    password: "{{ secret('jump_pw') }}"
  r1: {hop: jump1}
  r2: {}
  bmc1:
    power_control:
      type: command
      on_cmd: "bmc --pw {{ secret('bmc_pw') }} on"
      off_cmd: "bmc off"
"""


def files(tmp_path: Path, steps: str) -> tuple[Path, Path]:
    (tmp_path / "lab.yml").write_text(LAB)
    book = tmp_path / "book.yml"
    book.write_text(f"name: t\nlab: lab.yml\nsteps:\n{steps}")
    return book, tmp_path / "lab.yml"


def compile_files(book: Path, lab: Path, store: SecretStore, *, limit: str | None = None,
                  dry_run: bool = False) -> Plan:
    return compile_plan(load_runbook(book), load_lab(lab, secrets=store), Templater(store),
                        limit=limit, dry_run=dry_run)


def test_untargeted_hosts_need_no_secret(tmp_path: Path) -> None:
    book, lab = files(tmp_path, "  - {hosts: ^r2$, run: uptime}\n")
    compile_files(book, lab, SecretStore(environ={}))


def test_targeted_host_needing_an_unset_secret_fails_every_step(tmp_path: Path) -> None:
    book, lab = files(tmp_path, "  - {name: a, hosts: ^r, run: uptime}\n"
                                "  - {name: b, hosts: ^r1$, oneshot: uptime}\n"
                                "  - {name: c, hosts: ^r2$, oneshot: uptime}\n")
    with pytest.raises(ValidationError) as info:
        compile_files(book, lab, SecretStore(environ={}))
    assert [str(f) for f in info.value.findings] == [
        f"{book}:4:5: step 1 ('a'): host 'r1' (through host 'jump1') needs secret jump_pw for "
        f"password ({lab}:3:15): set RUNBOOK_SECRET_JUMP_PW or pass --secrets FILE",
        f"{book}:5:5: step 2 ('b'): host 'r1' (through host 'jump1') needs secret jump_pw for "
        f"password ({lab}:3:15): set RUNBOOK_SECRET_JUMP_PW or pass --secrets FILE",
    ]


def test_limit_leaves_the_host_out(tmp_path: Path) -> None:
    book, lab = files(tmp_path, "  - {hosts: ^r, run: uptime}\n")
    compile_files(book, lab, SecretStore(environ={}), limit="r2")


def test_power_secrets_matter_only_for_power_steps(tmp_path: Path) -> None:
    book, lab = files(tmp_path, "  - {hosts: bmc1, run: uptime}\n")
    compile_files(book, lab, SecretStore(environ={}))
    book, lab = files(tmp_path, "  - {hosts: bmc1, power: cycle}\n")
    with pytest.raises(ValidationError, match=r"needs secret bmc_pw for power_control\.on_cmd"):
        compile_files(book, lab, SecretStore(environ={}))


def test_dry_run_needs_no_secret_and_shows_the_placeholder(tmp_path: Path) -> None:
    book, lab = files(tmp_path, "  - {name: p, hosts: bmc1, power: cycle}\n"
                                "  - {name: r, hosts: ^r1$, run: \"login {{ secret('app') }}\"}\n")
    store = SecretStore(environ={})
    plan = compile_files(book, lab, store, dry_run=True)
    seen: list[PlannedHost] = []
    bus = EventBus([lambda event: seen.append(event) if isinstance(event, PlannedHost) else None])
    outcome = Executor(plan, forks=4, bus=bus).check()
    assert outcome.status.value == "success"
    lines = {e.host_id: e.lines for e in seen}
    assert "bmc --pw *** on" in " ".join(lines["bmc1"])
    assert lines["r1"] == ("run: login ***",)


def test_a_real_run_still_needs_secrets_steps_use(tmp_path: Path) -> None:
    book, lab = files(tmp_path, "  - {hosts: ^r2$, run: \"login {{ secret('app') }}\"}\n")
    plan = compile_files(book, lab, SecretStore(environ={}))
    assert "RUNBOOK_SECRET_APP" in plan.steps[0].errors["r2"]


def test_apply_refuses_before_connecting_with_exit_2(tmp_path: Path) -> None:
    book, lab = files(tmp_path, "  - {name: a, hosts: ^r1$, run: uptime}\n")
    result = CliRunner().invoke(cli, ["apply", str(book)], catch_exceptions=False,
                                env={"RUNBOOK_SECRET_JUMP_PW": None})
    assert result.exit_code == 2
    assert (f"{book}:4:5: step 1 ('a'): host 'r1' (through host 'jump1') needs secret jump_pw "
            f"for password ({lab}:3:15): set RUNBOOK_SECRET_JUMP_PW") in result.output


def test_plan_command_needs_no_secret_for_targeted_hosts(tmp_path: Path) -> None:
    book, _ = files(tmp_path, "  - {hosts: ^r1$, run: \"login {{ secret('app') }}\"}\n")
    result = CliRunner().invoke(cli, ["plan", str(book)], catch_exceptions=False,
                                env={"RUNBOOK_SECRET_JUMP_PW": None, "RUNBOOK_SECRET_APP": None})
    assert result.exit_code == 0, result.output
    assert "r1  run: login ***" in result.output
