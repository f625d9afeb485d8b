"""Figures of the local cluster: build time, warm `up`, pod start latency, idle memory.

    python bench/devcluster.py [--pods 50] [--json results.json]

Starts a private cluster in a temporary directory (the control-plane binaries must be built:
`jupyter k8s dev-cluster build`), measures, and stops it. The cold build time is the one the
build recorded when it ran (rebuilding here would take half an hour).
Baseline for pod start: the same command started as a plain local process, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchlib import percentile, report

from jupyter_k8s.devcluster.build import Versions, cache_dir
from jupyter_k8s.devcluster.controlplane import DevCluster
from jupyter_k8s.k8s.client import KubeClient, load_config
from jupyter_k8s.k8s.objects import container, pod_spec
from jupyter_k8s.k8s.watch import Reflector

COMMAND = ["python", "-c", "import time; time.sleep(20)"]


def rss_of_tree(pids: list[int]) -> int:
    """Resident memory of the given processes and all their descendants, in bytes."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            pid = int(entry.name)
            children.setdefault(int(fields[1]), []).append(pid)
            rss[pid] = int(fields[21]) * 4096
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0, list(pids)
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def local_spawn_baseline(n: int) -> list[float]:
    """Time to fork/exec the same interpreter locally (what the node does at minimum)."""
    times = []
    for _ in range(n):
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        times.append(time.monotonic() - started)
        proc.wait()
    return times


async def pod_start_latencies(cluster: DevCluster, n: int) -> list[float]:
    config = await load_config(str(cluster.user_kubeconfig))
    ns = config.namespace
    async with KubeClient(config) as client:
        running_at: dict[str, float] = {}
        loop = asyncio.get_running_loop()

        def on_event(kind: str, obj: dict) -> None:
            name = obj["metadata"]["name"]
            if obj.get("status", {}).get("phase") == "Running" and name not in running_at:
                running_at[name] = loop.time()

        run = uuid.uuid4().hex[:6]
        reflector = Reflector(client, "pods", ns, label_selector=f"bench={run}")
        reflector.add_listener(on_event)
        reflector.start()
        await reflector.ready.wait()
        created_at: dict[str, float] = {}
        for i in range(n):
            name = f"bench-{run}-{i}"
            body = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "labels": {"bench": run}},
                "spec": pod_spec(
                    [container("main", "python:3.11-slim", COMMAND)],
                    terminationGracePeriodSeconds=0,
                ),
            }
            created_at[name] = loop.time()
            await client.create("pods", body, ns)
            # One pod at a time, as a user submits: latency without a queue in front of it.
            await reflector.wait_for(lambda _p, nm=name: nm in running_at, 30)
        await reflector.stop()
        for name in created_at:
            await client.delete("pods", name, ns, grace_period=0, missing_ok=True)
        return [running_at[nm] - created_at[nm] for nm in created_at]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    figures: dict[str, float | int | str] = {}
    build = cache_dir(Versions()) / "build.json"
    if build.exists():
        data = json.loads(build.read_text())
        figures["cold_build_s"] = data["seconds"]
        figures["cold_build_cpus"] = data.get("cpus", 0)
    with tempfile.TemporaryDirectory(prefix="jk8s-bench-") as tmp:
        cluster = DevCluster(Path(tmp), progress=lambda _m: None)
        started = time.monotonic()
        cluster.up(wait=True)
        figures["warm_up_to_ready_s"] = round(time.monotonic() - started, 2)
        try:
            time.sleep(10)  # let start-up work settle before reading idle memory
            st = cluster.state()
            assert st is not None
            figures["idle_memory_mib"] = round(rss_of_tree(list(st.pids.values())) / 2**20, 1)
            lat = asyncio.run(pod_start_latencies(cluster, args.pods))
            base = local_spawn_baseline(args.pods)
            figures.update(
                pods=len(lat),
                pod_start_p50_s=round(statistics.median(lat), 3),
                pod_start_p95_s=round(percentile(lat, 95), 3),
                local_spawn_p50_s=round(statistics.median(base), 4),
                pod_start_vs_local_spawn=round(statistics.median(lat) / statistics.median(base), 1),
            )
        finally:
            cluster.down(quiet=True)
    report(figures, args.json, [("pod start p50 < 1 s", figures.get("pod_start_p50_s", 99) < 1.0)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
