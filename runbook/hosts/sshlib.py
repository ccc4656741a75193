"""`asyncssh` for the modules that use it at run time: imported on first use, without the
linker probes its import runs by default.

Importing asyncssh looks for liboqs (post-quantum key exchange) with
`ctypes.util.find_library`, which on Linux asks the linker's cache (`ldconfig -p`) and,
when liboqs is not there, compiles a test program with gcc (gcc, collect2, ld) and then runs
ld, for each of two names: 10 processes and 25-37 ms on every `runbook apply` where gcc is
installed, all before the first connection (docs/performance.md, session 11). Here the
lookup asks the linker's cache only, which is where an installed liboqs is found (the
dynamic loader itself looks there). With LD_LIBRARY_PATH set, or on a Python without that
cache lookup, asyncssh is imported as it is by default, since a liboqs may then be where
only the full search finds it.

Modules write, as for any lazy module (`runbook._lazyimport`):

    if TYPE_CHECKING:
        import asyncssh
    else:
        from runbook.hosts.sshlib import asyncssh
"""

from __future__ import annotations

import os
import sys
import threading
from types import ModuleType
from typing import Any

from runbook._lazyimport import lazy_module

#: One import at a time: a thread that asks while another imports waits for the whole module
#: (never a partly initialised one), and `find_library` is swapped and restored by one only.
_IMPORTING = threading.Lock()


def import_asyncssh() -> ModuleType:
    """The asyncssh module, imported (once) with liboqs looked for in the linker's cache only.

    Thread-safe: a `runbook worker` runs several runs in one process, and two of them may
    connect for the first time at once."""
    with _IMPORTING:
        import ctypes.util

        cache_lookup = getattr(ctypes.util, "_findSoname_ldconfig", None)
        if "asyncssh" in sys.modules or cache_lookup is None or os.environ.get("LD_LIBRARY_PATH"):
            import asyncssh  # already there (or being imported elsewhere: this waits for it)

            return asyncssh
        find_library = ctypes.util.find_library
        ctypes.util.find_library = cache_lookup
        try:
            import asyncssh
        finally:
            ctypes.util.find_library = find_library
        return asyncssh


asyncssh: Any = lazy_module("asyncssh", import_asyncssh)
