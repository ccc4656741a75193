"""The engine on the real LocalHost: shell state across steps, files, timeouts, masking."""

from __future__ import annotations

import asyncio
from pathlib import Path

from runbook.engine.events import EventBus
from runbook.engine.executor import Executor
from runbook.engine.results import RunStatus
from runbook.hosts.lab import Lab
from runbook.hosts.local import LocalHost
from runbook.model import GetAction, OneshotAction, PutAction, RunAction
from runbook.plan.compiler import compile_plan
from runbook.render.secrets import SecretStore
from runbook.render.templating import Templater
from runbook.results import Status
from tests.engine.fakes import run, runbook, statuses, step


def local_lab(n: int = 1) -> Lab:
    return Lab([LocalHost(f"l{i}") for i in range(n)])


def test_run_steps_share_the_persistent_shell(tmp_path: Path) -> None:
    book = runbook(
        step(0, "cd", RunAction((f"cd {tmp_path}", "export GREETING=hello"))),
        step(1, "use", RunAction(('echo "$PWD $GREETING"',))),
        step(2, "oneshot is fresh", OneshotAction(('echo "[$GREETING]"',))),
    )
    outcome = run(book, local_lab(2))
    assert outcome.status is RunStatus.SUCCESS
    for host_id in ("l0", "l1"):
        assert outcome.steps[1].results[host_id].output == f"{tmp_path} hello\n"
        assert outcome.steps[2].results[host_id].output == "[]\n"


def test_timeout_fails_the_host_and_says_so() -> None:
    book = runbook(step(0, "slow", "sleep 30", timeout=0.3), step(1, "next", "echo ok"))
    outcome = run(book, local_lab())
    result = outcome.steps[0].results["l0"]
    assert result.status is Status.Failed
    assert result.message.startswith("command timed out after 0.3 s")
    assert outcome.steps[1].results["l0"].status is Status.Skipped


def test_oneshot_timeout_fails_the_host() -> None:
    book = runbook(step(0, "slow", OneshotAction(("sleep 30",)), timeout=0.3))
    result = run(book, local_lab()).steps[0].results["l0"]
    assert result.status is Status.Failed
    assert "timed out" in result.message


def test_put_get_and_template_put(tmp_path: Path) -> None:
    src_dir = tmp_path / "book"
    src_dir.mkdir()
    (src_dir / "data.txt").write_text("payload\n")
    (src_dir / "conf.j2").write_text("id={{ host.id }} port={{ port }}\n")
    remote = tmp_path / "remote"
    book = runbook(
        step(0, "put", PutAction("data.txt", str(remote / "{{ host.id }}"), mode=0o600)),
        step(1, "template", PutAction("conf.j2", str(remote / "{{ host.id }}"), template=True)),
        step(2, "get", GetAction(str(remote / "{{ host.id }}" / "conf.j2"), "collected")),
        path=src_dir / "book.yml", vars={"port": 8080},
    )
    outcome = run(book, local_lab(2))
    assert outcome.status is RunStatus.SUCCESS, statuses(outcome)
    assert (remote / "l0" / "data.txt").read_text() == "payload\n"
    assert (remote / "l1" / "data.txt").stat().st_mode & 0o777 == 0o600
    assert (remote / "l1" / "conf.j2").read_text() == "id=l1 port=8080\n"
    assert (src_dir / "collected" / "l0" / "conf.j2").read_text() == "id=l0 port=8080\n"


def test_put_of_missing_file_is_an_error_for_that_host(tmp_path: Path) -> None:
    book = runbook(step(0, "put", PutAction("nope.txt", str(tmp_path / "x"))),
                   path=tmp_path / "book.yml")
    result = run(book, local_lab()).steps[0].results["l0"]
    assert result.status in (Status.Failed, Status.Error)
    assert "nope.txt" in result.message


def test_secrets_are_masked_in_results() -> None:
    secrets = SecretStore(environ={"RUNBOOK_SECRET_TOKEN": "s3cr3t-value"})
    book = runbook(step(0, "leak", "echo token={{ secret('TOKEN') }}"), step(1, "fail",
                   "echo s3cr3t-value; false"))
    plan = compile_plan(book, local_lab(), Templater(secrets))
    executor = Executor(plan, forks=5, bus=EventBus(), mask=secrets.mask)
    outcome = asyncio.run(executor.run())
    assert outcome.steps[0].results["l0"].output == "token=***\n"
    assert outcome.steps[1].results["l0"].output == "***\n"


def test_many_steps_on_the_local_host_are_cheap() -> None:
    book = runbook(*(step(i, f"s{i}", f"echo {i}") for i in range(200)))
    outcome = run(book, local_lab())
    assert outcome.status is RunStatus.SUCCESS
    assert outcome.steps[-1].results["l0"].output == "199\n"
