"""Remote kernels against local ones: start time, execute round-trip, 10 starts at once.

    python bench/kernels.py [--n 10] [--executes 200] [--concurrent 10] [--json results.json]

Starts a private local cluster and a real Jupyter server with the extension (as the
least-privileged ServiceAccount), then measures through jupyter_server's REST and websocket
APIs, as JupyterLab uses them:

* start: POST /api/kernels until the first kernel_info reply on the kernel's websocket, for
  the local `python3` kernel and the remote `k8s-bench` kernel, alternating, N times each;
* execute: the round-trip of a trivial cell (execute_request to the idle status after it),
  on one kernel of each kind, through the server's websocket (what JupyterLab sees; this
  includes jupyter_server's websocket hop, the same for both) and over ZeroMQ straight to
  the kernel (jupyter_client in the bench process, the provisioner without a server); and,
  as the baseline, through a second server on the same cluster with
  `kernel_websocket_nodelay = False` (jupyter_server as it is: Nagle's algorithm on);
* concurrency: 10 remote kernels started at once (all must answer), while a probe asks the
  server GET /api/status every 20 ms: its answer time shows whether the event loop stays free.
  The same with 10 local kernels, as a baseline: on a small machine, 10 kernels importing
  ipykernel at once leave the server little CPU, remote or not.

The local cluster runs kernels as processes on this machine, so "remote" here measures the
Kubernetes path (API calls, scheduler, node agent, pod IP) and not a network.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import aiohttp
from benchlib import HEADERS, BenchServer, bench_server, percentile, report, start_server

PROFILES = [
    {"name": "bench", "display_name": "Bench", "cpu_request": "50m", "memory_request": "128Mi"}
]
REMOTE = "k8s-bench"
LOCAL = "python3"


class Kernel:
    """One kernel through the server: REST to start/stop, its websocket to talk to it."""

    def __init__(self, http: aiohttp.ClientSession, url: str, name: str):
        self.http, self.url, self.name = http, url, name
        self.id: str | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.session = uuid.uuid4().hex

    def _msg(self, msg_type: str, content: dict) -> tuple[str, str]:
        msg_id = uuid.uuid4().hex
        msg = {
            "header": {
                "msg_id": msg_id,
                "msg_type": msg_type,
                "session": self.session,
                "username": "bench",
                "version": "5.3",
                "date": "",
            },
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": "shell",
            "buffers": [],
        }
        return msg_id, json.dumps(msg)

    async def start(self) -> float:
        """Seconds from POST /api/kernels to the first kernel_info reply."""
        t0 = time.perf_counter()
        async with self.http.post(
            f"{self.url}/api/kernels", headers=HEADERS, json={"name": self.name}
        ) as r:
            body = await r.json()
            if r.status != 201:
                raise RuntimeError(f"start of {self.name} failed: {r.status} {body}")
        self.id = body["id"]
        ws_url = self.url.replace("http", "ws", 1)
        self.ws = await self.http.ws_connect(
            f"{ws_url}/api/kernels/{self.id}/channels?session_id={self.session}", headers=HEADERS
        )
        while True:
            msg_id, text = self._msg("kernel_info_request", {})
            await self.ws.send_str(text)
            try:
                while True:
                    frame = await asyncio.wait_for(self.ws.receive(), 0.5)
                    msg = json.loads(frame.data)
                    if (
                        msg["msg_type"] == "kernel_info_reply"
                        and msg["parent_header"].get("msg_id") == msg_id
                    ):
                        return time.perf_counter() - t0
            except TimeoutError:
                continue

    async def execute(self, code: str) -> float:
        """Seconds from execute_request to the kernel's idle status after it."""
        assert self.ws is not None
        msg_id, text = self._msg(
            "execute_request", {"code": code, "silent": False, "store_history": False}
        )
        t0 = time.perf_counter()
        await self.ws.send_str(text)
        while True:
            msg = json.loads((await self.ws.receive()).data)
            if (
                msg["msg_type"] == "status"
                and msg["parent_header"].get("msg_id") == msg_id
                and msg["content"]["execution_state"] == "idle"
            ):
                return time.perf_counter() - t0

    async def stop(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.id:
            async with self.http.delete(f"{self.url}/api/kernels/{self.id}", headers=HEADERS):
                pass


async def starts(url: str, n: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {LOCAL: [], REMOTE: []}
    async with aiohttp.ClientSession() as http:
        for i in range(n + 1):
            for name in (LOCAL, REMOTE) if i % 2 == 0 else (REMOTE, LOCAL):
                k = Kernel(http, url, name)
                took = await k.start()
                await k.stop()
                if i:  # the first round warms up imports, caches and connections
                    times[name].append(took)
    return times


async def executes(url: str, n: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    async with aiohttp.ClientSession() as http:
        for name in (LOCAL, REMOTE):
            k = Kernel(http, url, name)
            await k.start()
            for _ in range(20):
                await k.execute("1")
            times[name] = [await k.execute("1") for _ in range(n)]
            await k.stop()
    return times


async def direct_executes(kubeconfig: Path, jupyter_path: Path, n: int) -> dict[str, list[float]]:
    """The execute round-trip over ZeroMQ straight to the kernel (jupyter_client in this
    process, the provisioner without a server), without the websocket hop."""
    from jupyter_client.manager import AsyncKernelManager

    from jupyter_k8s.kernels.kernelspecs import install_kernelspec
    from jupyter_k8s.profiles import load_profiles

    profile = load_profiles(PROFILES, "python:3.11-slim").get("bench")
    install_kernelspec(
        profile,
        {"kubeconfig": str(kubeconfig), "namespace": "jupyter-k8s", "owner": "bench-direct"},
        prefix=str(jupyter_path),
    )
    os.environ["JUPYTER_PATH"] = str(jupyter_path / "share" / "jupyter")
    times: dict[str, list[float]] = {}
    for name in (LOCAL, REMOTE):
        km = AsyncKernelManager(kernel_name=name)
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            samples = []
            for i in range(n + 20):
                t0 = time.perf_counter()
                msg_id = kc.execute("1", store_history=False)
                while True:
                    msg = await kc.get_iopub_msg(timeout=10)
                    if (
                        msg["msg_type"] == "status"
                        and msg["parent_header"].get("msg_id") == msg_id
                        and msg["content"]["execution_state"] == "idle"
                    ):
                        break
                if i >= 20:
                    samples.append(time.perf_counter() - t0)
            times[name] = samples
        finally:
            kc.stop_channels()
            await km.shutdown_kernel()
    return times


async def concurrent(url: str, n: int, name: str = REMOTE) -> dict[str, object]:
    async with aiohttp.ClientSession() as http:
        probe_times: list[float] = []
        stop = asyncio.Event()

        async def probe() -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                async with http.get(f"{url}/api/status", headers=HEADERS) as r:
                    await r.read()
                probe_times.append(time.perf_counter() - t0)
                await asyncio.sleep(0.02)

        prober = asyncio.ensure_future(probe())
        await asyncio.sleep(0.5)
        idle_probe = list(probe_times)
        kernels = [Kernel(http, url, name) for _ in range(n)]
        t0 = time.perf_counter()
        results = await asyncio.gather(*(k.start() for k in kernels), return_exceptions=True)
        wall = time.perf_counter() - t0
        busy_probe = probe_times[len(idle_probe) :]
        stop.set()
        await prober
        await asyncio.gather(*(k.stop() for k in kernels))
    ok = [r for r in results if isinstance(r, float)]
    errors = [repr(r) for r in results if not isinstance(r, float)]
    return {
        "ready": len(ok),
        "errors": errors,
        "wall_s": wall,
        "start_p50_s": statistics.median(ok) if ok else None,
        "start_p95_s": percentile(ok, 95) if ok else None,
        "probe_idle_p50_ms": statistics.median(idle_probe) * 1000,
        "probe_p95_ms": percentile(busy_probe, 95) * 1000,
        "probe_max_ms": max(busy_probe) * 1000,
        "probes": len(busy_probe),
    }


def executes_without_nodelay(bench: BenchServer, n: int) -> dict[str, list[float]]:
    """`executes` through a second server whose kernel websockets keep Nagle's algorithm."""
    root = bench.tmpdir / "work-plain"
    root.mkdir()
    config = {"profiles": PROFILES, "kernel_websocket_nodelay": False}
    proc, url, _log = start_server(root, bench.cluster.user_kubeconfig, config)
    try:
        return asyncio.run(executes(url, n))
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10, help="starts of each kind")
    parser.add_argument("--executes", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with bench_server({"profiles": PROFILES}, prefix="jk8s-bench-kernels-") as bench:
        url = bench.url
        start_times = asyncio.run(starts(url, args.n))
        exec_times = asyncio.run(executes(url, args.executes))
        plain_times = executes_without_nodelay(bench, args.executes)
        together = asyncio.run(concurrent(url, args.concurrent))
        together_local = asyncio.run(concurrent(url, args.concurrent, LOCAL))
        direct = asyncio.run(
            direct_executes(bench.cluster.user_kubeconfig, bench.tmpdir / "kernels", args.executes)
        )

    local_p50 = statistics.median(start_times[LOCAL])
    remote_p50 = statistics.median(start_times[REMOTE])
    exec_local = statistics.median(exec_times[LOCAL])
    exec_remote = statistics.median(exec_times[REMOTE])
    direct_local = statistics.median(direct[LOCAL])
    direct_remote = statistics.median(direct[REMOTE])
    plain_remote = statistics.median(plain_times[REMOTE])
    figures = {
        "starts_each": len(start_times[LOCAL]),
        "start_local_p50_s": round(local_p50, 3),
        "start_remote_p50_s": round(remote_p50, 3),
        "start_remote_p95_s": round(percentile(start_times[REMOTE], 95), 3),
        "start_ratio_p50": round(remote_p50 / local_p50, 2),
        "start_added_p50_s": round(remote_p50 - local_p50, 3),
        "execute_local_p50_ms": round(exec_local * 1000, 2),
        "execute_remote_p50_ms": round(exec_remote * 1000, 2),
        "execute_remote_p95_ms": round(percentile(exec_times[REMOTE], 95) * 1000, 2),
        "execute_ratio_p50": round(exec_remote / exec_local, 2),
        "execute_local_p50_ms_nagle": round(statistics.median(plain_times[LOCAL]) * 1000, 2),
        "execute_remote_p50_ms_nagle": round(plain_remote * 1000, 2),
        "execute_remote_nagle_vs_nodelay": round(plain_remote / exec_remote, 1),
        "execute_zmq_local_p50_ms": round(direct_local * 1000, 2),
        "execute_zmq_remote_p50_ms": round(direct_remote * 1000, 2),
        "execute_zmq_remote_p95_ms": round(percentile(direct[REMOTE], 95) * 1000, 2),
        "execute_zmq_ratio_p50": round(direct_remote / direct_local, 2),
        "concurrent_kernels": args.concurrent,
        "concurrent_ready": together["ready"],
        "concurrent_wall_s": round(together["wall_s"], 2),
        "concurrent_start_p50_s": round(together["start_p50_s"] or 0, 2),
        "concurrent_start_p95_s": round(together["start_p95_s"] or 0, 2),
        "probe_idle_p50_ms": round(together["probe_idle_p50_ms"], 1),
        "probe_during_starts_p95_ms": round(together["probe_p95_ms"], 1),
        "probe_during_starts_max_ms": round(together["probe_max_ms"], 1),
        "local_concurrent_start_p95_s": round(together_local["start_p95_s"] or 0, 2),
        "local_probe_during_starts_p95_ms": round(together_local["probe_p95_ms"], 1),
        "local_probe_during_starts_max_ms": round(together_local["probe_max_ms"], 1),
    }
    if together["errors"]:
        print("concurrent start errors:", *together["errors"], sep="\n  ")
    goals = [
        ("start ratio p50 <= 1.5", figures["start_ratio_p50"] <= 1.5),
        ("start added p50 < 1 s", figures["start_added_p50_s"] < 1.0),
        ("execute within 20% (p50, through the server)", figures["execute_ratio_p50"] <= 1.2),
        ("execute within 20% (p50, ZeroMQ direct)", figures["execute_zmq_ratio_p50"] <= 1.2),
        (
            "remote execute through the server within 2x of ZeroMQ direct (p50)",
            exec_remote <= 2 * direct_remote,
        ),
        (f"all {args.concurrent} concurrent kernels ready", together["ready"] == args.concurrent),
        ("event loop answers within 50 ms (probe max)", figures["probe_during_starts_max_ms"] < 50),
    ]
    report(figures, args.json, goals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
