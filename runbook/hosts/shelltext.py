"""The shell code runbook sends to hosts: the persistent shell's command loop, the watchdogs,
and how a oneshot reads its command (the protocol is described in `runbook.hosts.shell`).

All of it is plain text run by the host's login shell, so it is written for any POSIX shell,
with a cheaper form under bash, which is what lab hosts almost always have: on a 2-core lab
machine every process saved is about 1 ms of CPU per host (docs/performance.md).
"""

from __future__ import annotations

import re

#: The descriptor that carries the protocol's markers (a single digit, so plain `sh` has it too).
PROTOCOL_FD = 8


def quote(text: str) -> str:
    """Quote `text` as one single-quoted POSIX shell word."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


#: The watchdog (module docstring) for any POSIX shell (dash, busybox sh): its pid comes back
#: through a command substitution, so it is nobody's child in the shell. It stops waiting on
#: SIGUSR1 (the EXIT trap), or when the session process `s` is gone; then, if the shell `p`
#: still runs, it kills p's group. The loop without tail asks `ps` last: `kill -0` fails for
#: another user's process too (sudo).
_SH_WATCHDOG = (
    "__runbook_wd=$( (trap '' TERM INT HUP; s=${__runbook_sess:-$PPID} p=$$ t=; "
    "trap 'kill -KILL $t 2>/dev/null; exit 0' USR1; "
    "tail --pid=$s -f /dev/null -s 2 & t=$!; wait $t || "
    "while kill -0 $s || [ -d /proc/$s ] || ps -p $s; do sleep 2 & t=$!; wait $t; done; "
    "trap '' USR1; kill -0 $p || exit 0; kill -TERM -$p; sleep 2; kill -KILL -$p"
    f") </dev/null >/dev/null 2>&1 {PROTOCOL_FD}>&- & echo $!)"
)
#: The same watchdog under bash in one process instead of three: `disown` keeps it out of a
#: step's `wait`, and it sleeps in `read -t 2` on a pty master nobody writes to (no `tail`,
#: no `sleep` fork every 2 s) and looks with builtins. Where no pty can be opened it waits
#: like the POSIX form. It also guards the session's oneshots (`tracked_oneshot`, which
#: sends SIGUSR2 before it runs its command): `k` holds the session process's children other
#: than the shell (Linux's /proc/PID/task/TID/children, looked at on each SIGUSR2, which the
#: shell ignores until the watchdog has its trap; by pid and start time, so a oneshot that
#: `exec`s its command stays known and a pid reused by another process after one ended is
#: never signalled). Every 2 s it only checks that the session is there. When the session
#: ends, the ones still running are killed with the shell's group; a shell that ended
#: normally (SIGUSR1) keeps its group, and its watchdog stays only while one of them runs.
#: `$__runbook_wt` says it can guard. Each look costs (a /proc read is a dozen system calls
#: under bash), so it looks after waiting, not before: the whole watchdog is about 2 ms of a
#: lab machine's CPU per host, half of it the fork (docs/performance.md).
_BASH_WATCHDOG = (
    "trap '' USR2; (trap '' TERM INT HUP; s=${__runbook_sess:-$PPID} p=$$ t= k= e=; "
    # a normal end (SIGUSR1) is only noted: the loop decides after any pending SIGUSR2 has
    # run its trap (bash runs pending traps in signal-number order, USR1 first, so an exit
    # here could drop the note of a oneshot sent just before, leaving it unguarded)
    "trap 'e=1; kill -KILL $t 2>/dev/null' USR1; "
    # mapfile, not read: a `read` in a trap cancels the timeout of the `read -t` it interrupts
    # st: from /proc/PID/stat past "pid (comm) ", z the state and b the start time (no array
    # assignment: sh must parse this text too, in the branch it does not run). The last ") "
    # ends comm (15 bytes at most, and no field after it holds a parenthesis): looked for in
    # the first 64 characters only, as bash matches `##*) ` in time quadratic in the length
    "st() { mapfile -t l </proc/$1/stat && [ ${#l[@]} -gt 0 ] || return; "
    "h=${l[0]:0:64}; set -- ${h##*) }${l[0]:64}; z=$1 b=${20}; }; "
    # a guarded process is kept as pid:start time, so a pid reused after it ended (pids wrap
    # quickly on a busy machine) is never taken for it
    "kids() { mapfile -t -d ' ' x </proc/$s/task/$s/children && [ ${#x[@]} -gt 0 ] || return; "
    'k=; for c in "${x[@]}"; do [ "$c" = $p ] || ! st $c || k="$k $c:$b"; done; }; '
    "trap kids USR2; "
    # a oneshot that ended is a zombie until sshd reaps it: not one to wait for or kill
    'live() { st $1 && [ "$z" != Z ]; }; '
    'same() { live ${1%:*} && [ "$b" = "${1#*:}" ]; }; '
    "busy() { for c in $k; do same $c && return; done; false; }; "
    # where /proc shows this process, it shows the session's too (same user, or root under
    # sudo): no `ps` (a fork that reads all of /proc) each time the session is looked for
    '[ -d /proc/$BASHPID ] && alive() { live $s; } || alive() { kill -0 $s || ps -p $s; }; '
    'watch() { alive && { [ -z "$e" ] || busy; }; }; '
    # a read that ends before its timeout means this pty does not block: wait as below.
    # The first look is after the first wait: the session has just started this process
    "{ exec 9<>/dev/ptmx; } 2>/dev/null && "
    "while { read -t 2 -u 9; [ $? -gt 128 ]; } && watch; do :; done; "
    "watch && { tail --pid=$s -f /dev/null -s 2 & t=$!; wait $t || "
    "while watch; do sleep 2 & t=$!; wait $t; done; }; "
    "trap '' USR1 USR2; alive && exit 0; g=; for c in $k; do ! same $c || g=\"$g -${c%:*}\"; done; "
    '[ -n "$e" ] || ! kill -0 $p || g="$g -$p"; [ -n "$g" ] || exit 0; '
    "kill -TERM -- $g; sleep 2; kill -KILL -- $g"
    f") </dev/null >/dev/null 2>&1 {PROTOCOL_FD}>&- & __runbook_wd=$!; disown; trap - USR2; "
    "[ -r /proc/$PPID/task/$PPID/children ] && __runbook_wt=$__runbook_wd"
)
#: Shell text that sets the EXIT trap ending the watchdog when the shell ends normally.
ENDS_WATCHDOG = "trap 'kill -USR1 $__runbook_wd 2>/dev/null' EXIT"
#: Shell text that starts the watchdog of the shell that runs it and sets the EXIT trap that
#: ends it (a become oneshot's; a persistent shell's starts in `SHELL_COMMAND`).
WATCHDOG = (
    f'if [ -n "$BASH_VERSION" ]; then {_BASH_WATCHDOG}; else {_SH_WATCHDOG}; fi; '
    f"{ENDS_WATCHDOG}; unset __runbook_sess"
)


#: The persistent shell's set-up and command loop (module docstring), after its watchdog has
#: started. `read -N` (bash) takes the command in one buffered read; `head -c` elsewhere (it
#: never reads past its count; `x` keeps trailing newlines from the command substitution).
_LOOP_BODY = (
    "unset __runbook_sess; set +e +u; exec {fd}>&1 2>&1; {ends}; "
    '__runbook_run() {{ eval "$__runbook_cmd"; }}; '
    "IFS= read -r __runbook_m; trap 'return 143' TERM; "
    "printf '%s:%d:\\n' \"$__runbook_m\" \"$$\" \"$__runbook_m\" \"${{__runbook_wt:-0}}\" >&{fd}; "
    "while IFS= read -r __runbook_n && {take}; do "
    "__runbook_run </dev/null {fd}>&-; printf '%s:%d:\\n' \"$__runbook_m\" \"$?\" >&{fd}; done"
)


def _read_command(count: str) -> str:
    """Bash text reading the next `count` bytes of stdin into `$__runbook_cmd` in one buffered
    read (`LC_ALL=C`: `-N` counts characters, and the count is in bytes)."""
    return f"LC_ALL=C IFS= read -r -N {count} __runbook_cmd"


#: Shell text running the command read into `$__runbook_cmd` as a oneshot does: stdin
#: /dev/null, stderr merged into stdout.
_RUN_COMMAND = 'exec 2>&1 </dev/null; eval "$__runbook_cmd"'
#: The same for a `plain_command`: when its first word is a program found on PATH (not a
#: builtin, not a function), bash `exec`s it, as `bash -c` does with its last command
#: (`eval` does not): one fork less per oneshot. Anything else runs as `_RUN_COMMAND` does.
_RUN_PLAIN_COMMAND = (
    'exec 2>&1 </dev/null; __runbook_f=${__runbook_cmd%% *}; '
    'if { hash -- "$__runbook_f" && hash -t -- "$__runbook_f" && '
    '! declare -F -- "$__runbook_f"; } >/dev/null 2>&1; then eval "exec $__runbook_cmd"; fi; '
    'eval "$__runbook_cmd"'
)
#: A command that is one simple command: a program name, then words with no shell operator,
#: quote, expansion or newline in them (so `exec` in front of it changes nothing but the fork).
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*(?: [^;&|()<>`$\\\n\r'\"{}!#]*)?")


def plain_command(cmd: str) -> bool:
    """Whether a oneshot's `cmd` may run by `exec` (`_RUN_PLAIN_COMMAND`): a program name
    and plain words, like `md5sum /tmp/f` or `systemctl restart nginx`."""
    return _PLAIN.fullmatch(cmd) is not None


def _run_command(plain: bool) -> str:
    """The text that runs the command read: by `exec` when it may (`plain`), else by `eval`."""
    return _RUN_PLAIN_COMMAND if plain else _RUN_COMMAND


_BASH_TAKE = _read_command('"$__runbook_n"')
_SH_TAKE = '__runbook_cmd=$(head -c "$__runbook_n"; echo x) && __runbook_cmd=${__runbook_cmd%x}'
_BASH_LOOP = f"{_BASH_WATCHDOG}; " + _LOOP_BODY.format(
    fd=PROTOCOL_FD, ends=ENDS_WATCHDOG, take=_BASH_TAKE)
_SH_LOOP = f"{_SH_WATCHDOG}; " + _LOOP_BODY.format(fd=PROTOCOL_FD, ends=ENDS_WATCHDOG,
                                                  take=_SH_TAKE)

def bash_first(bash: str, other: str) -> str:
    """Shell text running `bash` under bash and `other` under any other shell, where bash
    never parses `other`: a shell parses a `-c` string one line at a time, and under bash
    the first line exits (about 0.15 ms of a lab machine's CPU per process for a 2 KB
    `other`, docs/performance.md)."""
    return f'if [ -n "$BASH_VERSION" ]; then {bash}; exit; fi\n{other}'


#: What a channel runs for a persistent shell, in the account's login shell: the command loop
#: right there when that is bash (the common case: no second bash to start, about 1.2 ms of
#: CPU per host), else in a clean bash (no rc files), else in `sh`.
SHELL_COMMAND = bash_first(
    _BASH_LOOP,
    f"command -v bash >/dev/null 2>&1 && exec bash --noprofile --norc -c {quote(_BASH_LOOP)}; "
    f"exec sh -c {quote(_SH_LOOP)}",
)


def read_script_then_eval(size: int, *, subshell: bool = False) -> str:
    """Shell text that reads the next `size` bytes of stdin (the command, written there by
    the caller), points stdin at /dev/null and stderr at stdout, then runs the command.

    A oneshot's command travels on stdin rather than in `sh -c` / sudo arguments: a command
    line shows in every user's `ps` listing, and a rendered command may hold a secret. With
    `subshell` the command runs in a subshell, so a `trap ... EXIT` of its own does not
    replace the one that ends the `WATCHDOG`.
    """
    run = '(eval "$__runbook_cmd")' if subshell else 'eval "$__runbook_cmd"'
    return f"__runbook_cmd=$(head -c {size}); exec 2>&1 </dev/null; {run}"


def watched_oneshot(size: int, *, plain: bool = False) -> str:
    """Shell text for an SSH oneshot run as the login user: read the command (`size` bytes on
    stdin), start its watchdog, run it.

    Under bash the watchdog is one process that waits for end of input on the channel's stdin,
    which nothing else reads once the command is in: it comes when the session ends. If the
    oneshot's shell `p` still runs then (the connection was lost), its group gets SIGTERM and
    SIGKILL 2 s later; after a normal end `p` is gone and nothing is killed. So no EXIT trap,
    no subshell and no `head`: three processes fewer than the POSIX form, which other shells
    get (`WATCHDOG` and `read_script_then_eval`).
    """
    bash = f"{_read_command(str(size))}; {_ONESHOT_WATCHDOG}; {_run_command(plain)}"
    return bash_first(bash, posix_oneshot(size))


def tracked_oneshot(size: int, watchdog: int, shell: int, *, plain: bool = False) -> str:
    """Like `watched_oneshot`, without a watchdog of its own when the session's persistent
    shell (pid `shell`) has one that guards oneshots (pid `watchdog`, `_BASH_WATCHDOG`): the
    oneshot checks from /proc that both are still the ones meant (the watchdog a child of the
    shell, the shell a child of this session), then asks the watchdog to note it (SIGUSR2).
    Otherwise it starts its own as `watched_oneshot` does."""
    guarded = (
        f"{{ read -r -a __runbook_a </proc/{watchdog}/stat && [ \"${{__runbook_a[3]}}\" = {shell} ]"
        f" && read -r -a __runbook_a </proc/{shell}/stat && [ \"${{__runbook_a[3]}}\" = \"$PPID\" ]"
        f" && kill -USR2 {watchdog}; }} 2>/dev/null"
    )
    bash = (f"{_read_command(str(size))}; if {guarded}; then unset __runbook_a; "
            f"else {_ONESHOT_WATCHDOG}; fi; {_run_command(plain)}")
    return bash_first(bash, posix_oneshot(size))


#: Bash text starting a oneshot's own watchdog (`watched_oneshot`): it holds the channel's
#: stdin and nothing else.
_ONESHOT_WATCHDOG = (
    "(trap '' TERM INT HUP; p=$$; while read -r _; do :; done; "
    "kill -0 $p || exit 0; kill -TERM -$p; sleep 2; kill -KILL -$p"
    f") <&0 >/dev/null 2>&1 {PROTOCOL_FD}>&- & __runbook_wd=$!; disown"
)


def posix_oneshot(size: int) -> str:
    """A watched oneshot in any POSIX shell (shells other than bash; under sudo, whose stdin
    may be a relay): the POSIX watchdog, `head -c`, and the command in a subshell so that its
    own EXIT trap leaves the watchdog's alone."""
    return f"{WATCHDOG}; {read_script_then_eval(size, subshell=True)}"
