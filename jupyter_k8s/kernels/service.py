"""KernelService: the kernel pods of one user, as the provisioners of a process share them.

One watch-fed cache of the user's kernel pods (label-selected) and one of pod events serve
every kernel of the process: `poll()` and the start-up wait read them, nothing asks the API
per call. The service also keeps what each kernel does now (`statuses`, for the REST API and
the log) and the pods a restarted server may adopt (`adoptable`, see reattach.py).

In a Jupyter server the extension makes the one service (with the server's client and
profiles); a client without the extension (papermill, nbclient, jupyter_kernel_test) gets a
standalone one per event loop from the provisioner's own settings, stopped with its last
kernel. Knows nothing of tornado.
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

from tornado.web import HTTPError

from ..k8s.client import KubeClient, KubeError, Obj, Unreachable
from ..k8s.cluster_defaults import ClusterDefaults
from ..k8s.watch import Reflector, any_change, probe
from ..profiles import ProfileSet
from .objects import (
    DEFAULT_PORTS,
    KernelPodBuild,
    make_pod,
    make_secret,
    owner_selector,
    set_owner,
    ungate_patch,
)
from .status import pod_events, stale_standalone

log = logging.getLogger("jupyter_k8s.kernels")


#: HTTP status of a failed kernel start, by reason (others: 500).
_STATUS = {
    "UnknownProfile": 400,
    "NoImage": 400,
    "Invalid": 400,
    "Forbidden": 403,
    "ExceededQuota": 403,
    "Unreachable": 503,
    "StartTimeout": 504,
}


class KernelStartError(HTTPError):
    """A kernel could not start; the message says why (with the Kubernetes reason).

    A tornado HTTPError because jupyter_server passes only those on to its REST clients
    (POST /api/kernels answers {"message": ...}; any other error is "Unhandled error").
    """

    def __init__(self, message: str, reason: str = "KernelStartFailed"):
        super().__init__(_STATUS.get(reason, 500), message, reason=reason)
        self.message = message
        # HTTPError's reason is the HTTP reason phrase: keep ours as the Kubernetes one.
        self.reason = reason

    def __str__(self) -> str:
        return self.message


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
    #: A standalone client renews its pod's heartbeat this often (s); a pod whose heartbeat is
    #: older than `standalone_stale_seconds` lost its client and is deleted (see reattach.py).
    heartbeat_seconds: float = 30.0
    standalone_stale_seconds: float = 300.0
    #: Shared staging (c.JupyterK8s.staging = "shared"): kernel pods mount the server's files
    #: too, and start in their notebook's folder.
    shared_volume: dict[str, Any] | None = None
    shared_mount_path: str | None = None


def launcher_source() -> str:
    return resources.files("jupyter_k8s.kernels").joinpath("launcher.py").read_text()


class KernelService:
    def __init__(
        self,
        get_client: Callable[[], Awaitable[KubeClient]],
        profiles: ProfileSet | None,
        config: KernelsConfig,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        on_stop: Callable[[], Awaitable[Any]] | None = None,
    ):
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
        self._changed_at: dict[str, float] = {}
        self._started = asyncio.Lock()
        self._launcher: str | None = None
        self.cluster_defaults = ClusterDefaults()

    # -- lifecycle ----------------------------------------------------------------------------

    async def client(self) -> KubeClient:
        return await self._get_client()

    async def default_image(self) -> str | None:
        """The configured default image, else the one the cluster advertises (cached)."""
        if self.config.default_image:
            return self.config.default_image
        return await self.cluster_defaults.image(await self.client())

    @property
    def namespace(self) -> str:
        assert self.config.namespace is not None, "start() first"
        return self.config.namespace

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

    async def stop(self) -> None:
        for r in (self.pods, self.events):
            if r is not None:
                await r.stop()
        self.pods = self.events = None

    # -- reading ------------------------------------------------------------------------------

    def pod(self, name: str) -> Obj | None:
        return self.pods.get(name, self.config.namespace) if self.pods is not None else None

    def pod_events(self, pod: Obj | None) -> list[Obj]:
        if pod is None or self.events is None:
            return []
        return pod_events(self.events.items(), pod)

    def kernel_pods(self) -> list[Obj]:
        return self.pods.items() if self.pods is not None else []

    async def changed(self, timeout: float) -> None:
        """Until the pods or events change, or `timeout` seconds passed (no error)."""
        await any_change([self.pods, self.events], timeout)

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
            self.kernel_pods(), datetime.now(UTC), self.config.standalone_stale_seconds
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
            await client.request("POST", f"/api/v1/namespaces/{ns}/secrets", body=secret, raw=True)
            created = await client.patch("pods", build.name, ungate_patch(), ns)
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

    async def delete(self, name: str, grace: int | None = 0) -> None:
        """Delete a kernel pod and its Secret (the Secret would also go with the pod)."""
        client = await self.client()
        ns = self.namespace
        results = await asyncio.gather(
            client.delete("pods", name, ns, grace_period=grace, missing_ok=True),
            client.delete("secrets", name, ns, missing_ok=True),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                self.log.warning("jupyter-k8s: deleting kernel pod %s: %s", name, result)

    async def read_secret(self, name: str) -> Obj:
        client = await self.client()
        return await client.get("secrets", name, self.namespace)


def _start_error(what: str, exc: KubeError) -> KernelStartError:
    if exc.status == 403:
        return KernelStartError(
            f"Kubernetes refused to {what}: {exc.message}",
            "ExceededQuota" if "quota" in exc.message.lower() else "Forbidden",
        )
    if isinstance(exc, Unreachable):
        return KernelStartError(f"cannot {what}: {exc.message}", "Unreachable")
    if exc.status == 422:
        return KernelStartError(f"the API server rejected the kernel pod: {exc.message}", "Invalid")
    return KernelStartError(f"cannot {what}: {exc.message}", exc.reason or "KubernetesError")


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
        svc._standalone_key = full  # type: ignore[attr-defined]
    return svc


async def release_standalone(service: KernelService) -> None:
    """Stop a standalone service once its last kernel is gone (the server's one stays)."""
    key = getattr(service, "_standalone_key", None)
    if key is None or service.users > 0:
        return
    _standalone.pop(key, None)
    await service.stop()
    if service._on_stop is not None:
        with contextlib.suppress(Exception):
            await service._on_stop()
