"""The one place that talks HTTP to the Kubernetes API.

Everything else in jupyter_k8s sees plain dicts (the JSON the API server speaks) and the
domain errors of `jupyter_k8s.errors`: the API server's error answers become them here, once
(`KubeError` and its kinds).

Configuration loading (kubeconfig contexts, exec plugins, in-cluster service account) is
borrowed from `kubernetes.aio.config`; requests go through one aiohttp session of
our own so that objects stay dicts (no model round-trips) and watches stream line by line.
Swapping to `kubernetes_asyncio` or another transport is a change to this file only.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from ..errors import (
    ConflictProblem,
    ForbiddenProblem,
    InvalidRequest,
    NotFoundProblem,
    Problem,
    QuotaProblem,
    TooLarge,
    UnavailableProblem,
)

Obj = dict[str, Any]


class KubeError(Problem):
    """A failed call to the Kubernetes API, as the domain problem it is.

    `status` is the API server's HTTP status (0: no answer), `reason` and `message` its own
    words. `KubeError(status, ...)` makes the class of that status (`NotFound` for 404, ...),
    wherever it is made: the one translation of the API server's statuses into the kinds of
    `jupyter_k8s.errors`. A status of no kind stays a KubeError: the REST API answers 502.
    """

    http_status = 502
    reason = "KubernetesError"

    def __new__(cls, status: int, *args: Any, **kwargs: Any) -> KubeError:
        if cls is KubeError:
            cls = _KINDS.get(status, KubeError)
        return super().__new__(cls, status, *args, **kwargs)

    def __init__(self, status: int, reason: str, message: str, details: Obj | None = None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.details = details or {}

    @property
    def public_message(self) -> str:
        if type(self) is KubeError:
            return f"the Kubernetes API answered {self.status}: {self.message}"
        return self.message


class Unreachable(UnavailableProblem, KubeError):
    """No answer from the API server (or no configuration to find it)."""

    def __init__(self, message: str):
        super().__init__(0, "Unreachable", message)


class Unauthorized(UnavailableProblem, KubeError):
    """401: the API server rejected the credentials of this process (not of its caller)."""

    @property
    def public_message(self) -> str:
        return f"the Kubernetes API rejected the server's credentials: {self.message}"

    @property
    def public_reason(self) -> str:
        return "Unauthorized"


class Forbidden(ForbiddenProblem, KubeError):
    @property
    def public_message(self) -> str:
        return f"Kubernetes refused: {self.message}"


class QuotaExceeded(QuotaProblem, Forbidden):
    """403 from a ResourceQuota (the API server says "exceeded quota", "failed quota")."""

    @property
    def public_reason(self) -> str:
        return self.reason or "Forbidden"  # the API server's word, as for any refusal


class NotFound(NotFoundProblem, KubeError):
    pass


class Conflict(ConflictProblem, KubeError):
    """409: AlreadyExists or a resourceVersion conflict."""


class Gone(UnavailableProblem, KubeError):
    """410: the resourceVersion a watch asked for is too old; relist."""

    @property
    def public_reason(self) -> str:
        return "Gone"


class Invalid(InvalidRequest, KubeError):
    """422: the API server rejected an object (built from the request)."""


class RequestTooLarge(TooLarge, KubeError):
    """413: a request body over the API server's limit."""

    @property
    def public_reason(self) -> str:
        return "TooLarge"


class TooManyRequests(UnavailableProblem, KubeError):
    """429: the API server sheds load (API priority and fairness)."""

    @property
    def public_reason(self) -> str:
        return "TooManyRequests"


_KINDS: dict[int, type[KubeError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    413: RequestTooLarge,
    422: Invalid,
    429: TooManyRequests,
}


def _error_from(status: int, body: bytes | str) -> KubeError:
    """The API server's error answer (a Status object, or any text) as a KubeError."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    message = data.get("message") or text.strip()[:500] or f"HTTP {status}"
    reason, details = data.get("reason", ""), data.get("details")
    if status == 403 and "quota" in message.lower():
        return QuotaExceeded(status, reason, message, details)
    return KubeError(status, reason, message, details)


# Resource kinds we use, by plural: (API group path, namespaced).
RESOURCES: dict[str, tuple[str, bool]] = {
    "namespaces": ("/api/v1", False),
    "nodes": ("/api/v1", False),
    "pods": ("/api/v1", True),
    "secrets": ("/api/v1", True),
    "configmaps": ("/api/v1", True),
    "serviceaccounts": ("/api/v1", True),
    "events": ("/api/v1", True),
    "persistentvolumeclaims": ("/api/v1", True),
    "persistentvolumes": ("/api/v1", False),
    "resourcequotas": ("/api/v1", True),
    "services": ("/api/v1", True),
    "jobs": ("/apis/batch/v1", True),
    "cronjobs": ("/apis/batch/v1", True),
    "leases": ("/apis/coordination.k8s.io/v1", True),
    # Kueue (jupyter_k8s/queues): read where discovery finds it served.
    "workloads": ("/apis/kueue.x-k8s.io/v1beta2", True),
    "localqueues": ("/apis/kueue.x-k8s.io/v1beta2", True),
    "clusterqueues": ("/apis/kueue.x-k8s.io/v1beta2", False),
    "workloadpriorityclasses": ("/apis/kueue.x-k8s.io/v1beta2", False),
    "roles": ("/apis/rbac.authorization.k8s.io/v1", True),
    "rolebindings": ("/apis/rbac.authorization.k8s.io/v1", True),
    "clusterroles": ("/apis/rbac.authorization.k8s.io/v1", False),
    "clusterrolebindings": ("/apis/rbac.authorization.k8s.io/v1", False),
    "selfsubjectreviews": ("/apis/authentication.k8s.io/v1", False),
    "selfsubjectaccessreviews": ("/apis/authorization.k8s.io/v1", False),
}


def resource_path(
    resource: str, namespace: str | None = None, name: str | None = None, sub: str | None = None
) -> str:
    try:
        group, namespaced = RESOURCES[resource]
    except KeyError:
        raise ValueError(f"unknown resource {resource!r}") from None
    path = group
    if namespaced and namespace:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{resource}"
    if name:
        path += f"/{quote(name, safe='')}"
    if sub:
        path += f"/{sub}"
    return path


@dataclass(frozen=True)
class ClusterConfig:
    """Where the API server is and who we are, as loaded from a kubeconfig or in-cluster."""

    host: str
    ssl_context: ssl.SSLContext | bool
    context: str | None
    namespace: str
    source: str  # the kubeconfig path, or "in-cluster"
    _configuration: Any = None  # kubernetes.aio Configuration, for token refresh

    async def auth_headers(self) -> dict[str, str]:
        conf = self._configuration
        if conf is None:
            return {}
        token = await conf.get_api_key_with_prefix("BearerToken")
        if token:
            if not token.lower().startswith("bearer "):
                token = f"Bearer {token}"
            return {"Authorization": token}
        if conf.username or conf.password:
            return {"Authorization": conf.get_basic_auth_token()}
        return {}


def _ssl_context_for(conf: Any) -> ssl.SSLContext | bool:
    if not conf.verify_ssl:
        return False
    ctx = ssl.create_default_context(cafile=conf.ssl_ca_cert)
    if conf.cert_file:
        ctx.load_cert_chain(conf.cert_file, keyfile=conf.key_file)
    return ctx


def _kubeconfig_path(explicit: str | None) -> str | None:
    """The kubeconfig to use: the explicit one, the first of $KUBECONFIG, or ~/.kube/config."""
    from kubernetes.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION

    path = explicit or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
    default = os.path.expanduser(KUBE_CONFIG_DEFAULT_LOCATION)
    if path is None and os.path.exists(default):
        path = default
    return path


def _incluster_namespace() -> str:
    sa_ns = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    try:
        with open(sa_ns) as f:
            return f.read().strip() or "default"
    except OSError:
        return "default"


async def load_config(
    kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None
) -> ClusterConfig:
    """Load a kubeconfig (explicit path, $KUBECONFIG or ~/.kube/config) or in-cluster config."""
    from kubernetes.aio import config as kconfig
    from kubernetes.aio.client import Configuration
    from kubernetes.config.kube_config import list_kube_config_contexts

    conf = Configuration()
    path = _kubeconfig_path(kubeconfig)
    if path:
        try:
            await kconfig.load_kube_config(
                config_file=path, context=context, client_configuration=conf, persist_config=False
            )
            contexts, active = list_kube_config_contexts(path)
        except Exception as exc:  # the config module raises many types
            raise Unreachable(f"cannot load kubeconfig {path}: {exc}") from exc
        chosen = next((c for c in contexts if c["name"] == context), active) if context else active
        ns = namespace or (chosen or {}).get("context", {}).get("namespace") or "default"
        ctx_name = (chosen or {}).get("name")
        source = path
    else:
        try:
            kconfig.load_incluster_config(client_configuration=conf)
        except Exception as exc:
            raise Unreachable(
                "no kubeconfig found (set KUBECONFIG or c.JupyterK8s.kubeconfig) and not "
                f"running in a cluster: {exc}"
            ) from exc
        ns = namespace or _incluster_namespace()
        ctx_name, source = None, "in-cluster"
    return ClusterConfig(
        host=conf.host.rstrip("/"),
        ssl_context=_ssl_context_for(conf),
        context=ctx_name,
        namespace=ns,
        source=source,
        _configuration=conf,
    )


# Connections per pool: short requests, and long-lived streams (one per watch, per followed
# job log, per browser following a log).
REQUEST_POOL = 100
STREAM_POOL = 1000


class KubeClient:
    """Async access to the Kubernetes API with dicts in and dicts out."""

    def __init__(self, config: ClusterConfig, timeout: float = 30.0):
        self.config = config
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._streams: aiohttp.ClientSession | None = None

    @classmethod
    async def from_kubeconfig(
        cls, kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None
    ) -> KubeClient:
        return cls(await load_config(kubeconfig, context, namespace))

    @property
    def namespace(self) -> str:
        return self.config.namespace

    def _where(self) -> str:
        ctx = f"context {self.config.context!r}" if self.config.context else self.config.source
        return f"{self.config.host} ({ctx})"

    async def _sess(self) -> aiohttp.ClientSession:
        """The pool of short requests: never waits behind a long-lived stream."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self.config.ssl_context, limit=REQUEST_POOL),
                read_bufsize=2**21,
            )
        return self._session

    async def _stream_sess(self) -> aiohttp.ClientSession:
        """The pool of streams (watches, followed logs), apart from the requests' pool: a
        hundred running jobs' log followers must not starve REST calls or watch reconnects."""
        if self._streams is None or self._streams.closed:
            self._streams = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self.config.ssl_context, limit=STREAM_POOL),
                read_bufsize=2**21,
            )
        return self._streams

    async def close(self) -> None:
        for session in (self._session, self._streams):
            if session is not None:
                await session.close()
        self._session = self._streams = None

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
        raw: bool = False,
    ) -> Any:
        """One API call; returns the decoded JSON (or text when raw)."""
        url = self.config.host + path
        if params:
            url += "?" + urlencode({k: _param(v) for k, v in params.items() if v is not None})
        headers = await self.config.auth_headers()
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        sess = await self._sess()
        try:
            async with sess.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
            ) as resp:
                payload = await resp.read()
                if resp.status >= 400:
                    raise _error_from(resp.status, payload)
        except aiohttp.ClientError as exc:
            raise Unreachable(f"cannot reach the Kubernetes API at {self._where()}: {exc}") from exc
        except TimeoutError as exc:
            raise Unreachable(
                f"the Kubernetes API at {self._where()} did not answer in time"
            ) from exc
        if raw:
            return payload.decode(errors="replace")
        return json.loads(payload) if payload else None

    # -- verbs on resources -------------------------------------------------------------------

    async def get(
        self, resource: str, name: str, namespace: str | None = None, sub: str | None = None
    ) -> Obj:
        return await self.request("GET", resource_path(resource, namespace, name, sub))

    async def list(self, resource: str, namespace: str | None = None, **params: Any) -> Obj:
        return await self.request("GET", resource_path(resource, namespace), params=params)

    async def create(
        self,
        resource: str,
        body: Obj,
        namespace: str | None = None,
        sub_of: str | None = None,
        sub: str | None = None,
    ) -> Obj:
        return await self.request(
            "POST", resource_path(resource, namespace, sub_of, sub), body=body
        )

    async def replace(
        self,
        resource: str,
        name: str,
        body: Obj,
        namespace: str | None = None,
        sub: str | None = None,
    ) -> Obj:
        return await self.request("PUT", resource_path(resource, namespace, name, sub), body=body)

    async def patch(
        self,
        resource: str,
        name: str,
        body: Obj | Sequence[Obj],  # a list of operations for kind="json" (a JSON patch)
        namespace: str | None = None,
        sub: str | None = None,
        kind: str = "merge",
    ) -> Obj:
        ctype = {
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "json": "application/json-patch+json",
        }[kind]
        return await self.request(
            "PATCH", resource_path(resource, namespace, name, sub), body=body, content_type=ctype
        )

    async def delete(
        self,
        resource: str,
        name: str,
        namespace: str | None = None,
        *,
        grace_period: int | None = None,
        propagation: str | None = "Background",
        missing_ok: bool = False,
    ) -> Obj | None:
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period is not None:
            body["gracePeriodSeconds"] = grace_period
        if propagation:
            body["propagationPolicy"] = propagation
        try:
            return await self.request("DELETE", resource_path(resource, namespace, name), body=body)
        except NotFound:
            if missing_ok:
                return None
            raise

    async def stream_lines(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> AsyncIterator[bytes]:
        """Yield the lines of a streaming response (watch, follow logs) as they arrive.

        `timeout` bounds the whole stream; `read_timeout` the silence between two reads (a
        peer that died without closing the connection), raised as Unreachable."""
        url = self.config.host + path
        if params:
            url += "?" + urlencode({k: _param(v) for k, v in params.items() if v is not None})
        headers = await self.config.auth_headers()
        sess = await self._stream_sess()
        try:
            async with sess.get(
                url,
                headers=headers,
                timeout=aiohttp.ClientTimeout(
                    total=timeout, sock_connect=10, sock_read=read_timeout
                ),
            ) as resp:
                if resp.status >= 400:
                    raise _error_from(resp.status, await resp.read())
                # Linear in the stream's size: pieces of an unfinished line are kept in a
                # list and joined once (re-slicing one growing buffer per line was
                # quadratic on long lines and on chunks of many lines).
                pending: list[bytes] = []
                async for chunk in resp.content.iter_any():
                    start = 0
                    while (end := chunk.find(b"\n", start)) != -1:
                        pending.append(chunk[start : end + 1])
                        yield b"".join(pending)
                        pending.clear()
                        start = end + 1
                    if start < len(chunk):
                        pending.append(chunk[start:])
                if pending:
                    yield b"".join(pending)
        except aiohttp.ClientError as exc:
            raise Unreachable(f"cannot reach the Kubernetes API at {self._where()}: {exc}") from exc
        except TimeoutError as exc:
            raise Unreachable(f"the Kubernetes API at {self._where()} stopped answering") from exc

    async def watch(
        self,
        resource: str,
        namespace: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
        **params: Any,
    ) -> AsyncIterator[Obj]:
        """Yield watch events ({type, object}) until the server ends the watch.

        Raises Gone when resource_version is too old, so the caller relists.
        """
        query = dict(
            params, watch="true", timeoutSeconds=timeout_seconds, allowWatchBookmarks="true"
        )
        if resource_version:
            query["resourceVersion"] = resource_version
        async for line in self.stream_lines(
            resource_path(resource, namespace), query, timeout=timeout_seconds + 30
        ):
            if not line.strip():
                continue
            event = json.loads(line)
            if event.get("type") == "ERROR":
                status = event.get("object", {})
                raise _error_from(status.get("code", 500), json.dumps(status))
            yield event


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def wait_for(
    predicate, timeout: float, interval: float = 0.2, what: str = "condition"
) -> Any:
    """Poll an async predicate until it returns something truthy (test and CLI helper)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)
