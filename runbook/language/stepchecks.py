"""Semantic checks of the step fields for privilege, waiting and delegation.

`become` only where something runs on the host as a user (commands, transfers, path and
command waits); `delegate_to` names a lab host (did-you-mean) and not on a power step;
`interact` patterns compile and its sends spell their keys right (in a templated send, the text
outside the markup). Called by `checks.RunbookChecker.check_action` with its `add`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from runbook._suggest import did_you_mean
from runbook.hosts.expect import spell_keys
from runbook.model import InteractAction, PowerAction, Step, WaitForAction
from runbook.render.jinjaenv import has_markup

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.hosts.lab import Lab

Field = tuple[str | int, ...]
Add = Callable[[Step, Field, str], None]


def action_templates(step: Step) -> Iterator[tuple[Field, str]]:
    """(field, text) of the templates of a `wait_for` or `interact` action."""
    action = step.action
    if isinstance(action, WaitForAction):
        for name in ("address", "path", "contains", "command"):
            text = getattr(action, name)
            if isinstance(text, str):
                yield ("wait_for", name), text
    elif isinstance(action, InteractAction):
        for number, pair in enumerate(action.pairs):
            for name, text in (("expect", pair.expect), ("send", pair.send)):
                if text is not None:
                    yield ("interact", number, name), text


def check_modifiers(step: Step, lab: Lab | None, add: Add, hosts: Sequence[Host] = ()) -> None:
    """`become`, `delegate_to` and the `interact` patterns of one step (on `hosts`)."""
    _check_become(step, add)
    check_delegate(step, lab, add)
    if lab is not None and lab.site_of and step.delegate_to in lab \
            and step.delegate_to != "local":  # local: the machine driving the target
        _check_delegate_site(step, lab, hosts, add)
    if isinstance(step.action, InteractAction):
        _check_interact(step, step.action, add)


_MARKUP = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def _check_interact(step: Step, action: InteractAction, add: Add) -> None:
    """Each static `expect` compiles; each `send` spells its keys right (run time would fail)."""
    for number, pair in enumerate(action.pairs):
        if pair.expect is not None and not has_markup(pair.expect):
            try:
                re.compile(pair.expect)
            except re.error as exc:
                add(step, ("interact", number, "expect"),
                    f"invalid regular expression {pair.expect!r}: {exc}")
        if pair.send is not None:
            try:
                for text in _literal_parts(pair.send):
                    spell_keys(text)
            except ValueError as exc:
                add(step, ("interact", number, "send"), f"interact pair {number + 1}: {exc}")


def _literal_parts(text: str) -> list[str]:
    """The parts of `text` outside Jinja markup; a backslash just before markup is left out
    (what it escapes is only known once rendered)."""
    parts = _MARKUP.split(text)
    for index, part in enumerate(parts[:-1]):
        trailing = len(part) - len(part.rstrip("\\"))
        if trailing % 2:
            parts[index] = part[:-1]
    return parts


def _check_become(step: Step, add: Add) -> None:
    if step.become is None and step.become_user is None:
        return
    action = step.action
    field: Field = ("become",) if step.become is not None else ("become_user",)
    if isinstance(action, PowerAction):
        add(step, field, "become does not apply to a power step (it runs through the "
                         "host's power controller, not as a user on the host): remove it")
    elif isinstance(action, InteractAction):
        add(step, field, "become does not apply to interact (a dialog runs in the login "
                         "user's terminal): drive sudo in the dialog, or remove it")
    elif isinstance(action, WaitForAction) and action.port is not None:
        add(step, field, "become does not apply to a port wait (it connects from this "
                         "machine): remove it")


def check_delegate(step: Step, lab: Lab | None, add: Add) -> None:
    """`delegate_to`: a static id of a lab host (when the lab is known), not on a power step."""
    delegate = step.delegate_to
    if delegate is None:
        return
    if isinstance(step.action, PowerAction):
        add(step, ("delegate_to",), "delegate_to does not apply to a power step (power acts "
                                    "through each host's own power controller): remove it")
    if has_markup(delegate):
        add(step, ("delegate_to",), f"delegate_to {delegate!r} must be a static host id (no "
                                    "templates): validate checks the delegate before anything "
                                    "runs; narrow `hosts` or write one step per delegate")
    elif lab is not None and delegate not in lab:
        names = [h.id for h in lab]
        hint = did_you_mean(delegate, names)
        add(step, ("delegate_to",), f"delegate_to: no host {delegate!r} in the lab"
            + (f"; {hint}" if hint else f" (hosts: {', '.join(names)})"))


def _check_delegate_site(step: Step, lab: Lab, hosts: Sequence[Host], add: Add) -> None:
    """A multi-site lab: the delegate must be driven from where its targets are (a site's
    worker reaches only its own site's hosts; docs/sites.md)."""
    delegate = str(step.delegate_to)
    where = lab.site_of.get(delegate)
    for host in hosts:
        if lab.site_of.get(host.id) != where:
            add(step, ("delegate_to",), f"delegate_to: {delegate!r} ({_driven(where)}) cannot "
                f"run the step of target {host.id!r} ({_driven(lab.site_of.get(host.id))}): "
                "a host is reached only from its own site; delegate to a host of the target's "
                "site, or narrow `hosts`")
            return


def _driven(site: str | None) -> str:
    return f"site {site}" if site is not None else "driven by this machine, no site"


def cli_host_ids(hosts: Sequence[Host]) -> list[str]:
    """The ids of the `shell: cli` hosts among `hosts`.

    A `CliHost` exists only once `runbook.hosts.cli` is imported (the lab imports it to build
    the first one), so when the module is not loaded there is none; importing it (with the
    console links) just to find none cost 2-3 ms of every run's start-up.
    """
    cli = sys.modules.get("runbook.hosts.cli")
    if cli is None:
        return []
    host_class: type[Host] = cli.CliHost
    return [h.id for h in hosts if isinstance(h, host_class)]


def check_console_targets(step: Step, hosts: list[Host], add: Add) -> None:
    """Console and `shell: cli` hosts have no sudo; a CLI has no files or exit codes to wait on."""
    cli = cli_host_ids(hosts)
    if step.become:
        odd = [h.id for h in hosts if h.id in cli or h.transport in ("telnet", "serial")]
        if odd:
            add(step, ("become",), f"become is not supported on console or `shell: cli` "
                                   f"host(s) {', '.join(odd)}: they log in as their `user`")
    action = step.action
    if isinstance(action, WaitForAction) and action.port is None and cli:
        add(step, ("wait_for",), f"wait_for {action.target} needs a POSIX shell, which "
                                 f"`shell: cli` host(s) {', '.join(cli)} do not have: "
                                 "wait for a port, or use interact")
