"""The language features (issue 11) across sites: included files travel to the workers,
`--skip-tags` chooses the same steps there, and a failure that a block's `rescue` recovers on
a site host neither fails the run nor trips `--fail-fast` in the other sites."""

from __future__ import annotations

from pathlib import Path

from tests.sites.conftest import RedisServer, SiteWorkers
from tests.sites.sitelab import ALL, apply, controller_env, statuses


def test_includes_tags_and_rescue_work_on_site_hosts(
        running: SiteWorkers, site_lab: Path, redis_server: RedisServer, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "steps.yml").write_text("- name: included\n  run: echo included on {{ host.id }}\n")
    book = f"""
name: language across sites
steps:
  - include: lib/steps.yml
    hosts: "{ALL}"
  - name: left out
    hosts: "{ALL}"
    tags: [slow]
    run: echo never
  - name: guarded
    hosts: "{ALL}"
    block:
      - name: breaks
        run: "{{% if host.id == 'h05' %}}false{{% else %}}true{{% endif %}}"
    rescue:
      - name: repair
        run: echo repaired after {{{{ failed_step }}}}
    always:
      - name: cleanup
        run: echo cleanup {{{{ host.id }}}}
"""
    proc, report = apply(tmp_path, site_lab, book, controller_env(redis_server),
                         "--skip-tags", "slow", "--fail-fast")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [s["name"] for s in report["steps"]] == ["included", "breaks", "repair", "cleanup"]
    included = report["steps"][0]["results"]
    assert included["h05"]["output"] == "included on h05\n"  # a west worker read lib/steps.yml
    assert included["h03"]["output"] == "included on h03\n"
    assert report["steps"][1]["results"]["h05"]["status"] == "failed"
    assert report["steps"][1]["results"]["h05"].get("rescued") is True
    assert report["steps"][2]["results"]["h05"]["output"] == "repaired after breaks\n"
    assert set(statuses(report, 3).values()) == {"success"}  # no fail_fast halt anywhere
    assert report["rescued"] == {"h05": 1}
