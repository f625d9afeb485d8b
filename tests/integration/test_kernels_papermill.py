"""Clients outside JupyterLab: `jupyter k8s kernelspec install`, then papermill runs a notebook
on a remote kernel (no Jupyter server involved: the provisioner works standalone)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from jobs_support import IMAGE, notebook, outputs_text, user_kubeconfig, write_notebook
from kernels_support import wait_no_kernel_pods

from jupyter_k8s.k8s.client import KubeClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_papermill_runs_a_notebook_on_a_remote_kernel(
    dev_cluster, admin_config, namespace, tmp_path
):
    kubeconfig = user_kubeconfig(dev_cluster, admin_config, namespace, tmp_path / "user.kubeconfig")
    env = dict(
        os.environ,
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_PATH=str(tmp_path / "empty"),
    )
    env.pop("KUBECONFIG", None)
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_k8s.cli",
            "kernelspec",
            "install",
            "--profile",
            "cpu",
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            namespace,
            "--image",
            IMAGE,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
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
