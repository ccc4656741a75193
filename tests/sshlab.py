"""A lab of N SSH hosts served by the real OpenSSH sshd on loopback addresses.

Every SSH test in the project runs against this lab, because the OpenSSH server is what users
meet: its shell, channel limits (MaxSessions 10) and sftp behaviour are the contract.

Each lab host is one loopback address 127.0.0.K (K = 2..n+1; Linux routes all of 127.0.0.0/8 to
``lo``) on one shared port.  sshd accepts at most 16 listen sockets per process
(``MAX_LISTEN_SOCKS`` in sshd.c; a 17th ``ListenAddress`` aborts with "Too many listen sockets"),
so the lab starts one ``sshd -D`` per group of 16 addresses, all with the same host key, port and
authorized key.  Nothing binds 0.0.0.0, so the lab is never reachable from the network.

Usable outside pytest too (for example by a benchmark)::

    with SshdLab(n_hosts=500) as lab:
        path = lab.lab_yaml(Path("lab.yaml"))

Needs ``/usr/sbin/sshd`` (Debian: ``apt-get install openssh-server``) and ``ssh-keygen``.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")
#: sshd.c MAX_LISTEN_SOCKS: listen sockets one sshd process may open.
MAX_LISTEN_PER_SSHD = 16
READY_TIMEOUT = 10.0
_LOG_TAIL_CHARS = 4000


class SshdLabError(RuntimeError):
    """The lab could not be set up or sshd did not come up; the message carries sshd's log."""


INSTALL_HINT = (
    "OpenSSH server not installed (/usr/sbin/sshd); run scripts/install-test-deps.sh"
    " or `apt-get install openssh-server`"
)


def sshd_available() -> bool:
    """True when the OpenSSH server and ssh-keygen are installed."""
    return SSHD.is_file() and shutil.which("ssh-keygen") is not None


def running_in_ci() -> bool:
    """True when the ``CI`` environment variable is set to something other than a false value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_sshd() -> None:
    """In a pytest test: skip when sshd is missing, or fail under CI (CI must not skip SSH)."""
    import pytest

    if sshd_available():
        return
    if running_in_ci():
        pytest.fail(f"CI is set but {INSTALL_HINT}", pytrace=False)
    pytest.skip(INSTALL_HINT)


class SshdLab:
    """N loopback SSH hosts served by real OpenSSH sshd processes (see module docstring).

    Attributes: ``port``, ``addresses`` (``127.0.0.2`` ...), ``host_ids`` (``h01`` ...),
    ``user``, ``client_key`` (private key path; ``.pub`` next to it), ``known_hosts``,
    ``directory`` (the temp dir holding keys, configs and ``sshd.N.log``).
    """

    def __init__(
        self,
        n_hosts: int = 4,
        *,
        port: int | None = None,
        directory: Path | None = None,
        isolated_home: bool = True,
        log_level: str = "VERBOSE",
    ) -> None:
        """Generate keys and configs; call ``start()`` (or use ``with``) to run sshd.

        ``isolated_home`` sets ``HOME`` of sessions to an empty directory in the lab so that
        slow rc files of the real user (pyenv, conda ...) do not run for every command; the
        working directory a session starts in is still the user's real home (sshd chdirs to
        the passwd home).  ``directory`` keeps the files somewhere you choose (not deleted).
        """
        if not 1 <= n_hosts <= 250 * 250:
            raise ValueError(f"n_hosts must be between 1 and 62500, got {n_hosts}")
        if not sshd_available():
            raise SshdLabError(INSTALL_HINT)
        self.n_hosts = n_hosts
        self.user = getpass.getuser()
        self.addresses = [_loopback_address(i) for i in range(n_hosts)]
        width = max(2, len(str(n_hosts)))
        self.host_ids = [f"h{i + 1:0{width}d}" for i in range(n_hosts)]
        self._owns_directory = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="sshlab-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.client_key = self.directory / "client_ed25519"
        self.host_key = self.directory / "host_ed25519"
        self.known_hosts = self.directory / "known_hosts"
        self.authorized_keys = self.directory / "authorized_keys"
        self.home = self.directory / "home"
        self._isolated_home = isolated_home
        self._log_level = log_level
        self._procs: list[subprocess.Popen[bytes]] = []
        self._groups = [
            self.addresses[i : i + MAX_LISTEN_PER_SSHD] for i in range(0, n_hosts, MAX_LISTEN_PER_SSHD)
        ]
        self._generate_keys()
        self.port = port if port is not None else _free_port(self.addresses)
        self._write_known_hosts()
        self._extra_options = self._supported_extra_options()

    # ----------------------------------------------------------------- lifecycle
    def __enter__(self) -> SshdLab:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        """True while every sshd process of the lab is alive."""
        return bool(self._procs) and all(p.poll() is None for p in self._procs)

    def start(self) -> None:
        """Start the sshd processes and return once every address accepts TCP connections."""
        if self._procs:
            raise SshdLabError("lab already started")
        _ensure_privsep_dir()
        self.home.mkdir(exist_ok=True)
        for index, group in enumerate(self._groups):
            config = self._write_config(index, group)
            log = self._log_path(index)
            with log.open("ab") as log_file:
                proc = subprocess.Popen(
                    [str(SSHD), "-D", "-e", "-f", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=log_file,
                    start_new_session=True,
                )
            self._procs.append(proc)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Kill sshd and every session it spawned, like pulling the plug (idempotent).

        sshd forks one process per connection and those survive the listener, so the process
        tree is frozen (SIGSTOP), collected from /proc and killed as a whole.
        """
        procs, self._procs = self._procs, []
        alive = [proc for proc in procs if proc.poll() is None]
        for proc in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGSTOP)
        for pid in _descendants([proc.pid for proc in alive]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for proc in alive:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def restart(self) -> None:
        """Stop, then start again on the same port with the same keys (a host power cycle)."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop sshd and delete the lab directory (unless the caller supplied it)."""
        self.stop()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    # ------------------------------------------------------------------ queries
    def address_of(self, host_id: str) -> str:
        """The loopback address of lab host ``host_id`` (``h01`` -> ``127.0.0.2``)."""
        try:
            return self.addresses[self.host_ids.index(host_id)]
        except ValueError:
            raise KeyError(f"no lab host {host_id!r}; hosts are {self.host_ids[0]}..") from None

    def log_text(self) -> str:
        """The concatenated stderr logs of all sshd processes (for failure messages)."""
        parts = []
        for index in range(len(self._groups)):
            path = self._log_path(index)
            if path.exists():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')}")
        return "\n".join(parts)

    def lab_yaml(
        self,
        path: Path | str,
        host_ids: Sequence[str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write a runbook lab file for this lab and return its path.

        ``host_ids`` picks a subset of the lab's ids (``["h01", "h03"]``; default all, in order).
        ``extra`` is deep-merged into the document, e.g.
        ``{"vars": {"site": "x"}, "hosts": {"h01": {"vars": {"role": "db"}}}}``.
        """
        chosen = list(self.host_ids if host_ids is None else host_ids)
        doc: dict[str, Any] = {
            "defaults": {
                "user": self.user,
                "port": self.port,
                "key": str(self.client_key),
                "known_hosts": str(self.known_hosts),
                "connect_timeout": 5,
            },
            "hosts": {host_id: {"address": self.address_of(host_id)} for host_id in chosen},
        }
        if extra:
            _deep_merge(doc, extra)
        out = Path(path)
        out.write_text(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
        return out

    # ------------------------------------------------------------------ internals
    def _log_path(self, index: int) -> Path:
        return self.directory / f"sshd.{index}.log"

    def _generate_keys(self) -> None:
        for key in (self.host_key, self.client_key):
            if not key.exists():
                _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sshlab", "-f", f"{key}"])
        shutil.copyfile(self.client_key.with_suffix(".pub"), self.authorized_keys)

    def _write_known_hosts(self) -> None:
        host_pub = self.host_key.with_suffix(".pub").read_text().split()
        entry = f"{host_pub[0]} {host_pub[1]}"
        lines = [f"[{address}]:{self.port} {entry}\n" for address in self.addresses]
        self.known_hosts.write_text("".join(lines))

    def _base_options(self) -> list[str]:
        opts = [
            f"Port {self.port}",
            f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "AuthenticationMethods publickey",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            "StrictModes no",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "AllowTcpForwarding yes",
            "X11Forwarding no",
            # Fan-out tests open hundreds of connections at once; the default 10:30:100 drops them.
            "MaxStartups 2048",
            # Left at the OpenSSH default on purpose: tests check that channels get queued.
            "MaxSessions 10",
            "LoginGraceTime 30",
            f"LogLevel {self._log_level}",
            "Subsystem sftp internal-sftp",
        ]
        if self._isolated_home:
            opts.append(f"SetEnv HOME={self.home}")
        return opts

    def _supported_extra_options(self) -> list[str]:
        """Options only newer sshd versions know; each is probed with ``sshd -t``.

        OpenSSH >= 9.8 penalises sources that fail to authenticate or drop connections early
        (PerSourcePenalties); every lab client is 127.0.0.1, so one fault test would lock out
        the rest of the suite.
        """
        supported = []
        for option in ("PerSourcePenalties no",):
            config = self.directory / "probe_config"
            config.write_text("\n".join([*self._base_options(), option, ""]))
            probe = subprocess.run([str(SSHD), "-t", "-f", str(config)], capture_output=True, check=False)
            if probe.returncode == 0:
                supported.append(option)
            config.unlink()
        return supported

    def _write_config(self, index: int, group: Sequence[str]) -> Path:
        lines = [
            *self._base_options(),
            *self._extra_options,
            f"PidFile {self.directory / f'sshd.{index}.pid'}",
            *(f"ListenAddress {address}:{self.port}" for address in group),
        ]
        config = self.directory / f"sshd_config.{index}"
        config.write_text("\n".join(lines) + "\n")
        return config

    def _wait_ready(self) -> None:
        """Poll until each sshd owns its listen sockets and accepts; fail fast if one exits.

        Ownership is checked (socket inode in the sshd's fds) so a stranger squatting on the
        port is never mistaken for the lab; the final TCP connect proves accept() works.
        """
        deadline = time.monotonic() + READY_TIMEOUT
        ready: set[int] = set()
        while True:
            for index, proc in enumerate(self._procs):
                if proc.poll() is not None:
                    raise SshdLabError(
                        f"sshd exited with status {proc.returncode} while starting"
                        f" (config {self.directory / f'sshd_config.{index}'}):\n" + self._log_tail()
                    )
            listening = _listening_inodes(self.port)
            for index, (proc, group) in enumerate(zip(self._procs, self._groups, strict=True)):
                if index in ready:
                    continue
                if listening is not None:
                    owned = _socket_inodes(proc.pid)
                    if not all(listening.get(address) in owned for address in group):
                        continue
                if _tcp_connects(group[-1], self.port):
                    ready.add(index)
            if len(ready) == len(self._procs):
                return
            if time.monotonic() > deadline:
                waiting = [self._groups[i][0] for i in range(len(self._procs)) if i not in ready]
                raise SshdLabError(
                    f"sshd not listening on port {self.port} after {READY_TIMEOUT:.0f} s"
                    f" (sshd groups starting at {', '.join(waiting[:5])}):\n" + self._log_tail()
                )
            time.sleep(0.02)

    def _log_tail(self) -> str:
        return self.log_text()[-_LOG_TAIL_CHARS:]


# ---------------------------------------------------------------------- helpers
def _loopback_address(index: int) -> str:
    """Address of host ``index`` (0-based): 127.0.0.2 .. 127.0.0.255, then 127.0.1.2 ..."""
    high, low = divmod(index, 254)
    return f"127.0.{high}.{low + 2}"


def _free_port(addresses: Sequence[str], attempts: int = 50) -> int:
    """A port that can be bound on every address (checked, not assumed)."""
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if all(_bindable(address, port) for address in addresses):
            return port
    raise SshdLabError(f"no TCP port free on all {len(addresses)} lab addresses")


def _bindable(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
        return True


def _tcp_connects(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1.0):
            return True
    except OSError:
        return False


_PROC_NET_TCP = Path("/proc/net/tcp")
_TCP_LISTEN = "0A"


def _listening_inodes(port: int) -> dict[str, int] | None:
    """Address -> socket inode of IPv4 TCP listeners on ``port``; None off Linux."""
    if not _PROC_NET_TCP.exists():
        return None
    found = {}
    for line in _PROC_NET_TCP.read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != _TCP_LISTEN:
            continue
        hex_addr, hex_port = fields[1].split(":")
        if int(hex_port, 16) != port:
            continue
        address = socket.inet_ntoa(int(hex_addr, 16).to_bytes(4, sys.byteorder))
        found[address] = int(fields[9])
    return found


def _socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets process ``pid`` holds open (empty if it is gone)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def _descendants(roots: Sequence[int]) -> list[int]:
    """All descendant pids of the ``roots`` (Linux /proc), deepest first."""
    if not roots:
        return []
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses; fields resume after the last ')'.
        rest = text[text.rfind(")") + 2 :].split()
        children.setdefault(int(rest[1]), []).append(int(stat.parent.name))
    ordered: list[int] = []
    stack = [child for root in roots for child in children.get(root, [])]
    while stack:
        child = stack.pop()
        ordered.append(child)
        stack.extend(children.get(child, []))
    return ordered[::-1]


def _ensure_privsep_dir() -> None:
    """sshd refuses to start without its privilege separation directory."""
    if PRIVSEP_DIR.is_dir():
        return
    try:
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True)
    except OSError as exc:
        raise SshdLabError(
            f"{PRIVSEP_DIR} is missing and cannot be created ({exc}); create it as root"
        ) from exc


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SshdLabError(f"{' '.join(argv)} failed: {result.stderr.strip()}")


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        current = base.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            _deep_merge(current, value)
        else:
            base[key] = value


__all__ = ["SshdLab", "SshdLabError", "require_sshd", "running_in_ci", "sshd_available"]
