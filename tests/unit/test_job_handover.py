"""The hand-over of outputs too large for the pod log: the runner's side (a real HTTP server
on 127.0.0.1, fetched by the server's real client) and the checks on what the pod announces."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest

from jupyter_k8s.jobs.handover import (
    HandoverError,
    fetch_held_output,
    handover_key,
    handover_token,
    held_size,
    inflate,
)
from jupyter_k8s.pod import runner


def test_the_key_is_made_once_private_and_kept(tmp_path: Path):
    key = handover_key(tmp_path / "data")
    assert len(key) == 32
    path = tmp_path / "data" / "jupyter-k8s-handover.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert handover_key(tmp_path / "data") == key
    token = handover_token(key, "ns", "nb-a-1")
    assert token == handover_token(key, "ns", "nb-a-1") != handover_token(key, "ns", "nb-a-2")


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"bytes": 10}, "malformed"),
        ({"bytes": 99, "sha256": "0" * 64, "compressed": 10, "port": 1}, "over the limit"),
        ({"bytes": 10, "sha256": "0" * 64, "compressed": 10**6, "port": 1}, "implausible"),
        ({"bytes": 10, "sha256": "zz", "compressed": 10, "port": 1}, "sha256"),
        ({"bytes": 10, "sha256": "0" * 64, "compressed": 10, "port": 70000}, "port"),
    ],
)
def test_what_the_pod_announces_is_checked(event, message):
    with pytest.raises(HandoverError, match=message):
        held_size(event, limit=50)


def test_inflate_never_goes_past_the_announced_size():
    data = b"x" * 10_000
    packed = gzip.compress(data)
    assert inflate(packed, len(data), hashlib.sha256(data).hexdigest()) == data
    with pytest.raises(HandoverError, match="has 101 bytes, the runner said 100"):
        inflate(packed, 100, hashlib.sha256(data).hexdigest())
    with pytest.raises(HandoverError, match="sha256"):
        inflate(packed, len(data), "0" * 64)


def hold_in_thread(data: bytes, handover: dict, result: list) -> threading.Thread:
    packed = gzip.compress(data, mtime=0)
    thread = threading.Thread(
        target=lambda: result.append(runner.hold_output(data, packed, handover)), daemon=True
    )
    thread.start()
    return thread


def held_event(capsys, timeout: float = 5) -> dict:
    import json
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in capsys.readouterr().out.splitlines():
            if line.startswith(runner.MARKER):
                event = json.loads(line[len(runner.MARKER) + 1 :])
                if event["event"] == "output_held":
                    return event
        time.sleep(0.05)
    raise TimeoutError("no output_held marker")


def test_the_runner_serves_the_output_to_the_token_only_until_confirmed(capsys, monkeypatch):
    monkeypatch.setenv("POD_IP", "127.0.0.1")
    data = os.urandom(300_000)
    result: list = []
    thread = hold_in_thread(data, {"token": "t0k", "port": 0, "hold_seconds": 30}, result)
    event = held_event(capsys)
    assert event["bytes"] == len(data) and event["sha256"] == hashlib.sha256(data).hexdigest()

    with pytest.raises(HandoverError, match="refused"):
        asyncio.run(fetch_held_output("127.0.0.1", event, "wrong", limit=10**7))
    assert thread.is_alive()  # still holding
    got = asyncio.run(fetch_held_output("127.0.0.1", event, "t0k", limit=10**7))
    assert got == data
    thread.join(5)
    assert not thread.is_alive() and result == [None]


def test_an_output_nobody_collects_is_reported_lost(capsys, monkeypatch):
    monkeypatch.setenv("POD_IP", "127.0.0.1")
    result: list = []
    thread = hold_in_thread(b"{}", {"token": "t", "port": 0, "hold_seconds": 0.5}, result)
    thread.join(10)
    assert result and result[0]["ename"] == "OutputNotCollected"
    assert "did not collect it" in result[0]["evalue"]
