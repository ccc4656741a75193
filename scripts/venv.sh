# Create (when missing) and activate the virtualenv `.venv` of this checkout.
#
# Source it from the repository root, in any POSIX shell:   . scripts/venv.sh
# so the activation stays in your shell (the README's set-up commands start with it). A system
# Python that is "externally managed" (PEP 668, Debian 12 and later) refuses `pip install`
# outside a virtualenv; inside this one pip, `python` and `runbook` are the venv's.
#
# Debian/Ubuntu ship `python3 -m venv` without pip unless the package python3-venv is
# installed: when creating the venv fails, that package is installed with apt-get (as root,
# or through sudo) and the venv is completed. An existing .venv is reused, never deleted.
# Environment: PYTHON, the interpreter to create the venv with (default python3); once the
# venv is active, a PYTHON that was set names the venv's python.
# Sourced file: no `exit` and no `set -e` here, they would act on your shell.

_runbook_venv() {
    if [ ! -f scripts/venv.sh ]; then
        echo "venv.sh: source it from the repository root (. scripts/venv.sh)" >&2
        return 1
    fi
    _runbook_python=${PYTHON:-python3}
    if ! command -v "$_runbook_python" >/dev/null 2>&1; then
        echo "venv.sh: $_runbook_python not found; install Python >= 3.11 first" >&2
        return 1
    fi
    if [ ! -x .venv/bin/python ] || ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
        echo "venv.sh: creating the virtualenv .venv" >&2
        if ! "$_runbook_python" -m venv .venv >/dev/null 2>&1; then
            if ! command -v apt-get >/dev/null 2>&1; then
                "$_runbook_python" -m venv .venv  # again, to show why it fails
                return 1
            fi
            echo "venv.sh: installing python3-venv (needed by python3 -m venv)" >&2
            scripts/as-root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null \
                && scripts/as-root env DEBIAN_FRONTEND=noninteractive \
                    apt-get install -y -q --no-install-recommends python3-venv >/dev/null \
                && "$_runbook_python" -m venv .venv || return 1
        fi
    fi
    . .venv/bin/activate || return 1
    if [ -n "${PYTHON:-}" ]; then
        PYTHON="$VIRTUAL_ENV/bin/python"
    fi
    return 0
}

_runbook_venv
_runbook_status=$?
unset -f _runbook_venv
unset _runbook_python
[ "$_runbook_status" -eq 0 ]
