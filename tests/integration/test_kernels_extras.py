"""Remote kernels: CurveZMQ transport encryption, the GPU idle culler, bad clusters and quotas."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from jobs_support import ServerProcess, user_kubeconfig
from kernels_support import Channels, api, kernel_pods, start_kernel, wait_gone, wait_no_kernel_pods

from jupyter_k8s.devcluster import pki
from jupyter_k8s.devcluster.bootstrap import service_account_token
from jupyter_k8s.k8s.client import KubeClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def make_server(dev_cluster, admin_config, namespace, tmp_path):
    servers: list[ServerProcess] = []
    kubeconfig = user_kubeconfig(dev_cluster, admin_config, namespace, tmp_path / "user.kubeconfig")

    def make(name: str, config: dict | None = None, extra: tuple[str, ...] = (), kube=None):
        root = tmp_path / name
        root.mkdir()
        srv = ServerProcess(
            root=root,
            kubeconfig=kube or kubeconfig,
            namespace=namespace,
            owner=name,
            config=config,
            extra=extra,
        )
        srv.start()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()


async def test_transport_encryption_with_curve(make_server, admin: KubeClient, namespace: str):
    server = await asyncio.to_thread(
        make_server, "curve", None, ("--MappingKernelManager.transport_encryption=required",)
    )
    kernel_id = await start_kernel(server, "k8s-cpu")
    (pod,) = await kernel_pods(admin, namespace, kernel_id)
    name = pod["metadata"]["name"]
    secret = await admin.get("secrets", name, namespace)
    info = json.loads(base64.b64decode(secret["data"]["connection.json"]))
    assert info["curve_publickey"] and info["curve_secretkey"]
    assert info["curve_secretkey"] not in json.dumps(pod)
    async with Channels(server, kernel_id) as ch:
        assert (await ch.execute("6 * 7"))["result"] == "42"
    log = await admin.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}/log", raw=True)
    assert "without encryption" not in log, log
    await api(server, "DELETE", f"/api/kernels/{kernel_id}", expect=204)
    await wait_gone(admin, namespace, "pods", name)


async def test_idle_gpu_kernels_are_culled_first(make_server, admin: KubeClient, namespace: str):
    server = await asyncio.to_thread(
        make_server,
        "culler",
        {"gpu_kernel_idle_timeout": 3, "gpu_kernel_cull_interval": 1},
    )
    gpu = await start_kernel(server, "k8s-gpu")
    cpu = await start_kernel(server, "k8s-cpu")
    (gpu_pod,) = await kernel_pods(admin, namespace, gpu)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    ids: list[str] = []
    while loop.time() < deadline:
        _, kernels = await api(server, "GET", "/api/kernels", expect=200)
        ids = [k["id"] for k in kernels]
        if gpu not in ids:
            break
        await asyncio.sleep(0.5)
    assert gpu not in ids and cpu in ids, ids
    await wait_gone(admin, namespace, "pods", gpu_pod["metadata"]["name"])
    await api(server, "DELETE", f"/api/kernels/{cpu}", expect=204)
    await wait_no_kernel_pods(admin, namespace)


async def _kubeconfig_for(
    dev_cluster, admin: KubeClient, namespace: str, sa: str, path: Path
) -> Path:
    token = await service_account_token(admin, namespace, sa)
    import yaml

    cfg = pki.kubeconfig(
        admin.config.host, dev_cluster.pki.ca.cert, sa, token=token, namespace=namespace
    )
    await asyncio.to_thread(path.write_text, yaml.safe_dump(cfg))
    return path


async def test_forbidden_and_quota_are_clear_errors(
    make_server, dev_cluster, admin: KubeClient, namespace: str, tmp_path
):
    # A ServiceAccount no RoleBinding names: 403 with what Kubernetes said.
    await admin.create(
        "serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "no-role"}},
        namespace,
    )
    kube = await _kubeconfig_for(dev_cluster, admin, namespace, "no-role", tmp_path / "nr")
    norole = await asyncio.to_thread(make_server, "norole", None, (), kube)
    status, body = await api(norole, "POST", "/api/kernels", {"name": "k8s-cpu"})
    assert status == 403, body
    assert "forbidden" in body["message"].lower() and "pods" in body["message"], body

    # A quota that allows no pod: 403 with the quota's message, nothing left behind.
    server = await asyncio.to_thread(make_server, "quota")
    await admin.create(
        "resourcequotas",
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "no-pods"},
            "spec": {"hard": {"pods": "0"}},
        },
        namespace,
    )
    try:
        for _ in range(300):  # enforced once the quota controller has counted
            quota = await admin.get("resourcequotas", "no-pods", namespace)
            if (quota.get("status") or {}).get("hard"):
                break
            await asyncio.sleep(0.1)
        status, body = await api(server, "POST", "/api/kernels", {"name": "k8s-cpu"})
        assert status == 403, body
        assert "exceeded quota" in body["message"], body
        assert not await kernel_pods(admin, namespace)
    finally:
        await admin.delete("resourcequotas", "no-pods", namespace)


async def test_unreachable_cluster_is_503(make_server, dev_cluster, tmp_path):
    import yaml

    cfg = pki.kubeconfig(
        "https://127.0.0.1:1", dev_cluster.pki.ca.cert, "x", token="t", namespace="x"
    )
    kube = tmp_path / "unreachable.kubeconfig"
    await asyncio.to_thread(kube.write_text, yaml.safe_dump(cfg))
    server = await asyncio.to_thread(make_server, "unreachable", None, (), kube)
    status, body = await api(server, "POST", "/api/kernels", {"name": "k8s-cpu"})
    assert status == 503, body
    assert "cannot reach the Kubernetes API" in body["message"], body


async def test_server_stops_after_a_failed_kernel_start(
    make_server, admin: KubeClient, namespace: str
):
    """jupyter_client keeps a kernel whose start failed among its pending kernels; without
    the provisioner's workaround the server's shutdown then trips over it (404) and the
    process no longer exits on SIGTERM."""
    server = await asyncio.to_thread(
        make_server,
        "failedstart",
        {"profiles": [{"name": "bad", "image": "registry.invalid/nothing:1", "default": True}]},
    )
    # As JupyterLab's kernel picker does it: a session with a local kernel, then a change
    # of its kernel to the remote one (PATCH), which fails.
    _, session = await api(
        server,
        "POST",
        "/api/sessions",
        {"path": "a.ipynb", "name": "a.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
        expect=201,
    )
    status, body = await api(
        server, "PATCH", f"/api/sessions/{session['id']}", {"kernel": {"name": "k8s-bad"}}
    )
    assert status >= 500, body
    assert "ErrImagePull" in json.dumps(body) or "ImagePullBackOff" in json.dumps(body), body
    await wait_no_kernel_pods(admin, namespace)
    assert server.proc is not None
    server.proc.terminate()
    rc = await asyncio.to_thread(server.proc.wait, 20)
    assert rc == 0, server.log_path.read_text()[-3000:] if server.log_path else rc
    log = server.log_path.read_text() if server.log_path else ""
    assert "Kernel does not exist" not in log, log[-3000:]
