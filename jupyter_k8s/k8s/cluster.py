"""What the cluster looks like from here: reachable or not, who we are, which GPUs it has.

`ClusterService` owns the one `KubeClient` of a Jupyter server. It creates the client lazily on
first use, so the server starts even when the cluster is down or the kubeconfig is broken, and
tries again on the next call. Plain async Python: the REST handlers, the CLI and tests use it
alike.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .client import Forbidden, KubeClient, KubeError, NotFound, Obj, Unreachable, resource_path

ClientFactory = Callable[[str | None, str | None, str | None], Awaitable[KubeClient]]

# Phases of pods that hold their resources on a node.
_ACTIVE_PHASES = ("Pending", "Running")
# Page size when listing nodes and pods over the whole cluster.
_PAGE = 500

log = logging.getLogger(__name__)


def is_gpu_resource(name: str) -> bool:
    """Extended resources that count as GPUs: `nvidia.com/gpu`, `amd.com/gpu`, ..."""
    return "/" in name and name.endswith("/gpu")


def _count(value: Any) -> int:
    """An extended resource quantity as an integer (they are whole numbers by API rule)."""
    try:
        from .quantity import bytes_of

        return bytes_of(value)
    except ImportError:  # pragma: no cover - quantity.py ships with the package
        return int(float(value))


def node_gpus(nodes: Iterable[Obj]) -> dict[str, int]:
    """Sum the allocatable GPUs of nodes by resource name."""
    total: dict[str, int] = {}
    for node in nodes:
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        for name, value in allocatable.items():
            if is_gpu_resource(name):
                try:
                    total[name] = total.get(name, 0) + _count(value)
                except ValueError:
                    log.debug("ignoring unparsable %s=%r on a node", name, value)
    return total


def _container_gpus(container: Obj) -> dict[str, int]:
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    out: dict[str, int] = {}
    for name in set(requests) | set(limits):
        if not is_gpu_resource(name):
            continue
        # Extended resources cannot be overcommitted: a request, when given, equals the
        # limit; a limit alone is also the request.
        value = requests.get(name, limits.get(name))
        try:
            out[name] = _count(value)
        except ValueError:
            continue
    return out


def pod_gpus(pod: Obj) -> dict[str, int]:
    """The GPUs a pod holds on its node, as the scheduler counts them.

    Regular containers and sidecars (init containers with restartPolicy Always) add up; an
    ordinary init container runs alone (next to the sidecars started before it), so the pod
    needs the larger of the two.
    """
    spec = pod.get("spec") or {}
    names: set[str] = set()
    sidecars: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    for init in spec.get("initContainers") or []:
        gpus = _container_gpus(init)
        names |= set(gpus)
        if init.get("restartPolicy") == "Always":
            for name, n in gpus.items():
                sidecars[name] = sidecars.get(name, 0) + n
        else:
            for name, n in gpus.items():
                init_peak[name] = max(init_peak.get(name, 0), sidecars.get(name, 0) + n)
    regular: dict[str, int] = {}
    for container in spec.get("containers") or []:
        for name, n in _container_gpus(container).items():
            names.add(name)
            regular[name] = regular.get(name, 0) + n
    out = {}
    for name in names:
        total = max(regular.get(name, 0) + sidecars.get(name, 0), init_peak.get(name, 0))
        if total:
            out[name] = total
    return out


def gpus_in_use(pods: Iterable[Obj]) -> dict[str, int]:
    """Sum the GPUs held by pods bound to a node and not finished."""
    total: dict[str, int] = {}
    for pod in pods:
        if not (pod.get("spec") or {}).get("nodeName"):
            continue
        if (pod.get("status") or {}).get("phase") not in _ACTIVE_PHASES:
            continue
        for name, n in pod_gpus(pod).items():
            total[name] = total.get(name, 0) + n
    return total


async def whoami(client: KubeClient, timeout: float) -> str | None:
    """Who the API server says this client is (a SelfSubjectReview); raises KubeError."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    review = await client.request(
        "POST", resource_path("selfsubjectreviews"), body=body, timeout=timeout
    )
    user = ((review or {}).get("status") or {}).get("userInfo") or {}
    return user.get("username")


class ClusterService:
    """The Kubernetes client of one Jupyter server, and a summary of its cluster."""

    def __init__(
        self,
        kubeconfig: str | None = None,
        context: str | None = None,
        namespace: str | None = None,
        *,
        client_factory: ClientFactory | None = None,
        cache_seconds: float = 2.0,
        request_timeout: float = 10.0,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
    ):
        self.kubeconfig = kubeconfig or None
        self.context = context or None
        self.namespace = namespace or None
        self.cache_seconds = cache_seconds
        self.request_timeout = request_timeout
        self.log = logger or log
        self._factory: ClientFactory = client_factory or KubeClient.from_kubeconfig
        self._client: KubeClient | None = None
        self._client_lock = asyncio.Lock()
        self._info_lock = asyncio.Lock()
        self._info: tuple[float, dict[str, Any]] | None = None

    # -- the client ----------------------------------------------------------------------------

    async def get_client(self) -> KubeClient:
        """The shared client, created on first use.

        Raises `Unreachable` when the configuration cannot be loaded; the next call tries again.
        """
        if self._client is not None:
            return self._client
        async with self._client_lock:
            if self._client is None:
                try:
                    self._client = await self._factory(
                        self.kubeconfig, self.context, self.namespace
                    )
                except KubeError as exc:
                    raise Unreachable(self._with_where(str(exc))) from exc
                except Exception as exc:  # a broken kubeconfig raises anything
                    raise Unreachable(
                        self._with_where(f"cannot load the Kubernetes configuration: {exc}")
                    ) from exc
                cfg = self._client.config
                self.log.info(
                    "jupyter-k8s: Kubernetes API %s (context %s, namespace %s, from %s)",
                    cfg.host,
                    cfg.context,
                    cfg.namespace,
                    cfg.source,
                )
            return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def _where(self) -> str:
        """Which configuration we use, in words."""
        client = self._client
        if client is not None:
            cfg = client.config
            if cfg.source == "in-cluster":
                return "the in-cluster service account"
            if cfg.context:
                return f"context {cfg.context!r} of kubeconfig {cfg.source}"
            return f"kubeconfig {cfg.source}"
        parts = []
        if self.context:
            parts.append(f"context {self.context!r}")
        parts.append(
            f"kubeconfig {self.kubeconfig}" if self.kubeconfig else "the default kubeconfig"
        )
        return " of ".join(parts)

    def _with_where(self, message: str) -> str:
        hint = (
            "Set c.JupyterK8s.kubeconfig / c.JupyterK8s.context (or KUBECONFIG) to a cluster "
            "this server can reach."
        )
        if self.context and repr(self.context) not in message and self.context not in message:
            message = f"{message} (context {self.context!r})"
        return f"{message}. {hint}"

    # -- the summary ---------------------------------------------------------------------------

    async def info(self) -> dict[str, Any]:
        """Reachability, context, namespace, API server, version, identity and GPUs.

        Never raises for cluster trouble: it is reported in `error` / `gpus_error`. Answers are
        cached for `cache_seconds` and concurrent callers share one round of requests.
        """
        cached = self._cached()
        if cached is not None:
            return cached
        async with self._info_lock:
            cached = self._cached()
            if cached is not None:
                return cached
            info = await self._collect()
            self._info = (time.monotonic(), info)
            return copy.deepcopy(info)

    def invalidate(self) -> None:
        """Forget the cached summary (the next `info()` asks the cluster again)."""
        self._info = None

    def _cached(self) -> dict[str, Any] | None:
        if self._info is None:
            return None
        at, info = self._info
        if time.monotonic() - at > self.cache_seconds:
            return None
        return copy.deepcopy(info)

    async def _collect(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "reachable": False,
            "error": None,
            "context": self.context,
            "namespace": self.namespace,
            "server": None,
            "version": None,
            "identity": None,
            "gpus": None,
            "gpus_error": None,
        }
        try:
            client = await self.get_client()
        except KubeError as exc:
            info["error"] = str(exc)
            return info
        cfg = client.config
        info.update(context=cfg.context, namespace=cfg.namespace, server=cfg.host)

        try:
            version = await client.request("GET", "/version", timeout=self.request_timeout)
        except Unreachable as exc:
            info["error"] = (
                f"{exc}. Check that the cluster is running and that {self._where()} points at it."
            )
            return info
        except KubeError as exc:
            if exc.status == 401:
                info["error"] = (
                    f"the Kubernetes API at {cfg.host} rejected the credentials of "
                    f"{self._where()} (401 Unauthorized): {exc}"
                )
                return info
            # Any other answer (403 on /version, ...) still proves the API server is there.
            version = None
            self.log.debug("jupyter-k8s: GET /version failed: %s", exc)
        info["reachable"] = True
        if isinstance(version, dict):
            info["version"] = version.get("gitVersion")

        identity, gpus = await asyncio.gather(self._identity(client), self._gpus(client))
        info["identity"] = identity
        info["gpus"], info["gpus_error"] = gpus
        return info

    async def _identity(self, client: KubeClient) -> str | None:
        try:
            return await whoami(client, self.request_timeout)
        except (Forbidden, NotFound):
            return None
        except KubeError as exc:
            self.log.debug("jupyter-k8s: SelfSubjectReview failed: %s", exc)
            return None

    async def _list_all(self, client: KubeClient, resource: str, **params: Any) -> list[Obj]:
        """List a resource over the whole cluster, page by page."""
        items: list[Obj] = []
        cont: str | None = None
        while True:
            page = await client.request(
                "GET",
                resource_path(resource),
                params={**params, "limit": _PAGE, "continue": cont},
                timeout=self.request_timeout,
            )
            items.extend((page or {}).get("items") or [])
            cont = ((page or {}).get("metadata") or {}).get("continue")
            if not cont:
                return items

    async def _gpus(
        self, client: KubeClient
    ) -> tuple[dict[str, dict[str, int]] | None, str | None]:
        try:
            nodes = await self._list_all(client, "nodes")
        except Forbidden as exc:
            # Short: it is shown in a narrow sidebar. The API's words go to the log.
            self.log.info("jupyter-k8s: GPU totals unavailable: %s", exc)
            return None, (
                "GPU totals need read access to nodes, which this identity doesn't have "
                "(a namespaced Role is enough for everything else)."
            )
        except KubeError as exc:
            return None, f"cannot count GPUs: listing nodes failed: {exc}"
        allocatable = node_gpus(nodes)
        try:
            pods = await self._list_all(
                client, "pods", fieldSelector="status.phase!=Succeeded,status.phase!=Failed"
            )
        except Forbidden as exc:
            self.log.info("jupyter-k8s: GPUs in use unavailable: %s", exc)
            return None, (
                "GPUs in use need read access to pods in all namespaces, which this identity "
                "doesn't have."
            )
        except KubeError as exc:
            return None, f"cannot count GPUs in use: listing pods failed: {exc}"
        used = gpus_in_use(pods)
        return {
            name: {"allocatable": allocatable.get(name, 0), "in_use": used.get(name, 0)}
            for name in sorted(set(allocatable) | set(used))
        }, None
