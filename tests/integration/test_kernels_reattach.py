"""Remote kernels outlive a Jupyter server restart (reattach), or are cleaned up (reattach off)."""

from __future__ import annotations

import asyncio

import pytest
from jobs_support import ServerProcess, user_kubeconfig
from kernels_support import Channels, api, kernel_pods, start_kernel, wait_gone, wait_no_kernel_pods

from jupyter_k8s.k8s.client import KubeClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture
def server(dev_cluster, admin_config, namespace, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    kubeconfig = user_kubeconfig(dev_cluster, admin_config, namespace, tmp_path / "user.kubeconfig")
    srv = ServerProcess(root=root, kubeconfig=kubeconfig, namespace=namespace, owner="carol")
    yield srv
    srv.stop()


async def restart_server(server: ServerProcess, **config) -> None:
    await asyncio.to_thread(server.stop)
    server.config = {**(server.config or {}), **config}
    await asyncio.to_thread(server.start)


async def wait_listed(server: ServerProcess, kernel_id: str, timeout: float = 30) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        _, kernels = await api(server, "GET", "/api/kernels", expect=200)
        found = next((k for k in kernels if k["id"] == kernel_id), None)
        if found:
            return found
        await asyncio.sleep(0.2)
    raise TimeoutError(f"kernel {kernel_id} not reattached; log: {server.log_path}")


async def test_kernel_keeps_its_state_across_a_server_restart(
    server: ServerProcess, admin: KubeClient, namespace: str
):
    await asyncio.to_thread(server.start)
    kernel_id = await start_kernel(server, "k8s-cpu")
    (pod,) = await kernel_pods(admin, namespace, kernel_id)
    async with Channels(server, kernel_id) as ch:
        assert (await ch.execute("state = {'answer': 42}"))["status"] == "ok"

    await restart_server(server)
    # the pod ran on while no server was there
    (still,) = await kernel_pods(admin, namespace, kernel_id)
    assert still["metadata"]["uid"] == pod["metadata"]["uid"]
    model = await wait_listed(server, kernel_id)
    assert model["name"] == "k8s-cpu"
    _, status = await api(server, "GET", f"/jupyter-k8s/kernels/{kernel_id}", expect=200)
    assert status["reason"] == "Reattached" and status["pod"] == pod["metadata"]["name"]
    async with Channels(server, kernel_id) as ch:
        out = await ch.execute("state['answer']")
        assert out["result"] == "42", out
    # an ordinary kernel of the new server: interrupt and restart work
    await api(server, "POST", f"/api/kernels/{kernel_id}/interrupt", expect=204)
    await api(server, "POST", f"/api/kernels/{kernel_id}/restart", expect=200)
    async with Channels(server, kernel_id) as ch:
        await ch.kernel_info()
        assert (await ch.execute("'state' in dir()"))["result"] == "False"

    # With reattach off, the next start deletes what a previous server left.
    await restart_server(server, kernel_reattach=False)
    await wait_gone(admin, namespace, "pods", pod["metadata"]["name"])
    await wait_gone(admin, namespace, "secrets", pod["metadata"]["name"])
    _, kernels = await api(server, "GET", "/api/kernels", expect=200)
    assert kernel_id not in [k["id"] for k in kernels]


async def test_with_reattach_off_kernels_stop_with_the_server(
    server: ServerProcess, admin: KubeClient, namespace: str
):
    server.config = {"kernel_reattach": False}
    await asyncio.to_thread(server.start)
    kernel_id = await start_kernel(server, "k8s-cpu")
    (pod,) = await kernel_pods(admin, namespace, kernel_id)
    await asyncio.to_thread(server.stop)
    await wait_gone(admin, namespace, "pods", pod["metadata"]["name"])
    await wait_no_kernel_pods(admin, namespace)
