"""A papermill kernel whose pod stays Pending (it asks for more GPUs than the node has) is
still held by its client: the heartbeat starts when the pod is created, so a Jupyter server of
the same owner, running alongside with a short orphan threshold, never collects it, while it
does collect an abandoned standalone pod of the same age (proof that its collector ran)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, user_kubeconfig
from kernels_support import kernel_pods, wait_gone

from jupyter_k8s.k8s.client import KubeClient, NotFound
from jupyter_k8s.k8s.objects import parse_time
from jupyter_k8s.kernels.identity import random_server_id
from jupyter_k8s.kernels.objects import ANN_HEARTBEAT, KernelPodBuild, make_pod
from jupyter_k8s.profiles import load_profiles

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

OWNER = "pat"
ORPHAN_SECONDS = 6  # c.JupyterK8s.kernel_orphan_seconds: a heartbeat every 1.5 s
PROFILES = [{"name": "cpu", "default": True}, {"name": "gpu2", "gpus": 2}]  # the node has 1


def _age(pod: dict, field: str | None = None) -> float:
    meta = pod["metadata"]
    value = (meta.get("annotations") or {}).get(field) if field else meta["creationTimestamp"]
    when = parse_time(value)
    assert when is not None, (field, value)
    return (datetime.now(UTC) - when).total_seconds()


async def test_a_pending_papermill_kernel_outlives_the_orphan_threshold(
    dev_cluster, admin_config, namespace, tmp_path
):
    kubeconfig = await asyncio.to_thread(
        user_kubeconfig, dev_cluster, admin_config, namespace, tmp_path / "user.kubeconfig"
    )
    # The user's Jupyter configuration, as papermill's `kernelspec install` and the server
    # read it: one orphan threshold for both.
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    settings = {"profiles": PROFILES, "kernel_orphan_seconds": ORPHAN_SECONDS, "owner": OWNER}
    (config_dir / "jupyter_server_config.json").write_text(json.dumps({"JupyterK8s": settings}))
    env = dict(
        os.environ,
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_CONFIG_DIR=str(config_dir),
        JUPYTER_PATH=str(tmp_path / "empty"),
    )
    env.pop("KUBECONFIG", None)
    install = ["kernelspec", "install", "--profile", "gpu2", "--kubeconfig", str(kubeconfig)]
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "jupyter_k8s.cli", *install, "--namespace", namespace],
        env=env,
        check=True,
        capture_output=True,
    )
    spec = json.loads((tmp_path / "data" / "kernels" / "k8s-gpu2" / "kernel.json").read_text())
    assert spec["metadata"]["kernel_provisioner"]["config"]["orphan_seconds"] == ORPHAN_SECONDS

    root = tmp_path / "root"
    root.mkdir()
    server = ServerProcess(
        root=root,
        kubeconfig=kubeconfig,
        namespace=namespace,
        owner=OWNER,
        config={"profiles": PROFILES, "kernel_orphan_seconds": ORPHAN_SECONDS},
    )
    await asyncio.to_thread(server.start)
    nb = notebook("print('ran')")
    nb["metadata"]["kernelspec"] = {"name": "k8s-gpu2", "language": "python", "display_name": "x"}
    src = write_notebook(tmp_path / "gpu.ipynb", nb)
    papermill = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "papermill", "-k", "k8s-gpu2", str(src), str(tmp_path / "o.ipynb")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with KubeClient(admin_config) as admin:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while not (pods := await kernel_pods(admin, namespace)):
                assert papermill.poll() is None, "papermill ended before making its pod"
                assert loop.time() < deadline, "papermill made no kernel pod"
                await asyncio.sleep(0.2)
            (pod,) = pods
            name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]

            # A standalone pod of the same owner whose client is gone (no heartbeat ever):
            # the server must collect this one, at the same age.
            abandoned = make_pod(
                KernelPodBuild(
                    name="kernel-abandoned-x0001",
                    namespace=namespace,
                    kernel_id="abandoned-0001",
                    kernel_name="k8s-gpu2",
                    owner=OWNER,
                    profile=load_profiles(PROFILES, "img:1").get("gpu2"),
                    image="img:1",
                    client="standalone",
                    server_id=random_server_id(),
                )
            )  # gated: it never runs
            await admin.create("pods", abandoned, namespace)

            # The server's collector (at start, then every minute) deletes the abandoned pod
            # once it is older than the threshold; papermill's Pending pod is left alone.
            await wait_gone(admin, namespace, "pods", abandoned["metadata"]["name"], 100)
            pod = await admin.get("pods", name, namespace)
            assert pod["metadata"]["uid"] == uid
            assert pod["status"]["phase"] == "Pending", pod["status"]
            scheduled = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
            assert scheduled["reason"] == "Unschedulable", scheduled
            assert "nvidia.com/gpu" in scheduled["message"], scheduled
            assert _age(pod, ANN_HEARTBEAT) < ORPHAN_SECONDS / 2, "its client renews it"

            # And it stays, well past the threshold: the collector runs every threshold / 2
            # (c.JupyterK8s.kernel_orphan_seconds), so it had many chances to take it.
            while _age(pod) < 5 * ORPHAN_SECONDS:
                pod = await admin.get("pods", name, namespace)
                assert pod["metadata"]["uid"] == uid and not pod["metadata"].get(
                    "deletionTimestamp"
                )
                assert _age(pod, ANN_HEARTBEAT) < ORPHAN_SECONDS
                await asyncio.sleep(1)
            assert papermill.poll() is None, "papermill's start gave up"
            log = server.log_path.read_text() if server.log_path else ""
            assert f"deleting kernel pod {name}" not in log
            assert "deleting kernel pod kernel-abandoned-x0001" in log
    finally:
        if papermill.poll() is None:
            papermill.send_signal(signal.SIGKILL)
            papermill.wait(10)
        await asyncio.to_thread(server.stop)
        async with KubeClient(admin_config) as admin:
            for pod in await kernel_pods(admin, namespace):
                try:
                    await admin.delete("pods", pod["metadata"]["name"], namespace, grace_period=0)
                except NotFound:
                    pass
