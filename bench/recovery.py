"""Recovery after an API server restart: how long until the server's watches are synced
again, and until a change made meanwhile is seen; and whether the jobs' outputs all come back.

    python bench/recovery.py [--rounds 5] [--jobs 6] [--json results.json]

Starts a private local cluster and a real Jupyter server with the extension (as the
least-privileged ServiceAccount), submits `--jobs` notebooks that print for a while, and then
`--rounds` times: SIGKILLs kube-apiserver, waits 3 s, starts it again, and measures from the
moment it answers again
  * resync: until GET /jupyter-k8s/cluster no longer says the statuses may be stale;
  * first event: until a change made right then with another client (an annotation of a
    running Job, which the server learns only through its watch) shows in GET /jobs/{id}.
At the end it prints the loss table: jobs submitted, finished Succeeded, outputs back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import aiohttp
from benchlib import HEADERS, bench_server, percentile, report, ticker_notebook

from jupyter_k8s.devcluster.controlplane import DevCluster
from jupyter_k8s.k8s.client import KubeClient, load_config

PROFILES = [{"name": "small", "default": True, "cpu_request": "50m"}]
TICKER = ticker_notebook(240, 0.25)


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    async with session.get(url, headers=HEADERS) as r:
        body = await r.read()
        return r.status, (json.loads(body) if body and r.status == 200 else {})


async def until(predicate, timeout: float = 120) -> float:
    started = time.perf_counter()
    while not await predicate():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("not reached")
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


async def run(cluster: DevCluster, url: str, rounds: int, jobs: int) -> dict:
    api = f"{url}/jupyter-k8s"
    config = await load_config(str(cluster.admin_kubeconfig))
    async with aiohttp.ClientSession() as s, KubeClient(config) as admin:
        ids = []
        for _ in range(jobs):
            async with s.post(
                f"{api}/jobs", headers=HEADERS, json={"notebook": "ticker.ipynb"}
            ) as r:
                assert r.status == 201, await r.text()
                ids.append((await r.json())["job"]["id"])

        async def running() -> bool:
            _, listing = await get(s, f"{api}/jobs")
            phases = {j["id"]: j["phase"] for j in listing.get("jobs", [])}
            return all(phases.get(i) == "Running" for i in ids)

        await until(running, 180)
        resync, first_event = [], []
        for k in range(rounds):
            await asyncio.to_thread(cluster.kill_component, "kube-apiserver")
            await asyncio.sleep(3)
            await asyncio.to_thread(cluster.start_component, "kube-apiserver")

            async def api_up() -> bool:
                try:
                    await admin.get("namespaces", "jupyter-k8s")
                    return True
                except Exception:  # noqa: BLE001 - still starting
                    return False

            await until(api_up, 60)
            started = time.perf_counter()
            # The change the server must learn through its watch.
            marker = {"round": k}
            patch = {"metadata": {"annotations": {"jupyter-k8s.io/parameters": json.dumps(marker)}}}
            await admin.patch("jobs", ids[0], patch, "jupyter-k8s")

            async def synced() -> bool:
                status, info = await get(s, f"{api}/cluster")
                return status == 200 and info.get("stale") is None

            async def seen(marker: dict = marker) -> bool:
                status, job = await get(s, f"{api}/jobs/{ids[0]}")
                return status == 200 and job.get("parameters") == marker

            await until(synced)
            resync.append(time.perf_counter() - started)
            await until(seen)
            first_event.append(time.perf_counter() - started)
            await asyncio.sleep(2)

        async def finished() -> bool:
            _, listing = await get(s, f"{api}/jobs")
            done = [
                j
                for j in listing.get("jobs", [])
                if j["id"] in ids
                and j["phase"] in ("Succeeded", "Failed", "Cancelled")
                and j["output_state"] != "pending"
            ]
            return len(done) == len(ids)

        await until(finished, 300)
        _, listing = await get(s, f"{api}/jobs")
        mine = [j for j in listing["jobs"] if j["id"] in ids]
    return {
        "rounds": rounds,
        "resync_p50_s": round(statistics.median(resync), 2),
        "resync_max_s": round(max(resync), 2),
        "first_event_p50_s": round(statistics.median(first_event), 2),
        "first_event_p95_s": round(percentile(first_event, 95), 2),
        "first_event_max_s": round(max(first_event), 2),
        "jobs_submitted": len(ids),
        "jobs_succeeded": sum(j["phase"] == "Succeeded" for j in mine),
        "outputs_back": sum(j["output_state"] == "ready" for j in mine),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with bench_server({"profiles": PROFILES}) as bench:
        (bench.root / "ticker.ipynb").write_text(json.dumps(TICKER))
        figures = asyncio.run(run(bench.cluster, bench.url, args.rounds, args.jobs))
    lost = figures["jobs_submitted"] - figures["outputs_back"]
    report(figures, args.json)
    print(
        f"loss table: {figures['jobs_submitted']} submitted, {figures['jobs_succeeded']} "
        f"succeeded, {figures['outputs_back']} outputs back ({lost} lost)"
    )
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
