"""The runbook as data: what the loader produces and the planner consumes.

Strings that may hold Jinja templates are kept raw here; they are rendered per host at plan
or run time. Every node keeps the `Location` it was read from so errors can point at it.
"""

from __future__ import annotations

import re
from dataclasses import field
from pathlib import Path
from typing import Any, Literal

from runbook._dataclass import frozen


@frozen
class Location:
    """Where a node was read from: file path and 1-based line and column."""

    file: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@frozen
class RunAction:
    """Commands run one after another in the host's persistent shell."""

    commands: tuple[str, ...]
    kind: Literal["run"] = "run"


@frozen
class OneshotAction:
    """Commands each run in a fresh process (SSH exec channel)."""

    commands: tuple[str, ...]
    kind: Literal["oneshot"] = "oneshot"


@frozen
class PutAction:
    """Upload `src` (local, relative to the runbook) into the remote folder `dest`."""

    src: str
    dest: str
    mode: int | None = None
    template: bool = False
    kind: Literal["put"] = "put"


@frozen
class GetAction:
    """Download remote `src` into the local folder `dest`/<host id>/."""

    src: str
    dest: str
    kind: Literal["get"] = "get"


PowerVerb = Literal["on", "off", "cycle", "status"]


@frozen
class PowerAction:
    """Drive the host's power controller; optionally wait for it to come up or go down."""

    action: PowerVerb
    wait_up: float | None = None
    wait_down: float | None = None
    kind: Literal["power"] = "power"


WaitState = Literal["started", "stopped", "present", "absent"]


@frozen
class WaitForAction:
    """Wait for a TCP `port` (from this machine), a `path` on the host, or a `command` to pass.

    Exactly one of `port`, `path` and `command` is set; `state` is None for a command.
    `address` (port only), `path`, `contains` and `command` may be templates.
    """

    port: int | None = None
    path: str | None = None
    command: str | None = None
    state: WaitState | None = None
    contains: str | None = None
    address: str | None = None
    timeout: float = 300.0
    delay: float = 0.0
    kind: Literal["wait_for"] = "wait_for"

    @property
    def target(self) -> Literal["port", "path", "command"]:
        """Which of the three waits this is."""
        if self.port is not None:
            return "port"
        return "path" if self.path is not None else "command"


@frozen
class InteractPair:
    """One exchange of a dialog: wait for `expect` (a regex), then type `send` (a template)."""

    expect: str | None = None
    send: str | None = None
    timeout: float | None = None


@frozen
class InteractAction:
    """An expect/send dialog in a terminal session of the host (the step's `timeout` bounds it)."""

    pairs: tuple[InteractPair, ...]
    kind: Literal["interact"] = "interact"


Action = (RunAction | OneshotAction | PutAction | GetAction | PowerAction | WaitForAction
          | InteractAction)


@frozen
class Expect:
    """Checks on a step's result: allowed exit codes and output regexes."""

    rc: tuple[int, ...] | None = None
    output: str | None = None
    not_output: str | None = None


BlockPhase = Literal["block", "rescue", "always"]


@frozen
class Frame:
    """One level of a step's ancestry: the block or include it sits in, and where that is.

    `phase` is the section of a block the step (or the next frame) is in; includes have none.
    """

    kind: Literal["block", "include"]
    name: str
    location: Location
    phase: BlockPhase | None = None
    block_id: int | None = None
    hosts: tuple[str, ...] | None = None
    json_path: tuple[str | int, ...] = ()
    source: Any = field(default=None, compare=False, repr=False)

    def label(self) -> str:
        """`block 'upgrade'/rescue` or `include lib/flash.yml`, for paths in output and reports."""
        text = f"{self.kind} {self.name!r}" if self.kind == "block" else f"include {self.name}"
        return f"{text}/{self.phase}" if self.phase and self.phase != "block" else text


@frozen
class Block:
    """A `block:` of the runbook, flattened: its steps are a contiguous range of the runbook's.

    `parent` is the (block id, phase) the block itself sits in (None at top level);
    `batch` splits its hosts into batches run through the block one after another.
    """

    id: int
    name: str
    location: Location
    hosts: tuple[tuple[str, ...], ...]
    first: int = 0
    last: int = 0
    has_rescue: bool = False
    parent: tuple[int, BlockPhase] | None = None
    batch: int | str | tuple[int | str, ...] | None = None
    max_failed: int | str = 0


@frozen
class Step:
    """One step of a runbook: an action on the hosts whose id matches `hosts`.

    `name` and `hosts` may be templates, rendered once per step at plan time (they see lab,
    runbook and extra vars only); `named` is False when `name` was made from the action (then
    it is shown as is, never rendered).

    A step read from a block or include carries what they pass in (language/steptree.py):
    `narrow` holds the enclosing levels' host patterns (a host must match each), `blocks`
    the (block id, section) pairs it sits in, outermost first, `frames` its ancestry for
    paths; `json_path` / `source` say where it is written (`source` is its file's Document);
    `files_dir` is the folder its `put` sources are relative to (None: the runbook's; an
    included step's: its file's real folder).
    `index` is its place in the runbook's flat list of steps.
    `become` / `become_user` None take the host's own; `run_once` runs on the first target
    only; `delegate_to` runs each target's action on that lab host instead.
    """

    index: int
    name: str
    hosts: tuple[str, ...]
    action: Action
    location: Location
    when: str | None = None
    register: str | None = None
    timeout: float | None = None
    #: Bytes of each command's output kept from each end (0: all); None: the run's default.
    output_limit: int | None = None
    concurrent: bool | int = True
    ignore_errors: bool = False
    retries: int = 0
    delay: float = 0.0
    until: str | None = None
    expect: Expect | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    named: bool = True
    tags: frozenset[str] = frozenset()
    loop: tuple[Any, ...] | str | None = None
    loop_var: str = "item"
    narrow: tuple[tuple[str, ...], ...] = ()
    blocks: tuple[tuple[int, BlockPhase], ...] = ()
    frames: tuple[Frame, ...] = ()
    json_path: tuple[str | int, ...] = ()
    source: Any = field(default=None, compare=False, repr=False)
    files_dir: Path | None = None
    become: bool | None = None
    become_user: str | None = None
    run_once: bool = False
    delegate_to: str | None = None

    @property
    def path(self) -> str:
        """The step's place in the tree: `block 'upgrade'/rescue > restore config`."""
        return " > ".join([*(f.label() for f in self.frames), self.name])


@frozen
class Runbook:
    """A loaded runbook file. `lab` is resolved relative to the runbook's folder."""

    path: Path
    name: str
    steps: tuple[Step, ...]
    description: str = ""
    lab: Path | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    fail_fast: bool = False
    blocks: tuple[Block, ...] = ()
    batch: int | str | tuple[int | str, ...] | None = None
    max_failed: int | str = 0

    def location_of(self, step: Step | None, *parts: str | int) -> Location:
        """Where a node of `step` (or of the runbook, when None) is written; a runbook built
        in code knows only its steps' locations (a loaded one knows every node's)."""
        del parts
        return step.location if step is not None else Location(str(self.path), 1, 1)


_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(value: int | str) -> int:
    """Bytes from `65536`, `"64k"`, `"1m"`, `"2 GiB"` (binary units, case-insensitive).

    ValueError (saying what is accepted) for anything else, negative numbers included.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = re.fullmatch(r"(\d+) *([kmg]?)(?:i?b)?", str(value).strip().lower()) \
        if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a size: give bytes (65536) or a number with k, m "
                         "or g (64k, 1m); 0 keeps everything")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]
