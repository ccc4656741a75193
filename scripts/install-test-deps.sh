#!/usr/bin/env bash
# Install what the test suite needs: OpenSSH server + client (the SSH test lab, tests/sshlab.py),
# ipmitool (IPMI power tests), openssl (TLS certificates for the Redfish test), sudo (become tests,
# tests/sudolab.py), python3-venv (the README set-up test), chromium (the HTML report is tested in
# a real headless browser), redis-server (lab lock tests, tests/locks, and the multi-site broker,
# tests/sites), inetutils-telnetd, socat and frr (console tests, tests/peers/), and the package
# itself with its `test` extra (pytest, ruff, mypy...).
#
# Idempotent: system packages are only installed when missing. Needs root (or sudo) for apt-get.
# Environment:
#   PYTHON        interpreter to install into (default: python3, else python)
#   CI            when set, pip may install into an "externally managed" system Python (PEP 668)
set -euo pipefail

cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-$(command -v python3 || command -v python || true)}"
if [[ -z "$PYTHON" ]]; then
    echo "install-test-deps: no python3 found; install Python >= 3.11 first" >&2
    exit 1
fi

as_root() {  # root directly, else sudo (scripts/as-root)
    scripts/as-root "$@"
}

missing=()
[[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
command -v ipmitool >/dev/null 2>&1 || missing+=(ipmitool)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)  # Redfish TLS test certificates
command -v sudo >/dev/null 2>&1 && command -v visudo >/dev/null 2>&1 || missing+=(sudo)  # become
command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # HTML report, headless browser tests
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)  # lock and multi-site tests
# tests/test_readme.py runs the README's first set-up command, which needs `python3 -m venv`
if command -v dpkg-query >/dev/null 2>&1 && [[ -x /usr/bin/python3 ]]; then
    dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q "ok installed" \
        || missing+=(python3-venv)
fi
# console tests (tests/peers): a telnet daemon, a serial line made by socat, FRRouting's CLI
[[ -x /usr/sbin/telnetd ]] || missing+=(inetutils-telnetd)
command -v socat >/dev/null 2>&1 || missing+=(socat)
[[ -x /usr/lib/frr/zebra && -x /usr/bin/vtysh ]] || missing+=(frr)

if ((${#missing[@]})); then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install-test-deps: missing ${missing[*]} and no apt-get here;" \
             "install them with your system's package manager" >&2
        exit 1
    fi
    echo "install-test-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

pip_args=(install -q -e '.[test]')
externally_managed="$("$PYTHON" - <<'PY'
import os, sys, sysconfig
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
print(int(os.path.exists(marker) and sys.prefix == sys.base_prefix))
PY
)"
if [[ "$externally_managed" == 1 ]]; then
    if [[ -n "${CI:-}" ]]; then
        pip_args+=(--break-system-packages)
    else
        echo "install-test-deps: $PYTHON is the system's externally managed Python;" \
             "activate a virtualenv first (. scripts/venv.sh)," \
             "or rerun with CI=1 to install into the system Python anyway" >&2
        exit 1
    fi
fi
"$PYTHON" -m pip "${pip_args[@]}"
echo "install-test-deps: done ($("$PYTHON" --version), $(/usr/sbin/sshd -V 2>&1 | head -n1 || true))"
