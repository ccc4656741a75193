"""`runbook power` on a site's hosts (docs/sites.md, "Power"): refused from the controller,
naming the site and telling where to run it (exit 2, nothing switched); done from inside the
site with `--site NAME`. The switch is a real `command` controller writing a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

from runbook.cli.main import cli


def _lab(tmp_path: Path) -> tuple[Path, Path]:
    switched = tmp_path / "switched.log"

    def switch(host: str) -> dict[str, Any]:
        return {"type": "command", "on_cmd": f"echo {host} >> {switched}", "off_cmd": "true"}

    lab = tmp_path / "lab.yml"
    lab.write_text(yaml.safe_dump({
        "broker": "redis://127.0.0.1:1/0", "sites": {"east": {}, "west": {}},
        "hosts": {"p1": {"power_control": switch("p1")},
                  "p3": {"site": "east", "power_control": switch("p3")},
                  "p5": {"site": "west", "power_control": switch("p5")}}}))
    return lab, switched


def _power(lab: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["power", *args, "--lab", str(lab), "--no-lock"],
                              env={"RUNBOOK_LAB": ""}, catch_exceptions=False)


def test_power_on_a_site_host_from_the_controller_is_refused_naming_the_site(
        tmp_path: Path) -> None:
    lab, switched = _lab(tmp_path)
    result = _power(lab, "^p", "on")
    assert result.exit_code == 2, result.output
    assert "site's worker: p3 (site east), p5 (site west);" in result.output, result.output
    assert "run `runbook power` on a machine there with `--site east`" in result.output
    assert "Traceback" not in result.output
    assert not switched.exists()  # refused before anything was switched, p1 included


def test_power_inside_the_site_with_site_drives_its_hosts(tmp_path: Path) -> None:
    lab, switched = _lab(tmp_path)
    result = _power(lab, "^p[13]$", "on", "--site", "east")
    assert result.exit_code == 0, result.output
    assert sorted(switched.read_text().split()) == ["p1", "p3"]
    result = _power(lab, "^p5$", "on", "--site", "east")  # another site's host: still refused
    assert result.exit_code == 2 and "p5 (site west)" in result.output, result.output
    result = _power(lab, "^p3$", "on", "--site", "north")
    assert result.exit_code == 2, result.output
    assert "site 'north' is not declared" in result.output, result.output
