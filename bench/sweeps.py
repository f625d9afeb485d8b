"""A sweep against separate submits: 20 parameter sets of a 1 s notebook as ONE Indexed Job
(parallelism 4) and as 20 separate jobs, in the same run, on the same cluster and server.

    python bench/sweeps.py [--sets 20] [--parallel 4] [--json results.json]

Starts a private local cluster and a real Jupyter server with the extension (as the
least-privileged ServiceAccount). For each way, in turn (separate submits first, then the
sweep), it measures:
  * wall time: from the first POST to every run Succeeded with its executed notebook back
    under the server's root;
  * REST calls the client made to submit (20 POSTs against 1);
  * API requests the kube-apiserver served meanwhile, everyone's (the server's, the
    controllers', the scheduler's and the node's: what the cluster pays), read from its
    `apiserver_request_total` counters, and the objects created (Jobs, Pods, ConfigMaps).
Separate submits run as many at once as the node takes; the sweep runs `--parallel` at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from benchlib import HEADERS, bench_server, report

from jupyter_k8s.k8s.client import KubeClient, load_config

PROFILES = [{"name": "small", "default": True, "cpu_request": "50m", "max_parallelism": 8}]
NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "id": "params",
            "metadata": {"tags": ["parameters"]},
            "execution_count": None,
            "outputs": [],
            "source": "x = 0",
        },
        {
            "cell_type": "code",
            "id": "work",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": "import time\ntime.sleep(1)\nprint('x is', x)",
        },
    ],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}
COUNTER = re.compile(r"^apiserver_request_total\{([^}]*)\} (\d+(?:\.\d+)?(?:e[+-]?\d+)?)$", re.M)
VERB = re.compile(r'verb="([A-Z]+)"')
RESOURCE = re.compile(r'(?<![a-z])resource="([a-z]+)"')
SUBRESOURCE = re.compile(r'subresource="([a-z]*)"')


async def requests_served(admin: KubeClient) -> dict[str, float]:
    """The API server's request counters, summed by verb, and creates by resource."""
    text = str(await admin.request("GET", "/metrics", raw=True))
    sums: dict[str, float] = {}
    for labels, value in COUNTER.findall(text):
        verb = VERB.search(labels)
        resource = RESOURCE.search(labels)
        key = verb[1] if verb else "OTHER"
        sums[key] = sums.get(key, 0.0) + float(value)
        # Creates of the object itself (not of a subresource: pods/binding is the scheduler's).
        sub = SUBRESOURCE.search(labels)
        if key == "POST" and resource and not (sub and sub[1]):
            sums[f"create {resource[1]}"] = sums.get(f"create {resource[1]}", 0.0) + float(value)
        sums["total"] = sums.get("total", 0.0) + float(value)
    return sums


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, int]:
    return {k: round(v - before.get(k, 0.0)) for k, v in after.items()}


async def post(s: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with s.post(f"{url}/jupyter-k8s/jobs", headers=HEADERS, json=body) as r:
        got = await r.json()
        if r.status != 201:
            raise RuntimeError(f"submit answered {r.status}: {got}")
        return got["job"]


async def job(s: aiohttp.ClientSession, url: str, job_id: str) -> dict[str, Any]:
    async with s.get(f"{url}/jupyter-k8s/jobs/{job_id}", headers=HEADERS) as r:
        return await r.json()


def done(info: dict[str, Any]) -> bool:
    """Succeeded (or ended otherwise: then the figures say so) with every output back."""
    if info.get("phase") not in ("Succeeded", "Failed", "Cancelled"):
        return False
    sweep = info.get("sweep")
    if sweep:
        return all(i.get("output_state") in ("ready", "error", "none") for i in sweep["indexes"])
    return info.get("output_state") in ("ready", "error", "none")


async def until_done(s: aiohttp.ClientSession, url: str, ids: list[str], timeout: float) -> list:
    deadline = time.monotonic() + timeout
    while True:
        infos = await asyncio.gather(*(job(s, url, i) for i in ids))
        if all(map(done, infos)):
            return infos
        if time.monotonic() > deadline:
            raise RuntimeError(f"not done after {timeout} s: {[i.get('phase') for i in infos]}")
        await asyncio.sleep(0.5)


async def one_way(
    s: aiohttp.ClientSession, url: str, admin: KubeClient, bodies: list[dict[str, Any]]
) -> dict[str, Any]:
    before = await requests_served(admin)
    started = time.perf_counter()
    submitted = await asyncio.gather(*(post(s, url, b) for b in bodies))
    infos = await until_done(s, url, [j["id"] for j in submitted], timeout=900)
    wall = time.perf_counter() - started
    served = delta(await requests_served(admin), before)
    runs = 0
    succeeded = 0
    for info in infos:
        indexes = (info.get("sweep") or {}).get("indexes")
        for unit in indexes or [info]:
            runs += 1
            succeeded += unit.get("phase") == "Succeeded" and unit.get("output_state") == "ready"
    return {"wall": wall, "posts": len(bodies), "served": served, "runs": runs, "ok": succeeded}


async def run(url: str, admin_kubeconfig: Path, sets: int, parallel: int) -> dict[str, Any]:
    values = list(range(sets))
    config = await load_config(str(admin_kubeconfig))
    async with aiohttp.ClientSession() as s, KubeClient(config) as admin:
        separate = await one_way(
            s, url, admin, [{"notebook": "one.ipynb", "parameters": {"x": v}} for v in values]
        )
        sweep = await one_way(
            s,
            url,
            admin,
            [
                {
                    "notebook": "one.ipynb",
                    "sweep": {"mode": "zip", "parameters": {"x": values}},
                    "parallelism": parallel,
                }
            ],
        )
    figures: dict[str, Any] = {"parameter_sets": sets, "sweep_parallelism": parallel}
    for name, got in (("separate", separate), ("sweep", sweep)):
        served = got["served"]
        figures |= {
            f"{name}_runs_succeeded_with_output": f"{got['ok']}/{got['runs']}",
            f"{name}_wall_s": round(got["wall"], 1),
            f"{name}_submit_posts": got["posts"],
            f"{name}_apiserver_requests": served.get("total", 0),
            f"{name}_apiserver_writes": sum(
                served.get(v, 0) for v in ("POST", "PUT", "PATCH", "DELETE")
            ),
            f"{name}_jobs_created": served.get("create jobs", 0),
            f"{name}_pods_created": served.get("create pods", 0),
            f"{name}_configmaps_created": served.get("create configmaps", 0),
        }
    figures["sweep_vs_separate_wall"] = round(sweep["wall"] / separate["wall"], 2)
    figures["sweep_vs_separate_apiserver_requests"] = round(
        sweep["served"].get("total", 0) / max(1, separate["served"].get("total", 0)), 2
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with bench_server({"profiles": PROFILES}) as bench:
        (bench.root / "one.ipynb").write_text(json.dumps(NOTEBOOK))
        figures = asyncio.run(
            run(bench.url, bench.cluster.admin_kubeconfig, args.sets, args.parallel)
        )
    report(figures, args.json)
    every = f"{args.sets}/{args.sets}"
    ok = figures["separate_runs_succeeded_with_output"] == every
    return 0 if ok and figures["sweep_runs_succeeded_with_output"] == every else 1


if __name__ == "__main__":
    sys.exit(main())
