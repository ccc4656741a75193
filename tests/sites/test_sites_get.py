"""`get` on a site host and extra vars through a worker (docs/sites.md, "Fetched files"):
the file a site host's `get` downloads lands under the controller's dest, laid out as for a
host driven locally, and an `-e` var reaches the worker. Real `runbook apply`, a real
redis-server, real workers; the shipping itself with a real `LocalHost`, and what the
controller refuses to write.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path
from typing import Any

from runbook.hosts.lab import Lab
from runbook.hosts.local import LocalHost
from runbook.language.runbookfile import load_runbook
from runbook.plan.compiler import compile_plan
from runbook.records import list_runs
from runbook.render.secrets import SecretStore
from runbook.render.templating import Templater
from runbook.results import Status
from runbook.sites.fetched import FetchReceiver, FetchShipper
from tests.sites.conftest import RedisServer, SiteWorkers
from tests.sites.sitelab import apply, controller_env


def test_a_get_on_a_site_host_lands_at_the_controllers_dest_and_extra_vars_reach_it(
        running: SiteWorkers, site_lab: Path, redis_server: RedisServer,
        tmp_path: Path) -> None:
    remote = f"/tmp/runbook-get-{uuid.uuid4().hex[:8]}"  # per host: they share one filesystem
    book = f"""
name: fetch
steps:
  - name: make
    hosts: "^h0[135]$"
    run: "printf 'made on {{{{ host.id }}}} for {{{{ greeting }}}}\\\\n' > {remote}-{{{{ host.id }}}}.txt"
  - name: fetch
    hosts: "^h0[135]$"
    get: {{src: "{remote}-{{{{ host.id }}}}.txt", dest: fetched}}
  - name: echo
    hosts: "^h0[135]$"
    run: echo "greeting={{{{ greeting }}}}"
"""
    try:
        proc, report = apply(tmp_path, site_lab, book, controller_env(redis_server),
                             "-e", "greeting=hello-from-the-controller",
                             "--runs-dir", str(tmp_path / "runs"))
    finally:
        for host_id in ("h01", "h03", "h05"):
            Path(f"{remote}-{host_id}.txt").unlink(missing_ok=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for host_id in ("h01", "h03", "h05"):  # h01 local: the layout the sites must match
        got = tmp_path / "fetched" / host_id / f"{Path(remote).name}-{host_id}.txt"
        assert got.read_text() == f"made on {host_id} for hello-from-the-controller\n", host_id
        echoed = report["steps"][2]["results"][host_id]["output"]
        assert echoed == "greeting=hello-from-the-controller\n", host_id
    [run] = list_runs(tmp_path / "runs")
    log = (run.path / "hosts" / "h03.log").read_text()  # the controller's path, not the worker's
    assert f"{tmp_path / 'fetched' / 'h03' / Path(remote).name}-h03.txt" in log, log
    assert "runbook-share-" not in log


def _ship(tmp_path: Path, limit: int, sources: list[str], dest: Path) -> tuple[
        tuple[Status, str], list[dict[str, Any]]]:
    root = tmp_path / "share"
    sent: list[dict[str, Any]] = []
    shipper = FetchShipper(root, sent.append, limit=limit)
    host = LocalHost("l1")
    shipper.wrap(host)
    return asyncio.run(host.get(sources, str(dest))), sent


def test_fetched_files_are_shipped_in_chunks_and_an_absolute_dest_stays_off_the_worker(
        tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    data = bytes(range(256)) * 3000  # 768000 bytes: 3 chunks
    source.write_bytes(data)
    dest = tmp_path / "abs" / "l1"
    (status, _), sent = _ship(tmp_path, 1 << 20, [str(source)], dest)
    assert status is Status.Success
    assert not dest.exists()  # downloaded under the share's folder, not at the worker's path
    assert [(m["dest"], m["path"], m["chunk"]) for m in sent] == [
        (str(dest), "big.bin", n) for n in range(3)]
    assert b"".join(base64.b64decode(m["data"]) for m in sent) == data


def test_fetched_files_over_the_limit_fail_the_get_naming_the_limit(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * 4096)
    (status, message), sent = _ship(tmp_path, 1024, [str(source)], tmp_path / "d" / "l1")
    assert status is Status.Failed
    assert "exceed 1024 bytes per run (4096 bytes more for" in message, message
    assert "docs/sites.md" in message
    assert sent == []


def test_the_controller_writes_only_under_a_get_dest_of_that_host(tmp_path: Path) -> None:
    book = tmp_path / "book.yml"
    book.write_text("name: t\nsteps:\n"
                    "  - {name: get, hosts: '.', get: {src: /etc/hostname, dest: fetched}}\n")
    lab = Lab([LocalHost("a"), LocalHost("b")])
    lab.sites, lab.site_of = {"east": {}}, {"a": "east", "b": "east"}
    receiver = FetchReceiver(compile_plan(load_runbook(book), lab,
                                          Templater(SecretStore(environ={}))))
    dest = str((tmp_path / "fetched" / "a").resolve())

    def take(host: str, where: str, name: str, chunk: int, data: bytes) -> None:
        receiver.take(["a", "b"], {"t": "fetched", "host": host, "dest": where, "path": name,
                                   "chunk": chunk, "data": base64.b64encode(data).decode()})

    take("a", dest, "sub/f.txt", 0, b"one ")
    take("a", dest, "sub/f.txt", 1, b"two")
    assert (tmp_path / "fetched" / "a" / "sub" / "f.txt").read_bytes() == b"one two"
    take("a", dest, "../b/evil", 0, b"x")  # out of the dest
    take("a", dest, "/tmp/evil", 0, b"x")
    take("a", str(tmp_path / "elsewhere" / "a"), "evil", 0, b"x")  # not its get dest
    take("b", dest, "evil", 0, b"x")  # a's dest is not b's
    take("z", dest, "evil", 0, b"x")  # not a host of this site
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) \
        == ["book.yml", "fetched/a/sub/f.txt"]
