"""The lab file's multi-site part: `broker`, `sites` and each host's `site` (docs/sites.md).

Checked here, at their lines: a host's `site` must name a declared site (with a did-you-mean),
`sites` need a `broker`, and the broker must be a Redis URL template (`redis://`, `rediss://`
or `unix://`) whose Jinja parses. The broker stays a template in the built `Lab`: it is
rendered (its `secret()` resolved) only when a run or a worker connects, by `runbook.sites`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runbook._suggest import did_you_mean
from runbook.language.yamlload import JsonPath

if TYPE_CHECKING:
    from runbook.hosts.lab import Lab

BROKER_SCHEMES = ("redis://", "rediss://", "unix://")

AddFinding = Callable[..., None]  # (where, message, *, key=False)
OriginOf = Callable[[str, str], JsonPath]


def declared_sites(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The `sites` mapping of a lab document (empty when absent or malformed)."""
    sites = data.get("sites")
    return {str(k): (v if isinstance(v, dict) else {}) for k, v in sites.items()} \
        if isinstance(sites, dict) else {}


def check_sites(add: AddFinding, origin: OriginOf, data: dict[str, Any],
                hosts: dict[str, dict[str, Any]]) -> None:
    """Every host's `site` names a declared site; a lab with sites has a broker."""
    sites = declared_sites(data)
    for host_id, fields in hosts.items():
        site = fields.get("site")
        if isinstance(site, str) and site not in sites:
            suggestion = did_you_mean(site, list(sites))
            declared = ", ".join(sites) or "none"
            add(origin(host_id, "site"),
                f"host {host_id!r}: site {site!r} is not declared in `sites` (declared: "
                f"{declared})" + (f"; {suggestion}" if suggestion else ""))
    if sites and not isinstance(data.get("broker"), str):
        add(("sites",), "a lab with `sites` needs a `broker`: the Redis URL the controller and "
                        "the site workers share, e.g. broker: \"redis://:{{ secret('BROKER') }}"
                        "@coord.example:6379/1\"", key=True)


def check_broker(add: AddFinding, data: dict[str, Any]) -> None:
    """`broker` parses as a template and renders (secrets as placeholders) to a Redis URL."""
    from runbook.render.secrets import PlaceholderSecrets
    from runbook.render.templating import Templater

    broker = data.get("broker")
    if not isinstance(broker, str):
        return
    templater = Templater(PlaceholderSecrets(shown="secret"))
    problem = templater.syntax_error(broker)
    if problem is not None:
        add(("broker",), f"broker: Jinja syntax error: {problem[1]}")
        return
    lab_vars = data.get("vars") if isinstance(data.get("vars"), dict) else {}
    try:
        url = templater.render(broker, dict(lab_vars or {}))
    except Exception as exc:  # TemplateError: an undefined variable
        add(("broker",), f"broker: {getattr(exc, 'problem', exc)}")
        return
    if not url.startswith(BROKER_SCHEMES):
        add(("broker",), "broker must be a Redis URL starting with "
                         + ", ".join(BROKER_SCHEMES) + " (rediss:// for TLS)")


def site_of_hosts(hosts: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Host id → site name, for the hosts a site drives (fields popped: hosts take no `site`)."""
    return {host_id: fields.pop("site") for host_id, fields in hosts.items()
            if isinstance(fields.get("site"), str)}


def attach_sites(lab: Lab, data: dict[str, Any], site_of: dict[str, str]) -> None:
    """Give the built `lab` its declared sites, host → site map and broker template."""
    lab.sites = declared_sites(data)
    lab.site_of = site_of
    lab.broker = data["broker"] if isinstance(data.get("broker"), str) else None
