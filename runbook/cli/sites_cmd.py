"""`runbook worker --site NAME` and `runbook sites`: the multi-site commands (docs/sites.md).

Both read the lab for its `broker` (rendered with this machine's secrets) and exit 2 naming
the URL, password masked, when the broker does not answer; 0 otherwise (`worker`: after a clean
stop on SIGTERM / Ctrl-C).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from runbook.cli.exits import EXIT_OK, fail
from runbook.errors import RunbookError, ValidationError

if TYPE_CHECKING:
    from runbook.hosts.lab import Lab
    from runbook.render.secrets import SecretStore


def _lab_and_broker(lab_path: Path, secrets_file: Path | None,
                    site: str | None = None) -> tuple[Lab, str, SecretStore]:
    """The lab and its reachable broker URL (and `site` declared in it, if given); exits 2
    with a message on any problem."""
    from runbook import api
    from runbook.render.secrets import SecretStore
    from runbook.sites.broker import broker_url, check_reachable

    try:
        secrets = SecretStore(secrets_file=secrets_file)
    except RunbookError as exc:
        fail(str(exc))
    try:
        lab = api.load_lab(lab_path, secrets=secrets)
        if site is not None:
            _require_site(lab, lab_path, site)
        url = broker_url(lab, secrets)
        check_reachable(url, mask=secrets.mask)
    except ValidationError as exc:
        fail("\n".join(map(str, exc.findings)) if exc.findings else str(exc), mask=secrets.mask)
    except RunbookError as exc:
        fail(str(exc), mask=secrets.mask)
    return lab, url, secrets


def _require_site(lab: Lab, lab_path: Path, site: str) -> None:
    from runbook._suggest import did_you_mean

    if site not in lab.sites:
        hint = did_you_mean(site, list(lab.sites))
        fail(f"site {site!r} is not declared in {lab_path} (sites: "
             f"{', '.join(lab.sites) or 'none'})" + (f"; {hint}" if hint else ""))


_LAB = click.option("--lab", "lab_path", required=True,
                    type=click.Path(exists=True, dir_okay=False, path_type=Path),
                    help="Lab file naming the broker and the sites.")
_SECRETS = click.option("--secrets", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                        help="YAML file of secrets (NAME: value); the environment wins.")


@click.command("worker")
@_LAB
@click.option("--site", required=True, help="The site (from the lab's `sites`) this worker drives.")
@click.option("--concurrency", type=click.IntRange(min=1), default=1, show_default=True,
              help="Shares (runs) worked on at once.")
@_SECRETS
def worker_command(lab_path: Path, site: str, concurrency: int, secrets: Path | None) -> NoReturn:
    """Drive SITE's hosts for runs started elsewhere: a Celery worker on the site's queue.

    \b
    Runs in the foreground, logs to stderr, stops cleanly on SIGTERM / Ctrl-C.
    Exit codes: 0 stopped; 2 invalid lab, unknown site, broker unreachable.
    """
    from runbook.sites.worker import start_worker

    _, url, _ = _lab_and_broker(lab_path, secrets, site)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncssh").setLevel(logging.WARNING)  # one line per channel otherwise
    start_worker(url, site, concurrency=concurrency, secrets_file=secrets)
    sys.exit(EXIT_OK)


@click.command("sites")
@_LAB
@click.option("--timeout", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              help="Seconds to wait for workers to answer.")
@_SECRETS
def sites_command(lab_path: Path, timeout: float, secrets: Path | None) -> NoReturn:
    """List the lab's sites, their queues, and the workers consuming them.

    \b
    Exit codes: 0 listed; 2 invalid lab or broker unreachable.
    """
    from runbook.sites.listing import list_sites

    lab, url, _ = _lab_and_broker(lab_path, secrets)
    for site in list_sites(lab, url, timeout=timeout):
        workers = ", ".join(site.workers) or "none"
        click.echo(f"{site.name}\tqueue {site.queue}\thosts {len(site.hosts)}\tworkers: {workers}")
    sys.exit(EXIT_OK)
