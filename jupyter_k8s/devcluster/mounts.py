"""Mounts a local cluster's processes may have left on the host."""

from __future__ import annotations

import subprocess
from pathlib import Path


def unmount_under(root: Path) -> None:
    """Lazily unmount whatever is mounted below `root` in this mount namespace, deepest first.

    The node agent's pods and the real node keep their mounts in mount namespaces of their
    own; this catches any that leaked onto the host."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    prefix = str(root) + "/"
    for line in reversed(mounts):
        target = line.split()[1]
        if target.startswith(prefix):
            subprocess.run(["umount", "-l", target], capture_output=True)
