"""The node agent: registers a Node, keeps its lease, runs the pods bound to it.

It talks to the API server as `system:node:<name>` (x509, group system:nodes), so the Node
authorizer and NodeRestriction admission limit it exactly as they limit a kubelet: it sees
only its own pods and the Secrets, ConfigMaps and claims they reference.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import platform
import ssl
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...k8s.client import (
    Conflict,
    Forbidden,
    Gone,
    KubeClient,
    KubeError,
    NotFound,
    load_config,
)
from .. import DEFAULT_MAX_PODS
from .events import EventRecorder, now
from .logs import MAX_FILES, MAX_SIZE, LogTarget, make_log_app, serve
from .pods import PodRunner

log = logging.getLogger("jupyter_k8s.devcluster.agent")

LEASE_SECONDS = 40
RENEW_EVERY = 10.0
STATUS_EVERY = 60.0
AGENT_VERSION = "0.1"


@dataclass
class AgentOptions:
    kubeconfig: str
    node_name: str
    state_dir: Path
    port: int
    serving_cert: str
    serving_key: str
    client_ca: str
    apiserver_port: int
    gpus: int = 0
    max_pods: int = DEFAULT_MAX_PODS
    host_ip: str = "127.0.0.1"
    kubelet_version: str = "v1.37.2"
    # The kubelet's containerLogMaxSize / containerLogMaxFiles (its defaults).
    container_log_max_size: int = MAX_SIZE
    container_log_max_files: int = MAX_FILES


#: Reads retried while the Node authorizer catches up (0.25 s, 0.5 s, ... ~10 s in all).
NODE_AUTHZ_RETRIES = 9


class IPAllocator:
    """Gives each pod its own loopback address: 127.1.0.2, 127.1.0.3, ... (all of 127/8 is lo)."""

    def __init__(self) -> None:
        self.by_pod: dict[str, str] = {}
        self._next = 2

    def allocate(self, uid: str, wanted: str | None = None) -> str:
        if uid in self.by_pod:
            return self.by_pod[uid]
        used = set(self.by_pod.values())
        if wanted and wanted.startswith("127.") and wanted not in used:
            self.by_pod[uid] = wanted
            return wanted
        while True:
            n = self._next
            self._next = self._next + 1 if self._next < 254 * 256 * 256 else 2
            ip = f"127.{1 + n // 65536}.{(n // 256) % 256}.{n % 256}"
            if n % 256 not in (0, 255) and ip not in used:
                self.by_pod[uid] = ip
                return ip

    def release(self, uid: str) -> None:
        self.by_pod.pop(uid, None)


class GPUAllocator:
    """Hands out GPU indexes 0..n-1 to pods, as a device plugin would."""

    def __init__(self, count: int):
        self.count = count
        self.by_pod: dict[str, list[int]] = {}

    def allocate(self, uid: str, wanted: int) -> list[int]:
        if wanted <= 0:
            return []
        if uid in self.by_pod:
            return self.by_pod[uid]
        taken = {i for ids in self.by_pod.values() for i in ids}
        free = [i for i in range(self.count) if i not in taken]
        if len(free) < wanted:
            # The scheduler should have prevented this; run without devices rather than lie.
            log.warning("pod %s wants %d GPUs, %d free", uid, wanted, len(free))
            return []
        self.by_pod[uid] = free[:wanted]
        return self.by_pod[uid]

    def release(self, uid: str) -> None:
        self.by_pod.pop(uid, None)


def detect_gpus() -> int:
    """Real NVIDIA GPUs, when nvidia-smi is there to list them."""
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def _memory_bytes() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 8 * 2**30


class NodeAgent:
    def __init__(self, opts: AgentOptions, client: KubeClient):
        from .runtime import memory_cgroups_work, mount_namespaces_work

        self.opts = opts
        self.client = client
        self.node_name = opts.node_name
        self.host_ip = opts.host_ip
        self.state_dir = opts.state_dir
        self.ips = IPAllocator()
        self.gpus = GPUAllocator(opts.gpus)
        self.pods: dict[str, PodRunner] = {}
        self.recorder = EventRecorder(client, opts.node_name)
        self.isolate_mounts = mount_namespaces_work()
        self.use_cgroups = memory_cgroups_work()
        self.capacity = {
            "cpu": str(os.cpu_count() or 1),
            "memory": f"{_memory_bytes() // 1024}Ki",
            "pods": str(opts.max_pods),
            "ephemeral-storage": "100Gi",
        }
        if opts.gpus:
            self.capacity["nvidia.com/gpu"] = str(opts.gpus)
        self.allocatable = dict(self.capacity)
        self._stopping = asyncio.Event()

    # -- helpers the pod runners use ----------------------------------------------------------

    def base_env(self) -> dict[str, str]:
        """What every container starts from: this environment's interpreter first on PATH."""
        bindir = str(Path(sys.executable).parent)
        path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
        port = str(self.opts.apiserver_port)
        return {
            "PATH": f"{bindir}:{path}",
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "KUBERNETES_SERVICE_HOST": self.host_ip,
            "KUBERNETES_SERVICE_PORT": port,
            "KUBERNETES_SERVICE_PORT_HTTPS": port,
            "KUBERNETES_PORT": f"tcp://{self.host_ip}:{port}",
        }

    async def fetch(self, resource: str, namespace: str, name: str) -> dict:
        # The Node authorizer learns that a pod bound here uses a ConfigMap or Secret from its
        # own informers, a moment after the pod is bound: until then a read is Forbidden ("no
        # relationship found"). The kubelet retries such a mount; so does this node, briefly.
        for attempt in range(NODE_AUTHZ_RETRIES):
            try:
                return await self.client.get(resource, name, namespace or None)
            except Forbidden as exc:
                if "no relationship found" not in str(exc) or attempt == NODE_AUTHZ_RETRIES - 1:
                    raise
                await asyncio.sleep(0.25 * (attempt + 1))
        raise AssertionError("unreachable")

    async def pod_token(self, pod: dict, audience: str | None, seconds: int) -> str:
        meta = pod["metadata"]
        spec: dict = {
            "expirationSeconds": seconds,
            "boundObjectRef": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "uid": meta["uid"],
            },
        }
        if audience:
            spec["audiences"] = [audience]
        review = await self.client.create(
            "serviceaccounts",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
            meta["namespace"],
            sub_of=pod["spec"].get("serviceAccountName", "default"),
            sub="token",
        )
        return review["status"]["token"]

    async def patch_status(self, runner: PodRunner, status: dict) -> None:
        for attempt in range(5):
            try:
                await self.client.patch(
                    "pods", runner.name, {"status": status}, runner.ns, sub="status"
                )
                return
            except NotFound:
                runner.gone = True
                return
            except KubeError as exc:
                log.warning("status of %s/%s not sent (%s); retrying", runner.ns, runner.name, exc)
                await asyncio.sleep(min(0.2 * 2**attempt, 3))

    def event(
        self, pod: dict, kind: str, reason: str, message: str, container: str | None = None
    ) -> None:
        """An event about a pod (or one of its containers), posted in the background."""
        self.recorder.record(pod, kind, reason, message, container)

    # -- the Node and its lease --------------------------------------------------------------

    def _node_status(self) -> dict:
        ts = now()
        conditions = [
            ("Ready", "True", "KubeletReady", "the process node agent is posting ready status"),
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "no memory pressure"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "no PID pressure"),
        ]
        return {
            "capacity": self.capacity,
            "allocatable": self.allocatable,
            "conditions": [
                {
                    "type": t,
                    "status": s,
                    "reason": r,
                    "message": m,
                    "lastHeartbeatTime": ts,
                    "lastTransitionTime": ts,
                }
                for t, s, r, m in conditions
            ],
            "addresses": [
                {"type": "InternalIP", "address": self.host_ip},
                {"type": "Hostname", "address": self.node_name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.opts.port}},
            "nodeInfo": {
                "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, self.node_name).hex,
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.node_name)),
                "bootID": str(uuid.uuid4()),
                "kernelVersion": platform.release(),
                "osImage": "jupyter-k8s process node",
                "containerRuntimeVersion": f"process://{AGENT_VERSION}",
                "kubeletVersion": self.opts.kubelet_version,
                "operatingSystem": "linux",
                "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                    platform.machine(), platform.machine()
                ),
            },
        }

    async def register(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "labels": {
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": self._node_status()["nodeInfo"]["architecture"],
                    "node.kubernetes.io/instance-type": "jupyter-k8s-process-node",
                },
            },
            "spec": {},
            "status": self._node_status(),
        }
        with contextlib.suppress(Conflict):
            await self.client.create("nodes", node)
        await self.client.patch(
            "nodes", self.node_name, {"status": self._node_status()}, sub="status"
        )

    async def _heartbeat(self) -> None:
        """Renew the lease every 10 s and post full status every minute, through outages."""
        node = await self.client.get("nodes", self.node_name)
        lease: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self.node_name,
                "namespace": "kube-node-lease",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "Node",
                        "name": self.node_name,
                        "uid": node["metadata"]["uid"],
                    }
                ],
            },
            "spec": {"holderIdentity": self.node_name, "leaseDurationSeconds": LEASE_SECONDS},
        }
        last_status = asyncio.get_running_loop().time()
        while not self._stopping.is_set():
            renew = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            try:
                try:
                    await self.client.patch(
                        "leases", self.node_name, {"spec": {"renewTime": renew}}, "kube-node-lease"
                    )
                except NotFound:
                    lease["spec"]["renewTime"] = renew
                    await self.client.create("leases", lease, "kube-node-lease")
                if asyncio.get_running_loop().time() - last_status > STATUS_EVERY:
                    await self.client.patch(
                        "nodes", self.node_name, {"status": self._node_status()}, sub="status"
                    )
                    last_status = asyncio.get_running_loop().time()
            except KubeError as exc:
                log.warning("lease not renewed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), RENEW_EVERY)

    # -- pods ---------------------------------------------------------------------------------

    def _on_pod(self, kind: str, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        runner = self.pods.get(uid)
        if kind == "DELETED":
            if runner:
                runner.vanished()
            return
        if runner is None:
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                # Finished before this agent started (it restarted): nothing left to run.
                runner = PodRunner(self, pod)
                runner.phase = pod["status"]["phase"]
                runner.deleting.clear()
                self.pods[uid] = runner
                runner.task = asyncio.create_task(self._await_deletion(runner))
                if pod["metadata"].get("deletionTimestamp"):
                    runner.deleting.set()
                return
            runner = PodRunner(self, pod)
            self.pods[uid] = runner
            runner.update(pod)
            runner.start().add_done_callback(lambda _task: self.pods.pop(uid, None))
        else:
            runner.update(pod)

    async def _await_deletion(self, runner: PodRunner) -> None:
        await runner.deleting.wait()
        await runner._finish_deletion()
        self.pods.pop(runner.uid, None)

    async def _watch_pods(self) -> None:
        selector = f"spec.nodeName={self.node_name}"
        rv: str | None = None
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                if rv is None:
                    listing = await self.client.list("pods", fieldSelector=selector)
                    rv = listing["metadata"]["resourceVersion"]
                    seen = set()
                    for pod in listing["items"]:
                        seen.add(pod["metadata"]["uid"])
                        self._on_pod("ADDED", pod)
                    for uid, runner in list(self.pods.items()):
                        if uid not in seen:
                            runner.vanished()
                async for event in self.client.watch(
                    "pods", resource_version=rv, fieldSelector=selector, timeout_seconds=240
                ):
                    obj = event["object"]
                    rv = obj["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        self._on_pod(event["type"], obj)
                backoff = 0.2
            except Gone:
                rv = None
            except KubeError as exc:
                log.warning("pod watch interrupted (%s); resuming in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    # -- logs ---------------------------------------------------------------------------------

    def locate_log(self, namespace: str, pod: str, container: str, previous: bool) -> LogTarget:
        runner = next((r for r in self.pods.values() if r.ns == namespace and r.name == pod), None)
        if runner is None:
            raise LookupError(
                f'pod "{pod}" in namespace "{namespace}" is not on node "{self.node_name}"'
            )
        run = runner.find(container)
        if run is None:
            raise LookupError(f'container "{container}" in pod "{pod}" is not valid')
        if previous:
            if run.restart_count == 0:
                raise ValueError(
                    f'previous terminated container "{container}" in pod "{pod}" not found'
                )
            path = runner.dir / "containers" / container / f"{run.restart_count - 1}.log"
            return LogTarget(path, lambda: False)
        if run.log_path is None:
            reason = run.state.get("waiting", {}).get("reason", "ContainerCreating")
            raise ValueError(
                f'container "{container}" in pod "{pod}" is waiting to start: {reason}'
            )
        current = run.log_path
        return LogTarget(current, lambda: run.running and run.log_path == current)

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=self.opts.client_ca)
        ctx.load_cert_chain(self.opts.serving_cert, self.opts.serving_key)
        # Only clients with a certificate of the cluster CA (the API server) read logs.
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    # -- main ---------------------------------------------------------------------------------

    async def run(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        runner = await serve(
            make_log_app(self.locate_log), self.host_ip, self.opts.port, self._ssl()
        )
        while True:
            try:
                await self.register()
                break
            except KubeError as exc:
                log.warning("node not registered yet (%s); retrying", exc)
                await asyncio.sleep(0.5)
        log.info(
            "node %s registered (gpus=%d, mount isolation=%s, memory cgroups=%s)",
            self.node_name,
            self.opts.gpus,
            self.isolate_mounts,
            self.use_cgroups,
        )
        tasks = [asyncio.create_task(self._heartbeat()), asyncio.create_task(self._watch_pods())]
        await self._stopping.wait()
        for t in tasks:
            t.cancel()
        # Stop every pod process: nothing outlives the node agent.
        running = [r.task for r in self.pods.values() if r.task and not r.task.done()]
        for t in running:
            t.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await self.recorder.flush(2)
        await runner.cleanup()

    def stop(self) -> None:
        self._stopping.set()


async def amain(opts: AgentOptions) -> None:
    import signal

    config = await load_config(opts.kubeconfig)
    async with KubeClient(config) as client:
        agent = NodeAgent(opts, client)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, agent.stop)
        await agent.run()
