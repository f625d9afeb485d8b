"""CRI log files and the kubelet-style containerLogs endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from jupyter_k8s.devcluster.agent.logs import (
    MAX_RECORD,
    BadRequest,
    LogRecord,
    LogTarget,
    LogWriter,
    format_record,
    format_timestamp,
    make_log_app,
    parse_options,
    parse_record,
    parse_timestamp,
    serve,
    tail_start,
)

SECOND = 1_000_000_000


def read_records(path: Path) -> list[LogRecord]:
    records = [parse_record(line) for line in path.read_bytes().splitlines(keepends=True)]
    assert all(r is not None for r in records)
    return [r for r in records if r is not None]


def append(path: Path, *records: LogRecord) -> None:
    with path.open("ab") as handle:
        for record in records:
            handle.write(format_record(record))


# --- format ---------------------------------------------------------------------------------


def test_timestamp_format_is_fixed_nanoseconds() -> None:
    assert format_timestamp(0) == "1970-01-01T00:00:00.000000000Z"
    assert format_timestamp(1_700_000_000 * SECOND + 120) == "2023-11-14T22:13:20.000000120Z"


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2023-11-14T22:13:20Z", 1_700_000_000 * SECOND),
        ("2023-11-14T22:13:20.5Z", 1_700_000_000 * SECOND + SECOND // 2),
        ("2023-11-14T22:13:20.000000120Z", 1_700_000_000 * SECOND + 120),
        ("2023-11-14T22:13:20.0000001209Z", 1_700_000_000 * SECOND + 120),  # > 9 digits cut
        ("2023-11-14T23:13:20+01:00", 1_700_000_000 * SECOND),
        ("2023-11-14t21:13:20-01:00", 1_700_000_000 * SECOND),
    ],
)
def test_parse_timestamp(text: str, ns: int) -> None:
    assert parse_timestamp(text) == ns


@pytest.mark.parametrize(
    "bad", ["", "2023-11-14", "2023-11-14T22:13:20", "2023-13-01T00:00:00Z", "now"]
)
def test_parse_timestamp_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid RFC3339"):
        parse_timestamp(bad)


@pytest.mark.parametrize(
    "record",
    [
        LogRecord(1_700_000_000 * SECOND + 1, "stdout", False, b"hello world"),
        LogRecord(5, "stderr", True, b"  spaces  kept \r"),
        LogRecord(7, "stdout", False, b""),
        LogRecord(9, "stdout", False, "ünïcode".encode()),
    ],
)
def test_record_round_trip(record: LogRecord) -> None:
    line = format_record(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert parse_record(line) == record


def test_record_layout() -> None:
    line = format_record(LogRecord(0, "stdout", True, b"x y"))
    assert line == b"1970-01-01T00:00:00.000000000Z stdout P x y\n"


@pytest.mark.parametrize(
    "line",
    [b"garbage\n", b"2023-11-14T22:13:20Z stdin F x\n", b"yesterday stdout F x\n", b"\n"],
)
def test_parse_record_skips_malformed(line: bytes) -> None:
    assert parse_record(line) is None


def test_parse_record_accepts_other_runtimes() -> None:
    # containerd trims trailing zeros (RFC3339Nano); tags may carry ":"-separated extras.
    record = parse_record(b"2023-11-14T22:13:20.5Z stderr P:x text\n")
    assert record == LogRecord(1_700_000_000 * SECOND + SECOND // 2, "stderr", True, b"text")


# --- writing --------------------------------------------------------------------------------


async def pump(writer: LogWriter, stream: str, *chunks: bytes) -> None:
    reader = asyncio.StreamReader()
    task = asyncio.create_task(writer.pump(reader, stream))
    for chunk in chunks:
        reader.feed_data(chunk)
        await asyncio.sleep(0)
    reader.feed_eof()
    await task


@pytest.mark.asyncio
async def test_pump_lines_and_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "c" / "0.log"
    with LogWriter(path) as writer:
        await pump(writer, "stdout", b"one\ntw", b"o\r\n\nthree")
    records = read_records(path)
    assert [(r.stream, r.partial, r.content) for r in records] == [
        ("stdout", False, b"one"),
        ("stdout", False, b"two"),  # CRLF loses its CR, like containerd
        ("stdout", False, b""),
        ("stdout", False, b"three"),  # unterminated at EOF: still a full line
    ]
    assert records == sorted(records, key=lambda r: r.timestamp_ns)


@pytest.mark.asyncio
async def test_pump_splits_long_lines(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    long = bytes(range(65, 91)) * 1600  # 41600 bytes
    exact = b"x" * MAX_RECORD
    with LogWriter(path) as writer:
        await pump(writer, "stdout", long + b"\n", exact, b"\n", b"y" * (MAX_RECORD + 1))
    records = read_records(path)
    assert [(len(r.content), r.partial) for r in records] == [
        (MAX_RECORD, True),
        (MAX_RECORD, True),
        (41600 - 2 * MAX_RECORD, False),
        (MAX_RECORD, False),  # exactly 16 KiB and then a newline: one whole record
        (MAX_RECORD, True),
        (1, False),
    ]
    assert b"".join(r.content for r in records[:3]) == long


@pytest.mark.asyncio
async def test_two_pumps_share_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    out_lines = [f"out {i}".encode() for i in range(200)]
    err_lines = [f"err {i}".encode() for i in range(200)]
    with LogWriter(path) as writer:
        await asyncio.gather(
            pump(writer, "stdout", *(line + b"\n" for line in out_lines)),
            pump(writer, "stderr", *(line + b"\n" for line in err_lines)),
        )
    records = read_records(path)
    assert [r.content for r in records if r.stream == "stdout"] == out_lines
    assert [r.content for r in records if r.stream == "stderr"] == err_lines


def test_writer_after_close_is_a_no_op(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path / "0.log")
    writer.write_record("stdout", b"kept")
    writer.close()
    writer.close()
    writer.write_record("stdout", b"dropped")
    assert [r.content for r in read_records(tmp_path / "0.log")] == [b"kept"]


# --- tail and options -----------------------------------------------------------------------


@pytest.mark.parametrize("block", [2, 3, 4096])
@pytest.mark.parametrize(("lines", "offset"), [(-1, 0), (0, 6), (1, 4), (2, 2), (3, 0), (9, 0)])
def test_tail_start(block: int, lines: int, offset: int) -> None:
    assert tail_start(io.BytesIO(b"a\nb\nc\n"), lines, block) == offset


def test_parse_options_defaults_and_go_bools() -> None:
    opts = parse_options({}, 0)
    assert (opts.follow, opts.previous, opts.timestamps, opts.tail, opts.limit_bytes) == (
        False,
        False,
        False,
        -1,
        -1,
    )
    opts = parse_options({"follow": "", "timestamps": "1", "previous": "F"}, 0)
    assert (opts.follow, opts.timestamps, opts.previous) == (True, True, False)
    assert parse_options({"tail": "all"}, 0).tail == -1
    assert parse_options({"tail": "3"}, 0).tail == 3
    assert parse_options({"sinceSeconds": "10"}, 100 * SECOND).since_ns == 90 * SECOND


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"tailLines": "-1"}, 422),
        ({"tailLines": "abc"}, 400),
        ({"limitBytes": "0"}, 422),
        ({"sinceSeconds": "0"}, 422),
        ({"sinceSeconds": "1", "sinceTime": "2023-11-14T22:13:20Z"}, 422),
        ({"sinceTime": "yesterday"}, 400),
        ({"stream": "Both"}, 422),
        ({"stream": "Stdout", "tailLines": "1"}, 422),
    ],
)
def test_parse_options_rejects(query: dict[str, str], status: int) -> None:
    with pytest.raises(BadRequest) as err:
        parse_options(query, 0)
    assert err.value.status == status


# --- the endpoint ---------------------------------------------------------------------------


class Node:
    """Containers by (namespace, pod, container, previous) for `locate`."""

    def __init__(self, tmp_path: Path):
        self.dir = tmp_path
        self.targets: dict[tuple[str, str, str, bool], LogTarget] = {}
        self.running = False

    def add(self, container: str, previous: bool = False) -> Path:
        path = self.dir / f"{container}-{int(previous)}.log"
        running = (lambda: self.running) if not previous else (lambda: False)
        self.targets[("ns", "pod", container, previous)] = LogTarget(path, running)
        return path

    def locate(self, namespace: str, pod: str, container: str, previous: bool) -> LogTarget:
        if container == "waiting":
            raise ValueError(f'container "{container}" in pod "{pod}" is waiting to start')
        try:
            return self.targets[(namespace, pod, container, previous)]
        except KeyError:
            if previous:
                raise ValueError(
                    f'previous terminated container "{container}" in pod "{pod}" not found'
                ) from None
            raise LookupError(f'container "{container}" not found in pod "{pod}"') from None


@contextlib.asynccontextmanager
async def serving(node: Node) -> AsyncIterator[tuple[ClientSession, str]]:
    server = TestServer(make_log_app(node.locate))
    await server.start_server()
    try:
        async with ClientSession() as session:
            yield session, str(server.make_url("/containerLogs/ns/pod"))
    finally:
        await server.close()


async def get_text(session: ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as resp:
        return resp.status, await resp.text()


def sample(path: Path, now: int) -> None:
    append(
        path,
        LogRecord(now - 3600 * SECOND, "stdout", False, b"an hour ago"),
        LogRecord(now - 30 * SECOND, "stderr", False, b"half a minute ago"),
        LogRecord(now - 2 * SECOND, "stdout", True, b"long "),
        LogRecord(now - 1 * SECOND, "stdout", False, b"line"),
    )


@pytest.mark.asyncio
async def test_plain_tail_and_timestamps(tmp_path: Path) -> None:
    node = Node(tmp_path)
    now = time.time_ns()
    sample(node.add("main"), now)
    async with serving(node) as (session, base):
        assert await get_text(session, f"{base}/main") == (
            200,
            "an hour ago\nhalf a minute ago\nlong line\n",
        )
        # tailLines counts file records, as the kubelet does (P pieces included).
        assert (await get_text(session, f"{base}/main?tailLines=2"))[1] == "long line\n"
        assert (await get_text(session, f"{base}/main?tailLines=3"))[1] == (
            "half a minute ago\nlong line\n"
        )
        assert (await get_text(session, f"{base}/main?tailLines=0"))[1] == ""
        _, text = await get_text(session, f"{base}/main?timestamps=true&tailLines=3")
        first = format_timestamp(now - 30 * SECOND)
        joined = format_timestamp(now - 2 * SECOND)  # a joined line shows its first stamp
        assert text == f"{first} half a minute ago\n{joined} long line\n"


@pytest.mark.asyncio
async def test_since_limit_and_stream(tmp_path: Path) -> None:
    node = Node(tmp_path)
    now = time.time_ns()
    sample(node.add("main"), now)
    async with serving(node) as (session, base):
        assert (await get_text(session, f"{base}/main?sinceSeconds=60"))[1] == (
            "half a minute ago\nlong line\n"
        )
        since = format_timestamp(now - 10 * SECOND)
        assert (await get_text(session, f"{base}/main?sinceTime={since}"))[1] == "long line\n"
        assert (await get_text(session, f"{base}/main?limitBytes=5"))[1] == "an ho"
        assert (await get_text(session, f"{base}/main?limitBytes=14"))[1] == "an hour ago\nha"
        assert (await get_text(session, f"{base}/main?stream=Stderr"))[1] == "half a minute ago\n"
        assert (await get_text(session, f"{base}/main?stream=Stdout"))[1] == (
            "an hour ago\nlong line\n"
        )


@pytest.mark.asyncio
async def test_previous_and_errors(tmp_path: Path) -> None:
    node = Node(tmp_path)
    append(node.add("main"), LogRecord(1, "stdout", False, b"current"))
    append(node.add("main", previous=True), LogRecord(1, "stdout", False, b"crashed"))
    node.add("new")  # no file yet: empty, not an error
    async with serving(node) as (session, base):
        assert await get_text(session, f"{base}/main?previous=true") == (200, "crashed\n")
        assert await get_text(session, f"{base}/new") == (200, "")
        assert await get_text(session, f"{base}/new?follow=true") == (200, "")  # not running
        assert await get_text(session, f"{base}/nope") == (
            404,
            'container "nope" not found in pod "pod"\n',
        )
        assert await get_text(session, f"{base}/new?previous=true") == (
            400,
            'previous terminated container "new" in pod "pod" not found\n',
        )
        status, text = await get_text(session, f"{base}/waiting")
        assert (status, text) == (400, 'container "waiting" in pod "pod" is waiting to start\n')
        assert (await get_text(session, f"{base}/main?tailLines=-1"))[0] == 422
        assert (await get_text(session, f"{base}/main?limitBytes=x"))[0] == 400
        async with session.get(base.replace("/containerLogs/ns/pod", "/healthz")) as resp:
            assert (resp.status, await resp.text()) == (200, "ok")


@pytest.mark.asyncio
async def test_follow_streams_new_lines_promptly(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.running = True
    writer = LogWriter(node.add("main"))
    writer.write_record("stdout", b"before")
    loop = asyncio.get_running_loop()
    async with serving(node) as (session, base), session.get(f"{base}/main?follow=true") as resp:
        assert resp.status == 200
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        assert await asyncio.wait_for(resp.content.readline(), 2) == b"before\n"
        for i in range(3):
            started = loop.time()
            writer.write_record("stdout", f"line {i}".encode())
            assert await asyncio.wait_for(resp.content.readline(), 2) == f"line {i}\n".encode()
            assert loop.time() - started < 0.1
        await pump(writer, "stderr", b"from a pump\npartial at exit")
        assert await asyncio.wait_for(resp.content.readline(), 2) == b"from a pump\n"
        assert await asyncio.wait_for(resp.content.readline(), 2) == b"partial at exit\n"
        node.running = False
        writer.close()
        assert await asyncio.wait_for(resp.content.read(), 2) == b""  # the stream ends


@pytest.mark.asyncio
async def test_follow_sees_writes_from_elsewhere_by_polling(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.running = True
    path = node.add("main")
    loop = asyncio.get_running_loop()
    async with serving(node) as (session, base):
        async with session.get(f"{base}/main?follow=true&timestamps=true&tailLines=0") as resp:
            await asyncio.sleep(0.1)  # the follower is waiting for a file that does not exist
            started = loop.time()
            append(path, LogRecord(7, "stdout", False, b"written by someone else"))
            line = await asyncio.wait_for(resp.content.readline(), 2)
            assert line == f"{format_timestamp(7)} written by someone else\n".encode()
            assert loop.time() - started < 0.5
            # A half-written record waits for its newline.
            with path.open("ab") as handle:
                handle.write(format_record(LogRecord(8, "stdout", False, b"half"))[:-3])
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(resp.content.readline(), 0.2)
            with path.open("ab") as handle:
                handle.write(b"lf\n")
            assert await asyncio.wait_for(resp.content.readline(), 2) == (
                f"{format_timestamp(8)} half\n".encode()
            )
            node.running = False
            assert await asyncio.wait_for(resp.content.read(), 2) == b""


@pytest.mark.asyncio
async def test_follow_with_limit_bytes_ends_at_the_limit(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.running = True
    writer = LogWriter(node.add("main"))
    async with serving(node) as (session, base):
        async with session.get(f"{base}/main?follow=true&limitBytes=8") as resp:
            writer.write_record("stdout", b"12345")
            writer.write_record("stdout", b"67890")
            assert await asyncio.wait_for(resp.content.read(), 2) == b"12345\n67"
    writer.close()


@pytest.mark.asyncio
async def test_serve(tmp_path: Path) -> None:
    node = Node(tmp_path)
    runner = await serve(make_log_app(node.locate), "127.0.0.1", 0, None)
    try:
        host, port = runner.addresses[0][:2]
        async with ClientSession() as session, session.get(f"http://{host}:{port}/healthz") as resp:
            assert await resp.text() == "ok"
    finally:
        await runner.cleanup()
