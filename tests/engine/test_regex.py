"""bounded_search: expect regexes cannot hang a run."""

from __future__ import annotations

import threading

import pytest

from runbook.engine import regex
from runbook.engine.regex import bounded_search
from runbook.errors import RegexTimeoutError

CATASTROPHIC = r"^(a+)+$"
TRAP = "a" * 60 + "b"


def test_finds_like_re_search_with_multiline() -> None:
    assert bounded_search(r"^version 1\.2$", "boot\nversion 1.2\n")
    assert not bounded_search(r"^2\.0", "version 2.0")


def test_catastrophic_backtracking_is_stopped() -> None:
    with pytest.raises(RegexTimeoutError, match="simplify it"):
        bounded_search(CATASTROPHIC, TRAP, limit=0.2)
    assert bounded_search("a", "a")  # the timer is gone afterwards


def test_off_the_main_thread_it_is_a_plain_search() -> None:
    found: list[bool] = []
    worker = threading.Thread(target=lambda: found.append(bounded_search("b$", TRAP)))
    worker.start()
    worker.join(5)
    assert found == [True]


def test_an_expect_that_backtracks_fails_the_host_not_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from runbook.hosts.lab import Lab
    from runbook.hosts.local import LocalHost
    from runbook.model import Expect
    from tests.engine.fakes import run, runbook, step

    monkeypatch.setattr(regex, "SEARCH_TIME_LIMIT", 0.2)
    book = runbook(step(0, "check", f"printf {TRAP}", expect=Expect(output=CATASTROPHIC)),
                   step(1, "after", "echo next"))
    outcome = run(book, Lab([LocalHost("l0")]))
    check = outcome.steps[0].results["l0"]
    assert check.status.word == "error"
    assert "took more than 0.2 s" in check.message
