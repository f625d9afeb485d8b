"""Remote kernels through jupyter_server's REST and websocket APIs, on the local cluster.

A real `jupyter server` with the extension (least-privileged ServiceAccount of the shipped
Role) starts kernels in pods from the served `k8s-<profile>` kernelspecs; the tests check
what the pod and the kernel say, interrupt, restart, shutdown and the failure paths.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
from jobs_support import ServerProcess, user_kubeconfig
from kernels_support import (
    Channels,
    api,
    kernel_pods,
    start_kernel,
    wait_gone,
    wait_no_kernel_pods,
    write_k8s_kernelspec,
)

from jupyter_k8s.k8s.client import KubeClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

START_TIMEOUT = 6  # seconds: short, so the unschedulable GPU kernel fails fast here


@pytest.fixture(scope="module")
def server(dev_cluster, admin_config, namespace, tmp_path_factory):
    base = tmp_path_factory.mktemp("kernels-rest")
    root = base / "root"
    root.mkdir()
    kubeconfig = user_kubeconfig(dev_cluster, admin_config, namespace, base / "user.kubeconfig")
    jupyter_path = base / "jupyter-path"
    # A kernelspec file naming a profile the server does not have.
    write_k8s_kernelspec(jupyter_path, "k8s-nope", "broken", {"profile": "nope"})
    srv = ServerProcess(
        root=root,
        kubeconfig=kubeconfig,
        namespace=namespace,
        owner="alice",
        config={
            "kernel_start_timeout": START_TIMEOUT,
            "profiles": [
                {"name": "cpu", "display_name": "CPU", "memory_limit": "1Gi", "default": True},
                {"name": "gpu", "display_name": "GPU", "gpus": 1},
                {"name": "badimage", "image": "registry.invalid/nothing:1"},
                {"name": "tiny", "memory_limit": "300Mi"},
            ],
        },
        env={"JUPYTER_PATH": str(jupyter_path)},
    )
    srv.start()
    yield srv
    srv.stop()


async def test_kernelspecs_are_served(server: ServerProcess):
    _, model = await api(server, "GET", "/api/kernelspecs", expect=200)
    specs = model["kernelspecs"]
    assert specs["k8s-gpu"]["spec"]["display_name"] == "Python 3 · Kubernetes · GPU"
    assert specs["k8s-cpu"]["spec"]["interrupt_mode"] == "message"
    assert "logo-svg" in specs["k8s-gpu"]["resources"]
    status, logo = await api(server, "GET", "/kernelspecs/k8s-gpu/logo-64x64.png")
    assert status == 200 and logo[:8] == b"\x89PNG\r\n\x1a\n"


async def test_kernel_runs_in_its_pod_interrupts_restarts_and_shuts_down(
    server: ServerProcess, admin: KubeClient, namespace: str
):
    started = time.monotonic()
    kernel_id = await start_kernel(server, "k8s-cpu")
    (pod,) = await kernel_pods(admin, namespace, kernel_id)
    name = pod["metadata"]["name"]
    _, status = await api(server, "GET", f"/jupyter-k8s/kernels/{kernel_id}", expect=200)
    assert status["phase"] == "Running" and status["pod"] == name
    assert status["ip"] == pod["status"]["podIP"]

    async with Channels(server, kernel_id) as ch:
        info = await ch.kernel_info()
        assert info["language_info"]["name"] == "python"
        print(f"kernel answered {time.monotonic() - started:.2f} s after POST")
        out = await ch.execute(
            "import os, socket\n"
            "print(os.environ.get('HOSTNAME'), os.environ.get('POD_IP'))\n"
            "print(socket.gethostbyname(socket.gethostname()) if False else '')\n"
            "x = 21 * 2\nx"
        )
        assert out["status"] == "ok", out
        hostname, pod_ip = out["stdout"].split()[:2]
        assert hostname == name and pod_ip == pod["status"]["podIP"]
        assert out["result"] == "42"

        # The key is a file of mode 0400 from the Secret, never in the environment.
        out = await ch.execute(
            "import stat, json\n"
            "p = '/var/run/jupyter-k8s/kernel/connection.json'\n"
            "print(oct(stat.S_IMODE(os.stat(p).st_mode)))\n"
            "key = json.load(open(p))['key']\n"
            "print(any(key in v for v in os.environ.values()))"
        )
        assert out["stdout"].split() == ["0o400", "False"], out

        # Interrupt (a message on the control channel) within 2 s.
        msg_id = await ch.send(
            "execute_request",
            {"code": "import time; time.sleep(100)", "silent": False, "store_history": True},
        )
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        await api(server, "POST", f"/api/kernels/{kernel_id}/interrupt", expect=204)
        res = await ch.collect(msg_id, timeout=10)
        took = time.monotonic() - t0
        assert res["error"] and res["error"].startswith("KeyboardInterrupt"), res
        assert took < 2.0, f"interrupt took {took:.2f} s"
        print(f"interrupt took {took:.2f} s")
        assert (await ch.execute("x"))["result"] == "42"  # the kernel lives on

    # Restart: a fresh kernel in the same pod (same IP, same GPU), state gone.
    t0 = time.monotonic()
    await api(server, "POST", f"/api/kernels/{kernel_id}/restart", expect=200)
    print(f"restart took {time.monotonic() - t0:.2f} s")
    (after,) = await kernel_pods(admin, namespace, kernel_id)
    assert after["metadata"]["name"] == name
    assert after["status"]["podIP"] == pod["status"]["podIP"]
    assert after["status"]["containerStatuses"][0]["restartCount"] == 1
    async with Channels(server, kernel_id) as ch:
        await ch.kernel_info()
        out = await ch.execute("x")
        assert out["error"] and out["error"].startswith("NameError"), out
        out = await ch.execute("print(__import__('os').environ['HOSTNAME'])")
        assert out["stdout"].strip() == name

    # Shutdown deletes the pod and its Secret.
    await api(server, "DELETE", f"/api/kernels/{kernel_id}", expect=204)
    await wait_gone(admin, namespace, "pods", name)
    await wait_gone(admin, namespace, "secrets", name)
    await api(server, "GET", f"/jupyter-k8s/kernels/{kernel_id}", expect=404)


async def test_pod_and_secret_are_built_safely(
    server: ServerProcess, admin: KubeClient, namespace: str
):
    kernel_id = await start_kernel(server, "k8s-cpu")
    try:
        (pod,) = await kernel_pods(admin, namespace, kernel_id)
        name = pod["metadata"]["name"]
        secret = await admin.get("secrets", name, namespace)
        key = json.loads(base64.b64decode(secret["data"]["connection.json"]))["key"]
        assert key and key not in json.dumps(pod)  # neither spec nor annotations nor env
        owner = secret["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("Pod", name, pod["metadata"]["uid"])
        spec = pod["spec"]
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert not spec.get("schedulingGates")
        ann = pod["metadata"]["annotations"]
        assert ann["jupyter-k8s.io/kernelspec"] == "k8s-cpu"
        assert ann["jupyter-k8s.io/username"] == "alice"
        assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == "1Gi"
    finally:
        await api(server, "DELETE", f"/api/kernels/{kernel_id}", expect=204)


async def test_gpu_kernel_and_a_second_one_that_cannot_be_scheduled(
    server: ServerProcess, admin: KubeClient, namespace: str
):
    first = await start_kernel(server, "k8s-gpu")
    try:
        async with Channels(server, first) as ch:
            out = await ch.execute("import os; print(os.environ.get('NVIDIA_VISIBLE_DEVICES'))")
            assert out["stdout"].strip() == "0", out

        # The second GPU kernel waits for the scheduler, which says why; the start fails
        # after the configured timeout with that message, and its pod is deleted.
        post = asyncio.ensure_future(api(server, "POST", "/api/kernels", {"name": "k8s-gpu"}))
        pending = None
        for _ in range(50):
            _, listing = await api(server, "GET", "/jupyter-k8s/kernels", expect=200)
            pending = next(
                (
                    k
                    for k in listing["kernels"]
                    if k["kernel_id"] != first
                    and k["phase"] == "Pending"
                    and k.get("reason") == "Unschedulable"
                ),
                None,
            )
            if pending:
                break
            await asyncio.sleep(0.1)
        assert pending, listing
        assert "Insufficient nvidia.com/gpu" in pending["message"]
        t0 = time.monotonic()
        status, body = await post
        assert status == 504, body
        text = json.dumps(body)
        assert "did not start within" in text and "Insufficient nvidia.com/gpu" in text, body
        assert time.monotonic() - t0 < START_TIMEOUT + 5
        await wait_gone(admin, namespace, "pods", pending["pod"])
        assert [
            p["metadata"]["labels"]["jupyter-k8s.io/kernel-id"]
            for p in await kernel_pods(admin, namespace)
        ] == [first]
    finally:
        await api(server, "DELETE", f"/api/kernels/{first}", expect=204)
    await wait_no_kernel_pods(admin, namespace)


async def test_bad_image_fails_fast_with_the_reason(
    server: ServerProcess, admin: KubeClient, namespace: str
):
    t0 = time.monotonic()
    status, body = await api(server, "POST", "/api/kernels", {"name": "k8s-badimage"})
    took = time.monotonic() - t0
    assert status == 500, body
    text = json.dumps(body)
    assert "ErrImagePull" in text or "ImagePullBackOff" in text, body
    assert took < START_TIMEOUT, f"took {took:.1f} s: it did not fail fast"
    await wait_no_kernel_pods(admin, namespace)


async def test_unknown_profile_is_a_clear_error(
    server: ServerProcess, admin: KubeClient, namespace: str
):
    status, body = await api(server, "POST", "/api/kernels", {"name": "k8s-nope"})
    assert status == 400, body
    assert "unknown profile 'nope'" in json.dumps(body), body
    assert not await kernel_pods(admin, namespace)


async def test_kernel_that_dies_reports_its_reason(
    server: ServerProcess, admin: KubeClient, namespace: str
):
    """A kernel killed in its pod (here: exit code 137) is seen dead, with the reason, and
    jupyter_server's restarter brings it back in the same pod."""
    kernel_id = await start_kernel(server, "k8s-cpu")
    try:
        (pod,) = await kernel_pods(admin, namespace, kernel_id)
        async with Channels(server, kernel_id) as ch:
            await ch.kernel_info()
            await ch.send("execute_request", {"code": "import os; os._exit(137)", "silent": False})
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            status = {}
            while loop.time() < deadline:
                _, status = await api(
                    server, "GET", f"/jupyter-k8s/kernels/{kernel_id}", expect=200
                )
                if status.get("last_exit"):
                    break
                await asyncio.sleep(0.2)
            assert status["last_exit"]["code"] == 137, status
            assert "killed" in status["last_exit"]["message"]
            _, model = await api(server, "GET", f"/api/kernels/{kernel_id}", expect=200)
            # restarted in place by the kubelet and adopted after jupyter_server's restarter
            for _ in range(100):
                (now,) = await kernel_pods(admin, namespace, kernel_id)
                if now["status"]["containerStatuses"][0]["restartCount"] >= 1:
                    break
                await asyncio.sleep(0.2)
            assert now["metadata"]["name"] == pod["metadata"]["name"]
            await ch.kernel_info(timeout=30)
            out = await ch.execute("1 + 1")
            assert out["result"] == "2"
    finally:
        await api(server, "DELETE", f"/api/kernels/{kernel_id}", expect=204)
    await wait_no_kernel_pods(admin, namespace)


async def test_oom_killed_kernel_reports_oomkilled(
    server: ServerProcess, admin: KubeClient, namespace: str
):
    kernel_id = await start_kernel(server, "k8s-tiny")
    try:
        async with Channels(server, kernel_id) as ch:
            await ch.kernel_info()
            await ch.send(
                "execute_request",
                {"code": "x = bytearray(2 * 1024**3); x[::4096] = b'1' * len(x[::4096])"},
            )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            status: dict = {}
            while loop.time() < deadline:
                _, status = await api(
                    server, "GET", f"/jupyter-k8s/kernels/{kernel_id}", expect=200
                )
                if status.get("last_exit"):
                    break
                await asyncio.sleep(0.2)
            assert status["last_exit"]["reason"] == "OOMKilled", status
            assert "300Mi" in status["last_exit"]["message"]
            _, model = await api(server, "GET", f"/api/kernels/{kernel_id}", expect=200)
            assert model.get("reason", "").startswith("OOMKilled"), model
        # jupyter_server's restarter brings it back in its pod. A DELETE while that restart is
        # in flight trips over jupyter_client (its shutdown reads the pending restart's
        # `ready` future: InvalidStateError, a 500; docs/kernels.md says so), so wait until
        # the kernel runs again (restarts counted) and answers on a new connection.
        deadline = loop.time() + 90
        while loop.time() < deadline:
            _, status = await api(server, "GET", f"/jupyter-k8s/kernels/{kernel_id}", expect=200)
            if status.get("restarts", 0) >= 1 and status.get("phase") == "Running":
                break
            await asyncio.sleep(0.2)
        assert status.get("restarts", 0) >= 1, status
        async with Channels(server, kernel_id) as ch:
            await ch.kernel_info(timeout=60)
        while loop.time() < deadline:
            _, model = await api(server, "GET", f"/api/kernels/{kernel_id}", expect=200)
            if model.get("execution_state") in ("idle", "busy"):
                break
            await asyncio.sleep(0.2)
    finally:
        await api(server, "DELETE", f"/api/kernels/{kernel_id}", expect=204)
    await wait_no_kernel_pods(admin, namespace)
