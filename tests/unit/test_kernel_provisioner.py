"""The provisioner's decisions against a fake KernelService (no cluster): start, fail fast,
time out, poll from the cache, restart in place or in a new pod, kill, cleanup."""

from __future__ import annotations

import asyncio
import copy
import socket
from typing import Any

import pytest
import zmq
import zmq.asyncio
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager

from jupyter_k8s.kernels.kernelspecs import kernel_dict
from jupyter_k8s.kernels.provisioner import K8sPodProvisioner
from jupyter_k8s.kernels.service import KernelsConfig, set_server_service
from jupyter_k8s.kernels.start_error import KernelStartError
from jupyter_k8s.profiles import load_profiles

PROFILES = load_profiles(None, "img:1")


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class FakeService:
    """Just what the provisioner uses of KernelService; pods live in a dict."""

    def __init__(self, behaviour: str = "runs"):
        names = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
        self.config = KernelsConfig(
            namespace="ns",
            owner="alice",
            ports=dict(zip(names, free_ports(5), strict=True)),
            restart_timeout=2,
        )
        self.profiles = PROFILES
        self.statuses: dict[str, dict] = {}
        self.adoptable: dict[str, dict] = {}
        self.users = 0
        self.pods: dict[str, dict] = {}
        self.deleted: list[tuple[str, int | None]] = []
        self.created: list[Any] = []
        self.behaviour = behaviour
        self._changed = asyncio.Event()
        self.server_id = "5e7e1d0000000000000000000000abcd"
        self.secrets: dict[str, dict] = {}

    namespace = "ns"

    async def start(self) -> None:
        pass

    def identify(self, near: Any = None) -> str:
        return self.server_id

    def pod(self, name: str) -> dict | None:
        return self.pods.get(name)

    def pod_events(self, pod: dict | None) -> list[dict]:
        return []

    async def changed(self, timeout: float) -> None:
        ev = self._changed
        try:
            await asyncio.wait_for(ev.wait(), timeout)
        except TimeoutError:
            pass

    def touch(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def set_status(self, kernel_id: str, **fields: Any) -> dict:
        status = self.statuses.setdefault(kernel_id, {"kernel_id": kernel_id})
        status.update(fields)
        return status

    def drop_status(self, kernel_id: str) -> None:
        self.statuses.pop(kernel_id, None)

    async def create(self, build, connection_info) -> dict:
        self.created.append((build, connection_info))
        self.secrets[build.name] = dict(connection_info)
        pod: dict[str, Any] = {
            "metadata": {"name": build.name, "uid": "u"},
            "spec": {"nodeName": "n", "containers": [{"name": "kernel"}]},
            "status": {"phase": "Pending", "podIP": "127.0.0.1"},
        }
        if self.behaviour == "runs":
            pod["status"]["phase"] = "Running"
            pod["status"]["containerStatuses"] = [
                {"name": "kernel", "restartCount": 0, "state": {"running": {}}}
            ]
        elif self.behaviour == "badimage":
            pod["status"]["containerStatuses"] = [
                {
                    "name": "kernel",
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ErrImagePull", "message": "no such host"}},
                }
            ]
        elif self.behaviour == "unschedulable":
            del pod["spec"]["nodeName"]
            pod["status"]["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
                }
            ]
        self.pods[build.name] = pod
        self.touch()
        return pod

    async def delete(self, name: str, grace: int | None = 0) -> None:
        self.deleted.append((name, grace))
        self.pods.pop(name, None)
        self.touch()

    async def read_connection(self, pod: dict) -> dict:
        return dict(self.secrets[pod["metadata"]["name"]])

    # test helpers

    def restart_container(self, name: str, code: int = 0, running: bool = True) -> None:
        pod = copy.deepcopy(self.pods[name])
        cs = pod["status"]["containerStatuses"][0]
        cs["lastState"] = {"terminated": {"exitCode": code, "reason": "Error"}}
        cs["restartCount"] += 1
        cs["state"] = {"running": {}} if running else {"waiting": {"reason": "CrashLoopBackOff"}}
        self.pods[name] = pod
        self.touch()


@pytest.fixture
async def heartbeat():
    """Answers on the fake kernel's heartbeat port, like ipykernel does: in plain text (an
    ipykernel that does not use Curve keys), or with `curve=(public, secret)` as a Curve
    server (ipykernel 7.4 given keys)."""
    holder: dict[str, Any] = {}

    async def serve(port: int, curve: tuple[bytes, bytes] | None) -> None:
        sock = zmq.asyncio.Context.instance().socket(zmq.REP)
        sock.linger = 0
        if curve is not None:
            sock.curve_publickey, sock.curve_secretkey = curve
            sock.curve_server = True
        sock.bind(f"tcp://127.0.0.1:{port}")
        holder["sock"] = sock
        try:
            while True:
                await sock.send(await sock.recv())
        finally:
            sock.close(0)

    tasks = []

    def start(port: int, curve: tuple[bytes, bytes] | None = None) -> None:
        tasks.append(asyncio.ensure_future(serve(port, curve)))

    yield start
    for t in tasks:
        t.cancel()


def provisioner(svc: FakeService, profile: str = "cpu", **config: Any) -> K8sPodProvisioner:
    set_server_service(svc)  # type: ignore[arg-type]
    spec = KernelSpec(name=f"k8s-{profile}", **kernel_dict(PROFILES.get("cpu")))
    km = AsyncKernelManager(kernel_name="")
    return K8sPodProvisioner(
        kernel_id="0123abcd-0000", kernel_spec=spec, parent=km, profile=profile, **config
    )


async def launch(prov: K8sPodProvisioner) -> dict:
    kwargs = await prov.pre_launch(env={"SECRET_TOKEN": "x", "JPY_SESSION_NAME": "a.ipynb"})
    return await prov.launch_kernel(kwargs.pop("cmd"), **kwargs)


@pytest.fixture(autouse=True)
def _no_server_service():
    yield
    set_server_service(None)


async def test_start_poll_and_shutdown(heartbeat):
    svc = FakeService()
    heartbeat(svc.config.ports["hb_port"])
    prov = provisioner(svc)
    info = await launch(prov)
    assert info["ip"] == "127.0.0.1" and isinstance(info["key"], bytes)
    assert info["key"] == prov.parent.session.key
    build, connection = svc.created[0]
    assert connection["key"] == prov.parent.session.key.decode()
    # only the kernelspec's env and the session name reach the pod, not the server's env
    assert dict(build.env) == {"JPY_SESSION_NAME": "a.ipynb"}
    assert prov.has_process and await prov.poll() is None
    assert svc.statuses["0123abcd-0000"]["phase"] == "Running"
    # the kernel exits (restartCount moves on): poll reports it from the cache
    svc.restart_container(prov.pod_name, code=3)
    assert await prov.poll() == 3
    # kill/terminate leave an exited kernel's pod alone
    await prov.kill()
    await prov.terminate()
    assert svc.deleted == []
    name = prov.pod_name
    await prov.cleanup(restart=False)
    assert svc.deleted == [(name, 0)]
    assert "0123abcd-0000" not in svc.statuses


async def test_restart_in_place_then_kill_makes_a_new_pod(heartbeat):
    svc = FakeService()
    heartbeat(svc.config.ports["hb_port"])
    prov = provisioner(svc)
    await launch(prov)
    first = prov.pod_name
    # restart: the kernel exits on the shutdown request, the kubelet starts it again
    await prov.shutdown_requested(restart=True)
    svc.restart_container(first, code=0)
    assert await prov.wait() == 0
    await prov.cleanup(restart=True)
    await launch(prov)
    assert prov.pod_name == first and len(svc.created) == 1 and prov._restarts == 1
    # a kernel that hangs: kill deletes its pod, the next launch makes a new one
    await prov.kill()
    assert svc.deleted == [(first, 0)]
    await prov.cleanup(restart=True)
    await launch(prov)
    assert prov.pod_name != first and len(svc.created) == 2


async def test_restart_waits_for_the_kubelet_only_restart_max_backoff(heartbeat):
    """A real kubelet says CrashLoopBackOff only near the back-off's end: the container
    just stays terminated. After restart_max_backoff the restart makes a new pod."""
    svc = FakeService()
    svc.config.restart_max_backoff = 0.3
    svc.config.restart_timeout = 30
    heartbeat(svc.config.ports["hb_port"])
    prov = provisioner(svc)
    await launch(prov)
    first = prov.pod_name
    await prov.shutdown_requested(restart=True)
    pod = copy.deepcopy(svc.pods[first])
    pod["status"]["containerStatuses"][0]["state"] = {
        "terminated": {"exitCode": 0, "reason": "Completed"}
    }
    svc.pods[first] = pod
    svc.touch()
    assert await prov.wait() == 0
    await prov.cleanup(restart=True)
    t0 = asyncio.get_running_loop().time()
    await launch(prov)
    took = asyncio.get_running_loop().time() - t0
    assert prov.pod_name != first and len(svc.created) == 2
    assert took < 2, f"waited {took:.1f} s for the kubelet"


async def test_bad_image_fails_fast_and_deletes_the_pod():
    svc = FakeService("badimage")
    prov = provisioner(svc)
    with pytest.raises(KernelStartError) as err:
        await launch(prov)
    assert err.value.reason == "ErrImagePull" and "no such host" in str(err.value)
    assert err.value.status_code == 500
    assert [name for name, _ in svc.deleted] == [svc.created[0][0].name]
    assert svc.statuses["0123abcd-0000"]["phase"] == "Failed"
    assert svc.users == 0


async def test_start_timeout_says_why_and_deletes_the_pod():
    svc = FakeService("unschedulable")
    prov = provisioner(svc, start_timeout=0.3)
    with pytest.raises(KernelStartError) as err:
        await launch(prov)
    assert err.value.reason == "StartTimeout" and err.value.status_code == 504
    assert "Insufficient nvidia.com/gpu" in str(err.value)
    assert "did not start within 0.3 s" in str(err.value)
    assert len(svc.deleted) == 1


async def test_unknown_profile():
    svc = FakeService()
    prov = provisioner(svc, profile="nope")
    with pytest.raises(KernelStartError) as err:
        await prov.pre_launch(env={})
    assert err.value.status_code == 400 and "unknown profile 'nope'" in str(err.value)
    assert not svc.created


async def test_standalone_needs_an_embedded_profile(monkeypatch):
    from jupyter_k8s.kernels import provisioner as mod

    svc = FakeService()
    svc.profiles = None  # a standalone service has no profiles of its own
    monkeypatch.setattr(mod, "server_service", lambda: svc)
    prov = provisioner(svc)
    with pytest.raises(KernelStartError, match="kernelspec install --profile cpu"):
        await prov.pre_launch(env={})
    prov = provisioner(svc, profile_spec={"name": "cpu", "image": "x:1", "gpus": 0})
    await prov.pre_launch(env={})
    assert prov._profile.image == "x:1"


async def test_curve_keys_when_the_policy_asks(heartbeat):
    svc = FakeService()
    heartbeat(svc.config.ports["hb_port"])  # plain REP: the test only checks the keys
    prov = provisioner(svc)
    prov.parent.transport_encryption = "required"
    await prov.pre_launch(env={})
    assert prov.parent.curve_publickey and prov.parent.curve_secretkey


async def test_curve_by_default_when_the_kernel_uses_it(heartbeat):
    """jupyter's policy is left at its default ("disabled"): the k8s kernelspec declares
    Curve, so the keys are made, go to the Secret (never the build) and are used."""
    svc = FakeService()
    prov = provisioner(svc)
    km = prov.parent
    assert km.transport_encryption == "disabled"
    kwargs = await prov.pre_launch(env={})
    assert km.curve_publickey and km.curve_secretkey
    heartbeat(svc.config.ports["hb_port"], (km.curve_publickey, km.curve_secretkey))
    info = await prov.launch_kernel(kwargs.pop("cmd"), **kwargs)
    assert info["curve_publickey"] == km.curve_publickey.decode()
    build, connection = svc.created[0]
    assert connection["curve_secretkey"] == km.curve_secretkey.decode()
    assert km.curve_secretkey.decode() not in repr(build)
    status = svc.statuses["0123abcd-0000"]
    assert status["encryption"] == "curve" and status["encryption_message"] is None
    assert build.server_id == svc.server_id


async def test_an_image_without_curve_falls_back_with_a_message(heartbeat, caplog):
    svc = FakeService()
    heartbeat(svc.config.ports["hb_port"])  # answers only in plain text: an old ipykernel
    prov = provisioner(svc)
    info = await launch(prov)
    assert "curve_publickey" not in info and "curve_secretkey" not in info
    assert prov.parent.curve_publickey is None and prov.parent.curve_secretkey is None
    status = svc.statuses["0123abcd-0000"]
    assert status["encryption"] == "none" and "ipykernel 7.4" in status["encryption_message"]
    assert status["phase"] == "Running"
    assert any("without transport encryption" in r.getMessage() for r in caplog.records)


async def test_required_encryption_fails_on_an_image_without_curve(heartbeat):
    svc = FakeService()
    heartbeat(svc.config.ports["hb_port"])
    prov = provisioner(svc)
    prov.parent.transport_encryption = "required"
    with pytest.raises(KernelStartError) as err:
        await launch(prov)
    assert err.value.reason == "EncryptionUnsupported" and "required" in str(err.value)
    assert [name for name, _ in svc.deleted] == [svc.created[0][0].name]


async def test_no_curve_when_the_kernelspec_declares_none(heartbeat):
    svc = FakeService()
    heartbeat(svc.config.ports["hb_port"])
    set_server_service(svc)  # type: ignore[arg-type]
    spec = KernelSpec(name="k8s-cpu", **kernel_dict(PROFILES.get("cpu"), curve=False))
    prov = K8sPodProvisioner(
        kernel_id="0123abcd-0000", kernel_spec=spec, parent=AsyncKernelManager(), profile="cpu"
    )
    info = await launch(prov)
    assert prov.parent.curve_publickey is None and "curve_secretkey" not in info
    assert svc.statuses["0123abcd-0000"]["encryption"] == "none"


async def test_reattach_reads_the_pods_own_keys(heartbeat):
    """A restarted server adopts a pod: the key and Curve keys come from its Secret, not
    from the new kernel manager."""
    svc = FakeService()
    first = provisioner(svc)
    kwargs = await first.pre_launch(env={})
    keys = (first.parent.curve_publickey, first.parent.curve_secretkey)
    heartbeat(svc.config.ports["hb_port"], keys)
    await first.launch_kernel(kwargs.pop("cmd"), **kwargs)
    await first.detach()
    pod = svc.pods[svc.created[0][0].name]
    svc.adoptable["0123abcd-0000"] = pod
    again = provisioner(svc)
    info = await launch(again)
    assert again.pod_name == pod["metadata"]["name"] and len(svc.created) == 1
    assert again.parent.session.key == first.parent.session.key
    assert (again.parent.curve_publickey, again.parent.curve_secretkey) == keys
    assert info["curve_secretkey"] == keys[1].decode()
    assert svc.statuses["0123abcd-0000"]["reason"] == "Reattached"


def test_failed_statuses_expire():
    from jupyter_k8s.kernels.service import KernelService

    svc = KernelService(lambda: None, PROFILES, KernelsConfig(namespace="ns", owner="a"))  # type: ignore[arg-type]
    svc.set_status("k1", phase="Failed", reason="StartTimeout")
    svc.set_status("k2", phase="Running")
    assert [s["kernel_id"] for s in svc.list_statuses()] == ["k1", "k2"]
    svc._changed_at["k1"] -= svc.FAILED_STATUS_SECONDS + 1
    svc._changed_at["k2"] -= svc.FAILED_STATUS_SECONDS + 1
    assert [s["kernel_id"] for s in svc.list_statuses()] == ["k2"]


async def test_a_standalone_client_takes_its_stale_threshold_from_orphan_seconds():
    """papermill & co. read `orphan_seconds` from kernel.json (written by `kernelspec install`
    from c.JupyterK8s.kernel_orphan_seconds): it sets when their collector deletes another
    client's abandoned pod, and how often they renew their own pod's heartbeat."""
    from jupyter_k8s.kernels.service import release_standalone

    spec = KernelSpec(name="k8s-cpu", **kernel_dict(PROFILES.get("cpu")))
    made = []
    for orphan in (None, 8.0):
        prov = K8sPodProvisioner(
            kernel_id="0123abcd-0000", kernel_spec=spec, namespace="ns", orphan_seconds=orphan
        )
        svc = prov._get_service()  # a standalone one: no server service is set
        made.append(svc)
        assert svc.config.client == "standalone"
    default, short = made
    assert (default.config.standalone_stale(), default.config.heartbeat_period()) == (300, 30)
    assert (short.config.standalone_stale(), short.config.heartbeat_period()) == (8, 2)
    for svc in made:
        await release_standalone(svc)
