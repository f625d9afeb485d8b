"""Jobs as text for people: status lines, durations, tables, the progress line on a terminal.

The `%k8s_submit` magic shows the same status line (`status_line`, `StatusChanges`) in its
cell output; the rest is for the terminal.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel

from ..jobs.live import Progress as CellProgress
from ..jobs.live import progress_line
from ..jobs.models import JobInfo, JobPhase, Provenance


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def age_text(when: datetime | None, now: datetime | None = None) -> str:
    if when is None:
        return "-"
    now = now or datetime.now(UTC)
    s = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def cell_text(info: JobInfo) -> str:
    if info.current_cell is None:
        return "-"
    return f"{info.current_cell}/{info.total_cells}" if info.total_cells else str(info.current_cell)


def status_line(info: JobInfo) -> str:
    """One line: 'Pending: Unschedulable: 0/1 nodes ...', 'Running: cell 3/7', 'Failed: ...'."""
    parts = [info.phase.value]
    # A message that starts with its reason says it once ("Pending: Queued in gpu: ...").
    if info.reason and info.reason not in ("Cancelled",):
        if not (info.message or "").startswith(info.reason):
            parts.append(info.reason)
    if info.message and info.phase != JobPhase.SUCCEEDED:
        parts.append(" ".join(info.message.split()))  # one line, whatever the message holds
    if info.phase == JobPhase.RUNNING and info.current_cell is not None:
        parts.append(f"cell {cell_text(info)}")
    if info.phase.finished and info.output_state == "pending":
        parts.append("collecting the executed notebook")
    return ": ".join(parts)


def status_text(info: JobInfo) -> str:
    """The STATUS column of the job list: 'Failed (OOMKilled)'."""
    if info.reason and info.reason != info.phase.value:
        return f"{info.phase.value} ({info.reason})"
    return info.phase.value


def provenance_fields(p: Provenance) -> list[tuple[str, str]]:
    """The provenance stamp as (label, value) rows for `jupyter k8s status` (unset left out)."""
    rows = [
        (
            "Outcome",
            p.outcome.value if p.reason == p.outcome.value else f"{p.outcome.value} ({p.reason})",
        )
    ]
    rows += [("Image digest", p.image_digest or "-"), ("Node", p.node or "-")]
    if p.gpu_count:
        product = f" ({p.gpu_product})" if p.gpu_product else ""
        rows.append(("GPUs", f"{p.gpu_count} x {p.gpu_resource}{product}"))
        rows.append(("GPU-hours", f"{p.gpu_hours:.4f}"))
    rows.append(("Duration", duration_text(p.duration_seconds)))
    if p.cost is not None:
        rows.append(("Cost", f"{p.cost:.4f} ({p.cost_per_hour:g} per hour)"))
    return rows


class StatusChanges:
    """Feed it every JobInfo; it answers the status line when that changed, else None.

    Between the pod's end and the Job's Complete/Failed condition the job reads as Pending
    again for a moment (no pod runs, no condition yet): that blip is not shown.
    """

    def __init__(self) -> None:
        self.last: str | None = None
        self._ran = False

    def __call__(self, info: JobInfo) -> str | None:
        if info.phase == JobPhase.RUNNING:
            self._ran = True
        elif info.phase == JobPhase.PENDING and self._ran and not info.reason:
            return None
        line = status_line(info)
        if line == self.last:
            return None
        self.last = line
        return line


def print_json(value: BaseModel | Sequence[BaseModel]) -> None:
    """A model, or a list of them, as the indented JSON `--json` prints."""
    if isinstance(value, BaseModel):
        data: Any = value.model_dump(mode="json")
    else:
        data = [v.model_dump(mode="json") for v in value]
    print(json.dumps(data, indent=2))


def isatty(stream: TextIO | None = None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """Job states on stderr: a line per change, or one line updated in place on a terminal."""

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None):
        self.stream = sys.stderr if stream is None else stream
        self.tty = isatty(self.stream) if tty is None else tty
        self.changes = StatusChanges()
        self._open = False

    def __call__(self, info: JobInfo) -> None:
        line = self.changes(info)
        if line is None:
            return
        if self.tty:
            width = max(20, shutil.get_terminal_size().columns - 1)
            text = line if len(line) <= width else line[: width - 1] + "…"
            self.stream.write(f"\r\x1b[K{text}")
            self._open = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        """End the line being updated, so that what follows starts on a line of its own."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


class CellLines:
    """`--follow`'s cell progress: "cell 3/5: for epoch in range(10):" on stderr as each code
    cell starts, once per cell and in order (a log read again after a cut stream repeats its
    markers; those are not printed twice). stdout is flushed first, so that on a terminal the
    line comes between the log lines it came between."""

    def __init__(self, stream: TextIO | None = None, out: TextIO | None = None):
        self.stream = sys.stderr if stream is None else stream
        self.out = sys.stdout if out is None else out
        self.last = 0

    def __call__(self, progress: CellProgress) -> None:
        if progress.cell is None or progress.cell <= self.last:
            return
        self.last = progress.cell
        text = progress_line(progress.cell, progress.total, progress.line)
        self.out.flush()
        self.stream.write(f"{text}\n")
        self.stream.flush()


def table(rows: list[list[str]]) -> str:
    """Rows as left-aligned columns two spaces apart (the first row is the header)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def shown_path(root_dir: Path, relative: str) -> str:
    """A path under the root folder as the user sees it: relative to the working directory."""
    return os.path.relpath(root_dir / relative)
