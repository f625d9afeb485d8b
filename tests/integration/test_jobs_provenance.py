"""The provenance stamp on the local cluster, with the default configuration: the executed
notebooks of a succeeded, a failed (a cell raises) and a cancelled job each carry the
`jupyter_k8s` block, whose image digest and node are what the pod's status says (read with
the admin client, not through the server), and the job detail returns the same block.

The server runs as the least-privileged ServiceAccount, which may not read Nodes: the stamp
is made all the same, without the GPU product label.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nbformat
import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, user_kubeconfig

from jupyter_k8s.k8s.client import KubeClient

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def finished(job: dict) -> bool:
    return job["phase"] in ("Succeeded", "Failed", "Cancelled") and job["output_state"] != (
        "pending"
    )


async def runner_pod(admin: KubeClient, namespace: str, job_id: str) -> dict[str, Any]:
    """The job's pod as the API server has it, once its runner container has an imageID."""
    for _ in range(100):
        listing = await admin.list(
            "pods", namespace, labelSelector=f"batch.kubernetes.io/job-name={job_id}"
        )
        for pod in listing["items"]:
            for status in pod["status"].get("containerStatuses") or []:
                if status["name"] == "runner" and status.get("imageID"):
                    return pod
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id}: no pod with the runner's imageID")


def image_id(pod: dict[str, Any]) -> str:
    return next(s["imageID"] for s in pod["status"]["containerStatuses"] if s["name"] == "runner")


async def test_succeeded_failed_and_cancelled_outputs_carry_the_stamp(
    dev_cluster, admin_config, admin, namespace, tmp_path
):
    root = tmp_path / "root"
    write_notebook(root / "ok.ipynb", notebook("print(n * 2)", parameters="n = 1"))
    write_notebook(root / "fails.ipynb", notebook("x = 1", "raise ValueError('bad row 17')"))
    write_notebook(root / "slow.ipynb", notebook("print('first')", "import time\ntime.sleep(90)"))
    kubeconfig = await asyncio.to_thread(
        user_kubeconfig, dev_cluster, admin_config, namespace, tmp_path / "kubeconfig"
    )
    server = ServerProcess(root, kubeconfig, namespace, owner="stamped")  # default config
    await asyncio.to_thread(server.start)
    try:
        expected = {}
        for nb, params, outcome in (
            ("ok.ipynb", {"n": 21}, ("Succeeded", "Succeeded")),
            ("fails.ipynb", {}, ("Failed", "NotebookFailed")),
            ("slow.ipynb", {}, ("Cancelled", "Cancelled")),
        ):
            _, created = await server.call(
                "POST", "/jobs", {"notebook": nb, "parameters": params}, expect=201
            )
            expected[created["job"]["id"]] = (params, outcome)
        slow = list(expected)[2]
        # The cancelled job's pod goes away with the cancel: its status is read before.
        await server.wait_job(slow, lambda j: (j["current_cell"] or 0) >= 2, 180)
        pods = {slow: await runner_pod(admin, namespace, slow)}
        await server.call("POST", f"/jobs/{slow}/cancel", expect=200)

        for job_id, (params, (phase, reason)) in expected.items():
            done = await server.wait_job(job_id, finished, 180)
            assert (done["phase"], done["output_state"]) == (phase, "ready"), done
            pod = pods.get(job_id) or await runner_pod(admin, namespace, job_id)
            text = (root / done["output_path"]).read_text()
            nbformat.validate(nbformat.reads(text, as_version=4))
            stamp = json.loads(text)["metadata"]["jupyter_k8s"]

            assert stamp["job_id"] == job_id and stamp["parameters"] == params
            assert stamp["image_digest"] == image_id(pod), (stamp, pod["status"])
            assert stamp["node"] == pod["spec"]["nodeName"]
            assert (stamp["outcome"], stamp["reason"]) == (phase, reason), stamp
            assert stamp["profile"] == "cpu" and stamp["image"] == done["image"]
            assert stamp["duration_seconds"] >= 0 and stamp["started"] <= stamp["finished"]
            # The default cpu profile: no GPUs, no cost; Nodes are not readable here.
            assert stamp["gpu_count"] == 0 and stamp["gpu_hours"] == 0
            assert not {"gpu_resource", "gpu_product", "cost", "cost_per_hour"} & set(stamp)

            # The job detail gives the same block (null fields there, absent in the notebook).
            given = {k: v for k, v in (done["provenance"] or {}).items() if v is not None}
            assert given == stamp
    finally:
        await asyncio.to_thread(server.stop)


async def test_shared_staging_stamps_the_notebook_the_pod_wrote_in_place(
    dev_cluster, admin_config, admin, namespace, tmp_path
):
    """The pod writes the executed notebook itself; the server adds the block to that file
    once the job has finished (and the job detail then has it too)."""
    root = tmp_path / "home"
    write_notebook(root / "project" / "ok.ipynb", notebook("print(n)", parameters="n = 1"))
    pv = f"{namespace}-provenance"
    await admin.create(
        "persistentvolumes",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": pv},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "hostPath": {"path": str(root), "type": "Directory"},
            },
        },
    )
    server = None
    try:
        await admin.create(
            "persistentvolumeclaims",
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "provenance-home"},
                "spec": {
                    "accessModes": ["ReadWriteMany"],
                    "storageClassName": "",
                    "volumeName": pv,
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
            namespace,
        )
        kubeconfig = await asyncio.to_thread(
            user_kubeconfig, dev_cluster, admin_config, namespace, tmp_path / "kubeconfig"
        )
        server = ServerProcess(
            root,
            kubeconfig,
            namespace,
            owner="stamped-shared",
            config={
                "staging": "shared",
                "shared_volume": {"persistentVolumeClaim": {"claimName": "provenance-home"}},
            },
        )
        await asyncio.to_thread(server.start)
        _, created = await server.call(
            "POST", "/jobs", {"notebook": "project/ok.ipynb", "parameters": {"n": 7}}, expect=201
        )
        job_id = created["job"]["id"]
        done = await server.wait_job(job_id, lambda j: j["provenance"] is not None, 180)
        assert (done["phase"], done["output_state"]) == ("Succeeded", "ready"), done
        text = (root / done["output_path"]).read_text()
        nbformat.validate(nbformat.reads(text, as_version=4))
        stamp = json.loads(text)["metadata"]["jupyter_k8s"]
        pod = await runner_pod(admin, namespace, job_id)
        assert stamp["job_id"] == job_id and stamp["parameters"] == {"n": 7}
        assert stamp["image_digest"] == image_id(pod) and stamp["node"] == pod["spec"]["nodeName"]
        assert (stamp["outcome"], stamp["reason"]) == ("Succeeded", "Succeeded")
        assert {k: v for k, v in done["provenance"].items() if v is not None} == stamp
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
        await admin.delete("persistentvolumes", pv, missing_ok=True)


async def test_each_sweep_index_output_carries_its_own_stamp(
    dev_cluster, admin_config, admin, namespace, tmp_path
):
    """A sweep's outputs each say which index and parameter set they ran, how that index
    ended, and the digest and node of that index's own pod."""
    root = tmp_path / "root"
    write_notebook(
        root / "sweep.ipynb",
        notebook("assert n != 2, 'two is bad'\nprint(n)", parameters="n = 0"),
    )
    kubeconfig = await asyncio.to_thread(
        user_kubeconfig, dev_cluster, admin_config, namespace, tmp_path / "kubeconfig"
    )
    server = ServerProcess(root, kubeconfig, namespace, owner="stamped-sweep")  # defaults
    await asyncio.to_thread(server.start)
    try:
        body = {
            "notebook": "sweep.ipynb",
            "sweep": {"mode": "zip", "parameters": {"n": [1, 2]}},
            "parallelism": 2,
        }
        _, created = await server.call("POST", "/jobs", body, expect=201)
        job_id = created["job"]["id"]
        done = await server.wait_job(job_id, finished, 240)
        listing = await admin.list(
            "pods", namespace, labelSelector=f"batch.kubernetes.io/job-name={job_id}"
        )
        pods = {
            int(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]): p
            for p in listing["items"]
        }
        expected = {0: ("Succeeded", "Succeeded"), 1: ("Failed", "NotebookFailed")}
        for index in done["sweep"]["indexes"]:
            k = index["index"]
            assert index["output_state"] == "ready", index
            stamp = json.loads((root / index["output_path"]).read_text())["metadata"]["jupyter_k8s"]
            assert stamp["job_id"] == job_id and stamp["sweep_index"] == k
            assert stamp["parameters"] == {"n": k + 1}
            assert (stamp["outcome"], stamp["reason"]) == expected[k], stamp
            assert stamp["image_digest"] == image_id(pods[k])
            assert stamp["node"] == pods[k]["spec"]["nodeName"]
    finally:
        await asyncio.to_thread(server.stop)
