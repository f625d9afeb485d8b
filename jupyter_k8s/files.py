"""Writing files of the user's workspace."""

from __future__ import annotations

from pathlib import Path


def write_atomic(target: Path, data: bytes) -> None:
    """Write `data` to `target` so that a reader sees the old file or the whole new one, never
    a part: written beside it as `.<name>.partial` (hidden, in the same folder, so the rename
    stays on one file system) and renamed over it. Makes the folders it needs."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_bytes(data)
    partial.replace(target)
