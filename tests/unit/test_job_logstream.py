"""The resumed log follower: timestamps as numbers, and no line lost or shown twice when a
stream breaks (the breaking itself is injected for real in test_jobs_faults_many.py)."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_k8s.jobs.logstream import Resumes, follow_pod_log, since_time, stamp_ns
from jupyter_k8s.k8s.client import Unreachable


def test_timestamps_compare_as_numbers_whatever_their_fraction_digits():
    assert stamp_ns(b"2026-11-29T13:00:00.5Z") > stamp_ns(b"2026-11-29T13:00:00.123Z")
    assert stamp_ns(b"2026-11-29T13:00:00Z") == 1_795_957_200 * 10**9
    assert stamp_ns(b"2026-11-29T13:00:00.000000001Z") == 1_795_957_200 * 10**9 + 1
    assert stamp_ns(b"hello") is None
    assert stamp_ns(b"2026-11-29T13:00:00.x1Z") is None
    assert since_time(stamp_ns(b"2026-11-29T13:00:00.999Z")) == "2026-11-29T13:00:00Z"


def running_pod(running: bool) -> dict[str, Any]:
    state = {"running": {}} if running else {"terminated": {"exitCode": 0}}
    return {"status": {"containerStatuses": [{"name": "runner", "state": state}]}}


class Breaking:
    """A client whose log streams serve `reads` in turn: each a list of lines, or an error
    raised after them (a cut stream). The container runs until the last read is served."""

    def __init__(self, reads: list[tuple[list[bytes], Exception | None]]):
        self.reads = reads
        self.params: list[dict[str, Any]] = []

    async def stream_lines(self, path: str, params: dict[str, Any], read_timeout=None):
        self.params.append(dict(params))
        lines, error = self.reads.pop(0)
        for line in lines:
            yield line
        if error is not None:
            raise error

    async def get(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        return running_pod(bool(self.reads))


def line(second: int, fraction: str, text: str) -> bytes:
    return f"2026-11-29T13:00:{second:02d}.{fraction}Z {text}\n".encode()


async def collect(client: Breaking, **kw: Any) -> list[bytes]:
    return [
        x
        async for x in follow_pod_log(client, "ns", "pod", "runner", **kw)  # type: ignore[arg-type]
    ]


@pytest.mark.asyncio
async def test_a_cut_stream_resumes_from_the_last_second_without_repeats(monkeypatch):
    monkeypatch.setattr("asyncio.sleep", _no_sleep)
    a, b, c = line(1, "1", "a"), line(1, "1", "b"), line(1, "5", "c")  # a and b: same time
    d = line(2, "0", "d")
    client = Breaking(
        [
            ([a], Unreachable("cut")),  # broke after a; b has the same timestamp
            ([a, b, c], Unreachable("cut again")),  # the API server's second shows a again
            ([a, b, c, d], None),  # and then it ends with the container
        ]
    )
    got = await collect(client, tail=5)
    assert got == [b"a\n", b"b\n", b"c\n", b"d\n"]
    assert client.params[0]["tailLines"] == 5 and "sinceTime" not in client.params[0]
    assert client.params[1]["sinceTime"] == "2026-11-29T13:00:01Z"
    assert "tailLines" not in client.params[1]


@pytest.mark.asyncio
async def test_failures_in_a_row_give_up_after_the_resume_window(monkeypatch):
    monkeypatch.setattr("asyncio.sleep", _no_sleep)
    client = Breaking([([], Unreachable("down"))] * 50)
    with pytest.raises(Unreachable, match="could not be read again"):
        await collect(client, resume_seconds=0)


async def _no_sleep(_seconds: float) -> None:
    return None


async def test_resumes_back_off_doubling_reset_by_a_read_with_lines_then_give_up(monkeypatch):
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("jupyter_k8s.jobs.logstream.asyncio.sleep", sleep)
    resumes = Resumes("pod-1", limit_seconds=3600)
    for _ in range(6):
        await resumes.wait(False, "cut", "log")
    await resumes.wait(True, "cut", "log")  # that read got lines: from 0.5 s again
    assert slept == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 0.5]
    giving_up = Resumes("pod-2", limit_seconds=-1)  # failing longer than allowed
    with pytest.raises(Unreachable, match="the log of pod pod-2 could not be read again: 503"):
        await giving_up.wait(False, "503", "log")
