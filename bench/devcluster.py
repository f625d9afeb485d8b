"""Figures of the local cluster: build time, warm `up`, pod start latency, idle memory.

    python bench/devcluster.py [--pods 50] [--json results.json]
    python bench/devcluster.py --node containerd [--pods 50] [--one-by-one 10] [--no-cold-images]

Starts a private cluster in a temporary directory (the control-plane binaries must be built:
`jupyter k8s dev-cluster build`), measures, and stops it. The cold build time is the one the
build recorded when it ran (rebuilding here would take half an hour).
Baseline for pod start: the same command started as a plain local process, in the same run.

`--node containerd` (root; `jupyter k8s dev-cluster build --node containerd` first): the real
node against the process node in the same run. Images: build time cold (the cached archive
moved aside, rebuilt, and the original put back) and warm (cached), archive and unpacked
sizes. Then for each node in turn: warm `up` to Ready, a burst of `--pods` pods of the tiny
image created at once, create -> Running percentiles against the Kubernetes pod start-up SLO
(p99 <= 5 s, image present), all deleted until gone, `--one-by-one` pods one at a time (the
latency with nothing queued), and `down`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import percentile, report

from jupyter_k8s.devcluster.build import Versions, cache_dir
from jupyter_k8s.devcluster.controlplane import DevCluster
from jupyter_k8s.k8s.client import KubeClient, load_config
from jupyter_k8s.k8s.objects import container, pod_spec
from jupyter_k8s.k8s.watch import Reflector

COMMAND = ["python", "-c", "import time; time.sleep(20)"]
# Both nodes run it: the real node from the tiny image, the process node from the host.
SLEEP = ["sleep", "600"]
SLO_P99_S = 5.0  # Kubernetes pod start-up SLO: p99 create -> running, image present


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


def _not_running(pods: list[dict], running: dict[str, float]) -> str:
    """Why the pods still waiting wait (their phase and container reasons), for an error."""
    lines = []
    for pod in pods:
        name = pod["metadata"]["name"]
        if name in running:
            continue
        status = pod.get("status", {})
        reasons = [
            (cs.get("state", {}).get("waiting") or {}).get("reason", "")
            for cs in status.get("containerStatuses", [])
        ]
        lines.append(f"{name}: {status.get('phase')} {','.join(r for r in reasons if r)}")
    return "; ".join(lines[:5])


async def pod_start_latencies(
    cluster: DevCluster,
    n: int,
    *,
    image: str = "python:3.11-slim",
    command: list[str] = COMMAND,
    burst: bool = False,
    timeout: float = 30.0,
) -> tuple[list[float], float]:
    """Create -> Running (seen by a watch) of `n` pods; (latencies, seconds from the deletes to
    all gone). One at a time (latency without a queue in front of it), or with `burst` all at
    once (the start-up SLO's case: how the node copes with many)."""
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

        async def create(name: str) -> None:
            body = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "labels": {"bench": run}},
                "spec": pod_spec(
                    [container("main", image, command, imagePullPolicy="IfNotPresent")],
                    terminationGracePeriodSeconds=0,
                ),
            }
            created_at[name] = loop.time()
            await client.create("pods", body, ns)

        names = [f"bench-{run}-{i}" for i in range(n)]
        try:
            if burst:
                await asyncio.gather(*(create(name) for name in names))
                await reflector.wait_for(lambda _p: len(running_at) >= n, timeout)
            else:
                for name in names:
                    await create(name)
                    await reflector.wait_for(lambda _p, nm=name: nm in running_at, timeout)
        except TimeoutError:
            raise RuntimeError(
                f"{n - len(running_at)} of {n} pods not Running after {timeout:g} s: "
                + _not_running(reflector.items(), running_at)
            ) from None
        finally:
            # Graceful (not 0, which removes the object at once): gone means the node has
            # stopped the containers and confirmed it.
            deleting = loop.time()
            await asyncio.gather(
                *(
                    client.delete("pods", nm, ns, grace_period=1, missing_ok=True)
                    for nm in created_at
                )
            )
            with contextlib.suppress(TimeoutError):
                await reflector.wait_for(lambda pods: not pods, 120)
            gone_s = loop.time() - deleting
            await reflector.stop()
        return [running_at[nm] - created_at[nm] for nm in created_at], gone_s


def process_node_figures(pods: int) -> dict[str, float | int | str]:
    """The default mode: warm `up`, idle memory, pods one at a time, against a local spawn."""
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
            lat, _gone = asyncio.run(pod_start_latencies(cluster, pods))
            base = local_spawn_baseline(pods)
            figures.update(
                pods=len(lat),
                pod_start_p50_s=round(statistics.median(lat), 3),
                pod_start_p95_s=round(percentile(lat, 95), 3),
                local_spawn_p50_s=round(statistics.median(base), 4),
                pod_start_vs_local_spawn=round(statistics.median(lat) / statistics.median(base), 1),
            )
        finally:
            cluster.down(quiet=True)
    return figures


# -- the real node -------------------------------------------------------------------------------


def unpacked_size(archive: Path) -> int:
    """Bytes of the regular files in an OCI layout tar's layers (what the image takes unpacked;
    a file a later layer replaces counts twice, which our two-layer images never do)."""
    total = 0
    with tarfile.open(archive) as outer:
        index = json.load(_member(outer, "index.json"))
        manifest = json.load(_member(outer, _blob_name(index["manifests"][0]["digest"])))
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=_member(outer, _blob_name(layer["digest"])), mode="r|") as t:
                total += sum(m.size for m in t if m.isreg())
    return total


def _blob_name(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


def _member(tar: tarfile.TarFile, name: str) -> Any:
    f = tar.extractfile(name)
    if f is None:
        raise ValueError(f"{name} is not a file in {tar.name!r}")
    return f


def image_figures(cold: bool) -> dict[str, float | int | str]:
    """Per image (pause, tiny, notebook): build time cold and warm, archive and unpacked size.

    Cold: the cached archive is moved aside, the image built again, then the original put
    back in place of the new one (a `finally`: the cache is never left without it)."""
    from jupyter_k8s.devcluster.realnode import images
    from jupyter_k8s.devcluster.realnode.build import ensure_node_binaries

    quiet: Callable[[str], None] = lambda _m: None  # noqa: E731
    pause_binary = ensure_node_binaries(Versions(), quiet)["pause"]
    builders: dict[str, Callable[[], tuple[str, Path]]] = {
        "pause": lambda: images.ensure_pause_image(pause_binary, quiet),
        "tiny": lambda: images.ensure_debian_image(images.TINY, quiet),
        "notebook": lambda: images.ensure_debian_image(images.NOTEBOOK, quiet),
    }
    figures: dict[str, float | int | str] = {}
    for label, build in builders.items():
        started = time.monotonic()
        _name, archive = build()  # builds it if this machine has not yet
        first = time.monotonic() - started
        if cold:
            aside = archive.with_name(archive.name + ".bench-aside")
            os.replace(archive, aside)
            try:
                started = time.monotonic()
                build()
                figures[f"image_{label}_cold_s"] = round(time.monotonic() - started, 1)
            finally:
                os.replace(aside, archive)
        elif first > 1.0:
            figures[f"image_{label}_cold_s"] = round(first, 1)
        started = time.monotonic()
        build()
        figures[f"image_{label}_warm_ms"] = round((time.monotonic() - started) * 1000, 1)
        figures[f"image_{label}_archive_mib"] = round(archive.stat().st_size / 2**20, 1)
        figures[f"image_{label}_unpacked_mib"] = round(unpacked_size(archive) / 2**20, 1)
    return figures


def node_figures(node: str, pods: int, one_by_one: int) -> dict[str, float]:
    """Warm `up` to Ready, a burst of `pods` pods, `one_by_one` pods one at a time, `down`,
    for one kind of node."""
    from jupyter_k8s.devcluster.realnode import images

    seen: list[tuple[float, str]] = []
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="jk8s-bench-") as tmp:
        cluster = DevCluster(
            Path(tmp), node=node, progress=lambda m: seen.append((time.monotonic(), m))
        )
        started = time.monotonic()
        try:
            cluster.up(wait=True)
            figures["up_to_ready_s"] = time.monotonic() - started
            # The real node's progress lines bracket the image import (each `up` redoes it).
            at = {
                m.split(" ", 2)[1]: t for t, m in seen if m.startswith(("containerd up", "images"))
            }
            if "up" in at and "imported" in at:
                figures["image_import_s"] = at["imported"] - at["up"]
            lat, gone = asyncio.run(
                pod_start_latencies(
                    cluster, pods, image=images.TINY_IMAGE, command=SLEEP, burst=True, timeout=300
                )
            )
            figures.update(
                pod_start_min_s=min(lat),
                pod_start_p50_s=statistics.median(lat),
                pod_start_p95_s=percentile(lat, 95),
                pod_start_p99_s=percentile(lat, 99),
                pod_start_max_s=max(lat),
                pods_deleted_gone_s=gone,
            )
            if one_by_one:
                # One at a time: the latency of a pod with nothing queued in front of it.
                lat, _gone = asyncio.run(
                    pod_start_latencies(
                        cluster, one_by_one, image=images.TINY_IMAGE, command=SLEEP, timeout=60
                    )
                )
                figures.update(
                    single_pod_start_p50_s=statistics.median(lat), single_pod_start_max_s=max(lat)
                )
        finally:
            started = time.monotonic()
            cluster.down(quiet=True)
            figures["down_s"] = time.monotonic() - started
    return figures


ROWS = [
    ("up_to_ready_s", "warm `up` to Ready (s)"),
    ("image_import_s", "  of which images imported (s)"),
    ("pod_start_min_s", "pod start, all at once: min (s)"),
    ("pod_start_p50_s", "pod start, all at once: p50 (s)"),
    ("pod_start_p95_s", "pod start, all at once: p95 (s)"),
    ("pod_start_p99_s", "pod start, all at once: p99 (s)"),
    ("pod_start_max_s", "pod start, all at once: max (s)"),
    ("pods_deleted_gone_s", "all deleted -> gone, node confirmed (s)"),
    ("single_pod_start_p50_s", "pod start, one at a time: p50 (s)"),
    ("single_pod_start_max_s", "pod start, one at a time: max (s)"),
    ("down_s", "`down` (s)"),
]


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def print_node_table(
    process: dict[str, float], real: dict[str, float], pods: int, one_by_one: int
) -> None:
    what = f"{pods} pods at once, then {one_by_one} one at a time"
    print(f"| figure ({what}) | process node | real node | real / process |")
    print("|---|---|---|---|")
    for key, text in ROWS:
        p, r = process.get(key), real.get(key)
        if p is None and r is None:
            continue
        ratio = f"{r / p:.1f}x" if p and r is not None else ""
        print(f"| {text} | {_cell(p)} | {_cell(r)} | {ratio} |")


def print_image_table(figures: dict[str, float | int | str]) -> None:
    print("| image | cold build (s) | warm (ms) | OCI tar (MiB) | unpacked (MiB) |")
    print("|---|---|---|---|---|")
    for label in ("pause", "tiny", "notebook"):
        cells = [figures.get(f"image_{label}_{k}", "") for k in ("cold_s", "warm_ms")]
        cells += [figures.get(f"image_{label}_{k}", "") for k in ("archive_mib", "unpacked_mib")]
        print(f"| {label} | " + " | ".join(str(c) for c in cells) + " |")


def real_node_figures(pods: int, one_by_one: int, cold_images: bool) -> tuple[dict[str, Any], bool]:
    if os.geteuid() != 0:
        raise SystemExit("--node containerd needs root (the real node does)")
    figures: dict[str, Any] = image_figures(cold_images)
    print_image_table(figures)
    process = node_figures("process", pods, one_by_one)
    real = node_figures("containerd", pods, one_by_one)
    print()
    print_node_table(process, real, pods, one_by_one)
    print()
    for prefix, part in (("process", process), ("real", real)):
        figures.update({f"{prefix}_{k}": round(v, 3) for k, v in part.items()})
    figures["pods"] = pods
    figures["pods_one_at_a_time"] = one_by_one
    return figures, real["pod_start_p99_s"] <= SLO_P99_S


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--node",
        choices=("process", "containerd"),
        default="process",
        help="containerd: the real node against the process node, and its images (root)",
    )
    parser.add_argument(
        "--no-cold-images",
        action="store_true",
        help="with --node containerd: skip the cold image builds (about a minute)",
    )
    parser.add_argument(
        "--one-by-one",
        type=int,
        default=10,
        help="with --node containerd: also start this many pods one at a time (0: none)",
    )
    args = parser.parse_args()

    if args.node == "containerd":
        figures, slo_met = real_node_figures(args.pods, args.one_by_one, not args.no_cold_images)
        goals = [(f"real node pod start p99 <= {SLO_P99_S:g} s ({args.pods} at once)", slo_met)]
        report(figures, args.json, goals)
        return 0
    figures = process_node_figures(args.pods)
    p50 = figures.get("pod_start_p50_s", 99.0)
    report(figures, args.json, [("pod start p50 < 1 s", isinstance(p50, float) and p50 < 1.0)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
