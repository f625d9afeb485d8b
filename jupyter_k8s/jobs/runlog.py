"""Read a job pod's log as the runner wrote it: progress markers, framed output, user log.

The runner (`pod/runner.py`, which cannot import this module) prints marker lines
`##jupyter-k8s## {json}` and, without a shared volume, the executed notebook framed as

    ##jupyter-k8s-output## begin <bytes> <sha256>
    <gzip+base64, 76 characters a line>
    ##jupyter-k8s-output## end

`parse_runner_log` splits a log into those parts and verifies the output's size and sha256, so
a truncated or interleaved log gives a clear `output_error` instead of a corrupt notebook;
`user_lines` gives the rest, what a person wrote or printed (the logs a user reads).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from .live import FINAL_EVENTS, Progress, progress_event

MARKER = "##jupyter-k8s##"
FRAME = "##jupyter-k8s-output##"
FRAME_LINE = 76

_BEGIN = re.compile(rf"{re.escape(FRAME)} begin (\d+) ([0-9a-f]{{64}})")
_END = f"{FRAME} end"
_BASE64 = re.compile(r"[A-Za-z0-9+/=]+")
# `kubectl logs --timestamps` / `timestamps=true`: RFC 3339 with nanoseconds, then a space.
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) ")


@dataclass
class RunnerLog:
    """A parsed runner log."""

    events: list[dict[str, Any]] = field(default_factory=list)
    output: bytes | None = None
    output_error: str | None = None
    user_log: str = ""

    @property
    def final(self) -> dict[str, Any] | None:
        """The last succeeded/failed/cancelled event, if the runner got that far."""
        return next((e for e in reversed(self.events) if e.get("event") in FINAL_EVENTS), None)

    @property
    def progress(self) -> dict[str, Any] | None:
        """What `status.job_info` takes as `runlog_progress`; see `progress_of`."""
        return progress_of(self.events)


def progress_of(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """{"cell", "total", "index", "line", "final"} from events: the last code cell started
    (code cell `cell` of `total`, 1-based, the injected parameters cell counted; `index`, its
    0-based index among all cells; `line`, its first line) and how the run ended (`final`);
    None when no event was seen at all. See `live.progress_event`."""
    if not events:
        return None
    progress = Progress()
    for event in events:
        progress_event(progress, event)
    return progress.as_dict()


def parse_marker(line: str) -> tuple[str, dict[str, Any]] | None:
    """(text before the marker, event) for a marker line; None if the line has no marker.

    The marker may follow other text on the same line: a kernel writing to the same stream
    without a final newline must not hide an event.
    """
    pos = line.find(MARKER + " ")
    if pos < 0:
        return None
    try:
        event = json.loads(line[pos + len(MARKER) + 1 :])
    except ValueError:
        return None
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        return None
    return line[:pos], event


def inflate_verified(packed: bytes, size: int, digest: str, what: str, claimant: str) -> bytes:
    """Gunzip `packed`, never inflating more than the `size` announced (a gzip bomb stops
    here), and check its length and sha256; ValueError says which check failed, naming the
    data (`what`) and who announced it (`claimant`). CPU work: run it in a thread."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(packed, size + 1)
    except zlib.error as exc:
        raise ValueError(f"the {what} is not valid gzip: {exc}") from None
    if len(data) != size or not inflater.eof:
        raise ValueError(f"the {what} has {len(data)} bytes, {claimant} said {size}")
    if hashlib.sha256(data).hexdigest() != digest:
        raise ValueError(f"the {what}'s sha256 does not match {claimant}'s")
    return data


def _decode(declared: int, digest: str, lines: list[str], limit: int | None) -> bytes:
    if limit is not None and declared > limit:
        raise ValueError(f"the executed notebook is {declared} bytes, over the limit of {limit}")
    try:
        packed = base64.b64decode("".join(lines), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the output frame is not valid base64") from None
    return inflate_verified(packed, declared, digest, "output frame", "the frame")


def parse_runner_log(
    text: str, *, max_output_bytes: int | None = None, timestamps: bool = False
) -> RunnerLog:
    """Split a runner log into events, the framed output (verified) and the user's log.

    `timestamps`: the log was fetched with timestamps, strip them. The last complete frame
    wins; an incomplete or corrupt one sets `output_error` and leaves `output` None.
    """
    result = RunnerLog()
    user: list[str] = []
    frame: tuple[int, str] | None = None  # (declared size, sha256) while inside a frame
    data: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if timestamps:
            line = _TIMESTAMP.sub("", line, count=1)
        begin = _BEGIN.fullmatch(line)
        if begin:
            frame, data = (int(begin[1]), begin[2]), []
            continue
        if frame is not None:
            if line == _END:
                data = _keep_frame_lines(data, user)
                try:
                    result.output = _decode(frame[0], frame[1], data, max_output_bytes)
                    result.output_error = None
                except ValueError as exc:
                    result.output, result.output_error = None, str(exc)
                frame = None
                continue
            if len(line) <= FRAME_LINE and _BASE64.fullmatch(line):
                data.append(line)
                continue
        marker = parse_marker(line)
        if marker is not None:
            before, event = marker
            if before.strip():
                user.append(before)
            result.events.append(event)
            continue
        user.append(line)
    if frame is not None:
        result.output = None
        result.output_error = "the output frame is incomplete (the log was cut short)"
    result.user_log = "\n".join(user) + ("\n" if user else "")
    return result


def _keep_frame_lines(lines: list[str], user: list[str]) -> list[str]:
    """Drop short lines that are not the frame's last: another stream's words, not data."""
    kept = []
    for i, line in enumerate(lines):
        if len(line) == FRAME_LINE or i == len(lines) - 1:
            kept.append(line)
        else:
            user.append(line)
    return kept


_FRAME_DATA = re.compile(r"[A-Za-z0-9+/=]{1,76}")


async def user_lines(
    raw_lines: AsyncIterator[bytes], on_cell: Callable[[Progress], None] | None = None
) -> AsyncIterator[str]:
    """The lines a person wrote or printed: runner markers and the output frame removed
    (a cell marker's progress goes to `on_cell`, where given).

    A log read from its middle (tailLines) may start inside the frame: lines that look like
    frame data are held back until it is clear whether an end marker follows them.
    """
    in_frame = False
    held: list[str] | None = []  # None once the start of the log is past any frame
    async for raw in raw_lines:
        line = raw.decode(errors="replace").rstrip("\n")
        if line.startswith(f"{FRAME} begin"):
            in_frame, held = True, None
            continue
        if line.startswith(f"{FRAME} end"):
            in_frame, held = False, None  # what was held was the frame's data
            continue
        if in_frame:
            continue
        if held is not None:
            if _FRAME_DATA.fullmatch(line):
                held.append(line)
                continue
            for earlier in held:
                yield earlier + "\n"
            held = None
        marker = parse_marker(line)
        if marker is not None:
            if marker[0].strip():
                yield marker[0] + "\n"
            if on_cell is not None and marker[1].get("event") == "cell":
                progress = Progress()
                progress_event(progress, marker[1])
                if progress.cell is not None:
                    on_cell(progress)
            continue
        yield line + "\n"
    for earlier in held or []:
        yield earlier + "\n"
