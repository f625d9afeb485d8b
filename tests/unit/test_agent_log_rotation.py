"""The node agent rotates container logs as the kubelet does (containerLogMaxSize/MaxFiles):
only the current file is served, and a follower goes on across a rotation without a gap."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from jupyter_k8s.devcluster.agent.logs import LogTarget, LogWriter, make_log_app


def rotated_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.*"))


def test_the_file_is_rotated_at_max_size_and_old_files_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    with LogWriter(path, max_size=1000, max_files=3) as writer:
        for i in range(100):
            writer.write_record("stdout", f"line {i:03d} ".encode() + b"x" * 40)
    assert path.stat().st_size < 1000
    kept = rotated_files(path)
    assert len(kept) == 2  # max_files counts the current file
    # The newest rotated file holds the lines just before the current file's first.
    first_current = path.read_bytes().split(b"\n")[0]
    last_rotated = kept[-1].read_bytes().rstrip(b"\n").split(b"\n")[-1]
    n_current = int(first_current.split(b"line ")[1][:3])
    n_rotated = int(last_rotated.split(b"line ")[1][:3])
    assert n_current == n_rotated + 1
    assert b"line 099" in path.read_bytes()


def test_a_writer_reopened_on_a_big_file_rotates_at_its_next_record(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(b"")
    with LogWriter(path, max_size=100) as writer:
        writer.write_record("stdout", b"y" * 200)
    assert path.stat().st_size == 0
    assert len(rotated_files(path)) == 1


@pytest.mark.asyncio
async def test_only_the_current_file_is_served_and_a_follower_crosses_rotations(
    tmp_path: Path,
) -> None:
    path = tmp_path / "0.log"
    running = True
    app = make_log_app(lambda ns, pod, container, previous: LogTarget(path, lambda: running))
    server = TestServer(app)
    await server.start_server()
    writer = LogWriter(path, max_size=4096, max_files=5)
    try:
        async with ClientSession() as session:
            url = str(server.make_url("/containerLogs/ns/pod/main"))
            async with session.get(url + "?follow=true") as follow:
                lines = [f"record {i:04d} ".encode() + b"z" * 100 for i in range(300)]
                for i, line in enumerate(lines):
                    writer.write_record("stdout", line)
                    if i % 50 == 0:
                        # The follower falls up to ~1.5 files behind, and catches up through
                        # the rotated files.
                        await asyncio.sleep(0.01)
                assert len(rotated_files(path)) == 4  # ~9 rotations, 4 rotated files kept
                got = b""
                while got.count(b"\n") < len(lines):
                    got += await asyncio.wait_for(follow.content.readany(), 5)
                # Every record, in order, none twice, across ~9 rotations.
                assert got.split(b"\n")[:-1] == lines
                running = False
                writer.close()
                assert await asyncio.wait_for(follow.content.read(), 5) == b""
            async with session.get(url) as resp:
                # Not following: only what is in the current file, like `kubectl logs`.
                served = (await resp.read()).split(b"\n")[:-1]
            assert served and len(served) < len(lines)
            assert served == lines[-len(served) :]
    finally:
        writer.close()
        await server.close()
