"""Live view latency: from a cell's end in the pod to its outputs in GET /jobs/{id}/live.

    python bench/live_view.py [--jobs 3] [--cells 5] [--json results.json]

Starts a private local cluster and a real Jupyter server with the extension (API staging, as
the least-privileged ServiceAccount), submits `--jobs` notebooks one after the other, each of
`--cells` cells that sleep 1 s and print `time.time()` at their end, and polls the live view
every 50 ms while they run. The node agent runs pods as local processes on this machine, so
the pod's clock is this one: the latency of a cell is the first poll that showed its output
minus the time it printed (the 50 ms poll interval is part of the figure). Prints p50 and max
over all cells. tests/integration/test_jobs_live.py measures the same in both stagings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from benchlib import HEADERS, bench_server, percentile, report

PROFILES = [{"name": "small", "default": True, "cpu_request": "50m"}]
POLL_SECONDS = 0.05


def make_notebook(cells: int) -> dict[str, Any]:
    def cell(k: int) -> dict[str, Any]:
        return {
            "cell_type": "code",
            "id": f"c{k}",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": f"import time\ntime.sleep(1)\nprint('step {k}', repr(time.time()))",
        }

    return {
        "cells": [cell(k) for k in range(1, cells + 1)],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def ended_at(cell: dict[str, Any]) -> float | None:
    for output in cell.get("outputs", []):
        text = output.get("text", "")
        text = "".join(text) if isinstance(text, list) else text
        if text.startswith("step "):
            return float(text.split()[2])
    return None


async def one_job(session: aiohttp.ClientSession, url: str) -> list[float]:
    """Submit the notebook and poll its live view until it finished; the latencies."""
    async with session.post(f"{url}/jobs", json={"notebook": "live.ipynb"}) as resp:
        assert resp.status == 201, await resp.text()
        job_id = (await resp.json())["job"]["id"]
    shown: dict[int, float] = {}
    ended: dict[int, float] = {}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        async with session.get(f"{url}/jobs/{job_id}/live") as resp:
            now = time.time()
            if resp.status == 200:
                nb = await resp.json()
                for i, cell in enumerate(nb["cells"]):
                    at = ended_at(cell)
                    if at is not None:
                        ended[i] = at
                        shown.setdefault(i, now)
                if nb["metadata"]["jupyter_k8s_live"]["finished"]:
                    break
            elif resp.status != 404:
                raise RuntimeError(f"GET /live: {resp.status} {await resp.text()}")
        await asyncio.sleep(POLL_SECONDS)
    else:
        raise TimeoutError(f"job {job_id} did not finish")
    # The finished job's view is its executed notebook: cells first seen only then were
    # missed by the polls and are left out, not counted as late.
    return [shown[i] - ended[i] for i in sorted(ended) if i in shown]


async def measure(url: str, jobs: int) -> list[float]:
    latencies: list[float] = []
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        for _ in range(jobs):
            latencies += await one_job(session, f"{url}/jupyter-k8s")
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--cells", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with bench_server({"profiles": PROFILES}, prefix="jk8s-live-") as bench:
        (bench.root / "live.ipynb").write_text(json.dumps(make_notebook(args.cells)))
        latencies = asyncio.run(measure(bench.url, args.jobs))
    figures = {
        "cells measured": len(latencies),
        "live view latency p50 (ms)": round(percentile(latencies, 50) * 1000),
        "live view latency max (ms)": round(max(latencies) * 1000),
    }
    ok = report(
        figures,
        args.json,
        [("p50 under 1 s", percentile(latencies, 50) < 1.0)],
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
