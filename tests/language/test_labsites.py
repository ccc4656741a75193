"""The lab file's `broker`, `sites` and host `site`: loaded into the Lab, checked at their lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook.errors import ValidationError
from runbook.language.labfile import load_lab
from runbook.render.secrets import SecretStore

SITES_LAB = """\
broker: "redis://:{{ secret('BROKER') }}@coord.example:6379/1"
sites:
  bldg-b: {}
  partner: {description: partner lab}
hosts:
  r1: {address: 10.1.0.11}
  r7: {address: 10.2.0.17, site: bldg-b}
  r8: {address: 10.2.0.18, site: partner}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.yml"
    path.write_text(text)
    return path


def findings(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        load_lab(write(tmp_path, text), secrets=SecretStore(environ={}))
    return [str(f) for f in caught.value.findings]


def test_sites_and_hosts_sites_are_loaded_and_the_broker_stays_a_template(tmp_path: Path) -> None:
    lab = load_lab(write(tmp_path, SITES_LAB), secrets=SecretStore(environ={}))
    assert list(lab.sites) == ["bldg-b", "partner"]
    assert lab.site_of == {"r7": "bldg-b", "r8": "partner"}
    assert lab.broker == "redis://:{{ secret('BROKER') }}@coord.example:6379/1"
    assert lab.missing_secrets == {}  # the broker's secret is only needed to connect


def test_a_host_naming_an_undeclared_site_is_a_finding_at_its_line(tmp_path: Path) -> None:
    found = findings(tmp_path, SITES_LAB.replace("site: partner", "site: partnr"))
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'lab.yml'}:8:")
    assert "site 'partnr' is not declared in `sites`" in found[0]
    assert "did you mean 'partner'?" in found[0]


def test_sites_without_a_broker_and_a_broker_that_is_not_redis(tmp_path: Path) -> None:
    no_broker = findings(tmp_path, SITES_LAB.split("\n", 1)[1])
    assert len(no_broker) == 1 and "needs a `broker`" in no_broker[0]
    assert ":1:" in no_broker[0]
    http = findings(tmp_path, SITES_LAB.replace("redis://", "http://"))
    assert len(http) == 1 and http[0].startswith(f"{tmp_path / 'lab.yml'}:1:")
    assert "redis://, rediss://, unix://" in http[0]


def test_a_broker_with_a_jinja_error_is_a_finding_and_the_password_never_shows(
        tmp_path: Path) -> None:
    found = findings(tmp_path, SITES_LAB.replace("secret('BROKER') }}", "secret('BROKER') }"))
    assert len(found) == 1 and "broker: Jinja syntax error" in found[0]


def test_schema_rejects_unknown_site_fields(tmp_path: Path) -> None:
    found = findings(tmp_path, SITES_LAB.replace("description: partner lab", "queue: x"))
    assert any(":4:" in f and "queue" in f for f in found), found
