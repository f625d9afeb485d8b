"""Clients outside JupyterLab: `jupyter k8s kernelspec install`, then papermill runs a notebook
on a remote kernel (no Jupyter server involved: the provisioner works standalone)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from builders import notebook, write_notebook
from jobs_support import outputs_text
from kernels_support import install_cpu_kernelspec, wait_no_kernel_pods

from jupyter_k8s.k8s.client import KubeClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_papermill_runs_a_notebook_on_a_remote_kernel(
    dev_cluster, admin_config, namespace, tmp_path
):
    env, install = install_cpu_kernelspec(dev_cluster, admin_config, namespace, tmp_path)
    assert install.stdout.startswith("k8s-cpu: "), install
    spec = json.loads((tmp_path / "data" / "kernels" / "k8s-cpu" / "kernel.json").read_text())
    assert spec["metadata"]["kernel_provisioner"]["config"]["namespace"] == namespace

    nb = notebook(
        "import os, time\n"
        "host = os.environ['HOSTNAME']\n"
        "print(host.startswith('kernel-'), os.environ.get('POD_IP', '').startswith('127.1.'))",
        "time.sleep(1)\n6 * 7",
    )
    nb["metadata"]["kernelspec"] = {"name": "k8s-cpu", "language": "python", "display_name": "x"}
    src = write_notebook(tmp_path / "in.ipynb", nb)
    out = tmp_path / "out.ipynb"
    run = subprocess.run(
        [sys.executable, "-m", "papermill", "-k", "k8s-cpu", str(src), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    texts = outputs_text(json.loads(out.read_text()))
    assert texts[0] == ["True True\n"], texts
    assert texts[1] == ["42"], texts

    async def no_pods() -> None:
        async with KubeClient(admin_config) as admin:
            await wait_no_kernel_pods(admin, namespace)

    asyncio.run(no_pods())


def test_a_killed_papermill_leaves_no_pod_behind(dev_cluster, admin_config, namespace, tmp_path):
    """papermill killed with SIGKILL can't delete its kernel's pod; the pod's heartbeat stops,
    and the next jupyter-k8s of that user to look (here: a standalone service, as the next
    papermill run has) deletes it."""
    import getpass
    import signal
    import time

    from jupyter_k8s.k8s.cluster import ClusterService
    from jupyter_k8s.kernels.objects import ANN_HEARTBEAT, owner_selector
    from jupyter_k8s.kernels.service import KernelsConfig, KernelService

    env, _ = install_cpu_kernelspec(dev_cluster, admin_config, namespace, tmp_path)
    kubeconfig = tmp_path / "user.kubeconfig"
    nb = notebook("import time\ntime.sleep(600)")
    nb["metadata"]["kernelspec"] = {"name": "k8s-cpu", "language": "python", "display_name": "x"}
    src = write_notebook(tmp_path / "long.ipynb", nb)
    run = subprocess.Popen(
        [sys.executable, "-m", "papermill", "-k", "k8s-cpu", str(src), str(tmp_path / "o.ipynb")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    owner = getpass.getuser()

    async def scenario() -> None:
        async with KubeClient(admin_config) as admin:
            selector = owner_selector(owner)
            pod = None
            for _ in range(300):
                pods = (await admin.list("pods", namespace, labelSelector=selector))["items"]
                beating = [p for p in pods if ANN_HEARTBEAT in p["metadata"].get("annotations", {})]
                if beating:
                    pod = beating[0]
                    break
                await asyncio.sleep(0.2)
            assert pod is not None, "the kernel pod never got its client's heartbeat"
            name = pod["metadata"]["name"]
            run.send_signal(signal.SIGKILL)
            run.wait(10)
            # Nobody deleted it: the client died without a word.
            await asyncio.sleep(1)
            assert (await admin.get("pods", name, namespace))["metadata"]["name"] == name

            cluster = ClusterService(str(kubeconfig), None, namespace)
            later = KernelService(
                cluster.get_client,
                None,
                KernelsConfig(
                    namespace=namespace,
                    owner=owner,
                    client="standalone",
                    standalone_stale_seconds=2,
                ),
            )
            try:
                await later.start()
                # Fresh heartbeat: not stale yet.
                assert await later.collect_stale_standalone() == []
                t0 = time.monotonic()
                while not (deleted := await later.collect_stale_standalone()):
                    assert time.monotonic() - t0 < 10, "the stale pod was never collected"
                    await asyncio.sleep(0.5)
                assert deleted == [name]
            finally:
                await later.stop()
                await cluster.close()
            await wait_no_kernel_pods(admin, namespace)

    try:
        asyncio.run(scenario())
    finally:
        if run.poll() is None:
            run.kill()
