"""Read a lab file (YAML or JSON) into a `runbook.hosts.lab.Lab`.

Steps: parse with positions, check `schemas/lab.schema.json`, then what the schema cannot
say: a `hop` or power `controller` naming no host, hop cycles, power_control specs (checked by
`runbook.power.power_control_from_spec`, their errors mapped to the offending key's line).

Choices: `defaults` apply to every host (their `vars` are merged, the host's win); a `hop`
inherited from defaults is ignored on the hop host itself; `address` defaults to the host id;
`~` in key / known_hosts paths is expanded and relative paths are relative to the lab file;
`local` (this machine) is added last unless the lab defines it (the hosts are built by
`runbook.language.labbuild`). Strings in `address`, `user`, `password`, `become_password`,
`key_passphrase` and `power_control` may use Jinja (`{{ secret('BMC_PASSWORD') }}`, lab vars,
`host.id`); they are rendered when the lab is loaded, and so are the strings of the `lock:`
block (`runbook.language.lablock`: a redis URL's password may be a secret). A secret that is
not set does not fail the load: the host is built without it and `Lab.missing_secrets` records
what it needs, so a run only asks for the secrets of the hosts it touches (see
`runbook.render.labsecrets`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook._suggest import did_you_mean
from runbook.errors import ConfigError, TemplateError, ValidationError, YamlSyntaxError
from runbook.language import schema
from runbook.language.findings import Finding, finding_from_error
from runbook.language.labbuild import LOCAL_ID, build_lab
from runbook.language.lablock import read_lock_block
from runbook.language.labsites import check_broker, check_sites
from runbook.language.varsfile import reserved_name_problem
from runbook.language.yamlload import (
    Document,
    JsonPath,
    base_folder,
    expand_home,
    load_file,
    not_a_regular_file,
)
from runbook.persist import lab_persist
from runbook.render.labsecrets import HostSecretNeeds, MissingSecret, resolve_needs
from runbook.render.secrets import PlaceholderSecrets, SecretStore

if TYPE_CHECKING:
    from runbook.hosts.lab import Lab

TEMPLATED_FIELDS = ("address", "user", "password", "become_password", "key_passphrase")
_PATH_FIELDS = ("key", "known_hosts")
LAB_WIDE = ("persist",)  # `defaults` fields about the lab, not copied into each host
# Fields of a power_control spec that name a local file, relative to the lab file's folder.
_POWER_PATH_FIELDS = ("ca_file",)


def load_lab(path: Path | str, *, secrets: SecretStore | None = None) -> Lab:
    """Load a lab file for a run; `ValidationError` lists every problem found.

    Secrets come from `secrets` (default: the environment). One that is not set is not an
    error here: `Lab.missing_secrets` says which hosts need it. A path that is not a readable
    file is a `ConfigError` naming it (no line: there is none).
    """
    path = Path(path)
    problem = not_a_regular_file(path)
    if problem is not None:
        if problem.startswith("no such file"):
            problem = ("does not exist (a runbook's `lab:` is relative to the runbook's folder; "
                       "--lab is relative to the current folder)")
        raise ConfigError(f"lab file {path} {problem}")
    try:
        doc = load_file(path)
    except YamlSyntaxError as exc:
        raise ValidationError([finding_from_error(exc)]) from None
    lab, findings = read_lab(doc, path, secrets=secrets if secrets is not None else SecretStore())
    findings = [finding_from_error(p) for p in doc.problems] + findings
    if findings or lab is None:
        raise ValidationError(findings)
    return lab


class _LabReader:
    """Collects findings while merging defaults and checking references of one lab document."""

    def __init__(self, doc: Document, path: Path) -> None:
        self.doc = doc
        self.path = path
        self.findings: list[Finding] = []
        self.missing: dict[str, list[MissingSecret]] = {}

    def add(self, where: JsonPath, message: str, *, key: bool = False) -> None:
        loc = self.doc.location(where, key=key)
        self.findings.append(Finding(loc.file, loc.line, loc.column, message))

    def origin(self, host_id: str, name: str) -> JsonPath:
        """Path of field `name` for a host: its own entry, or `defaults` when inherited."""
        own = self.doc.data["hosts"].get(host_id)
        if isinstance(own, dict) and name in own:
            return ("hosts", host_id, name)
        return ("defaults", name)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def merged_hosts(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each host's fields with `defaults` applied (vars merged; own values win)."""
    defaults: dict[str, Any] = data["defaults"] if isinstance(data.get("defaults"), dict) else {}
    hosts: dict[str, Any] = data["hosts"] if isinstance(data.get("hosts"), dict) else {}
    result: dict[str, dict[str, Any]] = {}
    for host_id, entry in hosts.items():
        own: dict[str, Any] = entry if isinstance(entry, dict) else {}
        fields = {**{k: v for k, v in defaults.items() if k not in LAB_WIDE}, **own}
        fields["vars"] = {**_mapping(defaults.get("vars")), **_mapping(own.get("vars"))}
        if "hop" not in own and fields.get("hop") == host_id:
            fields["hop"] = None
        result[host_id] = fields
    return result


def read_lab(doc: Document, path: Path, *, secrets: SecretStore | None = None,
             build: bool = True) -> tuple[Lab | None, list[Finding]]:
    """Check `doc` as a lab and build it (unless `build=False` or it has errors).

    With `secrets=None` (validation, `runbook hosts`), `secret(...)` renders as "<secret>" so
    no secret needs to be set; lab vars and `host.id` are rendered for real. With a store, a
    secret it lacks renders as `***` and is recorded in the built lab's `missing_secrets`.
    Findings are masked: a secret rendered into a field that then fails its check
    (`port: "{{ secret('PW') }}"`) shows as `***`, never in clear.
    """
    lab, findings = _read_lab(doc, path, secrets=secrets, build=build)
    if secrets is not None:
        findings = [replace(f, message=secrets.mask(f.message)) for f in findings]
    return lab, findings


def _read_lab(doc: Document, path: Path, *, secrets: SecretStore | None,
              build: bool) -> tuple[Lab | None, list[Finding]]:
    """`read_lab` before masking."""
    data = doc.data
    if data is None or (isinstance(data, dict) and "steps" in data and "hosts" not in data):
        what = ("the file is empty: a lab needs `hosts`" if data is None else
                "this is a runbook (it has `steps`), not a lab: a lab file lists `hosts`; "
                "pass the runbook as RUNBOOK and a lab file with --lab")
        return None, [Finding(doc.file, 1, 1, what)]
    checked = schema.check_paths(doc, "lab")
    reader = _LabReader(doc, path)
    reader.findings.extend(f for _, f in checked)
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), dict):
        return None, reader.findings
    bad = {p[:3] for p, _ in checked}
    hosts = merged_hosts(data)
    ids = [*hosts, *([] if LOCAL_ID in hosts else [LOCAL_ID])]
    _check_hops(reader, hosts, ids)
    _check_console_fields(reader, hosts, bad)
    _check_reserved(reader, data)
    check_sites(reader.add, reader.origin, data, hosts)
    check_broker(reader.add, data)
    _render_templates(reader, hosts, data, secrets)
    specs: dict[str, Any] = {}
    for host_id, fields in hosts.items():
        spec = fields.get("power_control")
        where = reader.origin(host_id, "power_control")
        if spec is None or any(b[:len(where)] == where for b in bad):
            continue
        if isinstance(spec, dict):
            controller = spec.get("controller")
            if isinstance(controller, str) and controller not in ids:
                suggestion = did_you_mean(controller, ids)
                reader.add((*where, "controller"),
                           f"host {host_id!r}: power_control.controller {controller!r} names no "
                           f"host of the lab" + (f"; {suggestion}" if suggestion else ""))
        specs[host_id] = spec
    controllers = _power_controllers(reader, specs)
    _check_home_paths(reader, hosts)
    persist = lab_persist(data.get("defaults"), ("defaults", "persist") in bad,
                          lambda problem: reader.add(("defaults", "persist"), problem))
    lock, lock_problems = read_lock_block(data, path, secrets, bad)
    for where, message, at_key in lock_problems:
        reader.add(where, message, key=at_key)
    if reader.findings or not build:
        return None, reader.findings
    try:
        lab = build_lab(data, hosts, controllers, path)
    except (ConfigError, TemplateError) as exc:
        reader.add((), str(exc))
        return None, reader.findings
    lab.lock = lock
    lab.persist = persist
    lab.missing_secrets = _secret_needs(reader.missing, hosts)
    return lab, reader.findings


def _secret_needs(missing: dict[str, list[MissingSecret]],
                  hosts: dict[str, dict[str, Any]]) -> dict[str, HostSecretNeeds]:
    """Per host, the unset secrets connecting to it or powering it needs (hops, controllers)."""
    if not missing:
        return {}
    hops = {h: f.get("hop") if isinstance(f.get("hop"), str) else None for h, f in hosts.items()}
    controllers: dict[str, str | None] = {}
    for host_id, fields in hosts.items():
        spec = fields.get("power_control")
        controller = spec.get("controller") if isinstance(spec, dict) else None
        controllers[host_id] = controller if isinstance(controller, str) else None
    return resolve_needs(missing, hops, controllers)


def _check_hops(reader: _LabReader, hosts: dict[str, dict[str, Any]], ids: list[str]) -> None:
    for host_id, fields in hosts.items():
        hop = fields.get("hop")
        if not isinstance(hop, str):
            continue
        where = reader.origin(host_id, "hop")
        if hop == LOCAL_ID and LOCAL_ID not in hosts:
            reader.add(where, f"host {host_id!r}: hop 'local' is this machine, not an SSH host; "
                              "remove the hop to connect directly")
        elif hop not in hosts:
            suggestion = did_you_mean(hop, ids)
            reader.add(where, f"host {host_id!r}: hop {hop!r} names no host of the lab"
                              + (f"; {suggestion}" if suggestion else ""))
    reported: set[str] = set()
    for start, fields in hosts.items():
        chain = [start]
        current = fields.get("hop")
        while isinstance(current, str) and current in hosts and current not in chain:
            chain.append(current)
            current = hosts[current].get("hop")
        if isinstance(current, str) and current in chain:
            cycle = chain[chain.index(current):]
            if not reported.intersection(cycle):
                reported.update(cycle)
                first = min(cycle, key=lambda h: reader.doc.location(("hosts", h)).line)
                loop = cycle[cycle.index(first):] + cycle[:cycle.index(first)] + [first]
                reader.add(reader.origin(first, "hop"),
                           f"host {first!r}: hop cycle {' -> '.join(loop)}: a host cannot "
                           "(indirectly) tunnel through itself")


def _check_console_fields(reader: _LabReader, hosts: dict[str, dict[str, Any]],
                          bad: set[JsonPath]) -> None:
    """transport / shell fields that do not fit together; a hop must be an SSH host."""
    from runbook.hosts.console_spec import field_problems

    for host_id, fields in hosts.items():
        for name, index, message in field_problems(fields):
            where = reader.origin(host_id, name)
            if where[:3] not in bad:
                reader.add(where if index is None else (*where, index), f"host {host_id!r}: {message}")
        hop = fields.get("hop")
        if isinstance(hop, str) and hosts.get(hop, {}).get("transport", "ssh") != "ssh":
            reader.add(reader.origin(host_id, "hop"), f"host {host_id!r}: hop {hop!r} is reached "
                       f"by {hosts[hop]['transport']}, not SSH: only an SSH host can be a hop")


def _check_reserved(reader: _LabReader, data: dict[str, Any]) -> None:
    """Lab, defaults and host vars must not take the names templates have built in."""
    places: list[JsonPath] = [("vars",), ("defaults", "vars")]
    places += [("hosts", h, "vars") for h in data["hosts"]]
    for where in places:
        node: Any = data
        for part in where:
            node = node.get(part) if isinstance(node, dict) else None
        for name in node if isinstance(node, dict) else ():
            problem = reserved_name_problem(str(name))
            if problem:
                owner = f"host {where[1]!r}: " if where[0] == "hosts" else ""
                reader.add((*where, name), owner + problem, key=True)


def _render_templates(reader: _LabReader, hosts: dict[str, dict[str, Any]],
                      data: dict[str, Any], secrets: SecretStore | None) -> None:
    """Render templated host fields in place; syntax and render errors become findings."""
    from runbook.render.templating import Templater

    recording = PlaceholderSecrets(secrets) if secrets is not None else None
    templater = Templater(recording if recording is not None
                          else PlaceholderSecrets(shown="<secret>"))
    lab_vars = data.get("vars") if isinstance(data.get("vars"), dict) else {}
    for host_id, fields in hosts.items():
        if isinstance(fields.get("power_control"), dict):
            fields["power_control"] = dict(fields["power_control"])  # may be shared defaults
        for name, value in _templated_strings(fields):
            where = reader.origin(host_id, name[0])
            field = ".".join(name)
            problem = templater.syntax_error(value)
            if problem is not None:
                reader.add((*where, *name[1:]), f"host {host_id!r}: Jinja syntax error in "
                           f"{field}: {problem[1]}")
                continue
            context = {**(lab_vars or {}), "host": {"id": host_id}}
            if recording is not None:
                recording.missing.clear()
            try:
                rendered: str | None = templater.render(value, context)
            except TemplateError as exc:
                reader.add((*where, *name[1:]), f"host {host_id!r}: {field}: "
                           f"{getattr(exc, 'problem', exc)}")
                continue
            if recording is not None and recording.missing:
                loc = reader.doc.location((*where, *name[1:]))
                reader.missing.setdefault(host_id, []).extend(
                    MissingSecret(host_id, secret, field, loc, recording.store.secrets_file)
                    for secret in recording.missing)
                if name in (("password",), ("become_password",), ("key_passphrase",)):
                    # never log in, answer sudo or decrypt a key with a placeholder
                    rendered = None
            target = fields["power_control"] if name[0] == "power_control" else fields
            target[name[-1]] = rendered


def _templated_strings(fields: dict[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    from runbook.render.jinjaenv import has_markup

    found: list[tuple[tuple[str, ...], str]] = [
        ((n,), fields[n]) for n in TEMPLATED_FIELDS if isinstance(fields.get(n), str)]
    spec = fields.get("power_control")
    if isinstance(spec, dict):
        found += [(("power_control", k), v) for k, v in spec.items() if isinstance(v, str)]
    return [(name, value) for name, value in found if has_markup(value)]


def _power_controllers(reader: _LabReader, specs: dict[str, Any]) -> dict[str, Any]:
    """Build each power spec; errors become findings at the offending key."""
    if not specs:
        return {}  # no power control: the power package is not even imported
    try:
        from runbook.power import PowerSpecError, power_control_from_spec
    except ImportError:  # pragma: no cover - the power package is part of runbook
        return {}
    built: dict[str, Any] = {}
    base = base_folder(reader.path)
    for host_id, spec in specs.items():
        where = reader.origin(host_id, "power_control")
        try:
            built[host_id] = power_control_from_spec(_power_paths(spec, base), host_id=host_id)
        except PowerSpecError as exc:
            key = exc.key if isinstance(spec, dict) and exc.key in spec else None
            if key:
                reader.add((*where, key), exc.message, key=True)
            else:
                reader.add(where, exc.message)
    return built


def _power_paths(spec: Any, base: Path) -> Any:
    """`spec` with its relative file fields (`ca_file`) joined to the lab's folder `base`
    (a copy: specs may be shared through `defaults`)."""
    if not isinstance(spec, dict):
        return spec
    resolved = dict(spec)
    for name in _POWER_PATH_FIELDS:
        value = spec.get(name)
        if isinstance(value, str) and value:
            try:
                path = expand_home(value)
            except ConfigError:
                continue  # the controller names the unknown user
            resolved[name] = str(path if path.is_absolute() else base / path)
    return resolved


def _check_home_paths(reader: _LabReader, hosts: dict[str, dict[str, Any]]) -> None:
    """`key: ~nobody/id` would crash expanding `~` when the lab is built, and a key file that
    does not exist would fail every connection with a raw OS error: findings instead."""
    reported: set[JsonPath] = set()
    for host_id, fields in hosts.items():
        for name in _PATH_FIELDS:
            value = fields.get(name)
            for i, text in enumerate([value] if isinstance(value, str) else
                                     value if isinstance(value, list) else []):
                if not isinstance(text, str):
                    continue
                origin = reader.origin(host_id, name)
                where = (*origin, i) if isinstance(value, list) else origin
                owner = "defaults" if origin[0] == "defaults" else f"host {host_id!r}"
                try:
                    path = expand_home(text)
                except ConfigError as exc:
                    reader.add(where, f"host {host_id!r}: {name}: {exc.message}")
                    continue
                if name == "key" and where not in reported:
                    problem = _missing_key(path, base_folder(reader.path))
                    if problem is not None:
                        reported.add(where)
                        reader.add(where, f"{owner}: key: {problem}")


def _missing_key(path: Path, base: Path) -> str | None:
    """Why the key file at `path` (relative to the lab's folder `base`) cannot be used, or None."""
    full = path if path.is_absolute() else base / path
    if full.is_file():
        return None
    what = "is not a file" if full.exists() else "does not exist"
    hint = " (a relative key path is relative to the lab file's folder)" \
        if not path.is_absolute() else ""
    return f"the key file {full} {what}{hint}; fix the path, or remove `key` to use your " \
           "default keys and ssh-agent"

