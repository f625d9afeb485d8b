"""What `up` creates in a fresh cluster so the product can run as it would on a real one.

A namespace that enforces the Pod Security "restricted" profile, and in it the ServiceAccount,
Role and RoleBinding that the project ships for real clusters (jupyter_k8s/manifests/rbac.yaml),
plus a kubeconfig for that ServiceAccount: the identity JupyterLab and the tests run as.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import TYPE_CHECKING

import yaml

from ..k8s.client import ClusterConfig, Conflict, KubeClient, load_config
from ..k8s.cluster_defaults import defaults_objects
from .pki import kubeconfig

if TYPE_CHECKING:
    from .controlplane import ClusterState, DevCluster

# The Pod Security labels: enforce and also warn/audit, so kubectl shows why a pod is refused.
POD_SECURITY_LABELS = {
    f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")
}
TOKEN_SECONDS = 365 * 24 * 3600
# The default image the local cluster advertises (kube-public/jupyter-k8s-defaults), so that
# jobs and kernels need no option. The process node runs pods with its own Python, which has
# papermill and ipykernel; the name says so, and no registry is ever asked for it.
DEFAULT_IMAGE = "localhost/jupyter-k8s/notebook:process-node"

_KIND_TO_RESOURCE = {
    "ServiceAccount": "serviceaccounts",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "ConfigMap": "configmaps",
}


async def _apply(client: KubeClient, obj: dict, namespace: str) -> None:
    resource = _KIND_TO_RESOURCE[obj["kind"]]
    try:
        await client.create(resource, obj, namespace)
    except Conflict:
        if resource != "serviceaccounts":  # a ServiceAccount has nothing to update
            await client.replace(resource, obj["metadata"]["name"], obj, namespace)


async def advertise_defaults(client: KubeClient, image: str = DEFAULT_IMAGE) -> None:
    """What every client of this cluster uses when nothing else names an image."""
    for obj in defaults_objects(image):
        await _apply(client, obj, obj["metadata"]["namespace"])


def shipped_rbac() -> list[dict]:
    text = resources.files("jupyter_k8s").joinpath("manifests/rbac.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


async def apply_rbac(client: KubeClient, namespace: str, subject_name: str | None = None) -> None:
    """Create (or replace) the shipped ServiceAccount, Role and RoleBinding in `namespace`."""
    for obj in shipped_rbac():
        obj["metadata"]["namespace"] = namespace
        for subject in obj.get("subjects", []):
            subject["namespace"] = namespace
            if subject_name:
                subject["name"] = subject_name
        if subject_name and obj["kind"] == "ServiceAccount":
            obj["metadata"]["name"] = subject_name
        await _apply(client, obj, namespace)


async def create_namespace(
    client: KubeClient, name: str, labels: dict[str, str] | None = None
) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {**POD_SECURITY_LABELS, **(labels or {})}},
    }
    try:
        await client.create("namespaces", body)
    except Conflict:
        await client.patch("namespaces", name, {"metadata": {"labels": body["metadata"]["labels"]}})


async def service_account_token(client: KubeClient, namespace: str, name: str) -> str:
    review = await client.create(
        "serviceaccounts",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": TOKEN_SECONDS},
        },
        namespace,
        sub_of=name,
        sub="token",
    )
    return review["status"]["token"]


async def _bootstrap(cluster: DevCluster, st: ClusterState) -> None:
    config: ClusterConfig = await load_config(str(cluster.admin_kubeconfig))
    async with KubeClient(config) as client:
        await create_namespace(client, st.namespace)
        await apply_rbac(client, st.namespace)
        await advertise_defaults(client)
        token = await service_account_token(client, st.namespace, "jupyter-k8s")
    cfg = kubeconfig(
        config.host, cluster.pki.ca.cert, "jupyter-k8s", token=token, namespace=st.namespace
    )
    path = cluster.user_kubeconfig
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))


def bootstrap(cluster: DevCluster, st: ClusterState) -> None:
    # The API server is up but may still be installing its bootstrap RBAC; retry briefly.
    last: Exception | None = None
    for _ in range(50):
        try:
            asyncio.run(_bootstrap(cluster, st))
            return
        except Exception as exc:  # noqa: BLE001 - retried, then re-raised
            last = exc
            import time

            time.sleep(0.2)
    raise RuntimeError(f"could not prepare the cluster: {last}") from last
