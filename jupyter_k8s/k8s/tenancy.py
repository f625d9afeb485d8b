"""Namespaces and the shipped RBAC in them: pure builders, and one idempotent `ensure`.

Shared by the local cluster's bootstrap (one namespace, the identity JupyterLab runs as) and
the JupyterHub hook (a namespace per user, jupyter_k8s/hub.py): both make a namespace that
enforces Pod Security "restricted" and put in it the ServiceAccount, Role and RoleBinding of
jupyter_k8s/manifests/rbac.yaml, read from that file (never a copy of it).

`ensure(client, obj)` makes the cluster hold `obj` with one GET when nothing changed: it
creates what is missing, replaces what differs from `obj` (only the fields `obj` names; labels
and annotations are merged, never dropped) and leaves the rest alone, so a second run changes
no resourceVersion.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from importlib import resources
from typing import Any, Protocol
from urllib.parse import quote

import yaml

from .client import Conflict, KubeClient, NotFound
from .quantity import parse_quantity

Obj = dict[str, Any]

#: The Pod Security labels: enforce, and also warn/audit, so kubectl shows why a pod is refused.
POD_SECURITY_LABELS = {
    f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")
}

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"

# kind -> (API path of its group, plural, namespaced). Only the kinds applied here.
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "ResourceQuota": ("/api/v1", "resourcequotas", True),
    "LimitRange": ("/api/v1", "limitranges", True),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies", True),
}

#: Kinds whose only content is metadata to us: labels and annotations are merge-patched, the
#: rest (a namespace's finalizers, a ServiceAccount's image pull secrets) is never touched.
_METADATA_ONLY = {"Namespace", "ServiceAccount"}


def object_path(kind: str, namespace: str | None = None, name: str | None = None) -> str:
    group, plural, namespaced = KINDS[kind]
    path = group
    if namespaced:
        if not namespace:
            raise ValueError(f"a {kind} needs a namespace")
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{plural}"
    if name:
        path += f"/{quote(name, safe='')}"
    return path


# -- pure builders ---------------------------------------------------------------------------


def namespace_object(
    name: str,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Obj:
    """A Namespace that enforces Pod Security "restricted" (plus `labels`)."""
    meta: Obj = {"name": name, "labels": {**POD_SECURITY_LABELS, **(labels or {})}}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def shipped_rbac_documents() -> list[Obj]:
    """The objects of jupyter_k8s/manifests/rbac.yaml, as written there."""
    text = resources.files("jupyter_k8s").joinpath("manifests/rbac.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


def shipped_rbac(
    namespace: str | None = None,
    subject_name: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> list[Obj]:
    """The shipped ServiceAccount, Role and RoleBinding, placed in `namespace`.

    `subject_name` renames the ServiceAccount (and the binding's subject); `labels` are added
    to each object's own.
    """
    objs = shipped_rbac_documents()
    if namespace is None:
        return objs
    for obj in objs:
        meta = obj["metadata"]
        meta["namespace"] = namespace
        if labels:
            meta["labels"] = {**(meta.get("labels") or {}), **labels}
        for subject in obj.get("subjects", []):
            subject["namespace"] = namespace
            if subject_name:
                subject["name"] = subject_name
        if subject_name and obj["kind"] == "ServiceAccount":
            meta["name"] = subject_name
    return objs


def shipped_service_account_name() -> str:
    """The name of the ServiceAccount rbac.yaml ships (the one single-user pods run as)."""
    return next(o for o in shipped_rbac_documents() if o["kind"] == "ServiceAccount")["metadata"][
        "name"
    ]


# -- comparing what is there with what should be ----------------------------------------------


def _same_scalar(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, bool) or isinstance(wanted, bool):  # True == 1 in Python, not in JSON
        return actual is wanted
    if actual == wanted:
        return True
    # The API server writes quantities in canonical form ("1024Mi" comes back "1Gi").
    if isinstance(wanted, str | int) and isinstance(actual, str | int):
        try:
            return parse_quantity(actual) == parse_quantity(wanted)
        except ValueError:
            return False
    return False


def covers(actual: Any, wanted: Any) -> bool:
    """True when `actual` holds everything `wanted` says (maps: a superset; lists: same
    length, item by item; scalars: equal, quantities by value)."""
    if isinstance(wanted, Mapping):
        if not isinstance(actual, Mapping):
            return False
        return all(k in actual and covers(actual[k], v) for k, v in wanted.items())
    if isinstance(wanted, list):
        if not isinstance(actual, list) or len(actual) != len(wanted):
            return False
        return all(covers(a, w) for a, w in zip(actual, wanted, strict=True))
    return _same_scalar(actual, wanted)


def up_to_date(current: Obj, wanted: Obj) -> bool:
    """Whether `current` (as read from the API) already is `wanted`."""
    cur_meta, want_meta = current.get("metadata") or {}, wanted.get("metadata") or {}
    for key in ("labels", "annotations"):
        if not covers(cur_meta.get(key) or {}, want_meta.get(key) or {}):
            return False
    if wanted["kind"] in _METADATA_ONLY:
        return True
    body = {k: v for k, v in wanted.items() if k not in ("apiVersion", "kind", "metadata")}
    return covers(current, body)


def replacement(current: Obj, wanted: Obj) -> Obj:
    """The body of a PUT that turns `current` into `wanted`, keeping others' labels,
    annotations and owner references, and the resourceVersion it was read at."""
    body = copy.deepcopy(wanted)
    cur_meta = current.get("metadata") or {}
    meta = body.setdefault("metadata", {})
    for key in ("labels", "annotations"):
        merged = {**(cur_meta.get(key) or {}), **(meta.get(key) or {})}
        if merged:
            meta[key] = merged
    for key in ("resourceVersion", "ownerReferences", "finalizers"):
        if key in cur_meta:
            meta[key] = cur_meta[key]
    return body


def metadata_patch(wanted: Obj) -> Obj:
    meta = wanted.get("metadata") or {}
    return {"metadata": {k: dict(meta[k]) for k in ("labels", "annotations") if meta.get(k)}}


# -- applying ------------------------------------------------------------------------------


class Requests(Protocol):
    """All that `ensure` needs of a KubeClient: its `request` (hub.py counts the calls)."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any: ...


async def ensure(client: Requests, obj: Obj, attempts: int = 3) -> str:
    """Make the cluster hold `obj`: CREATED, UPDATED or UNCHANGED.

    One GET when nothing changed; GET + POST when missing; GET + PUT (Namespace and
    ServiceAccount: a merge PATCH of their labels and annotations) when it differs. A race
    with another writer (409) is retried from the GET. Errors are the client's (Forbidden, ...).
    """
    kind = obj["kind"]
    meta = obj["metadata"]
    name, namespace = meta["name"], meta.get("namespace")
    path = object_path(kind, namespace, name)
    last: Exception | None = None
    for _ in range(attempts):
        try:
            current = await client.request("GET", path)
        except NotFound:
            try:
                await client.request("POST", object_path(kind, namespace), body=obj)
                return CREATED
            except Conflict as exc:  # made meanwhile: compare with it
                last = exc
                continue
        if up_to_date(current, obj):
            return UNCHANGED
        try:
            if kind in _METADATA_ONLY:
                await client.request(
                    "PATCH",
                    path,
                    body=metadata_patch(obj),
                    content_type="application/merge-patch+json",
                )
            else:
                await client.request("PUT", path, body=replacement(current, obj))
            return UPDATED
        except Conflict as exc:  # changed meanwhile: read it again
            last = exc
    assert last is not None
    raise last


async def create_namespace(
    client: KubeClient, name: str, labels: dict[str, str] | None = None
) -> str:
    """Ensure a Pod Security "restricted" namespace `name` (with `labels`)."""
    return await ensure(client, namespace_object(name, labels))


async def apply_rbac(
    client: KubeClient, namespace: str, subject_name: str | None = None
) -> list[str]:
    """Ensure the shipped ServiceAccount, Role and RoleBinding in `namespace`."""
    return [await ensure(client, obj) for obj in shipped_rbac(namespace, subject_name)]
