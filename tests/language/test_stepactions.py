"""Validate findings of become, wait_for, interact, run_once and delegate_to, at file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook.language.runbookfile import load_runbook
from runbook.language.validate import validate_paths
from runbook.model import InteractAction, WaitForAction

LAB = "hosts:\n  pdu1: {address: 10.0.0.2}\n  r1: {address: 10.0.0.11}\n"


def _findings(tmp_path: Path, steps: str) -> list[str]:
    (tmp_path / "lab.yml").write_text(LAB)
    book = tmp_path / "book.yml"
    book.write_text(f"name: t\nlab: lab.yml\nsteps:\n{steps}")
    return [str(f).removeprefix(f"{book}:") for f in validate_paths([book])]


@pytest.mark.parametrize(("step", "wanted"), [
    ("  - {hosts: r1, wait_for: {port: 22, path: /x}}\n",
     "4:38: step 1: wait_for waits for exactly one of port, path and command; this one has "
     "port and path"),
    ("  - {hosts: r1, wait_for: {timeout: 3}}\n",
     "4:27: step 1: wait_for waits for exactly one of port, path and command; this one has "
     "none of them"),
    ("  - {hosts: r1, wait_for: {port: 22, state: presnt}}\n",
     "4:45: step 1: wait_for.state must be one of started, stopped, present, absent, not "
     "'presnt'; did you mean 'present'?"),
    ("  - {hosts: r1, wait_for: {port: 22, state: absent}}\n",
     "4:45: step 1: wait_for.state 'absent' does not fit a port wait: use started or stopped"),
    ("  - {hosts: r1, wait_for: {path: /x, state: stoped}}\n",
     "did you mean 'stopped'"),
    ("  - {hosts: r1, wait_for: {path: /x, state: started}}\n",
     "4:45: step 1: wait_for.state 'started' does not fit a path wait: use present or absent"),
    ("  - {hosts: r1, wait_for: {command: 'true', state: absent}}\n",
     "a command wait has no state"),
    ("  - {hosts: r1, wait_for: {port: 22, contains: x}}\n",
     "4:38: step 1: wait_for.contains is only for a path wait (this one waits for a port)"),
    ("  - {hosts: r1, wait_for: {path: /x, address: 10.0.0.1}}\n",
     "4:38: step 1: wait_for.address is only for a port wait"),
    ("  - {hosts: r1, wait_for: {port: 70000}}\n", "4:34: step 1: wait_for.port"),
    ("  - {hosts: r1, delegate_to: pdu2, oneshot: 'true'}\n",
     "4:30: step 1: delegate_to: no host 'pdu2' in the lab; did you mean 'pdu1'?"),
    ("  - {hosts: r1, delegate_to: '{{ pdu }}', oneshot: 'true'}\n",
     "4:30: step 1: delegate_to '{{ pdu }}' must be a static host id (no templates)"),
    ("  - {hosts: r1, delegate_to: pdu1, power: on}\n",
     "4:30: step 1: delegate_to does not apply to a power step"),
    ("  - {hosts: r1, become: true, power: on}\n",
     "4:25: step 1: become does not apply to a power step"),
    ("  - {hosts: r1, become: true, wait_for: {port: 22}}\n",
     "become does not apply to a port wait"),
    ("  - {hosts: r1, become_user: 'bad user', run: id}\n",
     "4:30: step 1: become_user 'bad user' is not a user name: use letters"),
    ("  - {hosts: r1, become: yes please, run: id}\n",
     "4:25: step 1: become must be true or false, not a string 'yes please'"),
    ("  - {hosts: r1, interact: [{expect: '(unclosed'}]}\n",
     "4:37: step 1: invalid regular expression '(unclosed'"),
    ("  - {hosts: r1, interact: [{expect: x}, {send: 'y\\q'}]}\n",
     "4:48: step 1: interact pair 2: unknown key escape \\q in 'y\\\\q': use \\r, \\n, \\t"),
    ("  - {hosts: r1, interact: [{send: '\\Q{{ host.id }}\\r'}]}\n",
     "4:35: step 1: interact pair 1: unknown key escape \\Q"),
    ("  - {hosts: r1, interact: [{timeout: 3}]}\n",
     "4:28: step 1: interact pair 1 needs `expect` (what to wait for) and/or `send`"),
    ("  - {hosts: r1, interact: [{expect: x, sned: y}]}\n", "unknown key 'sned'"),
    ("  - {hosts: r1, interact: [{send: '{{ nope }}'}]}\n",
     "4:35: step 1: undefined variable 'nope' in interact[0].send"),
    ("  - {hosts: r1, wait_for: {path: '{{ nowhere }}'}}\n",
     "4:34: step 1: undefined variable 'nowhere' in wait_for.path"),
    ("  - {hosts: r1, run_once: 1, run: id}\n", "4:27: step 1: run_once must be true or false"),
    ("  - {hosts: r1, wait_fro: {port: 22}}\n", "did you mean 'wait_for'"),
])
def test_findings_at_their_place(tmp_path: Path, step: str, wanted: str) -> None:
    found = _findings(tmp_path, step)
    assert any(wanted in f for f in found), found


def test_valid_steps_have_no_findings_and_build_their_actions(tmp_path: Path) -> None:
    steps = ("  - {hosts: r1, become: true, become_user: postgres, wait_for: {path: /x}}\n"
             "  - {hosts: r1, run_once: true, delegate_to: local, oneshot: 'true'}\n"
             "  - {hosts: r1, timeout: 30, interact: [{expect: 'y/N', send: 'y\\r'}]}\n"
             "  - {hosts: r1, interact: [{send: '\\{{ host.id }}\\\\{{ host.id }}^C\\r'}]}\n"
             "  - {hosts: r1, wait_for: {port: 22, delay: 2, address: '{{ host.address }}'}}\n")
    assert _findings(tmp_path, steps) == []
    book = load_runbook(tmp_path / "book.yml")
    first, second, third, _, fourth = book.steps
    assert (first.become, first.become_user) == (True, "postgres")
    assert isinstance(first.action, WaitForAction) and first.action.state == "present"
    assert first.action.timeout == 300
    assert second.run_once and second.delegate_to == "local"
    assert isinstance(third.action, InteractAction) and third.action.pairs[0].send == "y\\r"
    assert isinstance(fourth.action, WaitForAction) and fourth.action.target == "port"
    assert (fourth.action.state, fourth.action.delay) == ("started", 2.0)
    assert fourth.name == "wait_for port 22 started"
