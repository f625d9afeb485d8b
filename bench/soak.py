"""Server memory under a long load: 1,000 jobs in its caches, jobs running and finishing all
along, logs followed and the job list polled as the sidebar does; RSS sampled throughout.

    python bench/soak.py [--minutes 30] [--jobs 1000] [--running 20] [--job-seconds 30]
                         [--json results.json]

Starts a private local cluster and a real Jupyter server with the extension. `--jobs` minus
`--running` jobs wait for a node their profile never finds (in every cache, list and status,
without a runner each); `--running` jobs run a notebook of `--job-seconds` (the node takes
as many pods as that needs: 200 at once fit this 24 GiB machine, ~80 MiB each), and each one
that ends is replaced by a new one, with a third of them
followed through GET /logs?follow=1. Finished jobs go after 60 s (`job_ttl_seconds`), so the
number of jobs stays level and a growing RSS would be a leak, not more data.

Prints the server's RSS after the warm-up (the first 3 minutes) and at the end, the growth and
its rate per 10 minutes, and how many jobs ran and came back.

`--trace-memory` runs the server under tracemalloc (slower) and takes a snapshot of its Python
heap after the warm-up and at the end (SIGUSR2 to a handler that a sitecustomize installs):
it prints the Python memory traced at both and the 15 places whose allocations grew most, so a
growing RSS can be told apart as Python objects kept (a leak) or memory the allocator holds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import aiohttp
from benchlib import HEADERS, bench_server, report, ticker_notebook

from jupyter_k8s.devcluster import DEFAULT_MAX_PODS

PROFILES = [
    # Small requests, so that the one node (2 CPUs, 24 GiB) takes 200 of them at once.
    {
        "name": "small",
        "default": True,
        "cpu_request": "5m",
        "memory_request": "64Mi",
        "memory_limit": "512Mi",
    },
    {"name": "parked", "cpu_request": "10m", "node_selector": {"bench": "nowhere"}},
]


def ticker(seconds: float) -> dict:
    """A notebook that prints a tick every 0.5 s for `seconds` (every 5 s past 60 s: 200 long
    jobs at once would otherwise spend the two cores on printing)."""
    every = 0.5 if seconds <= 60 else 5.0
    return ticker_notebook(max(1, int(seconds / every)), every)


WARM_UP = 180.0
#: Installed in the server with --trace-memory: SIGUSR2 dumps a tracemalloc snapshot.
SITECUSTOMIZE = """
import os, signal, tracemalloc

_taken = [0]


def _dump(_signum, _frame):
    _taken[0] += 1
    path = os.path.join(os.environ["JK8S_SNAPSHOTS"], "snap-%d.pickle" % _taken[0])
    tracemalloc.take_snapshot().dump(path + ".part")
    os.replace(path + ".part", path)


if os.environ.get("JK8S_SNAPSHOTS"):
    tracemalloc.start(8)
    signal.signal(signal.SIGUSR2, _dump)  # SIGUSR1 is jupyter_server's (it prints its info)
"""


async def snapshot(pid: int, folder: Path, n: int) -> Path:
    """Have the server dump snapshot `n` (1, 2...) and wait until it is whole."""
    os.kill(pid, signal.SIGUSR2)
    path = folder / f"snap-{n}.pickle"
    for _ in range(600):
        if path.exists():
            return path
        await asyncio.sleep(0.5)
    raise RuntimeError("the server wrote no tracemalloc snapshot")


def heap_growth(first: Path, last: Path) -> dict[str, object]:
    """Python memory traced at both snapshots, and the 15 sites that grew most."""
    a, b = tracemalloc.Snapshot.load(str(first)), tracemalloc.Snapshot.load(str(last))
    stats = b.compare_to(a, "traceback")
    print("allocations that grew most between the snapshots (size, count, where):")
    for stat in stats[:15]:
        # Most recent frame first: where the memory was allocated, then who called that.
        frames = [
            f"{f.filename.split('site-packages/')[-1]}:{f.lineno}" for f in reversed(stat.traceback)
        ]
        where = " < ".join(frames[:5])
        print(f"  {stat.size_diff / 2**20:+8.2f} MiB {stat.count_diff:+7d}  {where}")

    def mib(snap: tracemalloc.Snapshot) -> float:
        return round(sum(s.size for s in snap.statistics("filename")) / 2**20, 1)

    return {"python_heap_after_warm_up_mib": mib(a), "python_heap_end_mib": mib(b)}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def soak(
    url: str, pid: int, minutes: float, jobs: int, running: int, snapshots: Path | None = None
) -> dict:
    api = f"{url}/jupyter-k8s"
    taken: list[Path] = []
    samples: list[tuple[float, float]] = []
    baseline = WARM_UP  # seconds in: RSS growth counts from here
    done = {"ran": 0, "succeeded": 0, "outputs": 0}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as s:

        async def submit(profile: str) -> str:
            async with s.post(
                f"{api}/jobs", headers=HEADERS, json={"notebook": "t.ipynb", "profile": profile}
            ) as r:
                assert r.status == 201, await r.text()
                return (await r.json())["job"]["id"]

        async def follow(job_id: str) -> None:
            # As long as the job runs (the session's 600 s cap is for the other calls).
            forever = aiohttp.ClientTimeout(total=None, sock_read=300)
            url = f"{api}/jobs/{job_id}/logs?follow=1"
            async with s.get(url, headers=HEADERS, timeout=forever) as r:
                await r.read()

        for _ in range(jobs - running):
            await submit("parked")
        active = [await submit("small") for _ in range(running)]
        followers: set[asyncio.Task] = set()
        started = time.monotonic()
        next_sample = started
        n = 0
        while time.monotonic() - started < minutes * 60:
            async with s.get(f"{api}/jobs?limit=100", headers=HEADERS) as r:
                assert r.status == 200
                await r.read()
            for i, job_id in enumerate(active):
                async with s.get(f"{api}/jobs/{job_id}", headers=HEADERS) as r:
                    if r.status != 200:
                        continue
                    job = await r.json()
                if job["phase"] in ("Succeeded", "Failed") and job["output_state"] != "pending":
                    done["ran"] += 1
                    done["succeeded"] += job["phase"] == "Succeeded"
                    done["outputs"] += job["output_state"] == "ready"
                    active[i] = await submit("small")
                    n += 1
                    if n % 3 == 0:
                        task = asyncio.create_task(follow(active[i]))
                        followers.add(task)
                        task.add_done_callback(followers.discard)
            now = time.monotonic()
            if now >= next_sample:
                samples.append((now - started, rss_mib(pid)))
                next_sample += 30
                if snapshots is not None and not taken and now - started >= WARM_UP:
                    taken.append(await snapshot(pid, snapshots, 1))
                    # Taking a snapshot itself costs memory the allocator keeps: the RSS
                    # baseline of a traced run is the first sample after it.
                    baseline = now - started + 1
            await asyncio.sleep(1)
        for task in followers:
            task.cancel()
        if snapshots is not None and taken:
            taken.append(await snapshot(pid, snapshots, 2))
    warm = [m for t, m in samples if t >= baseline] or [samples[-1][1]]
    elapsed = samples[-1][0] - baseline if samples[-1][0] > baseline else samples[-1][0]
    growth = warm[-1] - warm[0]
    heap = heap_growth(*taken) if len(taken) == 2 else {}
    return {
        **heap,
        "minutes": minutes,
        "jobs_in_cache": jobs,
        "running_at_once": running,
        "jobs_ran": done["ran"],
        "jobs_succeeded": done["succeeded"],
        "outputs_back": done["outputs"],
        "rss_after_warm_up_mib": round(warm[0], 1),
        "rss_end_mib": round(warm[-1], 1),
        "rss_median_mib": round(statistics.median(warm), 1),
        "rss_growth_mib": round(growth, 1),
        "rss_growth_mib_per_10_min": round(growth / max(elapsed, 1) * 600, 2),
        "rss_samples": [(round(t), round(m, 1)) for t, m in samples],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--running", type=int, default=20)
    parser.add_argument(
        "--job-seconds", type=float, default=30, help="how long each running job runs"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--trace-memory", action="store_true", help="tracemalloc snapshots")
    args = parser.parse_args()
    traced = Path(tempfile.mkdtemp(prefix="jk8s-soak-")) if args.trace_memory else None
    server_env: dict[str, str] = {}
    if traced is not None:
        # For the server process only: the node agent and the pods' Pythons stay untraced.
        (traced / "sitecustomize.py").write_text(SITECUSTOMIZE)
        server_env["PYTHONPATH"] = f"{traced}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
        server_env["JK8S_SNAPSHOTS"] = str(traced)
    config = {"profiles": PROFILES, "job_ttl_seconds": 60}
    with bench_server(
        config,
        start_timeout=600 if traced else 60,
        env=server_env,
        max_pods=max(DEFAULT_MAX_PODS, args.running + 20),
    ) as bench:
        (bench.root / "t.ipynb").write_text(json.dumps(ticker(args.job_seconds)))
        figures = asyncio.run(
            soak(bench.url, bench.proc.pid, args.minutes, args.jobs, args.running, traced)
        )
    report(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
