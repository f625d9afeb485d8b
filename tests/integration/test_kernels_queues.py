"""Queued remote kernels with the real Kueue manager (issue 13), through a real Jupyter server.

On the local cluster with Kueue (tests/integration/kueue_support.py): one fake GPU, so
ClusterQueue team-a has a GPU quota of 1; LocalQueue `gpu` in the test namespace. The server
runs as the shipped ServiceAccount with the optional Kueue RBAC, and profiles: the default CPU
one (no queue), `gpu` (one GPU, queue `gpu`), and two whose queue can't take a pod (a
LocalQueue, a WorkloadPriorityClass that do not exist).

What must hold:
- Kueue's pod webhook gates a pod with the queue's label next to our own gate, and our
  ungate patch removes ours only;
- with the GPU held by a running 1-GPU job, a GPU kernel started through POST /api/kernels
  waits in the queue: its status (GET /jupyter-k8s/kernels, what the start-up notification
  shows) says "Queued in gpu: position 1 of 1; ClusterQueue team-a uses nvidia.com/gpu 1 of 1",
  its pod carries Kueue's gate and its Workload is owned by the Pod; a second one waits at
  2 of 2 and moves up to 1 of 1 when the job is cancelled and the first kernel starts and
  executes a cell; the second then runs once the first is shut down;
- a profile naming a missing LocalQueue or WorkloadPriorityClass fails at start with the
  clear message, and no pod is made;
- a kernel with no queue is not touched by Kueue on this cluster.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, user_kubeconfig
from kernels_support import Channels, api, kernel_pods, wait_gone, wait_no_kernel_pods

from jupyter_k8s.k8s.client import KubeClient
from jupyter_k8s.kernels.objects import (
    KUEUE_GATE,
    SCHEDULING_GATE,
    KernelPodBuild,
    make_pod,
    ungate_patch,
)
from jupyter_k8s.profiles import BUILTIN_PROFILES, load_profiles
from jupyter_k8s.queues.names import QUEUE_LABEL
from jupyter_k8s.queues.rbac import apply_kueue_rbac

pytest_plugins = ("kueue_support",)
pytestmark = [pytest.mark.integration, pytest.mark.asyncio, pytest.mark.timeout(420)]

OWNER = "queued-kim"
GPU = {"gpus": 1, "cpu_request": "100m", "memory_request": "128Mi"}
PROFILES = [
    BUILTIN_PROFILES[0],
    {"name": "gpu", "display_name": "GPU (queued)", "queue": "gpu", **GPU},
    {"name": "spare", "queue": "spare", **GPU},  # no such LocalQueue in the namespace
    {"name": "gputop", "queue": "gpu", "priority_class": "top", **GPU},  # no such class
]
QUEUED = "Queued in gpu: position 1 of 1; ClusterQueue team-a uses nvidia.com/gpu 1 of 1"
HOLD_NB = notebook("import time\nprint('holding the GPU', flush=True)\ntime.sleep(600)")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kernel-queues") / "work"
    write_notebook(root / "hold.ipynb", HOLD_NB)
    return root


@pytest.fixture(scope="module")
def server(
    kueue_cluster, kueue_admin_config, kueue_namespace, workspace
) -> Iterator[ServerProcess]:
    async def grant() -> None:
        async with KubeClient(kueue_admin_config) as client:
            await apply_kueue_rbac(client, kueue_namespace)

    asyncio.run(grant())
    kubeconfig = user_kubeconfig(
        kueue_cluster, kueue_admin_config, kueue_namespace, workspace.parent / "user.kubeconfig"
    )
    srv = ServerProcess(
        workspace,
        kubeconfig,
        kueue_namespace,
        owner=OWNER,
        config={"profiles": PROFILES, "kernel_start_timeout": 180},
    )
    srv.start()
    yield srv
    srv.stop()


async def kernel_statuses(server: ServerProcess) -> list[dict[str, Any]]:
    _, listing = await api(server, "GET", "/jupyter-k8s/kernels", expect=200)
    return listing["kernels"]


async def one_plus_one(server: ServerProcess, kernel_id: str) -> None:
    async with Channels(server, kernel_id) as ch:
        await ch.kernel_info()
        out = await ch.execute("1+1")
        assert out["status"] == "ok" and out["result"] == "2", out


async def test_a_kernel_without_a_queue_is_not_touched_by_kueue(
    server: ServerProcess, kueue_admin: KubeClient, kueue_namespace: str
):
    _, model = await api(server, "POST", "/api/kernels", {"name": "k8s-cpu"}, expect=201)
    kernel_id = model["id"]
    try:
        (pod,) = await kernel_pods(kueue_admin, kueue_namespace, kernel_id)
        labels = pod["metadata"]["labels"]
        assert QUEUE_LABEL not in labels and "kueue.x-k8s.io/managed" not in labels
        assert not any("kueue" in f for f in pod["metadata"].get("finalizers") or [])
        await one_plus_one(server, kernel_id)
        _, status = await api(server, "GET", f"/jupyter-k8s/kernels/{kernel_id}", expect=200)
        assert status["phase"] == "Running" and status["queue"] is None
    finally:
        await api(server, "DELETE", f"/api/kernels/{kernel_id}", expect=204)
    await wait_no_kernel_pods(kueue_admin, kueue_namespace)


async def test_a_queue_that_cannot_take_the_pod_fails_at_start(
    server: ServerProcess, kueue_admin: KubeClient, kueue_namespace: str
):
    status, body = await api(server, "POST", "/api/kernels", {"name": "k8s-spare"})
    assert status == 409, body
    assert body["message"] == (
        f"no LocalQueue 'spare' in namespace '{kueue_namespace}' (queues here: gpu); ask your "
        "operator, or change `queue` in profile 'spare'"
    )
    failed = [s for s in await kernel_statuses(server) if s.get("kernel_name") == "k8s-spare"]
    assert failed and failed[-1]["phase"] == "Failed" and failed[-1]["reason"] == "NoLocalQueue"
    status, body = await api(server, "POST", "/api/kernels", {"name": "k8s-gputop"})
    assert status == 409, body
    assert body["message"].startswith("no WorkloadPriorityClass 'top' in this cluster")
    assert not await kernel_pods(kueue_admin, kueue_namespace)


async def test_kueue_gates_next_to_ours_and_ungating_keeps_its_gate(
    server: ServerProcess, kueue_admin: KubeClient, kueue_namespace: str
):
    """The gates of a queued kernel pod, straight against the API server: ours and Kueue's
    at creation, ours removed alone. (The GPU is free: Kueue admits it at once, and may lift
    its gates first; either order is fine, each side removes only its own.)"""
    profile = load_profiles([PROFILES[1]], "img:1").get("gpu")
    build = KernelPodBuild(
        name="kernel-gates-probe",
        namespace=kueue_namespace,
        kernel_id="gates-probe",
        kernel_name="k8s-gpu",
        owner="nobody-here",
        profile=profile,
        image="img:1",
        queue="gpu",
    )
    created = await kueue_admin.create("pods", make_pod(build), kueue_namespace)
    try:
        names = [g["name"] for g in created["spec"]["schedulingGates"]]
        assert SCHEDULING_GATE in names and KUEUE_GATE in names, names
        assert created["metadata"]["labels"]["kueue.x-k8s.io/managed"] == "true"
        patched = await kueue_admin.patch(
            "pods", build.name, ungate_patch(), kueue_namespace, kind="strategic"
        )
        left = [g["name"] for g in patched["spec"].get("schedulingGates") or []]
        # Kueue's own (admission, and topology where its TAS feature is on) stay, unless
        # Kueue already admitted the pod and lifted them.
        assert SCHEDULING_GATE not in left, left
        assert all(g.startswith("kueue.x-k8s.io/") for g in left), left
    finally:
        await kueue_admin.delete("pods", build.name, kueue_namespace, grace_period=0)
    # Kueue's finalizer on the pod is lifted by Kueue: the pod goes.
    await wait_gone(kueue_admin, kueue_namespace, "pods", build.name, timeout=60)


class StatusLog:
    """What GET /jupyter-k8s/kernels said of each starting kernel, each change once (what the
    start-up notification shows)."""

    def __init__(self, server: ServerProcess):
        self.server = server
        self.seen: dict[str, list[dict[str, Any]]] = {}

    async def until(self, check, timeout: float = 60) -> dict[str, Any]:
        """Until a status of a k8s-gpu kernel satisfies `check`; that status."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            found = None
            for s in await kernel_statuses(self.server):
                if s.get("kernel_name") != "k8s-gpu":
                    continue
                said = self.seen.setdefault(s["kernel_id"], [])
                if not said or (said[-1]["reason"], said[-1]["message"]) != (
                    s["reason"],
                    s["message"],
                ):
                    said.append(s)
                if found is None and check(s):
                    found = s
            if found is not None:
                return found
            await asyncio.sleep(0.1)
        raise TimeoutError(json.dumps(self.seen, indent=1))


def queued_at(position: int, pending: int):
    def check(s: dict[str, Any]) -> bool:
        q = s.get("queue") or {}
        return (
            s["phase"] == "Pending"
            and s["reason"] == "Queued"
            and (q.get("position"), q.get("pending")) == (position, pending)
        )

    return check


async def test_gpu_kernels_wait_in_the_queue_then_run(
    server: ServerProcess, kueue_admin: KubeClient, kueue_namespace: str
):
    """Two GPU kernels behind a running 1-GPU job: 1 of 2 and 2 of 2; the job is cancelled,
    the first runs and the second moves up to 1 of 1 (the status changes while its pod does
    not); the first shuts down, the second runs."""
    _, created = await server.call(
        "POST", "/jobs", {"notebook": "hold.ipynb", "profile": "gpu"}, expect=201
    )
    job_id = created["job"]["id"]
    await server.wait_job(job_id, lambda j: j["phase"] == "Running", timeout=120)

    log = StatusLog(server)
    started = time.monotonic()
    post_a = asyncio.ensure_future(api(server, "POST", "/api/kernels", {"name": "k8s-gpu"}))
    post_b: asyncio.Future | None = None
    try:
        queued = await log.until(queued_at(1, 1))
        assert not post_a.done()
        assert queued["message"] == QUEUED
        queue = queued["queue"]
        assert (queue["queue"], queue["cluster_queue"], queue["state"]) == (
            "gpu",
            "team-a",
            "queued",
        )
        gpu = next(u for u in queue["usage"] if u["resource"] == "nvidia.com/gpu")
        assert (gpu["used"], gpu["quota"]) == ("1", "1")
        kernel_a = queued["kernel_id"]

        # The pod: in the queue, held by Kueue's gate (ours went with its Secret), its
        # Workload owned by the Pod (kind, name and uid).
        (pod,) = await kernel_pods(kueue_admin, kueue_namespace, kernel_a)
        assert pod["metadata"]["name"] == queued["pod"]
        assert pod["metadata"]["labels"][QUEUE_LABEL] == "gpu"
        gates = [g["name"] for g in pod["spec"]["schedulingGates"]]
        assert KUEUE_GATE in gates and SCHEDULING_GATE not in gates, gates
        workloads = (await kueue_admin.list("workloads", kueue_namespace))["items"]
        owners = [
            {k: ref.get(k) for k in ("kind", "name", "uid")}
            for wl in workloads
            for ref in wl["metadata"].get("ownerReferences") or []
        ]
        mine = {"kind": "Pod", "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}
        assert mine in owners, owners

        # A second one queues behind it.
        post_b = asyncio.ensure_future(api(server, "POST", "/api/kernels", {"name": "k8s-gpu"}))
        second = await log.until(lambda s: s["kernel_id"] != kernel_a and queued_at(2, 2)(s))
        kernel_b = second["kernel_id"]
        assert second["message"] == (
            "Queued in gpu: position 2 of 2; ClusterQueue team-a uses nvidia.com/gpu 1 of 1"
        )
        await log.until(lambda s: s["kernel_id"] == kernel_a and queued_at(1, 2)(s))

        # The GPU frees up: the first is admitted, starts and runs a cell; the second moves up.
        t_cancel = time.monotonic()
        await server.call("POST", f"/jobs/{job_id}/cancel", expect=200)
        status, model = await asyncio.wait_for(post_a, 150)
        assert status == 201, model
        up = time.monotonic()
        assert model["id"] == kernel_a
        moved = await log.until(lambda s: s["kernel_id"] == kernel_b and queued_at(1, 1)(s))
        assert moved["message"] == QUEUED and not post_b.done()
        try:
            await one_plus_one(server, kernel_a)
            _, running = await api(server, "GET", f"/jupyter-k8s/kernels/{kernel_a}", expect=200)
            assert running["phase"] == "Running"
            assert running["queue"]["state"] == "admitted"
            assert running["queue"]["message"] == "Admitted by ClusterQueue team-a"
        finally:
            await api(server, "DELETE", f"/api/kernels/{kernel_a}", expect=204)
        await wait_gone(kueue_admin, kueue_namespace, "pods", pod["metadata"]["name"], timeout=60)

        # Its GPU back in the quota: the second runs.
        status, model = await asyncio.wait_for(post_b, 150)
        assert status == 201 and model["id"] == kernel_b, model
        try:
            await one_plus_one(server, kernel_b)
        finally:
            await api(server, "DELETE", f"/api/kernels/{kernel_b}", expect=204)
        print("kernel start-up statuses:", json.dumps(log.seen, indent=1))
        print(
            f"first kernel queued {t_cancel - started:.1f} s, up {up - t_cancel:.1f} s after "
            "the job's cancel"
        )
        await wait_no_kernel_pods(kueue_admin, kueue_namespace, timeout=60)
    finally:
        for post in (post_a, post_b):
            if post is not None and not post.done():
                post.cancel()
        await server.call("POST", f"/jobs/{job_id}/cancel")
        await server.wait_job(
            job_id, lambda j: j["phase"] in ("Failed", "Cancelled", "Succeeded"), timeout=120
        )
