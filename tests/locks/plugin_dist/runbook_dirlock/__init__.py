"""A third-party lock backend: the file backend's leases, in a folder the lab must name.

```yaml
lock: {type: dirlock, folder: /srv/lab-locks, mode: strict}
```
"""

from __future__ import annotations

from typing import Literal

from runbook.locks.file_backend import FileLockBackend


class DirLockBackend(FileLockBackend):
    """Leases under `folder/<namespace>/`; `mode` only shows that settings are type-checked."""

    type_name = "dirlock"

    def __init__(self, namespace: str, folder: str,
                 mode: Literal["strict", "lenient"] = "strict") -> None:
        super().__init__(namespace, path=folder)
        self.mode = mode

    def describe(self) -> str:
        return f"dirlock leases in {self.folder} ({self.mode})"
