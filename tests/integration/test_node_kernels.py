"""Remote kernels on the real node (kubelet + containerd + runc + CNI), through the server's
REST and websocket API as JupyterLab drives them.

One `jupyter server` with the extension, the shipped ServiceAccount and no profile or image
configured (what a newcomer has: the built-in `k8s-cpu` kernelspec, the image the cluster
advertises, `localhost/jupyter-k8s/notebook:bookworm`). Its kernels run in containers on the
node's bridge, as uid 1000: the server reaches them by pod IP, the kubelet mounts their Secret
with its own modes, and a missing image fails the way a kubelet fails it.

Also prints issue 14's figures: remote kernel start and execute round-trip vs a local
ipykernel of the same server (`-s` shows them).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jobs_support import ServerProcess
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_core.paths import jupyter_runtime_dir
from kernels_support import (
    Channels,
    api,
    kernel_pods,
    start_kernel,
    wait_gone,
    wait_no_kernel_pods,
    write_k8s_kernelspec,
)

from jupyter_k8s.devcluster.realnode import images
from jupyter_k8s.k8s.client import KubeClient

pytest_plugins = ("realnode_support",)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.node_containerd,
    pytest.mark.asyncio,
    # The first test also waits for the session's real node (images built once, ~1 min cold).
    pytest.mark.timeout(480),
]

SECRET_DIR = "/var/run/jupyter-k8s/kernel"  # where the kernel pod mounts its Secret
MISSING_IMAGE = "localhost/jupyter-k8s/missing:1"  # no registry answers for it
ROUND_TRIPS = 20


@pytest.fixture(scope="module")
def server(
    real_node_kubeconfig: Path, real_node_namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The server of a newcomer (no JupyterK8s config), plus one extra kernelspec whose image
    does not exist, from a private JUPYTER_PATH (the server's own config stays the default)."""
    base = tmp_path_factory.mktemp("node-kernels")
    root = base / "root"
    root.mkdir()
    jupyter_path = base / "jupyter-path"
    # `k8s-missing`: the default profile with an image nobody can pull.
    write_k8s_kernelspec(
        jupyter_path, "k8s-missing", "missing image", {"profile": "cpu", "image": MISSING_IMAGE}
    )
    srv = ServerProcess(
        root,
        real_node_kubeconfig,
        real_node_namespace,
        config={},
        env={"JUPYTER_PATH": str(jupyter_path)},
    )
    srv.start()
    yield srv
    srv.stop()


async def _node_subnet(admin: KubeClient) -> tuple[str, ipaddress.IPv4Network]:
    """The node's InternalIP and its pod subnet (podCIDR, else the bridge's /24 that the node's
    address opens: docs/dev-cluster.md)."""
    (node,) = (await admin.list("nodes"))["items"]
    internal = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    cidr = node["spec"].get("podCIDR") or f"{internal}/24"
    return internal, ipaddress.IPv4Network(cidr, strict=False)


async def _running_pod(admin: KubeClient, namespace: str, kernel_id: str) -> dict[str, Any]:
    (pod,) = await kernel_pods(admin, namespace, kernel_id)
    assert pod["status"]["phase"] == "Running", pod["status"]
    return pod


def _restarts(pod: dict[str, Any]) -> int:
    return int(pod["status"]["containerStatuses"][0]["restartCount"])


async def test_kernel_over_the_pod_network_executes_interrupts_restarts_and_shuts_down(
    server: ServerProcess, real_node_admin: KubeClient, real_node_namespace: str
) -> None:
    admin, namespace = real_node_admin, real_node_namespace
    kernel_id = await start_kernel(server, "k8s-cpu")  # the built-in default profile
    pod = await _running_pod(admin, namespace, kernel_id)
    name, pod_ip = pod["metadata"]["name"], pod["status"]["podIP"]
    node_ip, subnet = await _node_subnet(admin)
    address = ipaddress.IPv4Address(pod_ip)
    assert address in subnet and not address.is_loopback and pod_ip != node_ip, (pod_ip, subnet)
    assert pod["spec"]["containers"][0]["image"] == images.NOTEBOOK_IMAGE  # the advertised one
    _, status = await api(server, "GET", f"/jupyter-k8s/kernels/{kernel_id}", expect=200)
    assert (status["phase"], status["ip"], status["pod"]) == ("Running", pod_ip, name), status

    async with Channels(server, kernel_id) as ch:
        info = await ch.kernel_info()
        assert info["language_info"]["name"] == "python"
        out = await ch.execute(
            "import os, socket\nprint(os.environ['HOSTNAME'], os.environ['POD_IP'])\nx = 6 * 7\nx"
        )
        assert out["status"] == "ok" and out["result"] == "42", out
        # The kernel sees its own network namespace: its hostname and IP are the pod's.
        assert out["stdout"].split() == [name, pod_ip], out
        # Its ports are bound on the pod IP, which is where the server connected.
        out = await ch.execute(
            "import json\nprint(json.load(open('/var/run/jupyter-k8s/run/connection.json'))['ip'])"
        )
        assert out["stdout"].strip() == pod_ip, out

        # Interrupt: a message on the control channel, over the pod network.
        msg_id = await ch.send(
            "execute_request",
            {"code": "import time; time.sleep(100)", "silent": False, "store_history": True},
        )
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        await api(server, "POST", f"/api/kernels/{kernel_id}/interrupt", expect=204)
        res = await ch.collect(msg_id, timeout=15)
        took = time.monotonic() - t0
        assert res["status"] == "error" and res["error"].startswith("KeyboardInterrupt"), res
        assert took < 5, f"interrupt took {took:.2f} s"
        assert (await ch.execute("x"))["result"] == "42"  # alive, state kept

    # Restart: the kubelet starts the container again in the same pod (same IP); state gone.
    t0 = time.monotonic()
    await api(server, "POST", f"/api/kernels/{kernel_id}/restart", expect=200)
    restart_s = time.monotonic() - t0
    after = await _running_pod(admin, namespace, kernel_id)
    assert after["metadata"]["name"] == name and after["status"]["podIP"] == pod_ip
    assert after["status"]["containerStatuses"][0]["restartCount"] == 1, after["status"]
    async with Channels(server, kernel_id) as ch:
        await ch.kernel_info()
        out = await ch.execute("x")
        assert out["status"] == "error" and out["error"].startswith("NameError"), out
        out = await ch.execute("print(1 + 1)")
        assert out["status"] == "ok" and out["stdout"].strip() == "2", out

    # A second restart at once: the kubelet's crash-loop back-off would now make it wait
    # (docs/kernels.md); whether in place or in a new pod, the kernel is back quickly.
    t0 = time.monotonic()
    await api(server, "POST", f"/api/kernels/{kernel_id}/restart", expect=200)
    second_s = time.monotonic() - t0
    again = await _running_pod(admin, namespace, kernel_id)
    how = "in place" if again["metadata"]["name"] == name else "in a new pod"
    async with Channels(server, kernel_id) as ch:
        await ch.kernel_info()
        out = await ch.execute("print(1 + 1)")
        assert out["status"] == "ok" and out["stdout"].strip() == "2", out
    assert second_s < 20, f"the second restart took {second_s:.1f} s ({how})"
    print(f"\nsecond restart: {how}, {second_s:.2f} s; restarts {_restarts(again)}")
    if how != "in place":
        await wait_gone(admin, namespace, "pods", name)  # the old pod went
        name = again["metadata"]["name"]

    # Shutdown deletes the pod and its Secret.
    await api(server, "DELETE", f"/api/kernels/{kernel_id}", expect=204)
    await wait_gone(admin, namespace, "pods", name)
    await wait_gone(admin, namespace, "secrets", name)
    await api(server, "GET", f"/jupyter-k8s/kernels/{kernel_id}", expect=404)
    print(f"\nreal node kernel: interrupt {took:.2f} s, restart in place {restart_s:.2f} s")


def kubelet_secret_file(default_mode: int, fs_group: int | None) -> tuple[int, int]:
    """(mode bits, gid) of a file of a Secret volume as the kubelet leaves it.

    The kubelet writes the files as root with `defaultMode`; with a pod `fsGroup` it then gives
    them that group and ORs in read for the group (pkg/volume/volume_linux.go: a Secret volume
    is read-only, so the mask is 0440, not the 0660 of writable volumes).
    """
    if fs_group is None:
        return default_mode, 0
    return default_mode | 0o440, fs_group


async def test_secret_is_mounted_as_the_kubelet_mounts_it_and_the_kernel_reads_it(
    server: ServerProcess, real_node_admin: KubeClient, real_node_namespace: str
) -> None:
    admin, namespace = real_node_admin, real_node_namespace
    kernel_id = await start_kernel(server, "k8s-cpu")
    try:
        pod = await _running_pod(admin, namespace, kernel_id)
        security = pod["spec"]["securityContext"]
        (volume,) = [v for v in pod["spec"]["volumes"] if "secret" in v]
        mode, gid = kubelet_secret_file(volume["secret"]["defaultMode"], security.get("fsGroup"))
        secret = await admin.get("secrets", pod["metadata"]["name"], namespace)
        key = json.loads(base64.b64decode(secret["data"]["connection.json"]))["key"]
        async with Channels(server, kernel_id) as ch:
            out = await ch.execute(
                "import os, json\n"
                f"d = {SECRET_DIR!r}\n"
                "files = {}\n"
                "for f in ('connection.json', 'launcher.py'):\n"
                "    st = os.stat(os.path.join(d, f))\n"
                "    files[f] = [st.st_mode & 0o777, st.st_uid, st.st_gid]\n"
                "print(json.dumps({'files': files, 'uid': os.getuid(), 'euid': os.geteuid(),\n"
                "    'gid': os.getgid(), 'groups': os.getgroups(),\n"
                "    'key': json.load(open(os.path.join(d, 'connection.json')))['key'],\n"
                "    'launcher': len(open(os.path.join(d, 'launcher.py')).read())}))"
            )
        assert out["status"] == "ok", out
        seen = json.loads(out["stdout"])
        user = security["runAsUser"]
        assert user != 0 and seen["uid"] == seen["euid"] == user, seen
        assert seen["gid"] == security["runAsGroup"] and gid in seen["groups"], seen
        for f in ("connection.json", "launcher.py"):
            # root-owned (the kubelet wrote it), readable by the kernel through its group only
            assert seen["files"][f] == [mode, 0, gid], (f, oct(seen["files"][f][0]), seen)
        assert seen["key"] == key and seen["launcher"] > 0, "the kernel could not read its Secret"
        print(f"\nSecret files: {oct(mode)} root:{gid}; kernel uid {user}, groups {seen['groups']}")
    finally:
        await api(server, "DELETE", f"/api/kernels/{kernel_id}", expect=204)
    await wait_no_kernel_pods(admin, namespace)


async def test_a_missing_image_fails_the_start_fast_with_the_kubelet_reason(
    server: ServerProcess, real_node_admin: KubeClient, real_node_namespace: str
) -> None:
    t0 = time.monotonic()
    status, body = await api(server, "POST", "/api/kernels", {"name": "k8s-missing"})
    took = time.monotonic() - t0
    assert status == 500, (status, body)
    message = body.get("message", "") if isinstance(body, dict) else str(body)
    assert "ErrImagePull" in message or "ImagePullBackOff" in message, message
    assert MISSING_IMAGE in message, message  # the kubelet's own words name the image
    assert took < 60, f"the start took {took:.1f} s to fail"
    await wait_no_kernel_pods(real_node_admin, real_node_namespace)
    print(f"\nmissing image failed in {took:.1f} s: {message[:200]}")


async def _remote_connection(
    server: ServerProcess, admin: KubeClient, namespace: str, kernel_id: str
) -> dict[str, Any]:
    """What a client needs to talk to the kernel pod straight: its Secret's connection file
    with the pod IP (and without the Curve keys when the image's ipykernel talks plain)."""
    (pod,) = await kernel_pods(admin, namespace, kernel_id)
    secret = await admin.get("secrets", pod["metadata"]["name"], namespace)
    info = json.loads(base64.b64decode(secret["data"]["connection.json"]))
    info["ip"] = pod["status"]["podIP"]
    _, status = await api(server, "GET", f"/jupyter-k8s/kernels/{kernel_id}", expect=200)
    if status.get("encryption") != "curve":
        info.pop("curve_publickey", None)
        info.pop("curve_secretkey", None)
    return info


async def _local_connection(kernel_id: str) -> dict[str, Any]:
    """The connection file the server wrote for its local kernel (same user, same machine)."""
    path = Path(jupyter_runtime_dir()) / f"kernel-{kernel_id}.json"
    return json.loads(path.read_text())


async def _direct_p50(info: dict[str, Any]) -> float:
    """Median execute_request -> execute_reply of `1+1` in ms over ZMQ, no server between."""
    client = AsyncKernelClient()
    client.load_connection_info(info)
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=30)
        times = []
        for _ in range(ROUND_TRIPS):
            t0 = time.monotonic()
            msg_id = client.execute("1+1", store_history=False)
            while (await client.get_shell_msg(timeout=30))["parent_header"].get("msg_id") != msg_id:
                pass
            times.append(time.monotonic() - t0)
    finally:
        client.stop_channels()
    return statistics.median(times) * 1000


async def _figures(
    server: ServerProcess, kernel_name: str, connection: Callable[[str], Awaitable[dict[str, Any]]]
) -> tuple[float, float, float]:
    """(seconds from POST /api/kernels to the kernel_info reply on the websocket, median
    execute_request -> execute_reply of `1+1` in ms through the server's websocket, the same
    straight over ZMQ), then the kernel is shut down."""
    t0 = time.monotonic()
    kernel_id = await start_kernel(server, kernel_name)
    try:
        async with Channels(server, kernel_id) as ch:
            await ch.kernel_info(timeout=60)
            start = time.monotonic() - t0
            times = []
            for _ in range(ROUND_TRIPS):
                t1 = time.monotonic()
                msg_id = await ch.send(
                    "execute_request",
                    {"code": "1+1", "silent": False, "store_history": False},
                )
                while True:
                    msg = await ch.recv(30)
                    if (
                        msg["msg_type"] == "execute_reply"
                        and msg["parent_header"].get("msg_id") == msg_id
                    ):
                        break
                times.append(time.monotonic() - t1)
                assert msg["content"]["status"] == "ok", msg
        direct = await _direct_p50(await connection(kernel_id))
    finally:
        await api(server, "DELETE", f"/api/kernels/{kernel_id}", expect=204)
    return start, statistics.median(times) * 1000, direct


async def test_figures_remote_kernel_vs_local_ipykernel(
    server: ServerProcess, real_node_admin: KubeClient, real_node_namespace: str
) -> None:
    admin, namespace = real_node_admin, real_node_namespace

    async def remote_info(kernel_id: str) -> dict[str, Any]:
        return await _remote_connection(server, admin, namespace, kernel_id)

    remote = await _figures(server, "k8s-cpu", remote_info)
    local = await _figures(server, "python3", _local_connection)
    await wait_no_kernel_pods(admin, namespace)
    print(
        f"\nreal node kernel: start {remote[0]:.2f} s, round-trip p50 {remote[1]:.1f} ms; "
        f"local ipykernel: start {local[0]:.2f} s, round-trip p50 {local[1]:.1f} ms"
        f"\n(round-trips through jupyter_server's websocket; straight over ZMQ: real node "
        f"{remote[2]:.1f} ms, local {local[2]:.1f} ms)"
    )
