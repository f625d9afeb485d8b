"""Remote kernels in a shared namespace, hardened (issue 10), on the local cluster:

* two Jupyter servers of one owner (two JupyterLabs of one login) keep each other's kernels:
  neither adopts nor deletes the other's at start, and a restarted one reattaches its own;
* a pod forged by another identity with a user's owner label but another username annotation
  is never adopted, listed, renewed or deleted by that user's server;
* iopub is CurveZMQ-encrypted by default (a plain ZMQ subscriber gets nothing, the port speaks
  CURVE), with no "running over TCP without encryption" warning in the kernel's log; an image
  whose ipykernel ignores the keys runs unencrypted with a clear message.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import uuid
from pathlib import Path

import pytest
import zmq
import zmq.asyncio
from jobs_support import ServerProcess, user_kubeconfig
from kernels_support import Channels, api, kernel_pods, start_kernel, wait_gone

from jupyter_k8s.k8s.client import KubeClient, NotFound
from jupyter_k8s.k8s.cluster_defaults import read_advertised_image
from jupyter_k8s.kernels.objects import (
    ANN_HEARTBEAT,
    ANN_SERVER_ID,
    KernelPodBuild,
    make_connection_info,
    make_pod,
    make_secret,
    set_owner,
)
from jupyter_k8s.kernels.service import launcher_source
from jupyter_k8s.names import owner_label
from jupyter_k8s.profiles import load_profiles

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def make_server(dev_cluster, admin_config, namespace, tmp_path):
    """Servers that stop at the end; each in its own folder (config, log), same kubeconfig."""
    servers: list[ServerProcess] = []
    kubeconfig = user_kubeconfig(dev_cluster, admin_config, namespace, tmp_path / "user.kubeconfig")

    def make(folder: str, owner: str, config: dict | None = None) -> ServerProcess:
        root = tmp_path / folder / "root"
        root.mkdir(parents=True)
        srv = ServerProcess(
            root=root, kubeconfig=kubeconfig, namespace=namespace, owner=owner, config=config
        )
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()
    # Whatever a test left (a failed one: its kernels, forged pods) must not hold the node's
    # CPUs for the next test of the module.

    async def clean() -> None:
        async with KubeClient(admin_config) as client:
            pods = await client.list("pods", namespace)
            for pod in pods.get("items") or []:
                await client.delete(
                    "pods", pod["metadata"]["name"], namespace, grace_period=0, missing_ok=True
                )

    asyncio.run(clean())


async def restart(server: ServerProcess, **config) -> None:
    await asyncio.to_thread(server.stop)
    server.config = {**(server.config or {}), **config}
    await asyncio.to_thread(server.start)  # same port, same root: the same server


async def listed(server: ServerProcess) -> set[str]:
    # jupyter_server lists a kernel whose start (here: reattach) is still being awaited,
    # before it stamps last_activity, and answers 500 for that moment (an upstream race):
    # JupyterLab polls again, and so does this.
    for _ in range(25):
        status, kernels = await api(server, "GET", "/api/kernels")
        if status != 500:
            break
        await asyncio.sleep(0.2)
    assert status == 200, kernels
    return {k["id"] for k in kernels}


async def wait_listed(server: ServerProcess, kernel_id: str, timeout: float = 60) -> None:
    # Longer than one API call may take (the client's 30 s timeout): a reattach makes a few,
    # and CI once saw one stall on a loaded machine.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while kernel_id not in await listed(server):
        if loop.time() > deadline:
            log = server.log_path.read_text() if server.log_path else ""
            tail = log.rsplit("Jupyter Server", 1)[-1][-3000:]
            raise AssertionError(f"{kernel_id} not reattached in {timeout:.0f} s; log:\n{tail}")
        await asyncio.sleep(0.2)


async def wait_start_checked(server: ServerProcess, timeout: float = 30) -> str:
    """Until the server logged what it did with the kernel pods at start; the log."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        log = server.log_path.read_text() if server.log_path else ""
        if "kernel pods at start" in log.rsplit("Jupyter Server", 1)[-1]:
            return log
        assert loop.time() < deadline, f"no start check in {server.log_path}"
        await asyncio.sleep(0.2)


async def the_pod(admin: KubeClient, namespace: str, kernel_id: str) -> dict:
    (pod,) = await kernel_pods(admin, namespace, kernel_id)
    return pod


async def test_two_servers_of_one_owner_keep_each_others_kernels(
    make_server, admin: KubeClient, namespace: str
):
    one = make_server("one", "dave")
    two = make_server("two", "dave")
    await asyncio.gather(asyncio.to_thread(one.start), asyncio.to_thread(two.start))
    k1, k2 = await asyncio.gather(start_kernel(one, "k8s-cpu"), start_kernel(two, "k8s-cpu"))
    for server, kernel_id, value in ((one, k1, 1), (two, k2, 2)):
        async with Channels(server, kernel_id) as ch:
            assert (await ch.execute(f"state = {value}"))["status"] == "ok"
    p1, p2 = await the_pod(admin, namespace, k1), await the_pod(admin, namespace, k2)
    id1 = p1["metadata"]["annotations"][ANN_SERVER_ID]
    id2 = p2["metadata"]["annotations"][ANN_SERVER_ID]
    assert id1 != id2, "two servers of one owner must not share a holder id"
    assert await listed(one) == {k1} and await listed(two) == {k2}

    # One restarts (reattach on): it takes its own kernel back, and only that one.
    await restart(one)
    await wait_listed(one, k1)
    log = await wait_start_checked(one)
    assert await listed(one) == {k1}
    assert p2["metadata"]["name"] in log.rsplit("Jupyter Server", 1)[-1]  # seen, left alone
    again1 = await the_pod(admin, namespace, k1)
    assert again1["metadata"]["uid"] == p1["metadata"]["uid"]
    assert again1["metadata"]["annotations"][ANN_SERVER_ID] == id1  # same server, same id
    still2 = await the_pod(admin, namespace, k2)
    assert still2["metadata"]["uid"] == p2["metadata"]["uid"]
    assert still2["metadata"]["annotations"][ANN_SERVER_ID] == id2
    for server, kernel_id, value in ((one, k1, "1"), (two, k2, "2")):
        async with Channels(server, kernel_id) as ch:
            assert (await ch.execute("state"))["result"] == value
    _, status = await api(one, "GET", f"/jupyter-k8s/kernels/{k1}", expect=200)
    assert status["reason"] == "Reattached"
    assert (await api(one, "GET", f"/jupyter-k8s/kernels/{k2}"))[0] == 404

    # The other restarts with reattach off: it deletes its own kernel's pod, not the first's.
    await restart(two, kernel_reattach=False)
    await wait_gone(admin, namespace, "pods", p2["metadata"]["name"])
    await wait_start_checked(two)
    assert (await the_pod(admin, namespace, k1))["metadata"]["uid"] == p1["metadata"]["uid"]
    assert k1 not in await listed(two)
    async with Channels(one, k1) as ch:
        assert (await ch.execute("state"))["result"] == "1"
    # both holders renew their pods' heartbeat; the first's is fresh
    beat = (await the_pod(admin, namespace, k1))["metadata"]["annotations"][ANN_HEARTBEAT]
    assert beat.endswith("Z")
    await api(one, "DELETE", f"/api/kernels/{k1}", expect=204)
    await wait_gone(admin, namespace, "pods", p1["metadata"]["name"])


async def _forge(
    admin: KubeClient, namespace: str, victim: str, holder: str, client: str
) -> tuple[str, str]:
    """A running kernel pod made by the admin (another identity) with the victim's owner
    label, the victim's server's holder id and an old heartbeat, but another username: all
    a server would need to adopt (or, standalone, collect) it, but the name. (pod, kernel id)"""
    image = await read_advertised_image(admin)
    assert image, "the local cluster advertises a default image"
    kernel_id = str(uuid.uuid4())
    build = KernelPodBuild(
        name=f"kernel-forged-{kernel_id[:5]}",
        namespace=namespace,
        kernel_id=kernel_id,
        kernel_name="k8s-cpu",
        owner="mallory",
        profile=load_profiles(None, image).get("cpu"),
        image=image,
        client=client,
        server_id=holder,
        gated=False,
    )
    pod = make_pod(build)
    pod["metadata"]["labels"]["jupyter-k8s.io/owner"] = owner_label(victim)
    pod["metadata"]["annotations"][ANN_HEARTBEAT] = "2020-01-01T00:00:00Z"
    created = await admin.create("pods", pod, namespace)
    info = make_connection_info(build.ports, "forged-key", kernel_name="k8s-cpu")
    secret = set_owner(make_secret(build, info, launcher_source()), created)
    secret["metadata"]["labels"]["jupyter-k8s.io/owner"] = owner_label(victim)
    secret["metadata"]["annotations"]["jupyter-k8s.io/username"] = victim  # even this
    await admin.create("secrets", secret, namespace)
    return build.name, kernel_id


async def test_a_forged_pod_is_never_adopted_listed_or_deleted(
    make_server, admin: KubeClient, namespace: str
):
    server = make_server("erin", "erin")
    await asyncio.to_thread(server.start)
    own = await start_kernel(server, "k8s-cpu")
    own_pod = await the_pod(admin, namespace, own)
    holder = own_pod["metadata"]["annotations"][ANN_SERVER_ID]
    forged, forged_id = await _forge(admin, namespace, "erin", holder, "server")
    stale, _ = await _forge(admin, namespace, "erin", holder, "standalone")
    for _ in range(300):  # running, as an adoptable pod would be
        phase = (await admin.get("pods", forged, namespace)).get("status", {}).get("phase")
        if phase == "Running":
            break
        await asyncio.sleep(0.2)
    assert phase == "Running"

    await restart(server)  # reattach on: adopts its own kernel, not the forged one
    await wait_listed(server, own)
    await wait_start_checked(server)
    assert forged_id not in await listed(server)
    _, statuses = await api(server, "GET", "/jupyter-k8s/kernels", expect=200)
    assert forged_id not in json.dumps(statuses) and forged not in json.dumps(statuses)
    await asyncio.sleep(2)  # a heartbeat round and the standalone collector (at start)
    for name in (forged, stale):
        pod = await admin.get("pods", name, namespace)
        assert not pod["metadata"].get("deletionTimestamp"), name
        # neither claimed nor renewed by erin's server
        assert pod["metadata"]["annotations"][ANN_HEARTBEAT] == "2020-01-01T00:00:00Z"

    await restart(server, kernel_reattach=False)  # deletes its own leftovers only
    await wait_gone(admin, namespace, "pods", own_pod["metadata"]["name"])
    await wait_start_checked(server)
    await asyncio.sleep(1)
    for name in (forged, stale):
        assert not (await admin.get("pods", name, namespace))["metadata"].get("deletionTimestamp")
    for name in (forged, stale):
        await admin.delete("pods", name, namespace, grace_period=0)
        await wait_gone(admin, namespace, "pods", name)


def zmtp_mechanism(ip: str, port: int) -> str:
    """The security mechanism a ZeroMQ (ZMTP 3) port announces in its greeting: we send only
    our signature and major version, so it says its mechanism before it learns ours."""
    with socket.create_connection((ip, port), timeout=5) as sock:
        sock.sendall(b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03")
        data = b""
        while len(data) < 64:
            chunk = sock.recv(64 - len(data))
            if not chunk:
                break
            data += chunk
    return data[12:32].rstrip(b"\0").decode()


async def sniff_iopub(ip: str, port: int, run, seconds: float = 3.0) -> list[list[bytes]]:
    """What a plain ZMQ SUB socket on the kernel's iopub port receives while `run` runs."""
    ctx = zmq.asyncio.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.linger = 0
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(f"tcp://{ip}:{port}")
    got: list[list[bytes]] = []

    async def receive() -> None:
        while True:
            got.append(await sub.recv_multipart())

    task = asyncio.ensure_future(receive())
    try:
        await asyncio.sleep(0.5)  # the subscription reaches the publisher (if it can)
        await run()
        await asyncio.sleep(seconds)
    finally:
        task.cancel()
        sub.close(0)
    return got


def _old_ipykernel_spec(folder: Path) -> None:
    """A kernelspec whose kernel ignores the Curve keys, as ipykernel < 7.4 does: it runs
    ipykernel with a copy of the connection file without them."""
    code = (
        "import json, runpy, sys\n"
        "path = sys.argv[1]\n"
        "info = json.load(open(path))\n"
        "info.pop('curve_publickey', None); info.pop('curve_secretkey', None)\n"
        "json.dump(info, open(path + '.plain', 'w'))\n"
        "sys.argv = ['ipykernel_launcher', '-f', path + '.plain']\n"
        "runpy.run_module('ipykernel_launcher', run_name='__main__')\n"
    )
    spec = folder / "kernels" / "k8s-oldipykernel"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": ["python", "-c", code, "{connection_file}"],
                "display_name": "old ipykernel",
                "language": "python",
                "interrupt_mode": "message",
                "metadata": {
                    "kernel_provisioner": {
                        "provisioner_name": "k8s-pod",
                        "config": {"profile": "cpu"},
                    },
                    "supported_encryption": ["curve"],
                },
            }
        )
    )


async def test_iopub_is_curve_encrypted_by_default(
    make_server, admin: KubeClient, namespace: str, tmp_path, monkeypatch
):
    _old_ipykernel_spec(tmp_path / "jupyter-path")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter-path"))
    server = make_server("frank", "frank")  # no transport_encryption setting: the defaults
    await asyncio.to_thread(server.start)

    kernel_id = await start_kernel(server, "k8s-cpu")
    pod = await the_pod(admin, namespace, kernel_id)
    name, ip = pod["metadata"]["name"], pod["status"]["podIP"]
    secret = await admin.get("secrets", name, namespace)
    info = json.loads(base64.b64decode(secret["data"]["connection.json"]))
    assert info["curve_publickey"] and info["curve_secretkey"]
    assert info["curve_secretkey"] not in json.dumps(pod)  # not in the spec, env, annotations
    _, status = await api(server, "GET", f"/jupyter-k8s/kernels/{kernel_id}", expect=200)
    assert status["encryption"] == "curve", status
    assert zmtp_mechanism(ip, info["iopub_port"]) == "CURVE"

    async with Channels(server, kernel_id) as ch:

        async def run() -> None:
            out = await ch.execute("for i in range(5): print('top-secret', i)")
            assert "top-secret 4" in out["stdout"], out  # the server's client works

        got = await sniff_iopub(ip, info["iopub_port"], run)
    assert got == [], f"a plain subscriber read the kernel's iopub: {got[:3]}"

    log = await admin.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}/log", raw=True)
    assert "without encryption" not in log, log
    assert info["curve_secretkey"] not in log
    server_log = server.log_path.read_text() if server.log_path else ""
    assert info["curve_secretkey"] not in server_log and info["key"] not in server_log

    # An image whose ipykernel ignores the keys: it still runs, unencrypted, and says so.
    old = await start_kernel(server, "k8s-oldipykernel")
    old_pod = await the_pod(admin, namespace, old)
    _, status = await api(server, "GET", f"/jupyter-k8s/kernels/{old}", expect=200)
    assert status["encryption"] == "none", status
    assert "ipykernel 7.4" in status["encryption_message"], status
    assert server.log_path and "without transport encryption" in server.log_path.read_text()
    old_ip = old_pod["status"]["podIP"]
    assert zmtp_mechanism(old_ip, 52701) == "NULL"
    async with Channels(server, old) as ch:

        async def run_old() -> None:
            out = await ch.execute("print('in the clear')")
            assert "in the clear" in out["stdout"], out

        got = await sniff_iopub(old_ip, 52701, run_old, seconds=1.0)
    # the same sniffer does read an unencrypted kernel, and ipykernel does warn in its log
    # without keys: the checks on the first kernel above are meaningful
    assert any(b"in the clear" in part for msg in got for part in msg), got
    path = f"/api/v1/namespaces/{namespace}/pods/{old_pod['metadata']['name']}/log"
    assert "without encryption" in await admin.request("GET", path, raw=True)

    for kid, pod_name in ((kernel_id, name), (old, old_pod["metadata"]["name"])):
        await api(server, "DELETE", f"/api/kernels/{kid}", expect=204)
        await wait_gone(admin, namespace, "pods", pod_name)
    with pytest.raises(NotFound):
        await admin.get("secrets", name, namespace)
    assert os.environ["JUPYTER_PATH"] == str(tmp_path / "jupyter-path")


async def test_an_orphan_is_adopted_by_another_server_of_the_owner(
    make_server, admin: KubeClient, namespace: str
):
    """A server that stops (reattach on) and does not come back: once its pods' heartbeat
    is older than the grace period (here: made old by the admin), another server of the
    owner adopts its kernels at start, and then holds them."""
    gone = make_server("gone", "hank")
    await asyncio.to_thread(gone.start)
    kernel_id = await start_kernel(gone, "k8s-cpu")
    async with Channels(gone, kernel_id) as ch:
        assert (await ch.execute("state = 'kept'"))["status"] == "ok"
    await asyncio.to_thread(gone.stop)
    pod = await the_pod(admin, namespace, kernel_id)
    old_holder = pod["metadata"]["annotations"][ANN_SERVER_ID]
    await admin.patch(
        "pods",
        pod["metadata"]["name"],
        {"metadata": {"annotations": {ANN_HEARTBEAT: "2020-01-01T00:00:00Z"}}},
        namespace,
    )
    other = make_server("other", "hank")
    await asyncio.to_thread(other.start)
    await wait_listed(other, kernel_id)
    async with Channels(other, kernel_id) as ch:
        assert (await ch.execute("state"))["result"] == "'kept'"
    adopted = await the_pod(admin, namespace, kernel_id)
    assert adopted["metadata"]["uid"] == pod["metadata"]["uid"]
    holder = adopted["metadata"]["annotations"][ANN_SERVER_ID]
    assert holder != old_holder
    assert adopted["metadata"]["annotations"][ANN_HEARTBEAT] > "2026"
    # the first server comes back: the kernel is now the other's, with a fresh heartbeat
    await asyncio.to_thread(gone.start)
    await wait_start_checked(gone)
    assert kernel_id not in await listed(gone)
    await api(other, "DELETE", f"/api/kernels/{kernel_id}", expect=204)
    await wait_gone(admin, namespace, "pods", pod["metadata"]["name"])


async def test_claims_on_the_real_api(dev_cluster, admin_config, admin, namespace, tmp_path):
    """What claim and heartbeat rely on, against the API server itself: a claim is
    conditional on the resourceVersion (of two claimants one wins), a heartbeat patch applies
    only while the pod names its holder."""
    from jupyter_k8s.k8s.cluster import ClusterService
    from jupyter_k8s.kernels.service import KernelsConfig, KernelService

    image = await read_advertised_image(admin)
    build = KernelPodBuild(
        name=f"kernel-claims-{uuid.uuid4().hex[:5]}",
        namespace=namespace,
        kernel_id=str(uuid.uuid4()),
        kernel_name="k8s-cpu",
        owner="ivy",
        profile=load_profiles(None, image).get("cpu"),
        image=image or "x",
        server_id="c" * 32,
    )  # gated: never scheduled, nothing runs
    pod = make_pod(build)
    pod["metadata"]["annotations"][ANN_HEARTBEAT] = "2020-01-01T00:00:00Z"
    await admin.create("pods", pod, namespace)
    kubeconfig = await asyncio.to_thread(
        user_kubeconfig, dev_cluster, admin_config, namespace, tmp_path / "kc"
    )
    clusters, services = [], []
    for holder in ("a" * 32, "b" * 32):
        cluster = ClusterService(str(kubeconfig), None, namespace)
        clusters.append(cluster)
        svc = KernelService(
            cluster.get_client,
            None,
            KernelsConfig(namespace=namespace, owner="ivy", server_id=holder),
        )
        services.append(svc)
    try:
        for svc in services:
            await svc.start()
        seen = await admin.get("pods", build.name, namespace)
        results = await asyncio.gather(*(svc.claim(dict(seen), 300) for svc in services))
        assert sum(r is not None for r in results) == 1, results
        winner, loser = services if results[0] is not None else services[::-1]
        now = await admin.get("pods", build.name, namespace)
        assert now["metadata"]["annotations"][ANN_SERVER_ID] == winner.server_id
        # the loser can't refresh (nor claim again: a live holder's now); the winner can
        assert not await loser.renew_heartbeat(build.name)
        assert await loser.claim(now, 300) is None
        assert await winner.renew_heartbeat(build.name)
    finally:
        for svc in services:
            await svc.stop()
        for cluster in clusters:
            await cluster.close()
        await admin.delete("pods", build.name, namespace, grace_period=0)
