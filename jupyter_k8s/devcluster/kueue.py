"""Kueue on the local cluster (`jupyter k8s dev-cluster up --kueue`).

`start` installs Kueue's CRDs, runs its manager as one more process of the cluster (recorded
in state.json as "kueue", logging to logs/kueue.log, stopped by `down` like the others),
registers its webhooks and visibility API once the manager serves them, and creates a sample
queue sized to the node: ResourceFlavor default-flavor, ClusterQueue team-a, LocalQueue gpu in
the cluster's namespace, WorkloadPriorityClasses low and high.

The manager reads certificates from the cluster's CA, placed where it looks for them: its
webhook certificate in a directory of its configuration, the metrics and visibility ones at
fixed paths, shown to it alone by `mountns_exec` (a private mount namespace; so root, as the
node agent's volume mounts need).

Whether a cluster runs Kueue is kept in <state-dir>/kueue/settings.json, which `down` keeps:
a later `up` of the same state directory starts Kueue again without the flag.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..k8s.client import ClusterConfig, KubeClient, KubeError, NotFound, load_config
from ..queues.rbac import apply_kueue_rbac
from . import kueue_objects as objs
from .kueue_build import KUEUE_VERSION, load_manifests

if TYPE_CHECKING:
    from .controlplane import ClusterState, DevCluster


class KueueError(RuntimeError):
    """Kueue could not be started on the local cluster; the message says what to look at."""


COMPONENT = "kueue"
PORTS = ("kueue-webhook", "kueue-visibility", "kueue-health", "kueue-metrics")
FIELD_MANAGER = "jupyter-k8s-dev-cluster"
# Where the manager looks for certificates it has no setting for (cmd/kueue, pkg/visibility).
METRICS_CERT_PATH = "/etc/kueue/metrics/certs"
VISIBILITY_CERT_PATH = "/visibility"


def kueue_dir(cluster_dir: Path) -> Path:
    return cluster_dir / "kueue"


def recorded(cluster_dir: Path) -> bool:
    """Whether the cluster in `cluster_dir` was last brought up with Kueue."""
    try:
        return bool(json.loads((kueue_dir(cluster_dir) / "settings.json").read_text())["enabled"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def record(cluster_dir: Path, enabled: bool) -> None:
    path = kueue_dir(cluster_dir) / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"enabled": enabled, "version": KUEUE_VERSION}))


def status(st: ClusterState) -> dict[str, Any]:
    """What `dev-cluster status` says about Kueue (an empty dict when it isn't running)."""
    if COMPONENT not in st.pids:
        return {}
    return {
        "version": st.versions.get(COMPONENT),
        "webhook": f"https://127.0.0.1:{st.ports.get('kueue-webhook')}",
        "visibility": objs.pending_workloads_path(st.namespace, objs.LOCAL_QUEUE),
        "cluster_queue": objs.CLUSTER_QUEUE,
        "local_queue": f"{st.namespace}/{objs.LOCAL_QUEUE}",
    }


# -- files -----------------------------------------------------------------------------------


def _cert_dir(cluster: DevCluster, name: str, cert: str, dns: tuple[str, ...]) -> Path:
    """A directory holding tls.crt/tls.key (the names Kueue reads) of a serving certificate."""
    pair = cluster.pki.issue(
        cert, f"kueue-{name}", server=True, client=False, ips=("127.0.0.1",), dns=dns
    )
    target = kueue_dir(cluster.dir) / f"{name}-certs"
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o700)
    shutil.copyfile(pair.cert, target / "tls.crt")
    shutil.copyfile(pair.key, target / "tls.key")
    (target / "tls.key").chmod(0o600)
    return target


def _prepare(cluster: DevCluster, st: ClusterState, binary: Path) -> list[str]:
    """Certificates and configuration under <state-dir>/kueue; returns the manager's command."""
    webhook_certs = _cert_dir(cluster, "webhook", "kueue-webhook", ("localhost",))
    # The aggregator checks the visibility server's certificate for the Service's name.
    service_dns = f"{objs.VISIBILITY_SERVICE}.{objs.KUEUE_NAMESPACE}.svc"
    visibility_certs = _cert_dir(
        cluster, "visibility", "kueue-visibility", (service_dns, "localhost")
    )
    config = objs.manager_config(
        webhook_port=st.ports["kueue-webhook"],
        health_port=st.ports["kueue-health"],
        metrics_port=st.ports["kueue-metrics"],
        visibility_port=st.ports["kueue-visibility"],
        cert_dir=str(webhook_certs),
    )
    config_path = kueue_dir(cluster.dir) / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return [
        sys.executable,
        "-m",
        "jupyter_k8s.devcluster.mountns_exec",
        # The metrics endpoint serves with the webhook's certificate (127.0.0.1 too).
        f"--bind={webhook_certs}:{METRICS_CERT_PATH}",
        f"--bind={visibility_certs}:{VISIBILITY_CERT_PATH}",
        str(binary),
        f"--config={config_path}",
        f"--kubeconfig={cluster.admin_kubeconfig}",
        "--zap-log-level=info",
    ]


# -- API steps -------------------------------------------------------------------------------


async def apply(client: KubeClient, obj: objs.Obj) -> Any:
    """Server-side apply: creates or updates, so a second `up` changes nothing."""
    return await client.request(
        "PATCH",
        objs.object_path(obj),
        params={"fieldManager": FIELD_MANAGER, "force": True},
        body=obj,
        content_type="application/apply-patch+yaml",
        timeout=60,
    )


def _condition(obj: objs.Obj, kind: str) -> bool:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond.get("status") == "True"
    return False


async def _until(what: str, timeout: float, check, guard: Callable[[], None] | None = None) -> Any:
    """Poll `check` (async, returns the result or None) until it answers, else KueueError.
    `guard` raises if what is awaited can no longer come (the manager exited)."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        if guard is not None:
            guard()
        try:
            result = await check()
            if result:
                return result
        except KubeError as exc:
            last = f": {exc}"
        if time.monotonic() > deadline:
            raise KueueError(f"timed out after {timeout:.0f} s waiting for {what}{last}")
        await asyncio.sleep(0.2)


async def _install_crds(
    config: ClusterConfig, manifests: dict, st: ClusterState, ca: bytes
) -> None:
    crds = objs.crds(manifests["crds"], st.ports["kueue-webhook"], ca)
    async with KubeClient(config) as client:
        await apply(client, objs.namespace())
        for crd in crds:
            await apply(client, crd)
        for crd in crds:
            path = objs.object_path(crd)

            async def established(path: str = path) -> bool:
                return _condition(await client.request("GET", path), "Established")

            await _until(f"the CRD {crd['metadata']['name']} to be Established", 60, established)


async def _register(
    config: ClusterConfig,
    manifests: dict,
    st: ClusterState,
    ca: bytes,
    timeout: float,
    guard: Callable[[], None],
) -> None:
    async with KubeClient(config) as client:
        for conf in objs.webhook_configurations(
            manifests["webhooks"], st.ports["kueue-webhook"], ca
        ):
            await apply(client, conf)
        visibility = objs.visibility_objects(st.ports["kueue-visibility"], ca)
        for obj in visibility:
            await apply(client, obj)
        for obj in visibility[1:]:
            path = objs.object_path(obj)

            async def available(path: str = path) -> bool:
                return _condition(await client.request("GET", path), "Available")

            try:
                await _until(
                    f"the APIService {obj['metadata']['name']} to be Available",
                    timeout,
                    available,
                    guard,
                )
            except KueueError as exc:
                status = (await client.request("GET", path)).get("status") or {}
                why = [c.get("message") for c in status.get("conditions") or []]
                raise KueueError(
                    f"{exc} ({'; '.join(filter(None, why))}). A cluster started before "
                    "the API server had a front-proxy certificate needs `down` and `up`."
                ) from None

        async def node() -> objs.Obj | None:
            try:
                return await client.request("GET", f"/api/v1/nodes/{st.node_name}")
            except NotFound:
                return None

        allocatable = (await _until("the node to register", timeout, node))["status"]["allocatable"]
        samples = objs.sample_objects(
            st.namespace,
            cpu=allocatable.get("cpu", "1"),
            memory=allocatable.get("memory", "1Gi"),
            gpus=allocatable.get("nvidia.com/gpu", "0"),
        )
        for obj in samples:
            # The first creates go through the manager's webhooks: a moment after they are
            # registered, the API server may still hold an older view; retry briefly.
            await _until(
                f"Kueue to accept {obj['kind']} {obj['metadata']['name']}",
                30,
                lambda obj=obj: apply(client, obj),
                guard,
            )

        async def queue_active() -> bool:
            cq = await client.request("GET", objs.object_path(samples[1]))
            return _condition(cq, "Active")

        await _until(
            f"ClusterQueue {objs.CLUSTER_QUEUE} to be Active", timeout, queue_active, guard
        )
        # The optional Kueue RBAC for the cluster's own identity, as an operator applies it
        # (docs/queues.md#rbac): without it a newcomer's queued job could say where it waits
        # but not its place in the queue.
        await apply_kueue_rbac(client, st.namespace)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _exited(pid: int) -> bool:
    """Whether our child `pid` (started by `up`) has ended; reaps it if so."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child (a later `up` of a running cluster): ask /proc
        return not Path(f"/proc/{pid}").exists()
    return done == pid


def _check_alive(cluster: DevCluster, st: ClusterState) -> None:
    if _exited(st.pids[COMPONENT]):
        log = cluster.log_path(COMPONENT)
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise KueueError(f"the Kueue manager exited; see {log}:\n{tail}")


def _wait_manager(cluster: DevCluster, st: ClusterState, timeout: float) -> None:
    """Until the manager's readyz passes (its webhook server is listening)."""
    url = f"http://127.0.0.1:{st.ports['kueue-health']}/readyz"
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        _check_alive(cluster, st)
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = exc.read().decode(errors="replace")[-300:]
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise KueueError(f"the Kueue manager was not ready in {timeout:.0f} s ({last})")


def start(cluster: DevCluster, st: ClusterState, binary: Path, timeout: float = 120.0) -> None:
    """Install Kueue and run its manager on the running cluster `st` (idempotent objects)."""
    from .agent.runtime import mount_namespaces_work

    if not mount_namespaces_work():
        raise KueueError(
            "Kueue on the local cluster needs root (a private mount namespace shows the "
            f"manager its certificates at {METRICS_CERT_PATH} and {VISIBILITY_CERT_PATH})"
        )
    started = time.monotonic()
    for port in PORTS:
        st.ports[port] = _free_port()
    st.commands[COMPONENT] = _prepare(cluster, st, binary)
    st.versions[COMPONENT] = KUEUE_VERSION
    st.save(cluster.state_file)
    manifests = load_manifests(KUEUE_VERSION)
    ca = cluster.pki.ca.cert.read_bytes()
    config = asyncio.run(load_config(str(cluster.admin_kubeconfig)))
    cluster.progress(f"installing Kueue {KUEUE_VERSION}: CRDs")
    asyncio.run(_install_crds(config, manifests, st, ca))
    cluster.progress("starting the Kueue manager")
    cluster._start(st, COMPONENT)
    _wait_manager(cluster, st, timeout)
    cluster.progress("registering Kueue's webhooks and visibility API, creating the sample queue")
    asyncio.run(_register(config, manifests, st, ca, timeout, lambda: _check_alive(cluster, st)))
    cluster.progress(
        f"Kueue ready in {time.monotonic() - started:.1f} s: LocalQueue {objs.LOCAL_QUEUE} in "
        f"{st.namespace} -> ClusterQueue {objs.CLUSTER_QUEUE}; log {cluster.log_path(COMPONENT)}"
    )
