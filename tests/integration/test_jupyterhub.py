"""End to end with a real JupyterHub 6 + KubeSpawner 7 + configurable-http-proxy, on the local
cluster.

The hub runs on 127.0.0.1 as a subprocess (dummy authenticator, an admin service token for
the test), as the identity of jupyter_k8s/manifests/hub-rbac.yaml, with the two lines of
docs/jupyterhub.md in its config. It spawns user-a's and user-b's servers as pods on the
process node (the node agent runs `jupyterhub-singleuser` from this environment; the image name
is recorded, never pulled), each in its own namespace. Through the hub's proxy, with its own
API token, each user submits a notebook job and starts a remote kernel on their own server's
REST API, and gets their own output back; user-b's token does not open user-a's server. A user
whose quota leaves no room gets the hook's message on the spawn's progress stream.

Brought up and down here; with CI=true a component that cannot start fails the test.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from builders import notebook
from clusters import unavailable

from jupyter_k8s.devcluster.bootstrap import DEFAULT_IMAGE
from jupyter_k8s.devcluster.controlplane import free_port
from jupyter_k8s.k8s.client import ClusterConfig, KubeClient

pytestmark = [pytest.mark.integration]

CHP_VERSION = "5.3.0"
ADMIN_TOKEN = "jupyter-k8s-e2e-" + uuid.uuid4().hex


def find_chp() -> str | None:
    """configurable-http-proxy: where scripts/setup installs it, else on PATH."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    local = (
        cache
        / "jupyter-k8s"
        / f"configurable-http-proxy-{CHP_VERSION}"
        / "node_modules"
        / ".bin"
        / "configurable-http-proxy"
    )
    if local.exists():
        return str(local)
    return shutil.which("configurable-http-proxy")


@dataclass
class LocalHub:
    """A JupyterHub in a subprocess, spawning KubeSpawner pods on the local cluster.

    `hook`: the two lines of docs/jupyterhub.md (a namespace per user, `namespace_template`,
    `hook_options` more keyword arguments of setup_user_namespaces, as Python); without it every
    server goes to `shared_namespace` (made beforehand), with the same ServiceAccount and
    security contexts: the baseline of bench/hub_spawn.py.
    """

    folder: Path
    kubeconfig: Path
    chp: str
    hook: bool = True
    namespace_template: str = "t-jh-{username}"
    shared_namespace: str | None = None
    hook_options: str = ""
    port: int = 0
    hub_port: int = 0
    proc: subprocess.Popen | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log_path = self.folder / "hub.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        venv_bin = str(Path(sys.executable).parent)
        common = f"""
            import os
            c.JupyterHub.ip = "127.0.0.1"
            c.JupyterHub.port = {self.port}
            c.JupyterHub.hub_ip = "127.0.0.1"
            c.JupyterHub.hub_port = {self.hub_port}
            c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
            c.ConfigurableHTTPProxy.command = [{self.chp!r}]
            c.JupyterHub.db_url = "sqlite:///{self.folder}/jupyterhub.sqlite"
            c.JupyterHub.cookie_secret_file = "{self.folder}/jupyterhub_cookie_secret"
            c.JupyterHub.authenticator_class = "dummy"
            c.Authenticator.allow_all = True
            c.JupyterHub.services = [{{"name": "e2e", "api_token": {ADMIN_TOKEN!r}}}]
            c.JupyterHub.load_roles = [{{"name": "admin", "services": ["e2e"]}}]
            c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
            c.JupyterHub.cleanup_servers = True
            c.JupyterHub.log_level = "INFO"
            # The process node runs this environment's jupyterhub-singleuser; the image is a name.
            c.KubeSpawner.image = {DEFAULT_IMAGE!r}
            c.KubeSpawner.cmd = ["jupyterhub-singleuser"]
            # KubeSpawner puts cmd in the container's args and leaves the command to the
            # image's entrypoint, which the process node can't know: name one.
            c.KubeSpawner.extra_container_config = {{"command": ["/usr/bin/env"]}}
            c.KubeSpawner.args = ["--ServerApp.allow_root=True"]  # the node runs pods as root
            c.KubeSpawner.environment = {{
                "PATH": {venv_bin!r} + ":" + os.environ.get("PATH", ""),
                "POD_IP": {{"valueFrom": {{"fieldRef": {{"fieldPath": "status.podIP"}}}}}},
            }}
            # every pod has its own loopback IP: bind it, not 0.0.0.0 (port 8888 for all)
            c.KubeSpawner.ip = "$(POD_IP)"
            c.KubeSpawner.start_timeout = 180
            c.KubeSpawner.http_timeout = 180
        """
        if self.hook:
            mode = f"""
            from jupyter_k8s.hub import setup_user_namespaces
            setup_user_namespaces(c, namespace_template={self.namespace_template!r}, {self.hook_options})
            """  # noqa: E501
        else:
            mode = f"""
            from jupyter_k8s.hub import RESTRICTED_POD_SECURITY
            from jupyter_k8s.k8s.objects import restricted_container_security
            c.KubeSpawner.namespace = {self.shared_namespace!r}
            c.KubeSpawner.service_account = "jupyter-k8s"
            c.KubeSpawner.automount_service_account_token = True
            c.KubeSpawner.container_security_context = restricted_container_security()
            c.KubeSpawner.pod_security_context = RESTRICTED_POD_SECURITY
            """
        return textwrap.dedent(common) + textwrap.dedent(mode)

    def start(self, timeout: float = 90) -> None:
        import urllib.request

        self.port = self.port or free_port()
        self.hub_port = self.hub_port or free_port()
        cfg = self.folder / "jupyterhub_config.py"
        cfg.write_text(self.config())
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("KUBERNETES_", "JUPYTERHUB_", "JPY_"))
        }
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(cfg)],
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited:\n{self.log_tail()}")
            try:  # through the proxy: both the hub and configurable-http-proxy are up
                with urllib.request.urlopen(f"{self.url}/hub/api/", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"jupyterhub did not answer in {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 90) -> None:
        """SIGTERM: the hub stops every server (cleanup_servers) and its proxy."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    # -- the hub's REST API ----------------------------------------------------------------------

    async def api(
        self, method: str, path: str, body: Any = None, expect: int | tuple | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"token {ADMIN_TOKEN}"}
        async with (
            aiohttp.ClientSession() as s,
            s.request(method, f"{self.url}/hub/api{path}", json=body, headers=headers) as resp,
        ):
            raw = await resp.read()
            data = json.loads(raw) if raw and "json" in resp.content_type else raw
            if expect is not None:
                want = expect if isinstance(expect, tuple) else (expect,)
                assert resp.status in want, f"{method} {path} -> {resp.status}: {raw[:500]!r}"
            return resp.status, data

    async def add_user(self, name: str) -> None:
        await self.api("POST", f"/users/{name}", expect=(201, 409))

    async def user_token(self, name: str) -> str:
        _, data = await self.api(
            "POST", f"/users/{name}/tokens", {"note": "e2e", "expires_in": 3600}, expect=201
        )
        return data["token"]

    async def spawn(self, name: str, timeout: float = 180) -> dict[str, Any]:
        """Start `name`'s server and follow its progress stream to the end: the last event
        ({"ready": True, ...} or {"failed": True, "message": ...}) with its "seconds"."""
        started = time.monotonic()
        status, data = await self.api("POST", f"/users/{name}/server")
        if status >= 400:  # failed within the hub's slow_spawn_timeout: the answer says why
            return {
                "failed": True,
                "status": status,
                "message": data.get("message"),
                "seconds": time.monotonic() - started,
            }
        assert status in (201, 202), (status, data)
        headers = {"Authorization": f"token {ADMIN_TOKEN}"}
        last: dict[str, Any] = {}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s,
            s.get(f"{self.url}/hub/api/users/{name}/server/progress", headers=headers) as resp,
        ):
            async for raw in resp.content:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                last = json.loads(line[5:])
                if last.get("ready") or last.get("failed"):
                    break
        last["seconds"] = time.monotonic() - started
        return last

    async def progress(self, name: str) -> list[dict[str, Any]]:
        """The events of `name`'s spawn progress stream, as the spawn page reads them."""
        headers = {"Authorization": f"token {ADMIN_TOKEN}"}
        events = []
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s,
            s.get(f"{self.url}/hub/api/users/{name}/server/progress", headers=headers) as resp,
        ):
            async for raw in resp.content:
                line = raw.decode().strip()
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
        return events

    async def stop_server(self, name: str, timeout: float = 90) -> None:
        await self.api("DELETE", f"/users/{name}/server", expect=(202, 204, 400))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            _, user = await self.api("GET", f"/users/{name}", expect=200)
            if not user.get("servers"):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{name}'s server did not stop")


@dataclass
class UserServer:
    """One user's server through the hub's proxy, with the user's token: what the kernels
    test helpers (kernels_support.Channels) need."""

    url: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    async def call(
        self, method: str, path: str, body: Any = None, expect: int | None = None
    ) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as s,
            s.request(method, f"{self.url}{path}", json=body, headers=self.headers) as resp,
        ):
            raw = await resp.read()
            data = json.loads(raw) if raw and "json" in resp.content_type else raw
            if expect is not None:
                assert resp.status == expect, f"{method} {path} -> {resp.status}: {raw[:800]!r}"
            return resp.status, data


HELLO = notebook(
    "import os\nprint(f\"hello {who} from {os.environ['HOSTNAME']}\")", parameters='who = "nobody"'
)


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hub(dev_cluster, admin_config: ClusterConfig, tmp_path_factory):
    for module in ("jupyterhub", "kubespawner"):
        try:
            __import__(module)
        except ImportError as exc:
            unavailable(f"{module} is not installed (pip install -e .[test]): {exc}")
    chp = find_chp()
    if chp is None:
        unavailable(
            f"configurable-http-proxy {CHP_VERSION} is not installed (scripts/setup installs it)"
        )
    from test_hub_namespaces import drop_hub_identity, make_hub_identity

    folder = tmp_path_factory.mktemp("jupyterhub")
    tag = "e2e" + uuid.uuid4().hex[:4]

    async def identity() -> Path:
        async with KubeClient(admin_config) as admin:
            return await make_hub_identity(admin, dev_cluster.pki.ca.cert, folder, tag)

    local = LocalHub(
        folder / "hub",
        asyncio.run(identity()),
        chp,  # type: ignore[arg-type]
        namespace_template=f"t-{tag}-{{username}}",
        hook_options=(
            'quota=lambda spawner: {"pods": 0} if spawner.user.name == "user-full" '
            'else {"pods": 10, "requests.nvidia.com/gpu": 1}'
        ),
    )
    try:
        local.start()
    except Exception as exc:  # noqa: BLE001 - reported as fail (CI) or skip
        local.stop()
        unavailable(f"JupyterHub could not start: {exc}")
    yield local
    local.stop()

    async def cleanup() -> None:
        async with KubeClient(admin_config) as admin:
            await drop_hub_identity(admin, tag)
            for ns in (await admin.list("namespaces"))["items"]:
                if ns["metadata"]["name"].startswith(f"t-{tag}-"):
                    await admin.delete("namespaces", ns["metadata"]["name"], missing_ok=True)

    asyncio.run(cleanup())


# -- the test ------------------------------------------------------------------------------------


async def run_job(server: UserServer, who: str, timeout: float = 180) -> tuple[dict, str]:
    """Upload hello.ipynb, submit it with who=`who`, wait for it; (job, printed text)."""
    await server.call(
        "PUT", "/api/contents/hello.ipynb", {"type": "notebook", "content": HELLO}, expect=201
    )
    _, created = await server.call(
        "POST", "/jupyter-k8s/jobs", {"notebook": "hello.ipynb", "parameters": {"who": who}}
    )
    assert "job" in created, created
    job_id = created["job"]["id"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        _, job = await server.call("GET", f"/jupyter-k8s/jobs/{job_id}", expect=200)
        if job["phase"] in ("Succeeded", "Failed") and job["output_state"] != "pending":
            break
        assert loop.time() < deadline, f"job never finished: {job}"
        await asyncio.sleep(0.3)
    assert job["phase"] == "Succeeded", job
    _, model = await server.call("GET", f"/api/contents/{job['output_path']}", expect=200)
    printed = "".join(
        "".join(out.get("text", ""))
        for cell in model["content"]["cells"]
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )
    return job, printed


async def run_kernel(server: UserServer, who: str) -> tuple[str, str]:
    """Start the remote `k8s-cpu` kernel and run a cell; (kernel id, what it printed).
    The caller shuts the kernel down."""
    from kernels_support import Channels

    _, model = await server.call("POST", "/api/kernels", {"name": "k8s-cpu"}, expect=201)
    kernel_id = model["id"]
    async with Channels(server, kernel_id) as ch:  # type: ignore[arg-type]
        await ch.kernel_info(timeout=120)
        out = await ch.execute(
            f"import os\nwho = {who!r}\nprint(f'kernel of {{who}} in {{os.environ[\"HOSTNAME\"]}}')"
        )
    assert out["status"] == "ok", out
    return kernel_id, out["stdout"]


@pytest.mark.timeout(900)
async def test_two_users_on_a_real_jupyterhub(hub: LocalHub, admin: KubeClient):
    users = ["user-a", "user-b"]
    for name in users:
        await hub.add_user(name)
    spawns = await asyncio.gather(*(hub.spawn(name) for name in users))
    for name, result in zip(users, spawns, strict=True):
        assert result.get("ready"), f"{name}: {result}\n{hub.log_tail()}"
    servers = {
        name: UserServer(f"{hub.url}/user/{name}", await hub.user_token(name)) for name in users
    }
    namespaces = {name: hub.namespace_template.format(username=name) for name in users}

    # Each server pod runs in its user's namespace, as that namespace's ServiceAccount.
    for name, ns in namespaces.items():
        pod = await admin.get("pods", f"jupyter-{name}", ns)
        assert pod["spec"]["serviceAccountName"] == "jupyter-k8s"
        assert pod["status"]["phase"] == "Running"
        # its token is projected and short-lived (bound to the pod, about an hour)
        tokens = [
            source["serviceAccountToken"]
            for volume in pod["spec"]["volumes"]
            for source in (volume.get("projected") or {}).get("sources", [])
            if "serviceAccountToken" in source
        ]
        assert tokens and all(t["expirationSeconds"] <= 3607 for t in tokens), tokens

    # Each user: a notebook job and a remote kernel through their own server, their output.
    async def work(name: str) -> dict[str, Any]:
        server, ns = servers[name], namespaces[name]
        try:
            job, printed = await run_job(server, name)
            kernel_id, said = await run_kernel(server, name)
        except Exception as exc:  # say what the server and the cluster saw
            _, jobs = await server.call("GET", "/jupyter-k8s/jobs")
            _, kernels = await server.call("GET", "/jupyter-k8s/kernels")
            pods = [
                (p["metadata"]["name"], p["status"].get("phase"))
                for p in (await admin.list("pods", ns))["items"]
            ]
            raise AssertionError(
                f"{name}: {exc!r}\njobs: {jobs}\nkernels: {kernels}\npods in {ns}: {pods}"
            ) from exc
        try:
            kernel_pods = (
                await admin.list("pods", ns, labelSelector=f"jupyter-k8s.io/kernel-id={kernel_id}")
            )["items"]
        finally:
            await server.call("DELETE", f"/api/kernels/{kernel_id}")
        return {"job": job, "printed": printed, "kernel_pods": kernel_pods, "said": said}

    results = dict(zip(users, await asyncio.gather(*(work(n) for n in users)), strict=True))
    for name, result in results.items():
        ns = namespaces[name]
        other = namespaces[users[1 - users.index(name)]]
        job_id = result["job"]["id"]
        assert result["printed"].startswith(f"hello {name} from {job_id}"), result["printed"]
        assert await admin.get("jobs", job_id, ns)  # ran in the user's own namespace
        assert job_id not in [
            j["metadata"]["name"] for j in (await admin.list("jobs", other))["items"]
        ]
        [kernel_pod] = result["kernel_pods"]  # in the user's own namespace
        assert result["said"] == f"kernel of {name} in {kernel_pod['metadata']['name']}\n"
        # each user's server lists its own job, and only it
        _, listed = await servers[name].call("GET", "/jupyter-k8s/jobs", expect=200)
        assert [j["id"] for j in listed["jobs"]] == [job_id]

    # user-b's token does not open user-a's server.
    intruder = UserServer(servers["user-a"].url, servers["user-b"].token)
    status, _ = await intruder.call("GET", "/api/status")
    assert status == 403

    for name in users:
        await hub.stop_server(name)


@pytest.mark.timeout(300)
async def test_a_full_quota_is_a_clear_message_on_the_spawn_page(hub: LocalHub, admin):
    await hub.add_user("user-full")
    result = await hub.spawn("user-full", timeout=60)
    assert result.get("failed"), result
    assert result["seconds"] < 10  # refused at once, not after start_timeout
    expected = (
        "Kubernetes refuses user-full's server in namespace "
        + hub.namespace_template.format(username="user-full")
    )
    # The answer to the spawn request, and the spawn page's progress stream, say why.
    assert result["message"].startswith(expected), result
    [event] = await hub.progress("user-full")
    assert event["failed"] and event["message"].startswith(f"Spawn failed: {expected}"), event
    message = event["message"]
    assert "exceeded quota: jupyter-k8s" in message and "limited: pods=0" in message
    assert "describe resourcequota" in message
    ns = hub.namespace_template.format(username="user-full")
    assert (await admin.list("pods", ns))["items"] == []
