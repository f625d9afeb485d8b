"""Queued jobs with Kueue: admission latency and the cost of a queued submit.

    python bench/queues.py [--n 10] [--json results.json]

Starts a private local cluster with Kueue (`up --kueue`, one fake GPU: ClusterQueue team-a
has a GPU quota of 1; LocalQueue gpu) and a real Jupyter server as the shipped ServiceAccount
with the optional Kueue RBAC, then measures, in one run:

- admission latency: a 1-GPU job A runs, a 1-GPU job B waits in the queue; from the moment
  Kueue releases A's quota (A's Workload gets Finished=True) to B's pod Running, each event
  timed as it arrives on a watch; p50 over N rounds. Also from A's pod ending.
- the overhead of a queued submit on an idle quota: POST /jobs to 201, and POST to the pod
  Running, for a 1-GPU job in the queue and for the same job with no queue, alternating, N
  each, one at a time (the quota idle at each submit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from benchlib import HEADERS, percentile, report, start_server

from jupyter_k8s.devcluster.controlplane import DevCluster
from jupyter_k8s.k8s.client import KubeClient, load_config
from jupyter_k8s.k8s.watch import Reflector
from jupyter_k8s.profiles import BUILTIN_PROFILES
from jupyter_k8s.queues.rbac import apply_kueue_rbac

NAMESPACE = "jupyter-k8s"
SMALL = {"cpu_request": "100m", "memory_request": "128Mi", "gpus": 1}
PROFILES = [
    BUILTIN_PROFILES[0],
    {"name": "gpu", **SMALL, "queue": "gpu"},
    {"name": "gpu-direct", **SMALL},
]
NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "id": "p",
            "metadata": {"tags": ["parameters"]},
            "outputs": [],
            "execution_count": None,
            "source": "seconds = 0",
        },
        {
            "cell_type": "code",
            "id": "s",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "source": "import time\ntime.sleep(seconds)",
        },
    ],
    "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "P"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


class Events:
    """When each pod started running and each Workload finished, as their events arrived."""

    def __init__(self) -> None:
        self.running: dict[str, float] = {}  # job name -> its pod's first Running
        self.pod_ended: dict[str, float] = {}
        self.finished: dict[str, float] = {}  # job name -> its Workload's Finished
        self.admitted: dict[str, float] = {}  # job name -> its Workload's first Admitted
        self.changed = asyncio.Event()

    def on_pod(self, _kind: str, pod: dict) -> None:
        job = (pod["metadata"].get("labels") or {}).get("batch.kubernetes.io/job-name")
        phase = (pod.get("status") or {}).get("phase")
        now = time.monotonic()
        if job and phase == "Running":
            self.running.setdefault(job, now)
        if job and phase in ("Succeeded", "Failed"):
            self.pod_ended.setdefault(job, now)
        self.changed.set()

    def on_workload(self, _kind: str, wl: dict) -> None:
        conds = (wl.get("status") or {}).get("conditions") or []
        done = any(c.get("type") == "Finished" and c.get("status") == "True" for c in conds)
        admitted = any(c.get("type") == "Admitted" and c.get("status") == "True" for c in conds)
        for ref in wl["metadata"].get("ownerReferences") or []:
            if ref.get("kind") != "Job":
                continue
            if done:
                self.finished.setdefault(ref["name"], time.monotonic())
            if admitted:
                self.admitted.setdefault(ref["name"], time.monotonic())
        self.changed.set()

    async def until(self, check, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the cluster never got there")
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                pass


async def post(session: aiohttp.ClientSession, url: str, body: dict) -> tuple[str, float]:
    started = time.perf_counter()
    async with session.post(f"{url}/jupyter-k8s/jobs", headers=HEADERS, json=body) as r:
        data = await r.json()
        assert r.status == 201, data
    return data["job"]["id"], time.perf_counter() - started


async def job_state(session: aiohttp.ClientSession, url: str, job: str) -> dict[str, Any]:
    async with session.get(f"{url}/jupyter-k8s/jobs/{job}", headers=HEADERS) as r:
        return await r.json()


async def wait_done(session: aiohttp.ClientSession, url: str, job: str) -> None:
    for _ in range(1500):
        state = await job_state(session, url, job)
        if state["phase"] in ("Succeeded", "Failed", "Cancelled"):
            assert state["phase"] == "Succeeded", state
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"job {job} did not finish")


async def measure(url: str, admin_kubeconfig: Path, n: int) -> dict[str, Any]:
    config = await load_config(str(admin_kubeconfig))
    events = Events()
    async with KubeClient(config) as admin, aiohttp.ClientSession() as session:
        await apply_kueue_rbac(admin, NAMESPACE)
        pods = Reflector(admin, "pods", NAMESPACE)
        workloads = Reflector(admin, "workloads", NAMESPACE)
        pods.add_listener(events.on_pod)
        workloads.add_listener(events.on_workload)
        for r in (pods, workloads):
            r.start()
        await asyncio.gather(pods.ready.wait(), workloads.ready.wait())
        try:
            # Warm up: the server's caches, the pool, a first pod of each kind.
            for profile in ("gpu", "gpu-direct"):
                job, _ = await post(session, url, {"notebook": "nb.ipynb", "profile": profile})
                await wait_done(session, url, job)

            submit: dict[str, list[float]] = {"gpu": [], "gpu-direct": []}
            to_running: dict[str, list[float]] = {"gpu": [], "gpu-direct": []}
            for _ in range(n):
                for profile in ("gpu", "gpu-direct"):
                    t0 = time.monotonic()
                    job, took = await post(
                        session, url, {"notebook": "nb.ipynb", "profile": profile}
                    )
                    submit[profile].append(took)
                    await events.until(lambda job=job: job in events.running)
                    to_running[profile].append(events.running[job] - t0)
                    await wait_done(session, url, job)

            admission, from_pod_end, kueue_part = [], [], []
            for _ in range(n):
                first, _ = await post(
                    session,
                    url,
                    {"notebook": "nb.ipynb", "profile": "gpu", "parameters": {"seconds": 3}},
                )
                await events.until(lambda first=first: first in events.running)
                second, _ = await post(session, url, {"notebook": "nb.ipynb", "profile": "gpu"})
                await events.until(lambda second=second: second in events.running)
                await events.until(lambda first=first: first in events.finished)
                assert events.running[second] > events.pod_ended[first], "never at once"
                admission.append(events.running[second] - events.finished[first])
                from_pod_end.append(events.running[second] - events.pod_ended[first])
                kueue_part.append(events.admitted[second] - events.finished[first])
                await wait_done(session, url, second)
                await wait_done(session, url, first)
        finally:
            for r in (pods, workloads):
                await r.stop()

    def ms(values: list[float], p: float) -> int:
        return round(percentile(values, p) * 1000)

    return {
        "rounds": n,
        "admission_ms_p50": ms(admission, 50),
        "admission_ms_max": round(max(admission) * 1000),
        "admission_from_pod_end_ms_p50": ms(from_pod_end, 50),
        # Kueue's own part: the first Workload Finished to the next one Admitted.
        "kueue_admits_ms_p50": ms(kueue_part, 50),
        "submit_queued_ms_p50": ms(submit["gpu"], 50),
        "submit_unqueued_ms_p50": ms(submit["gpu-direct"], 50),
        "submit_overhead_ms_p50": round(
            (statistics.median(submit["gpu"]) - statistics.median(submit["gpu-direct"])) * 1000
        ),
        "to_running_queued_ms_p50": ms(to_running["gpu"], 50),
        "to_running_unqueued_ms_p50": ms(to_running["gpu-direct"], 50),
        "to_running_overhead_ms_p50": round(
            (statistics.median(to_running["gpu"]) - statistics.median(to_running["gpu-direct"]))
            * 1000
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jk8s-bench-queues-") as tmp:
        tmpdir = Path(tmp)
        cluster = DevCluster(tmpdir / "cluster", gpus=1, kueue=True, progress=lambda _m: None)
        cluster.up(wait=True)
        proc = None
        try:
            root = tmpdir / "work"
            root.mkdir()
            (root / "nb.ipynb").write_text(json.dumps(NOTEBOOK))
            proc, url, log = start_server(
                root, cluster.user_kubeconfig, {"profiles": PROFILES}, NAMESPACE
            )
            figures = asyncio.run(measure(url, cluster.admin_kubeconfig, args.n))
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(30)
            cluster.down(quiet=True)
    report(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
