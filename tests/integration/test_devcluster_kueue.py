"""Kueue on the local cluster (`dev-cluster up --kueue`), through the real manager and APIs.

A suspended Job in a LocalQueue is admitted and runs; with the GPU quota of 1 a second GPU
job waits and the visibility API gives its position; a bare Pod joins the queue through its
scheduling gate; `down` leaves no Kueue process and a later `up` of the same state directory
brings Kueue back without the flag.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path

import pytest
from clusters import unavailable
from jobs_support import user_kubeconfig

from jupyter_k8s.devcluster.controlplane import DevCluster, pid_alive
from jupyter_k8s.devcluster.kueue_build import KUEUE_VERSION, find_kueue
from jupyter_k8s.devcluster.kueue_objects import (
    CLUSTER_QUEUE,
    KUEUE_API,
    LOCAL_QUEUE,
    QUEUE_LABEL,
    pending_workloads_path,
)
from jupyter_k8s.k8s.client import (
    ClusterConfig,
    Forbidden,
    KubeClient,
    NotFound,
    load_config,
    wait_for,
)
from jupyter_k8s.k8s.objects import container, pod_spec

pytestmark = pytest.mark.integration
# The Kueue cluster's fixtures: kueue_cluster, kueue_admin_config, kueue_admin, kueue_namespace.
pytest_plugins = ("kueue_support",)

IMAGE = "python:3.11-slim"  # recorded, not pulled: the node runs this environment's python
GATE = "kueue.x-k8s.io/admission"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _resources(gpus: int) -> dict:
    amounts = {"cpu": "100m", "memory": "256Mi"}
    if gpus:
        amounts["nvidia.com/gpu"] = str(gpus)
    return {"requests": amounts, "limits": amounts}


def queued_job(name: str, code: str, gpus: int = 1) -> dict:
    c = container("main", IMAGE, ["python", "-u", "-c", code], resources=_resources(gpus))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {QUEUE_LABEL: LOCAL_QUEUE}},
        "spec": {
            "suspend": True,  # Kueue resumes it on admission
            "backoffLimit": 0,
            "template": {"spec": pod_spec([c])},
        },
    }


async def workload_of(client: KubeClient, ns: str, kind: str, uid: str) -> dict | None:
    listing = await client.request(
        "GET",
        f"/apis/{KUEUE_API}/namespaces/{ns}/workloads",
        params={"labelSelector": f"kueue.x-k8s.io/job-uid={uid}"},
    )
    items = [
        w
        for w in listing["items"]
        if any(o.get("kind") == kind for o in w["metadata"].get("ownerReferences", []))
    ]
    return items[0] if items else None


def condition(obj: dict, kind: str) -> dict:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return {}


async def job_ended(client: KubeClient, ns: str, name: str) -> str | None:
    job = await client.get("jobs", name, ns)
    for cond in job.get("status", {}).get("conditions", []):
        if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
            return cond["type"]
    return None


def _report(name: str, data: object) -> None:
    """Keep what the API answered, for the docs and for the extension's authors."""
    out = os.environ.get("JK8S_KUEUE_RECORD")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / f"{name}.json").write_text(json.dumps(data, indent=2))


async def test_sample_queue_and_visibility_api(kueue_admin: KubeClient, kueue_cluster: DevCluster):
    cq = await kueue_admin.request("GET", f"/apis/{KUEUE_API}/clusterqueues/{CLUSTER_QUEUE}")
    assert condition(cq, "Active").get("status") == "True", cq.get("status")
    quotas = {
        r["name"]: r["nominalQuota"]
        for r in cq["spec"]["resourceGroups"][0]["flavors"][0]["resources"]
    }
    assert quotas["nvidia.com/gpu"] == "1"
    node = await kueue_admin.get("nodes", "dev-node")
    assert quotas["cpu"] == node["status"]["allocatable"]["cpu"]
    ns = kueue_cluster.namespace
    lq = await kueue_admin.request(
        "GET", f"/apis/{KUEUE_API}/namespaces/{ns}/localqueues/{LOCAL_QUEUE}"
    )
    assert lq["spec"]["clusterQueue"] == CLUSTER_QUEUE
    for name, value in (("low", 100), ("high", 1000)):
        wpc = await kueue_admin.request("GET", f"/apis/{KUEUE_API}/workloadpriorityclasses/{name}")
        assert wpc["value"] == value
    for version in ("v1beta2", "v1beta1"):
        discovery = await kueue_admin.request("GET", f"/apis/visibility.kueue.x-k8s.io/{version}")
        names = {r["name"] for r in discovery["resources"]}
        assert "localqueues/pendingworkloads" in names, names
    empty = await kueue_admin.request("GET", pending_workloads_path(ns, LOCAL_QUEUE))
    assert empty["kind"] == "PendingWorkloadsSummary" and empty["items"] == []
    info = kueue_cluster.status()
    assert info["running"] and info["kueue"]["version"] == KUEUE_VERSION
    assert info["processes"]["kueue"]["alive"]


async def test_job_admitted_runs_and_a_second_gpu_job_waits_with_its_position(
    kueue_admin: KubeClient, kueue_namespace: str
):
    ns = kueue_namespace
    first, second = _name("gpu-a"), _name("gpu-b")
    a = await kueue_admin.create(
        "jobs", queued_job(first, "import time; time.sleep(6); print('a done')"), ns
    )
    wl_a = await wait_for(
        lambda: workload_of(kueue_admin, ns, "Job", a["metadata"]["uid"]), 30, what="workload a"
    )

    async def admitted(uid: str) -> dict | None:
        wl = await workload_of(kueue_admin, ns, "Job", uid)
        return wl if wl and condition(wl, "Admitted").get("status") == "True" else None

    wl_a = await wait_for(lambda: admitted(a["metadata"]["uid"]), 30, what="job a admitted")
    _report("workload-admitted", wl_a)
    assert condition(wl_a, "QuotaReserved").get("status") == "True"
    assert wl_a["status"]["admission"]["clusterQueue"] == CLUSTER_QUEUE
    job_a = await kueue_admin.get("jobs", first, ns)
    assert job_a["spec"]["suspend"] is False  # resumed by Kueue

    b = await kueue_admin.create("jobs", queued_job(second, "print('b done')"), ns)

    async def pending_b() -> dict | None:
        wl = await workload_of(kueue_admin, ns, "Job", b["metadata"]["uid"])
        if wl and condition(wl, "QuotaReserved").get("status") == "False":
            return wl
        return None

    wl_b = await wait_for(pending_b, 30, what="job b pending")
    _report("workload-pending", wl_b)
    assert "nvidia.com/gpu" in condition(wl_b, "QuotaReserved")["message"]
    assert (await kueue_admin.get("jobs", second, ns))["spec"]["suspend"] is True

    async def listed() -> dict | None:
        summary = await kueue_admin.request("GET", pending_workloads_path(ns, LOCAL_QUEUE))
        return summary if summary["items"] else None

    summary = await wait_for(listed, 30, what="pendingworkloads to list job b")
    _report("pendingworkloads", summary)
    (item,) = summary["items"]
    assert item["metadata"]["name"] == wl_b["metadata"]["name"]
    assert item["localQueueName"] == LOCAL_QUEUE
    assert item["positionInLocalQueue"] == 0 and item["positionInClusterQueue"] == 0

    assert await wait_for(lambda: job_ended(kueue_admin, ns, first), 90, what="job a") == "Complete"
    # The GPU is free again: b is admitted, resumed and runs.
    assert (
        await wait_for(lambda: job_ended(kueue_admin, ns, second), 90, what="job b") == "Complete"
    )

    # Kueue marks the workload Finished after the Job completed, in its own reconcile.
    async def finished_b() -> dict | None:
        wl = await workload_of(kueue_admin, ns, "Job", b["metadata"]["uid"])
        return wl if wl and condition(wl, "Finished").get("status") == "True" else None

    wl_b = await wait_for(finished_b, 30, what="workload b Finished")
    _report("workload-finished", wl_b)
    for name in (first, second):
        await kueue_admin.delete("jobs", name, ns)


async def test_bare_pod_is_gated_then_runs_once_admitted(
    kueue_admin: KubeClient, kueue_namespace: str
):
    ns = kueue_namespace
    name = _name("pod")
    c = container("main", IMAGE, ["python", "-c", "print('pod ran')"], resources=_resources(0))
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {QUEUE_LABEL: LOCAL_QUEUE}},
        "spec": pod_spec([c]),
    }
    created = await kueue_admin.create("pods", body, ns)
    # Kueue's pod webhook gated it at creation, before the scheduler could see it.
    assert {"name": GATE} in created["spec"].get("schedulingGates", [])

    async def phase() -> str | None:
        pod = await kueue_admin.get("pods", name, ns)
        return pod["status"].get("phase") if pod["status"].get("phase") == "Succeeded" else None

    assert await wait_for(phase, 60, what="the gated pod to run") == "Succeeded"
    pod = await kueue_admin.get("pods", name, ns)
    assert GATE not in [g["name"] for g in pod["spec"].get("schedulingGates", [])]
    wl = await workload_of(kueue_admin, ns, "Pod", pod["metadata"]["uid"])
    assert wl is not None and condition(wl, "Admitted").get("status") == "True"
    await kueue_admin.delete("pods", name, ns)

    async def gone() -> bool:
        try:
            await kueue_admin.get("pods", name, ns)
        except NotFound:
            return True
        return False

    # Kueue's finalizer goes once the pod's Workload is finished.
    await wait_for(gone, 60, what="the pod to be deleted")


def test_visibility_api_is_authorized_per_user(
    kueue_cluster: DevCluster,
    kueue_admin_config: ClusterConfig,
    kueue_namespace: str,
    tmp_path: Path,
):
    """RBAC decides who may read a queue's pending list: `get` on localqueues/pendingworkloads
    in group visibility.kueue.x-k8s.io (the API server checks it before proxying, and the
    visibility server again through a SubjectAccessReview)."""
    ns, reader = kueue_namespace, "queue-reader"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": reader, "namespace": ns},
        "rules": [
            {
                "apiGroups": ["visibility.kueue.x-k8s.io"],
                "resources": ["localqueues/pendingworkloads"],
                "verbs": ["get"],
            }
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": reader, "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": reader},
        "subjects": [{"kind": "ServiceAccount", "name": reader, "namespace": ns}],
    }

    async def make_account() -> None:
        async with KubeClient(kueue_admin_config) as admin:
            sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": reader}}
            await admin.create("serviceaccounts", sa, ns)

    asyncio.run(make_account())
    path = user_kubeconfig(
        kueue_cluster, kueue_admin_config, ns, tmp_path / "reader.kubeconfig", reader
    )

    async def check() -> None:
        config = await load_config(str(path))
        async with KubeClient(config) as user, KubeClient(kueue_admin_config) as admin:
            with pytest.raises(Forbidden):
                await user.request("GET", pending_workloads_path(ns, LOCAL_QUEUE))
            await admin.create("roles", role, ns)
            await admin.create("rolebindings", binding, ns)

            async def allowed() -> dict | None:
                try:
                    return await user.request("GET", pending_workloads_path(ns, LOCAL_QUEUE))
                except Forbidden:
                    return None

            # The visibility server may hold a denial for 10 s (its authorizer's deny cache).
            summary = await wait_for(allowed, 30, what="the grant to be honoured")
            assert summary["kind"] == "PendingWorkloadsSummary"
            # Only that LocalQueue's pending list: the ClusterQueue's stays forbidden.
            with pytest.raises(Forbidden):
                await user.request(
                    "GET",
                    f"/apis/visibility.kueue.x-k8s.io/v1beta2/clusterqueues/{CLUSTER_QUEUE}"
                    "/pendingworkloads",
                )

    asyncio.run(check())


def _kueue_processes(state: Path) -> list[int]:
    """Kueue managers (or their mount-namespace wrapper) started for `state`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        is_kueue = Path(argv[0]).name == "kueue" or "jupyter_k8s.devcluster.mountns_exec" in argv
        if is_kueue and any(str(state) in arg for arg in argv):
            found.append(int(entry.name))
    return found


def test_down_stops_kueue_and_a_later_up_keeps_it(tmp_path: Path):
    if find_kueue() is None:
        unavailable(f"Kueue {KUEUE_VERSION} is not built (`jupyter k8s dev-cluster build --kueue`)")
    state = tmp_path / "kueue-lifecycle"
    cluster = DevCluster(state, kueue=True)
    try:
        started = time.monotonic()
        st = cluster.up(wait=True, timeout=180)
        print(f"up --kueue to ready: {time.monotonic() - started:.1f} s")
        pid = st.pids["kueue"]
        assert pid_alive(pid) and _kueue_processes(state) == [pid]
        # A second `up` of a running cluster changes nothing and does not fail.
        assert DevCluster(state).up(wait=True).pids["kueue"] == pid
        cluster.down()
        assert not pid_alive(pid)
        assert _kueue_processes(state) == []
        # Without the flag, the same state directory starts with Kueue again.
        st = DevCluster(state).up(wait=True, timeout=180)
        assert pid_alive(st.pids["kueue"])
        asyncio.run(_queue_exists(DevCluster(state)))
    finally:
        cluster.down(quiet=True)
    assert _kueue_processes(state) == []


async def _queue_exists(cluster: DevCluster) -> None:
    from jupyter_k8s.k8s.client import load_config

    config = await load_config(str(cluster.admin_kubeconfig))
    async with KubeClient(config) as client:
        cq = await client.request("GET", f"/apis/{KUEUE_API}/clusterqueues/{CLUSTER_QUEUE}")
        assert cq["metadata"]["name"] == CLUSTER_QUEUE
