"""Container logs the way the kubelet keeps and serves them.

Files use the CRI format that containerd and CRI-O write, one record per line:

    2024-05-01T12:00:00.123456789Z stdout F the text of one line

`F` ends a line; `P` is a piece of a line longer than 16 KiB that the next record continues.

Files are rotated as the kubelet rotates them (`containerLogMaxSize`, 10 MiB, and
`containerLogMaxFiles`, 5, by default): once the file reaches the size it is renamed to
`<name>.<UTC time>` and a new one is started; the oldest rotated files are removed. Only the
current file is served, as on a real node: a reader that was not following loses what was
rotated away, which is why job outputs must not rely on the whole log (see docs/jobs.md). A
follower that reaches the end of a rotated file goes on in the new one.

`make_log_app` serves `GET /containerLogs/{namespace}/{pod}/{container}` with the options of
the kubelet's `ReadLogs` (follow, tailLines, timestamps, previous, sinceSeconds, sinceTime,
limitBytes, stream), so `kubectl logs` through the API server behaves as on a real node.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import os
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from aiohttp import web

STDOUT = "stdout"
STDERR = "stderr"
MAX_RECORD = 16 * 1024  # containerd's maximum log line size; longer lines become P records
MAX_SIZE = 10 * 1024 * 1024  # the kubelet's containerLogMaxSize default (10Mi)
MAX_FILES = 5  # the kubelet's containerLogMaxFiles default (the current file counts)
POLL_INTERVAL = 0.05  # fallback when no writer in this process notifies us
_READ_CHUNK = 1 << 20

# --- timestamps and records ------------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)


def format_timestamp(ns: int) -> str:
    """RFC3339 with a fixed 9-digit fraction in UTC (the kubelet's RFC3339NanoFixed)."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def parse_timestamp(text: str) -> int:
    """Nanoseconds since the epoch of an RFC3339 time with any fraction and offset."""
    match = _RFC3339.fullmatch(text)
    if not match:
        raise ValueError(f"invalid RFC3339 time {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = (match[7] or "")[:9].ljust(9, "0")
    zone = match[8]
    offset = 0
    if zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        offset = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"invalid RFC3339 time {text!r}") from exc
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        raise ValueError(f"invalid RFC3339 time {text!r}")
    return (seconds - offset) * 1_000_000_000 + int(fraction)


@dataclass(frozen=True)
class LogRecord:
    timestamp_ns: int
    stream: str
    partial: bool
    content: bytes  # without the line's newline

    def text(self) -> bytes:
        """What a reader gets: the content, plus a newline unless the line continues."""
        return self.content if self.partial else self.content + b"\n"


def format_record(record: LogRecord) -> bytes:
    """One line of the log file."""
    tag = b"P" if record.partial else b"F"
    stamp = format_timestamp(record.timestamp_ns).encode()
    return b" ".join((stamp, record.stream.encode(), tag, record.content)) + b"\n"


def parse_record(line: bytes) -> LogRecord | None:
    """A file line back into a record; None for a malformed line (skipped, as the kubelet)."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    if len(parts) == 3:
        parts.append(b"")  # an empty line: "<ts> stdout F" has no trailing space
    stamp, stream, tags, content = parts
    if stream not in (b"stdout", b"stderr"):
        return None
    try:
        ns = parse_timestamp(stamp.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    # Tags may carry more fields after a colon (CRI: "P:foo"); only the first matters.
    partial = tags.split(b":", 1)[0] == b"P"
    return LogRecord(ns, stream.decode(), partial, content)


# --- writing ---------------------------------------------------------------------------------

# Followers in this process wait on these; a writer sets them after each record. Both must
# run on the same event loop (asyncio.Event is not thread-safe); a writer elsewhere is still
# seen, through the POLL_INTERVAL fallback.
_listeners: dict[str, set[asyncio.Event]] = {}


def _listener_key(path: Path) -> str:
    # Writer and follower may name the file differently; a cheap local syscall unifies them.
    return os.path.realpath(path)


def _notify(key: str) -> None:
    for event in _listeners.get(key, ()):
        event.set()


class LogWriter:
    """Appends CRI records for a container's stdout and stderr to one file.

    Every record is a single unbuffered write to an O_APPEND file, so two pumps (stdout and
    stderr) can share a writer without interleaving inside a record, and a reader sees each
    record as soon as it is written.
    """

    def __init__(self, path: Path, max_size: int = MAX_SIZE, max_files: int = MAX_FILES):
        self.path = path
        self.max_size = max_size
        self.max_files = max(2, max_files)  # the kubelet refuses fewer than 2
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = self._open()
        self._size = self._file.seek(0, os.SEEK_END)
        self._key = _listener_key(path)

    def _open(self) -> BinaryIO:
        # 0640 like containerd: logs can hold secrets a process printed.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        return os.fdopen(fd, "wb", buffering=0)

    def _rotate(self) -> None:
        """Rename the full file aside, start a new one, drop the oldest rotated files."""
        assert self._file is not None
        self._file.close()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        aside = self.path.with_name(f"{self.path.name}.{stamp}-{time.time_ns() % 10**9:09d}")
        os.replace(self.path, aside)
        self._file = self._open()
        self._size = 0
        rotated = sorted(self.path.parent.glob(f"{self.path.name}.*"))
        for old in rotated[: max(0, len(rotated) - (self.max_files - 1))]:
            old.unlink(missing_ok=True)

    @property
    def closed(self) -> bool:
        return self._file is None

    def write_record(self, stream: str, content: bytes, partial: bool = False) -> None:
        """Append one record stamped now; ignored once the writer is closed."""
        if self._file is None:
            return
        record = LogRecord(time.time_ns(), stream, partial, content)
        line = format_record(record)
        self._file.write(line)
        self._size += len(line)
        if self._size >= self.max_size:
            self._rotate()
        _notify(self._key)

    async def pump(self, reader: asyncio.StreamReader, stream: str) -> None:
        """Copy `reader` to the log until EOF, one record per line as lines arrive."""
        pending = bytearray()
        while chunk := await reader.read(65536):
            pending += chunk
            self._emit_lines(pending, stream)
            # read() returns at once while the pipe has data: let followers run between
            # chunks, or a fast writer could rotate files under them many times over.
            await asyncio.sleep(0)
        if pending:  # the last line had no newline: still a whole line to readers
            self.write_record(stream, bytes(pending))

    def _emit_lines(self, pending: bytearray, stream: str) -> None:
        """Write every complete line in `pending`, and P records for overlong ones."""
        while True:
            newline = pending.find(b"\n", 0, MAX_RECORD + 1)
            if newline != -1:
                line = bytes(pending[:newline])
                del pending[: newline + 1]
                # Like containerd's bufio.ReadLine, a CRLF line ending loses its CR.
                self.write_record(stream, line.removesuffix(b"\r"))
            elif len(pending) > MAX_RECORD:
                # More than 16 KiB and no newline among them: this piece is a P record.
                self.write_record(stream, bytes(pending[:MAX_RECORD]), partial=True)
                del pending[:MAX_RECORD]
            else:
                return

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            _notify(self._key)

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- reading ---------------------------------------------------------------------------------


@dataclass
class LogTarget:
    path: Path
    running: Callable[[], bool]  # whether the container may still write to `path`


# locate(namespace, pod, container, previous) -> LogTarget; raises LookupError (404) or
# ValueError (400) with the message to return.
Locate = Callable[[str, str, str, bool], LogTarget]


def tail_start(handle: BinaryIO, lines: int, block: int = 4096) -> int:
    """Offset of the last `lines` lines (kubelet's tail.FindTailLineStartIndex)."""
    size = handle.seek(0, os.SEEK_END)
    if lines < 0:
        return 0
    left, count, buf, right = size, 0, b"", size
    while right > 0 and count <= lines:
        left = max(0, right - block)
        handle.seek(left)
        buf = handle.read(right - left)
        count += buf.count(b"\n")
        right = left
    while count > lines:
        cut = buf.index(b"\n") + 1
        buf = buf[cut:]
        left += cut
        count -= 1
    return left


@dataclass
class LogOptions:
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail: int = -1  # -1: all lines
    limit_bytes: int = -1  # -1: no limit
    since_ns: int = 0
    stream: str = "All"  # All, Stdout or Stderr


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _go_bool(value: str) -> bool:
    # apimachinery's query conversion: only "0", "f" and "false" are false, even "" is true.
    return not (value == "0" or value.lower() in ("f", "false"))


def _go_int(name: str, value: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", value):
        raise BadRequest(400, f"Unable to decode query: {name}={value!r} is not an integer")
    return int(value)


def parse_options(query: dict[str, str], now_ns: int) -> LogOptions:
    """PodLogOptions from the query string, validated like ValidatePodLogOptions."""
    query = dict(query)
    if "tail" in query:  # the kubelet's legacy spelling; "all" means no limit
        tail = query.pop("tail")
        if tail != "all":
            query["tailLines"] = tail
    opts = LogOptions(
        follow=_go_bool(query["follow"]) if "follow" in query else False,
        previous=_go_bool(query["previous"]) if "previous" in query else False,
        timestamps=_go_bool(query["timestamps"]) if "timestamps" in query else False,
        stream=query.get("stream", "All"),
    )
    if "tailLines" in query:
        opts.tail = _go_int("tailLines", query["tailLines"])
        if opts.tail < 0:
            raise BadRequest(422, "Invalid request: tailLines must be greater than or equal to 0")
    if "limitBytes" in query:
        opts.limit_bytes = _go_int("limitBytes", query["limitBytes"])
        if opts.limit_bytes < 1:
            raise BadRequest(422, "Invalid request: limitBytes must be greater than 0")
    _parse_since(query, opts, now_ns)
    if opts.stream not in ("All", "Stdout", "Stderr"):
        raise BadRequest(
            422, f"Invalid request: stream {opts.stream!r} is not All, Stdout or Stderr"
        )
    if opts.stream != "All" and "tailLines" in query:
        raise BadRequest(
            422, "Invalid request: tailLines is not supported when a specific stream is requested"
        )
    return opts


def _parse_since(query: dict[str, str], opts: LogOptions, now_ns: int) -> None:
    if "sinceSeconds" in query and "sinceTime" in query:
        raise BadRequest(
            422, "Invalid request: at most one of `sinceTime` or `sinceSeconds` may be specified"
        )
    if "sinceSeconds" in query:
        seconds = _go_int("sinceSeconds", query["sinceSeconds"])
        if seconds < 1:
            raise BadRequest(422, "Invalid request: sinceSeconds must be greater than 0")
        opts.since_ns = now_ns - seconds * 1_000_000_000
    elif "sinceTime" in query:
        try:
            opts.since_ns = parse_timestamp(query["sinceTime"])
        except ValueError as exc:
            raise BadRequest(400, f"Unable to decode query: {exc}") from exc


class _Output:
    """The kubelet's logWriter: filters by time and stream, adds timestamps, counts bytes."""

    def __init__(self, opts: LogOptions):
        self.opts = opts
        self.remain = opts.limit_bytes if opts.limit_bytes > 0 else -1
        self.new_line = True  # whether the next record starts a line (for timestamps)
        self.lines_left = opts.tail if opts.tail >= 0 and not opts.follow else -1

    @property
    def done(self) -> bool:
        return self.remain == 0 or self.lines_left == 0

    def render(self, record: LogRecord) -> bytes:
        """The bytes this record contributes to the response (b"" when filtered out)."""
        out = b""
        wanted = self.opts.stream == "All" or self.opts.stream.lower() == record.stream
        if record.timestamp_ns >= self.opts.since_ns and wanted:
            out = record.text()
            if self.opts.timestamps and self.new_line:
                out = format_timestamp(record.timestamp_ns).encode() + b" " + out
            if self.remain >= 0:
                out = out[: self.remain]
                self.remain -= len(out)
        if self.lines_left > 0:
            self.lines_left -= 1
        # A record that is filtered out still decides where lines begin, as in the kubelet.
        self.new_line = not record.partial
        return out


class _RecordReader:
    """Complete lines of a growing file; a trailing partial line waits for its newline."""

    def __init__(self, handle: BinaryIO):
        self.handle = handle
        self.pending = b""

    def rotated(self, path: Path) -> bool:
        """Whether `path` is no longer the file being read (the writer rotated it)."""
        try:
            now = os.stat(path)
        except FileNotFoundError:
            return False  # between the rename and the new file: not yet
        mine = os.fstat(self.handle.fileno())
        return (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino)

    def read_lines(self) -> list[bytes]:
        data = self.handle.read(_READ_CHUNK)
        if not data:
            return []
        data = self.pending + data
        cut = data.rfind(b"\n") + 1
        self.pending = data[cut:]
        # Split on "\n" only: a record's content may hold "\r" (progress bars), which
        # bytes.splitlines would treat as a line break.
        return [line + b"\n" for line in data[: cut - 1].split(b"\n")] if cut else []

    def rest(self) -> bytes:
        """The unterminated last line, once the writer is known to be done."""
        rest, self.pending = self.pending, b""
        return rest


async def _send_available(
    reader: _RecordReader, out: _Output, resp: web.StreamResponse, final: bool
) -> None:
    """Send every record now in the file; `final` also sends an unterminated last line."""
    while not out.done:
        lines = reader.read_lines()
        if not lines:
            if final and (rest := reader.rest()):
                lines = [rest]
            else:
                return
        chunk = bytearray()
        for line in lines:
            record = parse_record(line)
            if record is not None and not out.done:
                chunk += out.render(record)
        if chunk:
            await resp.write(bytes(chunk))  # one chunk per batch; each goes out at once


async def stream_logs(target: LogTarget, opts: LogOptions, resp: web.StreamResponse) -> None:
    """Write the log of `target` to a prepared response, following it if asked.

    A follower wakes when a LogWriter in this process appends to the file, and polls every
    POLL_INTERVAL otherwise; it ends once the container stopped and the file is drained.
    """
    out = _Output(opts)
    if out.done:  # tailLines=0 without follow: nothing at all
        return
    key = _listener_key(target.path)
    event = asyncio.Event()
    _listeners.setdefault(key, set()).add(event)
    reader: _RecordReader | None = None
    tail = opts.tail
    try:
        while True:
            running = target.running()  # asked before reading, so no last write is missed
            event.clear()
            if reader is None:
                reader = _open_at_tail(target.path, tail)
                tail = -1  # a file that appears later holds only new lines: read it all
            if reader is not None:
                rotated = opts.follow and reader.rotated(target.path)
                await _send_available(
                    reader, out, resp, final=rotated or not (opts.follow and running)
                )
                if rotated and not out.done:
                    # The rest of the old file is sent (a rotation happens between records);
                    # go on from the start of the next one, as the kubelet's follower does.
                    successor = _successor(target.path, reader.handle)
                    reader.handle.close()
                    reader = _open_at_tail(successor, -1)
                    continue
            if out.done or not opts.follow or not running:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), POLL_INTERVAL)
    finally:
        _listeners[key].discard(event)
        if not _listeners[key]:
            del _listeners[key]
        if reader is not None:
            reader.handle.close()


def _successor(path: Path, handle: BinaryIO) -> Path:
    """The file written after the (rotated) one `handle` reads: the next rotated file when
    the writer rotated more than once since, else the current file. When the reader's own file
    is already deleted (more than containerLogMaxFiles behind), the oldest one kept: what was
    in between is lost, as on a real node."""
    mine = os.fstat(handle.fileno())
    rotated = sorted(path.parent.glob(f"{path.name}.*"))
    for index, candidate in enumerate(rotated):
        with contextlib.suppress(FileNotFoundError):
            st = os.stat(candidate)
            if (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
                return rotated[index + 1] if index + 1 < len(rotated) else path
    return rotated[0] if rotated else path


def _open_at_tail(path: Path, tail: int) -> _RecordReader | None:
    """The log file positioned `tail` lines before its end; None while it does not exist."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None  # not written yet: empty so far (a follower waits for it)
    handle.seek(tail_start(handle, tail))
    return _RecordReader(handle)


# --- the HTTP app ----------------------------------------------------------------------------

_LOCATE = web.AppKey[Locate]("locate")  # subscripted: a Callable is not a class to pass


def make_log_app(locate: Locate) -> web.Application:
    """The kubelet's log endpoint (and /healthz); TLS and authentication are the caller's."""
    app = web.Application()
    app[_LOCATE] = locate
    app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", _container_logs)
    app.router.add_get("/healthz", _healthz)
    return app


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def _plain_error(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n", content_type="text/plain")


async def _container_logs(request: web.Request) -> web.StreamResponse:
    info = request.match_info
    try:
        opts = parse_options(dict(request.query), time.time_ns())
    except BadRequest as exc:
        return _plain_error(exc.status, str(exc))
    try:
        target = request.app[_LOCATE](
            info["namespace"], info["pod"], info["container"], opts.previous
        )
    except LookupError as exc:
        return _plain_error(404, _message(exc))
    except ValueError as exc:
        return _plain_error(400, str(exc))
    resp = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    with contextlib.suppress(ConnectionResetError):  # the client went away: just stop
        await stream_logs(target, opts, resp)
        await resp.write_eof()
    return resp


def _message(exc: LookupError) -> str:
    # str(KeyError("x")) is "'x'"; show the message itself.
    return str(exc.args[0]) if exc.args else "not found"


async def serve(
    app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None
) -> web.AppRunner:
    """Start serving `app`; stop it with `await runner.cleanup()`."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    return runner
