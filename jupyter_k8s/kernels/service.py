"""KernelService: the kernel pods of one user, as the provisioners of a process share them.

One watch-fed cache of the user's kernel pods (label-selected) and one of pod events serve
every kernel of the process: `poll()` and the start-up wait read them, nothing asks the API
per call. The service also keeps what each kernel does now (`statuses`, for the REST API and
the log) and the pods a restarted server may adopt (`adoptable`, see reattach.py).

Everything read back from the cluster is untrusted: the cache is selected by the owner label,
but only pods that also carry the exact user name (`is_mine`) are ever seen through
`kernel_pods()` and `pod()`, and a Secret is used only when it is the user's and owned by the
pod it belongs to (`read_connection`).

Every kernel pod names its holder (`server_id`, see identity.py): this server, or this
standalone client process. While it runs, the service renews a heartbeat on each pod it holds
(one JSON patch per pod every `heartbeat_period()`, from the pod's creation whatever its
phase, applied only while the pod still names it:
no Lease, because the shipped Role grants none). A pod whose holder stopped renewing it for
longer than the grace period is an orphan; only then may another holder `claim` it.

In a Jupyter server the extension makes the one service (with the server's client and
profiles); a client without the extension (papermill, nbclient, jupyter_kernel_test) gets a
standalone one per event loop from the provisioner's own settings, stopped with its last
kernel. Knows nothing of tornado: a failed start is a KernelStartProblem, which the
provisioner raises as the HTTP error jupyter_server wants (kernels/start_error.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from ..errors import KernelStartProblem, QuotaProblem
from ..k8s.client import (
    Conflict,
    KubeClient,
    KubeError,
    NotFound,
    Obj,
    Unreachable,
    resource_path,
)
from ..k8s.cluster_defaults import ClusterDefaults
from ..k8s.event_pruning import EventPruner
from ..k8s.watch import Reflector, any_change, probe, sync_problem
from ..profiles import ProfileSet
from .identity import find_server_app, random_server_id, server_app_id
from .objects import (
    DEFAULT_PORTS,
    KernelPodBuild,
    claim_patch,
    heartbeat_patch,
    is_kernel_pod,
    is_mine,
    make_pod,
    make_secret,
    owner_selector,
    read_connection_secret,
    server_id_of,
    set_owner,
    ungate_patch,
)
from .queueing import KernelQueues, WatchSource
from .status import MINE, ORPHAN, holder_state, pod_events, stale_standalone

log = logging.getLogger("jupyter_k8s.kernels")


#: How often a holder renews the heartbeat of its kernel pods by default (s).
HEARTBEAT_SECONDS = 30.0


@dataclass
class KernelsConfig:
    """What the kernel provisioners need from configuration (the JupyterK8s traits)."""

    namespace: str | None  # None: the kubeconfig context's (known once connected)
    owner: str
    client: str = "server"  # "server" or "standalone" (written on the pods)
    default_image: str | None = None
    start_timeout: float = 600.0
    run_as_user: int = 1000
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    #: A kernel restart waits for the kubelet to restart the container in its pod; when the
    #: kubelet's crash-loop back-off is longer than this, a new pod is made instead.
    restart_max_backoff: float = 5.0
    #: Give up on a restart in place after this long and make a new pod.
    restart_timeout: float = 30.0
    #: The server's root directory: statuses name a kernel's notebook relative to it.
    root_dir: str | None = None
    #: A server's pod whose heartbeat is older than `server_stale_seconds` is an orphan
    #: another server of the owner may adopt or delete (see reattach.py); a standalone pod
    #: whose heartbeat is older than `standalone_stale_seconds` (None: the same threshold)
    #: lost its client and is deleted. Both come from c.JupyterK8s.kernel_orphan_seconds (a
    #: server) or the provisioner's `orphan_seconds` (a standalone client).
    server_stale_seconds: float = 300.0
    standalone_stale_seconds: float | None = None
    #: The holder of a kernel pod (a server, a standalone client) renews its heartbeat this
    #: often (s), from the moment the pod is created (a pod Pending for long is still held).
    #: None: every HEARTBEAT_SECONDS, or a quarter of the shortest stale threshold when that
    #: is shorter, so that a holder's own pods never look abandoned between two beats.
    heartbeat_seconds: float | None = None
    #: This holder's id (identity.py); None: found from the Jupyter server when first needed
    #: (a standalone client gets a random one).
    server_id: str | None = None
    #: Shared staging (c.JupyterK8s.staging = "shared"): kernel pods mount the server's files
    #: too, and start in their notebook's folder.
    shared_volume: dict[str, Any] | None = None
    shared_mount_path: str | None = None

    def standalone_stale(self) -> float:
        """Seconds without a heartbeat after which a standalone kernel pod is collected."""
        if self.standalone_stale_seconds is None:
            return self.server_stale_seconds
        return self.standalone_stale_seconds

    def heartbeat_period(self) -> float:
        """Seconds between two heartbeats of a pod this holder holds."""
        if self.heartbeat_seconds is not None and self.heartbeat_seconds > 0:
            return self.heartbeat_seconds
        shortest = min(self.server_stale_seconds, self.standalone_stale())
        return max(0.05, min(HEARTBEAT_SECONDS, shortest / 4))


def launcher_source() -> str:
    return resources.files("jupyter_k8s.pod").joinpath("launcher.py").read_text()


class KernelService:
    def __init__(
        self,
        get_client: Callable[[], Awaitable[KubeClient]],
        profiles: ProfileSet | None,
        config: KernelsConfig,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        on_stop: Callable[[], Awaitable[Any]] | None = None,
        queue_watch: WatchSource | None = None,
    ):
        """`queue_watch`: where a QueueWatch of the namespace to share comes from (the job
        service's, in a server; see kernels/queueing.py)."""
        self._get_client = get_client
        self._on_stop = on_stop
        self.profiles = profiles
        self.config = config
        self.log = logger or log
        #: Whether this (standalone) service already deleted the pods of killed clients.
        self.collected_stale = False
        self.pods: Reflector | None = None
        self.events: Reflector | None = None
        #: kernel id -> what the kernel does now (public: the REST API shows it)
        self.statuses: dict[str, dict[str, Any]] = {}
        #: kernel id -> a running pod a restarted server may take over (see reattach.py)
        self.adoptable: dict[str, Obj] = {}
        self.users = 0  # provisioners holding the service (a standalone one stops at 0)
        #: Its key in the standalone services (standalone_service); None: the server's.
        self._standalone_key: tuple[Any, ...] | None = None
        self._changed_at: dict[str, float] = {}
        self._started = asyncio.Lock()
        self._launcher: str | None = None
        self._beats: dict[str, float] = {}  # pod name -> when this process last renewed it
        self._beater: asyncio.Task | None = None
        self.cluster_defaults = ClusterDefaults(config.default_image)
        #: Kueue: queued kernels' checks and where their pods stand (kernels/queueing.py).
        self.queues = KernelQueues(self, queue_watch)
        if self.config.server_id is None and self.config.client == "standalone":
            self.config.server_id = random_server_id()

    # -- lifecycle ----------------------------------------------------------------------------

    async def client(self) -> KubeClient:
        return await self._get_client()

    def sync_problem(self) -> str | None:
        """Why kernel statuses may be stale right now (a watch reconnecting), or None."""
        return sync_problem([self.pods, self.events])

    async def default_image(self) -> str | None:
        """The configured default image, else the one the cluster advertises (cached)."""
        return await self.cluster_defaults.image(self.client)

    @property
    def namespace(self) -> str:
        assert self.config.namespace is not None, "start() first"
        return self.config.namespace

    @property
    def server_id(self) -> str | None:
        return self.config.server_id

    def identify(self, near: Any = None) -> str:
        """This holder's id; for a server, found once from the ServerApp above `near` (a
        kernel manager, a provisioner) or the ServerApp singleton (see identity.py)."""
        if self.config.server_id is None:
            app = find_server_app(near)
            if app is None:
                self.log.warning(
                    "jupyter-k8s: no Jupyter server found to identify this one; its kernels "
                    "get a random holder id (reattached only once orphaned)"
                )
                self.config.server_id = random_server_id()
            else:
                self.config.server_id = server_app_id(app)
            self.log.info("jupyter-k8s: this server's kernel holder id: %s", self.server_id)
        return self.config.server_id

    async def start(self) -> None:
        """Start the watch caches (idempotent); Unreachable/Forbidden when the API says no."""
        if self.pods is not None:
            return
        async with self._started:
            if self.pods is not None:
                return
            client = await self.client()
            if self.config.namespace is None:
                self.config.namespace = client.namespace
            ns = self.config.namespace
            pods = Reflector(client, "pods", ns, label_selector=owner_selector(self.config.owner))
            events = Reflector(client, "events", ns, field_selector="involvedObject.kind=Pod")
            EventPruner(events, pods)  # only our kernel pods' events are ever read
            # Ask once before watching: RBAC refusing a list, or no API server, is an answer
            # now and not a timeout later.
            await probe((pods, events))
            for r in (pods, events):
                r.start()
            try:
                await asyncio.wait_for(asyncio.gather(pods.ready.wait(), events.ready.wait()), 15)
            except TimeoutError:
                for r in (pods, events):
                    await r.stop()
                raise Unreachable(
                    f"could not list kernel pods in namespace {ns!r}: "
                    f"{pods.last_error or events.last_error or 'no answer'}"
                ) from None
            self.pods, self.events = pods, events
            self._beater = asyncio.ensure_future(self._renew_heartbeats())

    async def stop(self) -> None:
        if self._beater is not None:
            self._beater.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._beater
            self._beater = None
        for r in (self.pods, self.events):
            if r is not None:
                await r.stop()
        self.pods = self.events = None
        await self.queues.stop()

    # -- heartbeat ----------------------------------------------------------------------------

    def _due(self, now: float) -> tuple[list[str], float]:
        """The pods this holder must renew now, and seconds until the next one is due."""
        period = self.config.heartbeat_period()
        due, wait = [], period
        held = set()
        for pod in self.kernel_pods():
            meta = pod.get("metadata") or {}
            if meta.get("deletionTimestamp") or server_id_of(pod) != self.server_id:
                continue
            name = meta["name"]
            held.add(name)
            last = self._beats.get(name)
            left = 0.0 if last is None else last + period - now
            if left <= 0:
                due.append(name)
            else:
                wait = min(wait, left)
        for name in set(self._beats) - held:
            del self._beats[name]
        return due, wait

    async def _renew_heartbeats(self) -> None:
        """Renew the heartbeat of every pod this holder holds: on first sight (the watch
        sees the pod as soon as it is created, gated or Pending), then every period (one patch
        per pod per period), whatever the pod's phase: a standalone client (papermill) whose
        pod waits for a GPU for longer than the stale threshold still holds it."""
        while True:
            wait = self.config.heartbeat_period()
            if self.server_id is not None:
                due, wait = self._due(time.monotonic())
                for name in due:
                    self._beats[name] = time.monotonic()
                    await self.renew_heartbeat(name)
            await any_change([self.pods], max(0.05, wait))

    async def renew_heartbeat(self, name: str) -> bool:
        """One heartbeat on one pod, if it still names this holder; False when not renewed."""
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        try:
            client = await self.client()
            await client.patch(
                "pods",
                name,
                heartbeat_patch(now, self.server_id or ""),
                self.namespace,
                kind="json",
            )
        except Exception as exc:  # noqa: BLE001 - a missed beat is not an error yet
            self.log.debug("jupyter-k8s: heartbeat of pod %s not renewed: %s", name, exc)
            return False
        return True

    async def claim(self, pod: Obj, grace_seconds: float) -> Obj | None:
        """Make this holder the holder of `pod` when it is this holder's or an orphan (see
        status.holder_state); the pod as patched, or None when it is another live holder's,
        not the user's, gone, or another holder claimed it first.

        The claim is conditional on the pod's resourceVersion: of two servers claiming one
        orphan (or a restarted server and another one), exactly one wins; a holder's heartbeat
        renewed meanwhile makes the claim fail and the pod is read again.
        """
        client = await self.client()
        name = (pod.get("metadata") or {}).get("name")
        server_id = self.identify()
        for _ in range(3):
            meta = pod.get("metadata") or {}
            if not (is_mine(pod, self.config.owner) and is_kernel_pod(pod)):
                return None
            if holder_state(pod, server_id, datetime.now(UTC), grace_seconds) not in (
                MINE,
                ORPHAN,
            ):
                return None
            rv = meta.get("resourceVersion")
            if not isinstance(rv, str) or not rv or not isinstance(name, str):
                return None  # not a pod as the API server returns them
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            try:
                claimed = await client.patch(
                    "pods", name, claim_patch(server_id, now, rv), self.namespace
                )
            except NotFound:
                return None
            except Conflict:
                try:
                    pod = await client.get("pods", name, self.namespace)
                except NotFound:
                    return None
                continue
            self._beats[name] = time.monotonic()
            return claimed
        return None

    # -- reading ------------------------------------------------------------------------------

    def pod(self, name: str) -> Obj | None:
        """The cached pod of that name when it is one of this user's kernel pods."""
        if self.pods is None:
            return None
        pod = self.pods.get(name, self.config.namespace)
        return pod if self._mine(pod) else None

    def _mine(self, pod: Obj | None) -> bool:
        return is_kernel_pod(pod) and is_mine(pod, self.config.owner)

    def pod_events(self, pod: Obj | None) -> list[Obj]:
        if pod is None or self.events is None:
            return []
        return pod_events(self.events.items(), pod)

    def kernel_pods(self) -> list[Obj]:
        """This user's kernel pods: label-selected by the cache, then checked (is_mine)."""
        return [p for p in self.pods.items() if self._mine(p)] if self.pods is not None else []

    async def changed(self, timeout: float, queues: bool = False) -> None:
        """Until the pods or events change (with `queues`, or what Kueue says of a queued
        pod), or `timeout` seconds passed (no error)."""
        if not queues:
            await any_change([self.pods, self.events], timeout)
            return
        waits = [
            asyncio.ensure_future(any_change([self.pods, self.events], timeout)),
            asyncio.ensure_future(self.queues.changed(timeout)),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    # -- status -------------------------------------------------------------------------------

    #: How long the status of a kernel whose start failed stays listed (no cleanup comes).
    FAILED_STATUS_SECONDS = 600.0

    def set_status(self, kernel_id: str, **fields: Any) -> dict[str, Any]:
        self._prune()
        status = self.statuses.setdefault(kernel_id, {"kernel_id": kernel_id})
        changed = any(status.get(k) != v for k, v in fields.items())
        status.update(fields)
        if changed:
            status["since"] = datetime.now(UTC).isoformat()
            self._changed_at[kernel_id] = time.monotonic()
        return status

    def drop_status(self, kernel_id: str) -> None:
        self.statuses.pop(kernel_id, None)
        self._changed_at.pop(kernel_id, None)

    def _prune(self) -> None:
        now = time.monotonic()
        for kernel_id, status in list(self.statuses.items()):
            at = self._changed_at.get(kernel_id, now)
            if status.get("phase") == "Failed" and now - at > self.FAILED_STATUS_SECONDS:
                self.drop_status(kernel_id)

    def list_statuses(self) -> list[dict[str, Any]]:
        """What every kernel of this server does now, oldest change first."""
        self._prune()
        return sorted(self.statuses.values(), key=lambda s: s.get("since") or "")

    # -- writing ------------------------------------------------------------------------------

    async def collect_stale_standalone(self) -> list[str]:
        """Delete this user's standalone kernel pods whose client is gone (see reattach.py);
        their names."""
        names = stale_standalone(
            self.kernel_pods(), datetime.now(UTC), self.config.standalone_stale()
        )
        for name in names:
            self.log.warning(
                "jupyter-k8s: deleting kernel pod %s: its standalone client stopped renewing "
                "its heartbeat (killed?)",
                name,
            )
            await self.delete(name, grace=0)
        return names

    def _launcher_source(self) -> str:
        if self._launcher is None:
            self._launcher = launcher_source()
        return self._launcher

    async def create(self, build: KernelPodBuild, connection_info: dict[str, Any]) -> Obj:
        """Create the pod (gated), its Secret owned by it, then let it be scheduled.

        Any failure deletes what was made: no orphan pod, no orphan Secret.
        """
        client = await self.client()
        ns = build.namespace
        started = time.monotonic()
        try:
            created = await client.create("pods", make_pod(build), ns)
        except KubeError as exc:
            raise _start_error("create the kernel pod", exc) from exc
        try:
            secret = set_owner(
                make_secret(build, connection_info, self._launcher_source()), created
            )
            # raw: the answer echoes the key; nothing to parse, nothing to keep around.
            await client.request("POST", resource_path("secrets", ns), body=secret, raw=True)
            # Only our gate: a queued pod keeps Kueue's until Kueue admits it.
            created = await client.patch("pods", build.name, ungate_patch(), ns, kind="strategic")
        except BaseException as exc:
            await self.delete(build.name, grace=0)
            if isinstance(exc, KubeError):
                raise _start_error("create the kernel's connection Secret", exc) from exc
            raise
        self.log.debug(
            "jupyter-k8s: kernel pod %s created in %.0f ms",
            build.name,
            (time.monotonic() - started) * 1000,
        )
        return created

    async def delete(self, name: str, grace: int | None = 0, uid: str | None = None) -> None:
        """Delete a kernel pod and its Secret (the Secret would also go with the pod).

        With `uid`, only that pod: a pod made since under the same name is left alone (the
        Secret then goes only with its own pod, by garbage collection).
        """
        client = await self.client()
        ns = self.namespace
        if uid is None:
            pod_call = client.delete("pods", name, ns, grace_period=grace, missing_ok=True)
            calls = [pod_call, client.delete("secrets", name, ns, missing_ok=True)]
        else:
            calls = [self._delete_exactly(client, name, uid, grace)]
        results = await asyncio.gather(*calls, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                self.log.warning("jupyter-k8s: deleting kernel pod %s: %s", name, result)
        self._beats.pop(name, None)

    async def _delete_exactly(
        self, client: KubeClient, name: str, uid: str, grace: int | None
    ) -> None:
        body: dict[str, Any] = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": "Background",
            "preconditions": {"uid": uid},
        }
        if grace is not None:
            body["gracePeriodSeconds"] = grace
        path = resource_path("pods", self.namespace, name)
        with contextlib.suppress(NotFound, Conflict):  # gone, or another pod by now
            await client.request("DELETE", path, body=body)

    async def read_connection(self, pod: Obj) -> dict[str, Any]:
        """The connection file (key, ports, curve keys) of one of this user's kernel pods,
        from its Secret: only when the Secret is the user's (is_mine) and owned by exactly
        that pod, and its content has the expected shape (ValueError otherwise)."""
        meta = pod.get("metadata") or {}
        name, uid = meta.get("name"), meta.get("uid")
        if not self._mine(pod) or not uid or not isinstance(name, str):
            raise ValueError(f"pod {name} is not one of {self.config.owner!r}'s kernel pods")
        client = await self.client()
        secret = await client.get("secrets", name, self.namespace)
        owners = (secret.get("metadata") or {}).get("ownerReferences") or []
        owned = any(
            isinstance(o, dict) and o.get("kind") == "Pod" and o.get("uid") == uid for o in owners
        )
        if not is_mine(secret, self.config.owner) or not owned:
            raise ValueError(
                f"the Secret {name} is not the connection Secret of {self.config.owner!r}'s "
                "kernel pod of that name"
            )
        return read_connection_secret(secret)


def _start_error(what: str, exc: KubeError) -> KernelStartProblem:
    if isinstance(exc, QuotaProblem):
        return KernelStartProblem(f"Kubernetes refused to {what}: {exc.message}", "ExceededQuota")
    if exc.status == 403:
        return KernelStartProblem(f"Kubernetes refused to {what}: {exc.message}", "Forbidden")
    if isinstance(exc, Unreachable):
        return KernelStartProblem(f"cannot {what}: {exc.message}", "Unreachable")
    if exc.status == 422:
        return KernelStartProblem(
            f"the API server rejected the kernel pod: {exc.message}", "Invalid"
        )
    return KernelStartProblem(f"cannot {what}: {exc.message}", exc.reason or "KubernetesError")


# -- which service a provisioner uses ------------------------------------------------------------

_server_service: KernelService | None = None
_standalone: dict[tuple[Any, ...], KernelService] = {}


def set_server_service(service: KernelService | None) -> None:
    """Called by the extension: provisioners in this server use `service`."""
    global _server_service
    _server_service = service


def server_service() -> KernelService | None:
    return _server_service


def standalone_service(key: tuple[Any, ...], make: Callable[[], KernelService]) -> KernelService:
    """One service per event loop and settings, for clients without the extension."""
    loop = asyncio.get_running_loop()
    full = (id(loop), *key)
    svc = _standalone.get(full)
    if svc is None:
        svc = _standalone[full] = make()
        svc._standalone_key = full
    return svc


async def release_standalone(service: KernelService) -> None:
    """Stop a standalone service once its last kernel is gone (the server's one stays)."""
    key = getattr(service, "_standalone_key", None)  # a stand-in service may lack it
    if key is None or service.users > 0:
        return
    _standalone.pop(key, None)
    await service.stop()
    if service._on_stop is not None:
        with contextlib.suppress(Exception):
            await service._on_stop()
