"""The server under load: 200 jobs at once (20 running with their logs followed by 20 browser
streams, 180 waiting for a node), while the REST API is polled. Measured, not guessed: the REST
latency p99 (under 200 ms), and the event loop's slowest callback in the server (asyncio's
debug mode reports every callback over 10 ms; printed, the goal being under 50 ms).

This 2-core, 24 GiB machine cannot run 200 notebook kernels at once (a running job costs about
100 MiB here: its runner 61 MiB PSS, its kernel 39 MiB), so 180 of the jobs wait for a node that
their profile's node selector never finds: they are in every watch cache, list and status like
running ones, without a runner each. 20 run for real (JK8S_LOAD_RUNNING=100 runs 100, for the
figure in docs/jobs.md), 20 logs are followed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import time

import aiohttp
import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, user_kubeconfig

pytestmark = [pytest.mark.integration, pytest.mark.asyncio, pytest.mark.timeout(900)]

JOBS, FOLLOWED = 200, 20
RUNNING = int(os.environ.get("JK8S_LOAD_RUNNING", "20"))
PROFILES = [
    # Small requests, so the one node (2 CPUs, 24 GiB) takes 100 of them with JK8S_LOAD_RUNNING.
    {
        "name": "small",
        "default": True,
        "cpu_request": "10m",
        "memory_request": "64Mi",
        "memory_limit": "512Mi",
    },
    {"name": "parked", "cpu_request": "10m", "node_selector": {"jupyter-k8s.io/test": "nowhere"}},
]
# Long enough to run through the start of every running job and the measurement.
TICKS = max(150, RUNNING * 6)
TICKER = notebook(
    f"import time\nfor i in range({TICKS}):\n    print('tick', i, flush=True)\n    time.sleep(0.4)"
)
#: Makes asyncio's debug mode (PYTHONASYNCIODEBUG=1) report callbacks over 10 ms, not 100 ms.
SITECUSTOMIZE = """
import asyncio.base_events

_init = asyncio.base_events.BaseEventLoop.__init__


def _init_reporting_10_ms(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.slow_callback_duration = 0.01


asyncio.base_events.BaseEventLoop.__init__ = _init_reporting_10_ms

import gc, sys, time

_gc_started = [0.0]


def _time_gc(phase, info):
    if phase == "start":
        _gc_started[0] = time.perf_counter()
    else:
        took = time.perf_counter() - _gc_started[0]
        if took > 0.01:
            sys.stderr.write(f"gc of generation {info['generation']} paused {took:.3f} s\\n")


gc.callbacks.append(_time_gc)
"""
GC = re.compile(r"gc of generation (\d) paused (\d+\.\d+) s")
SLOW = re.compile(r"Executing (.*?) took (\d+\.\d+) seconds")


async def test_two_hundred_jobs_twenty_followed_logs(
    dev_cluster, admin_config, namespace, tmp_path, monkeypatch
):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", str(site))
    # asyncio's debug mode finds slow callbacks but costs much CPU of its own; with
    # JK8S_LOAD_ASYNCIO_DEBUG=0 the REST figures are those of a server without it.
    if os.environ.get("JK8S_LOAD_ASYNCIO_DEBUG", "1") == "1":
        monkeypatch.setenv("PYTHONASYNCIODEBUG", "1")
    root = tmp_path / "root"
    write_notebook(root / "ticker.ipynb", TICKER)
    kubeconfig = await asyncio.to_thread(
        user_kubeconfig, dev_cluster, admin_config, namespace, tmp_path / "kubeconfig"
    )
    server = ServerProcess(root, kubeconfig, namespace, owner="load", config={"profiles": PROFILES})
    await asyncio.to_thread(server.start)
    follows: list[asyncio.Task] = []
    try:
        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(timeout=timeout) as s:
            running: list[str] = []
            for n in range(JOBS):
                profile = "small" if n < RUNNING else "parked"
                async with s.post(
                    f"{server.url}/jupyter-k8s/jobs",
                    headers=server.headers,
                    json={"notebook": "ticker.ipynb", "profile": profile},
                ) as r:
                    assert r.status == 201, await r.text()
                    if profile == "small":
                        running.append((await r.json())["job"]["id"])
            for job_id in running:
                # Running and past its start-up (papermill and the kernel started: a cell runs),
                # so that what is measured is the server under load, not pods starting.
                await server.wait_job(
                    job_id,
                    lambda j: j["phase"] == "Running" and j.get("current_cell") is not None,
                    180 + RUNNING * 3,
                )

            async def follow(job_id: str) -> int:
                async with s.get(
                    f"{server.url}/jupyter-k8s/jobs/{job_id}/logs?follow=1",
                    headers=server.headers,
                ) as r:
                    assert r.status == 200
                    lines = 0
                    async for _ in r.content:
                        lines += 1
                    return lines

            follows = [asyncio.create_task(follow(j)) for j in running[:FOLLOWED]]
            await asyncio.sleep(2)
            log_offset = server.log_path.stat().st_size if server.log_path else 0
            times: list[float] = []
            paths = [f"/jobs?limit={JOBS}", "/cluster", *(f"/jobs/{j}" for j in running[:5])]
            for i in range(400):
                path = paths[i % len(paths)]
                started = time.perf_counter()
                async with s.get(f"{server.url}/jupyter-k8s{path}", headers=server.headers) as r:
                    body = await r.read()
                    assert r.status == 200, body[:300]
                times.append(time.perf_counter() - started)
                if path.startswith("/jobs?"):
                    assert len(json.loads(body)["jobs"]) == JOBS
            assert server.log_path is not None
            whole = server.log_path.read_text(errors="replace")
            # The measuring hooks must be in place, or "no slow callback" would mean nothing.
            assert "Error in sitecustomize" not in whole, whole[:2000]
            log = whole[log_offset:]
        slow = sorted(((float(m[2]), m[1][:160]) for m in SLOW.finditer(log)), reverse=True)
        pauses = sorted((float(m[2]) for m in GC.finditer(log)), reverse=True)
        ordered = sorted(times)
        p99 = ordered[int(0.99 * (len(ordered) - 1))]
        print(
            f"load: {JOBS} jobs ({RUNNING} running, {FOLLOWED} followed logs): REST "
            f"p50 {statistics.median(times) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max "
            f"{max(times) * 1000:.1f} ms over {len(times)} calls; event loop: "
            f"{len(slow)} callbacks over 10 ms, slowest "
            f"{(slow[0][0] * 1000 if slow else 0):.1f} ms; garbage collector: "
            f"{len(pauses)} pauses over 10 ms, longest {(pauses[0] * 1000 if pauses else 0):.1f} ms"
        )
        for seconds, what in slow[:5]:
            print(f"  {seconds * 1000:.1f} ms: {what}")
        assert p99 < 0.2, p99
        # The slowest callback is measured and printed (the goal is under 50 ms; see
        # docs/jobs.md#figures for where it stands): asserted only against a gross stall.
        assert not slow or slow[0][0] < 1.0, slow[:5]
        # With the heap frozen after start-up (jupyter_k8s.heap) a full collection walks only
        # what came later: ~15 ms here, 213 ms before. A regression shows up as 100 ms+.
        # (With JK8S_LOAD_RUNNING=100 the 2 cores are saturated by the pods: a figure run.)
        if RUNNING <= 20:
            assert not pauses or pauses[0] < 0.1, pauses[:5]
    finally:
        for task in follows:
            task.cancel()
        await asyncio.to_thread(server.stop)
