"""The optional Kueue RBAC (jupyter_k8s/manifests/kueue-rbac.yaml, kueue-clusterrole.yaml),
placed in a namespace and applied: by the local cluster's `up --kueue` and by the tests, as an
operator applies the files (docs/queues.md#rbac)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from ..k8s.client import KubeClient
from ..k8s.tenancy import ensure

Obj = dict[str, Any]
SERVICE_ACCOUNT = "jupyter-k8s"


def _documents(name: str) -> list[Obj]:
    text = resources.files("jupyter_k8s").joinpath(f"manifests/{name}").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kueue_rbac(namespace: str, subject: str = SERVICE_ACCOUNT) -> list[Obj]:
    """The Role and RoleBinding of kueue-rbac.yaml in `namespace`, bound to ServiceAccount
    `subject` there."""
    objs = _documents("kueue-rbac.yaml")
    for obj in objs:
        obj["metadata"]["namespace"] = namespace
        for who in obj.get("subjects", []):
            who["namespace"], who["name"] = namespace, subject
    return objs


def kueue_cluster_rbac(namespace: str, subject: str = SERVICE_ACCOUNT) -> list[Obj]:
    """The ClusterRole of kueue-clusterrole.yaml and a ClusterRoleBinding of it to
    ServiceAccount `subject` of `namespace` (what the file's comment says to run)."""
    role = _documents("kueue-clusterrole.yaml")[0]
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": f"jupyter-k8s-kueue-{namespace}",
            "labels": dict(role["metadata"].get("labels") or {}),
        },
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": role["metadata"]["name"],
        },
        "subjects": [{"kind": "ServiceAccount", "name": subject, "namespace": namespace}],
    }
    return [role, binding]


async def apply_kueue_rbac(
    client: KubeClient, namespace: str, subject: str = SERVICE_ACCOUNT, cluster: bool = True
) -> list[str]:
    """Ensure the optional Kueue Role (and, with `cluster`, the ClusterRole and its binding)."""
    objs = kueue_rbac(namespace, subject) + (
        kueue_cluster_rbac(namespace, subject) if cluster else []
    )
    return [await ensure(client, obj) for obj in objs]
