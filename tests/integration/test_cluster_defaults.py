"""Zero configuration: the local cluster advertises a default image, and a server with nothing
set (no default_image, no profiles) runs a job and names the image it used. Without the
advertisement, a submit is refused with the one line to add."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, user_kubeconfig

from jupyter_k8s.devcluster.bootstrap import DEFAULT_IMAGE, advertise_defaults
from jupyter_k8s.k8s.client import KubeClient
from jupyter_k8s.k8s.cluster_defaults import (
    DEFAULTS_NAME,
    DEFAULTS_NAMESPACE,
    read_advertised_image,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest.fixture(scope="module")
def kubeconfig(dev_cluster, admin_config, namespace, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("defaults-kubeconfig") / "kubeconfig"
    return user_kubeconfig(dev_cluster, admin_config, namespace, path)


@pytest.fixture(scope="module")
def server(kubeconfig, namespace, tmp_path_factory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("defaults") / "work"
    write_notebook(root / "hello.ipynb", notebook("print('hello', n)", parameters="n = 1"))
    srv = ServerProcess(root, kubeconfig, namespace)  # nothing configured but the cluster
    srv.start()
    yield srv
    srv.stop()


async def test_least_privileged_identity_reads_the_advertised_image(user: KubeClient):
    assert await read_advertised_image(user) == DEFAULT_IMAGE


async def test_a_job_runs_with_no_image_configured(server: ServerProcess):
    _, created = await server.call(
        "POST", "/jobs", {"notebook": "hello.ipynb", "parameters": {"n": 7}}, expect=201
    )
    job = created["job"]
    assert job["image"] == DEFAULT_IMAGE
    done = await server.wait_job(
        job["id"],
        lambda j: j["phase"] in ("Succeeded", "Failed") and j["output_state"] != "pending",
    )
    assert done["phase"] == "Succeeded", done
    assert (server.root / done["output_path"]).exists()


async def test_without_an_advertised_image_the_error_names_the_line_to_add(
    admin: KubeClient, kubeconfig: Path, namespace: str, tmp_path: Path
):
    root = tmp_path / "work"
    write_notebook(root / "hello.ipynb", notebook("print('hello')"))
    await admin.delete("configmaps", DEFAULTS_NAME, DEFAULTS_NAMESPACE)
    srv = ServerProcess(root, kubeconfig, namespace, owner="real-cluster-user")
    try:
        srv.start()
        status, body = await srv.call("POST", "/jobs", {"notebook": "hello.ipynb"})
        assert status == 400, body
        assert "c.JupyterK8s.default_image" in body["message"]
        assert "papermill" in body["message"] and "ipykernel" in body["message"]
    finally:
        srv.stop()
        await advertise_defaults(admin)
    assert await read_advertised_image(admin) == DEFAULT_IMAGE
