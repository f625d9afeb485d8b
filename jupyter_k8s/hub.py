"""JupyterHub on Kubernetes: one namespace per user, made by the hub before a server starts.

Two lines in `jupyterhub_config.py` (or Zero to JupyterHub's `hub.extraConfig`)::

    from jupyter_k8s.hub import setup_user_namespaces
    setup_user_namespaces(c, quota={"requests.nvidia.com/gpu": 2, "pods": 20})

configure KubeSpawner so that each user's server runs in a namespace of its own (KubeSpawner's
`enable_user_namespaces`; its collision-free "safe" slug of the user name fills
`user_namespace_template`), as that namespace's ServiceAccount `jupyter-k8s` with a projected,
short-lived token. Before the server starts, a `pre_spawn_hook` ensures, idempotently (one GET
per object when nothing changed):

* the namespace, labelled Pod Security "restricted", annotated with the exact user name (a
  namespace that exists for another user, or for nobody, is refused rather than adopted);
* in it the shipped ServiceAccount, Role and RoleBinding (jupyter_k8s/manifests/rbac.yaml);
* an optional ResourceQuota and LimitRange (`jupyter-k8s`);
* a NetworkPolicy (`jupyter-k8s-kernels`) that lets only the user's server pods reach the
  kernel pods' ZMQ ports.

A `modify_pod_hook` then asks the API server to admit the server pod in a dry run, so a full
quota or a Pod Security violation becomes a spawn error that says what to do, not a traceback.

The Jupyter server in the pod needs no per-user setting: with no kubeconfig it loads the
in-cluster configuration, whose namespace is the pod's own (jupyter_k8s/k8s/client.py).

Objects are built by pure functions (`user_objects`, golden-tested); `ensure_user_namespace`
applies them with the project's async client; `UserNamespaces` holds the settings and the
client and is what the hooks are bound to. The hub's own RBAC: jupyter_k8s/manifests/hub-rbac.yaml.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .k8s.client import ClusterConfig, Conflict, KubeClient, KubeError, NotFound, load_config
from .k8s.objects import MANAGED_BY, restricted_container_security
from .k8s.quantity import parse_quantity
from .k8s.tenancy import (
    CREATED,
    POD_SECURITY_LABELS,
    UNCHANGED,
    UPDATED,
    Requests,
    covers,
    ensure,
    metadata_patch,
    namespace_object,
    object_path,
    shipped_rbac,
    shipped_service_account_name,
    up_to_date,
)
from .kernels.objects import COMPONENT as KERNEL_COMPONENT
from .kernels.objects import DEFAULT_PORTS, LABEL_COMPONENT, LABEL_MANAGED_BY
from .names import is_label

Obj = dict[str, Any]

__all__ = [
    "UserNamespace",
    "UserNamespaceError",
    "UserNamespaces",
    "ensure_user_namespace",
    "setup_user_namespaces",
    "user_objects",
]

log = logging.getLogger(__name__)

#: KubeSpawner's own default: the hub's namespace, then the user's safe slug.
DEFAULT_NAMESPACE_TEMPLATE = "{hubnamespace}-{username}"
QUOTA_NAME = "jupyter-k8s"
LIMIT_RANGE_NAME = "jupyter-k8s"
NETWORK_POLICY_NAME = "jupyter-k8s-kernels"
#: The exact JupyterHub user name a namespace belongs to (labels can't hold every name).
ANN_HUB_USER = "jupyter-k8s.io/hub-user"
#: On every object the hook makes, so `kubectl get ns -l` finds them.
USER_LABELS = {**MANAGED_BY, "app.kubernetes.io/component": "user-namespace"}
#: The label KubeSpawner puts on every single-user server pod.
SERVER_POD_LABELS = {"component": "singleuser-server"}
#: What Pod Security "restricted" asks of a pod (the container part: k8s/objects.py).
RESTRICTED_POD_SECURITY = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
DOCS = "docs/jupyterhub.md"
HUB_RBAC_HINT = (
    "give the hub's ServiceAccount the rights in jupyter_k8s/manifests/hub-rbac.yaml "
    f"({DOCS}#the-hubs-rbac)"
)

try:  # the hub has JupyterHub; the pure parts of this module don't need it
    from jupyterhub.spawner import SpawnException as _SpawnBase
except ImportError:  # pragma: no cover - exercised where JupyterHub isn't installed
    _SpawnBase = Exception


class UserNamespaceError(_SpawnBase):
    """A spawn refused while preparing the user's namespace or admitting the server pod.

    A JupyterHub `SpawnException`: the hub shows `message` on the spawn page ("Spawn failed:
    ...") and logs it without a traceback. `reason` is the metrics label; `status` the HTTP
    status of the Kubernetes refusal (0: unreachable or timed out).
    """

    def __init__(self, message: str, *, reason: str = "jupyter-k8s", status: int = 0):
        self.status = status
        if _SpawnBase is Exception:  # pragma: no cover
            Exception.__init__(self, message)
            self.message, self.reason = message, reason
        else:
            code = 503 if status in (0, 500, 503) else (403 if status == 403 else 400)
            super().__init__(message, reason=reason, status_code=code)

    @property
    def jupyterhub_message(self) -> str:
        return self.message

    def __str__(self) -> str:
        return self.message


# -- what one user gets: a plan, and pure builders ----------------------------------------------


@dataclass(frozen=True)
class UserNamespace:
    """Everything needed to build one user's namespace and the objects in it."""

    namespace: str
    username: str
    #: ResourceQuota `spec.hard` (e.g. {"requests.nvidia.com/gpu": 1, "pods": 20}); None: none.
    quota: Mapping[str, str | int] | None = None
    #: LimitRange items (each with its `type`); None: none.
    limit_range: Sequence[Mapping[str, Any]] | None = None
    server_pod_labels: Mapping[str, str] = field(default_factory=lambda: dict(SERVER_POD_LABELS))
    kernel_ports: Sequence[int] = tuple(DEFAULT_PORTS.values())
    #: The ServiceAccount the server runs as; None: the one rbac.yaml ships.
    service_account: str | None = None

    def __post_init__(self) -> None:
        if not self.username:
            raise ValueError("a user namespace needs a user name")
        if not is_label(self.namespace):
            raise ValueError(
                f"namespace {self.namespace!r} (from KubeSpawner's user_namespace_template) is "
                "not a valid namespace name: at most 63 lowercase letters, digits and '-'"
            )
        for key, value in (self.quota or {}).items():
            try:
                parse_quantity(value)
            except ValueError:
                raise ValueError(f"quota {key}: {value!r} is not a quantity") from None
        for item in self.limit_range or ():
            if not isinstance(item, Mapping) or not item.get("type"):
                raise ValueError("each limit_range item needs a type (Container, Pod, ...)")
        for port in self.kernel_ports:
            if not isinstance(port, int) or not 0 < port < 65536:
                raise ValueError(f"kernel port {port!r} is not a port number")


def _meta(plan: UserNamespace, name: str) -> Obj:
    return {"name": name, "namespace": plan.namespace, "labels": dict(USER_LABELS)}


def namespace_for(plan: UserNamespace) -> Obj:
    return namespace_object(plan.namespace, USER_LABELS, {ANN_HUB_USER: plan.username})


def rbac_for(plan: UserNamespace) -> list[Obj]:
    """The shipped ServiceAccount, Role and RoleBinding, in the user's namespace."""
    return shipped_rbac(plan.namespace, plan.service_account, labels=USER_LABELS)


def resource_quota_for(plan: UserNamespace) -> Obj | None:
    if plan.quota is None:
        return None
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta(plan, QUOTA_NAME),
        "spec": {"hard": {k: str(v) for k, v in plan.quota.items()}},
    }


def limit_range_for(plan: UserNamespace) -> Obj | None:
    if plan.limit_range is None:
        return None
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _meta(plan, LIMIT_RANGE_NAME),
        "spec": {"limits": [_stringify(dict(item)) for item in plan.limit_range]},
    }


def _stringify(item: Obj) -> Obj:
    """Quantities as strings, as the API writes them ({"cpu": 1} -> {"cpu": "1"})."""
    return {
        k: {rk: str(rv) for rk, rv in v.items()} if isinstance(v, Mapping) else v
        for k, v in item.items()
    }


def network_policy_for(plan: UserNamespace) -> Obj:
    """Kernel pods take connections on their ports from the user's server pods only.

    It selects the kernel pods, so every other ingress to them is denied; without a
    namespaceSelector, the `from` pods are those of this namespace: the user's own servers
    (and the standalone clients, papermill -k, that run inside them).
    """
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(plan, NETWORK_POLICY_NAME),
        "spec": {
            "podSelector": {
                "matchLabels": {
                    LABEL_MANAGED_BY: MANAGED_BY[LABEL_MANAGED_BY],
                    LABEL_COMPONENT: KERNEL_COMPONENT,
                }
            },
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": dict(plan.server_pod_labels)}}],
                    "ports": [{"protocol": "TCP", "port": p} for p in plan.kernel_ports],
                }
            ],
        },
    }


def user_objects(plan: UserNamespace) -> list[Obj]:
    """Every object of one user, in the order they are applied."""
    objs = [namespace_for(plan), *rbac_for(plan)]
    objs += [o for o in (resource_quota_for(plan), limit_range_for(plan)) if o is not None]
    objs.append(network_policy_for(plan))
    return objs


# -- applying ---------------------------------------------------------------------------------


@dataclass
class EnsureReport:
    """What one `ensure_user_namespace` did: each object's outcome, calls and time."""

    namespace: str
    outcomes: dict[str, str] = field(default_factory=dict)  # "Kind/name" -> created/...
    calls: int = 0
    seconds: float = 0.0

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes.values() if o == outcome)

    def summary(self) -> str:
        return (
            f"{self.count(CREATED)} created, {self.count(UPDATED)} updated, "
            f"{self.count(UNCHANGED)} unchanged; {self.calls} API calls in "
            f"{self.seconds * 1000:.0f} ms"
        )


class _Counted:
    """The client's `request`, counted (all that `ensure` and the namespace check use)."""

    def __init__(self, client: KubeClient):
        self.client = client
        self.calls = 0

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        self.calls += 1
        return await self.client.request(method, path, **kwargs)


def _describe(obj: Obj) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _object_error(plan: UserNamespace, obj: Obj, exc: BaseException) -> UserNamespaceError:
    where = f"{_describe(obj)} in namespace {plan.namespace}"
    if obj["kind"] == "Namespace":
        where = f"namespace {plan.namespace}"
    if isinstance(exc, KubeError) and exc.status == 403:
        if "being terminated" in exc.message:
            return UserNamespaceError(
                f"Namespace {plan.namespace} of {plan.username} is being deleted; "
                "try again in a minute.",
                reason="jupyter-k8s-namespace",
                status=403,
            )
        return UserNamespaceError(
            f"The hub may not prepare {where} for {plan.username}: {exc.message}. "
            f"An admin must {HUB_RBAC_HINT}.",
            reason="jupyter-k8s-rbac",
            status=403,
        )
    if isinstance(exc, KubeError) and exc.status == 0:
        return UserNamespaceError(
            f"Could not prepare {where} for {plan.username}: {exc.message}",
            reason="jupyter-k8s-unreachable",
        )
    if isinstance(exc, KubeError):
        return UserNamespaceError(
            f"Kubernetes refused {where} for {plan.username} ({exc.status} {exc.reason}): "
            f"{exc.message}",
            reason="jupyter-k8s-refused",
            status=exc.status,
        )
    return UserNamespaceError(
        f"Could not prepare {where} for {plan.username}: {exc!r}", reason="jupyter-k8s"
    )


async def _ensure_namespace(client: Requests, plan: UserNamespace) -> str:
    """Create the namespace, or take the existing one if it is this user's; fix its labels."""
    wanted = namespace_for(plan)
    path = object_path("Namespace", name=plan.namespace)
    outcome = UNCHANGED
    try:
        current = await client.request("GET", path)
    except NotFound:
        try:
            await client.request("POST", object_path("Namespace"), body=wanted)
            return CREATED
        except Conflict:  # made meanwhile (KubeSpawner, a second spawn): check it below
            current = await client.request("GET", path)
    meta = current.get("metadata") or {}
    owner = (meta.get("annotations") or {}).get(ANN_HUB_USER)
    if owner != plan.username:
        whose = f"user {owner!r}" if owner else "no JupyterHub user"
        raise UserNamespaceError(
            f"Namespace {plan.namespace} exists and belongs to {whose}, not to "
            f"{plan.username!r}: the hub does not take it over. If it is theirs, an admin can "
            f"mark it: kubectl annotate namespace {plan.namespace} "
            f"{ANN_HUB_USER}={plan.username!r}; else change user_namespace_template.",
            reason="jupyter-k8s-namespace",
            status=409,
        )
    if (current.get("status") or {}).get("phase") == "Terminating":
        raise UserNamespaceError(
            f"Namespace {plan.namespace} of {plan.username} is being deleted; "
            "try again in a minute.",
            reason="jupyter-k8s-namespace",
            status=409,
        )
    if not up_to_date(current, wanted):
        await client.request(
            "PATCH",
            path,
            body=metadata_patch(wanted),
            content_type="application/merge-patch+json",
        )
        outcome = UPDATED
    return outcome


async def _quota_counted(client: Requests, quota: Obj, timeout: float = 10.0) -> None:
    """Wait until the quota controller has counted a new or changed ResourceQuota: until
    then the API server refuses every pod in the namespace ("status unknown for quota")."""
    path = object_path("ResourceQuota", quota["metadata"]["namespace"], quota["metadata"]["name"])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        current = await client.request("GET", path)
        hard = (current.get("status") or {}).get("hard") or {}
        if covers(hard, quota["spec"]["hard"]) and covers(hard, current["spec"]["hard"]):
            return
        if loop.time() > deadline:
            raise TimeoutError(
                f"the quota controller did not count ResourceQuota {quota['metadata']['name']} "
                f"within {timeout:.0f} s (is kube-controller-manager running?)"
            )
        await asyncio.sleep(0.05)


async def ensure_user_namespace(client: KubeClient, plan: UserNamespace) -> EnsureReport:
    """Make the cluster hold every object of `user_objects(plan)`; raise UserNamespaceError.

    The namespace first; then, concurrently, everything but the RoleBinding (the API server
    checks a binding against its Role, which must exist); then the RoleBinding.
    """
    report = EnsureReport(plan.namespace)
    counted = _Counted(client)
    started = time.monotonic()
    try:
        objs = user_objects(plan)
        ns_obj, rest = objs[0], objs[1:]
        try:
            report.outcomes[_describe(ns_obj)] = await _ensure_namespace(counted, plan)
        except UserNamespaceError:
            raise
        except Exception as exc:
            raise _object_error(plan, ns_obj, exc) from exc
        bindings = [o for o in rest if o["kind"] == "RoleBinding"]
        first = [o for o in rest if o["kind"] != "RoleBinding"]
        for wave in (first, bindings):
            results = await asyncio.gather(
                *(ensure(counted, o) for o in wave), return_exceptions=True
            )
            for obj, result in zip(wave, results, strict=True):
                if isinstance(result, BaseException):
                    raise _object_error(plan, obj, result) from result
                report.outcomes[_describe(obj)] = result
        quota = resource_quota_for(plan)
        if quota is not None and report.outcomes[_describe(quota)] != UNCHANGED:
            try:
                await _quota_counted(counted, quota)
            except Exception as exc:
                raise _object_error(plan, quota, exc) from exc
    finally:
        report.calls = counted.calls
        report.seconds = time.monotonic() - started
    return report


# -- the server pod, admitted in a dry run -------------------------------------------------------


def pod_json(pod: Any) -> Obj:
    """A pod as the API's JSON: a dict as is, a kubernetes(-asyncio) model converted."""
    if isinstance(pod, Mapping):
        return copy.deepcopy(dict(pod))
    return _model_json(pod)


def _model_json(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_model_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _model_json(v) for k, v in value.items()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    types = getattr(value, "openapi_types", None)
    if types is None:
        raise TypeError(f"cannot turn {type(value).__name__} into JSON")
    attribute_map = value.attribute_map
    out = {}
    for attr in types:
        item = getattr(value, attr)
        if item is not None:
            out[attribute_map[attr]] = _model_json(item)
    return out


def pod_refusal(plan: UserNamespace, exc: KubeError) -> UserNamespaceError:
    """The spawn error for a server pod the API server would not admit, with what to do."""
    low = exc.message.lower()
    if "quota" in low and "must specify" in low:
        hint = (
            "the ResourceQuota limits a resource the server pod does not request, so every "
            "pod must request it: give the namespace defaults (setup_user_namespaces("
            'limit_range={"defaultRequest": {...}, "default": {...}})) or set KubeSpawner\'s '
            f"cpu_guarantee/mem_guarantee and limits ({DOCS}#quotas)"
        )
        reason = "jupyter-k8s-quota"
    elif "quota" in low:
        hint = (
            f"{plan.username}'s ResourceQuota does not leave room for the server (jobs and "
            "kernels count against it too): stop some, or ask an admin to raise it "
            f"(kubectl -n {plan.namespace} describe resourcequota)"
        )
        reason = "jupyter-k8s-quota"
    elif "podsecurity" in low:
        hint = (
            'the server pod must meet Pod Security "restricted" in a per-user namespace '
            f"({DOCS}#pod-security)"
        )
        reason = "jupyter-k8s-pod-security"
    elif exc.status == 403:
        hint = f"an admin must {HUB_RBAC_HINT}"
        reason = "jupyter-k8s-rbac"
    else:
        hint = ""
        reason = "jupyter-k8s-refused"
    message = f"Kubernetes refuses {plan.username}'s server in namespace {plan.namespace}: "
    message += exc.message.rstrip(".") + "."
    if hint:
        message += f" What to do: {hint}."
    return UserNamespaceError(message, reason=reason, status=exc.status)


async def admit_pod(client: KubeClient, plan: UserNamespace, pod: Any) -> None:
    """Ask the API server to admit `pod` without creating it (`dryRun=All`): quota, Pod
    Security, RBAC and validation all run. A pod of that name still there is not an error:
    KubeSpawner deletes it and tries again."""
    body = pod_json(pod)
    body.setdefault("apiVersion", "v1")
    body.setdefault("kind", "Pod")
    try:
        await client.request(
            "POST",
            f"/api/v1/namespaces/{plan.namespace}/pods",
            params={"dryRun": "All"},
            body=body,
        )
    except Conflict:
        return
    except KubeError as exc:
        if exc.status == 0:
            raise UserNamespaceError(
                f"Could not check {plan.username}'s server pod: {exc.message}",
                reason="jupyter-k8s-unreachable",
            ) from exc
        raise pod_refusal(plan, exc) from exc


# -- the configured helper and its hooks ----------------------------------------------------------

QuotaSetting = Mapping[str, str | int] | Callable[[Any], Mapping[str, str | int] | None] | None
LimitSetting = (
    Mapping[str, Any]
    | Sequence[Mapping[str, Any]]
    | Callable[[Any], Mapping[str, Any] | Sequence[Mapping[str, Any]] | None]
    | None
)


def _limit_items(
    value: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
) -> tuple[Mapping[str, Any], ...] | None:
    """A LimitRange setting as items: a mapping is one item of type Container."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return ({"type": "Container", **value},)
    return tuple(value)


class UserNamespaces:
    """The settings and the Kubernetes client behind the hooks `setup_user_namespaces` wires.

    `quota` and `limit_range` may be callables of the spawner (per user or group: e.g.
    `lambda spawner: GPU_QUOTA if "gpu" in [g.name for g in spawner.user.groups] else None`).
    The hub's identity is the one KubeSpawner uses: `kubeconfig` (default: $KUBECONFIG,
    ~/.kube/config, then in-cluster, the hub pod's ServiceAccount).
    """

    def __init__(
        self,
        *,
        quota: QuotaSetting = None,
        limit_range: LimitSetting = None,
        kubeconfig: str | None = None,
        context: str | None = None,
        service_account: str | None = None,
        server_pod_labels: Mapping[str, str] | None = None,
        kernel_ports: Sequence[int] | None = None,
        check_pod: bool = True,
        request_timeout: float = 10.0,
        timeout: float = 30.0,
        cluster_config: ClusterConfig | None = None,
    ):
        self.quota = quota
        self.limit_range = limit_range
        self.kubeconfig = kubeconfig
        self.context = context
        self.service_account = service_account or shipped_service_account_name()
        self.server_pod_labels = dict(server_pod_labels or SERVER_POD_LABELS)
        self.kernel_ports = tuple(kernel_ports or DEFAULT_PORTS.values())
        self.check_pod = check_pod
        self.request_timeout = request_timeout
        self.timeout = timeout
        self._config = cluster_config
        self._client: KubeClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Validate static settings now: a typo fails the hub's start, not every spawn.
        UserNamespace(
            "check",
            "check",
            quota=None if callable(quota) else quota,
            limit_range=None if callable(limit_range) else _limit_items(limit_range),
        )

        if isinstance(quota, Mapping) and limit_range is None:
            needs = sorted(k for k in quota if k.split(".", 1)[-1] in ("cpu", "memory"))
            if needs:
                log.warning(
                    "jupyter-k8s: the per-user quota limits %s, so every pod (the server, "
                    "jobs, kernels) must set it; without a limit_range giving defaults, pods "
                    "that don't are refused (%s#quotas)",
                    ", ".join(needs),
                    DOCS,
                )

    def __deepcopy__(self, memo: dict) -> UserNamespaces:
        # traitlets deep-copies config values into each spawner: the hooks must stay bound
        # to this one object (its settings, its client), not to a copy per spawn.
        return self

    def __copy__(self) -> UserNamespaces:
        return self

    def plan(self, spawner: Any) -> UserNamespace:
        """The user's namespace as KubeSpawner computed it, and what goes in it."""
        quota = self.quota(spawner) if callable(self.quota) else self.quota
        limits = self.limit_range(spawner) if callable(self.limit_range) else self.limit_range
        try:
            return UserNamespace(
                namespace=spawner.namespace,
                username=spawner.user.name,
                quota=quota,
                limit_range=_limit_items(limits),
                server_pod_labels=self.server_pod_labels,
                kernel_ports=self.kernel_ports,
                service_account=self.service_account,
            )
        except ValueError as exc:
            raise UserNamespaceError(
                f"jupyter-k8s cannot prepare a namespace for {spawner.user.name}: {exc}",
                reason="jupyter-k8s-config",
            ) from exc

    async def client(self) -> KubeClient:
        """One client per event loop (the hub has one), made on first use."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            if self._config is None:
                try:
                    self._config = await load_config(self.kubeconfig, self.context)
                except KubeError as exc:
                    raise UserNamespaceError(
                        f"jupyter-k8s has no Kubernetes configuration: {exc.message}",
                        reason="jupyter-k8s-unreachable",
                    ) from exc
            self._client = KubeClient(self._config, timeout=self.request_timeout)
            self._loop = loop
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _bounded(self, what: str, plan: UserNamespace, coro: Any) -> Any:
        try:
            return await asyncio.wait_for(coro, self.timeout)
        except TimeoutError:
            raise UserNamespaceError(
                f"Preparing {what} for {plan.username} took more than {self.timeout:.0f} s: "
                "the Kubernetes API is slow or unreachable from the hub.",
                reason="jupyter-k8s-timeout",
            ) from None

    async def ensure(self, spawner: Any) -> EnsureReport:
        """Ensure the user's namespace and its objects (the pre-spawn hook's work)."""
        plan = self.plan(spawner)
        client = await self.client()
        report = await self._bounded(
            f"namespace {plan.namespace}", plan, ensure_user_namespace(client, plan)
        )
        spawner._jupyter_k8s_namespace = plan.namespace
        _log(spawner).info(
            "jupyter-k8s: namespace %s for %s: %s",
            plan.namespace,
            plan.username,
            report.summary(),
        )
        return report

    async def pre_spawn_hook(self, spawner: Any) -> None:
        await self.ensure(spawner)

    async def modify_pod_hook(self, spawner: Any, pod: Any) -> Any:
        """Admit the server pod in a dry run (its namespace ensured again if a profile
        moved it); the pod goes on unchanged."""
        if getattr(spawner, "_jupyter_k8s_namespace", None) != spawner.namespace:
            await self.ensure(spawner)
        if self.check_pod:
            plan = self.plan(spawner)
            client = await self.client()
            started = time.monotonic()
            await self._bounded("the server pod", plan, admit_pod(client, plan, pod))
            _log(spawner).info(
                "jupyter-k8s: server pod of %s admitted in %s (dry run, 1 API call in %.0f ms)",
                plan.username,
                plan.namespace,
                (time.monotonic() - started) * 1000,
            )
        return pod


def _log(spawner: Any) -> logging.Logger | logging.LoggerAdapter:
    return getattr(spawner, "log", None) or log


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _chain_pre_spawn(first: Callable | None, second: Callable) -> Callable:
    if first is None:
        return second

    async def pre_spawn_hook(spawner: Any) -> None:
        await _maybe_await(first(spawner))
        await second(spawner)

    return pre_spawn_hook


def _chain_modify_pod(first: Callable | None, second: Callable) -> Callable:
    if first is None:
        return second

    async def modify_pod_hook(spawner: Any, pod: Any) -> Any:
        pod = await _maybe_await(first(spawner, pod))
        return await second(spawner, pod)

    return modify_pod_hook


def _restricted(existing: Any, required: Mapping[str, Any]) -> Any:
    """A security context with `required` on top of the configured one (a callable too)."""
    if callable(existing):

        async def merged(spawner: Any) -> dict:
            return {**(await _maybe_await(existing(spawner)) or {}), **required}

        return merged
    return {**(existing or {}), **required}


def _configured(c: Any, name: str) -> Any:
    """A KubeSpawner option already set in the config (on KubeSpawner or on Spawner)."""
    for section in ("KubeSpawner", "Spawner"):
        value = c[section].get(name) if section in c else None
        if value is not None:
            return value
    return None


def setup_user_namespaces(
    c: Any,
    *,
    namespace_template: str = DEFAULT_NAMESPACE_TEMPLATE,
    quota: QuotaSetting = None,
    limit_range: LimitSetting = None,
    **options: Any,
) -> UserNamespaces:
    """Configure KubeSpawner (`c` of jupyterhub_config.py) for one namespace per user.

    `namespace_template`: KubeSpawner's `user_namespace_template` ({username} is its
    collision-free safe slug, {hubnamespace} the hub's namespace). `quota`: a ResourceQuota
    `spec.hard` for each user's namespace (or a callable of the spawner); `limit_range`: one
    LimitRange item of type Container (a mapping: default, defaultRequest, max, ...) or a list
    of items. Other options: see `UserNamespaces`. Hooks already configured run first.
    Returns the helper the hooks are bound to.
    """
    helper = UserNamespaces(quota=quota, limit_range=limit_range, **options)
    ks = c.KubeSpawner
    ks.enable_user_namespaces = True
    ks.user_namespace_template = namespace_template
    # Should KubeSpawner ever create the namespace first, it is the same namespace.
    ks.user_namespace_labels = {**POD_SECURITY_LABELS, **USER_LABELS}
    ks.user_namespace_annotations = {ANN_HUB_USER: "{unescaped_username}"}
    ks.service_account = helper.service_account
    ks.automount_service_account_token = True
    ks.container_security_context = _restricted(
        _configured(c, "container_security_context"), restricted_container_security()
    )
    ks.pod_security_context = _restricted(
        _configured(c, "pod_security_context"), RESTRICTED_POD_SECURITY
    )
    ks.pre_spawn_hook = _chain_pre_spawn(_configured(c, "pre_spawn_hook"), helper.pre_spawn_hook)
    ks.modify_pod_hook = _chain_modify_pod(
        _configured(c, "modify_pod_hook"), helper.modify_pod_hook
    )
    return helper
