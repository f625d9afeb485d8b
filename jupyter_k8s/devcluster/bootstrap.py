"""What `up` creates in a fresh cluster so the product can run as it would on a real one.

A namespace that enforces the Pod Security "restricted" profile, and in it the ServiceAccount,
Role and RoleBinding that the project ships for real clusters (jupyter_k8s/manifests/rbac.yaml),
plus a kubeconfig for that ServiceAccount: the identity JupyterLab and the tests run as.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import yaml

from ..k8s.client import ClusterConfig, KubeClient, load_config
from ..k8s.cluster_defaults import defaults_objects

# What is shared with the JupyterHub hook (jupyter_k8s/hub.py) lives in k8s/tenancy.py; these
# names stay importable from here.
from ..k8s.tenancy import (  # noqa: F401 - re-exported
    POD_SECURITY_LABELS,
    apply_rbac,
    create_namespace,
    ensure,
    shipped_rbac,
)
from .pki import kubeconfig
from .realnode.images import NOTEBOOK_IMAGE

if TYPE_CHECKING:
    from .controlplane import ClusterState, DevCluster

TOKEN_SECONDS = 365 * 24 * 3600
# The default image the local cluster advertises (kube-public/jupyter-k8s-defaults), so that
# jobs and kernels need no option. The process node runs pods with its own Python, which has
# papermill and ipykernel; the name says so, and no registry is ever asked for it.
DEFAULT_IMAGE = "localhost/jupyter-k8s/notebook:process-node"


async def advertise_defaults(client: KubeClient, image: str = DEFAULT_IMAGE) -> None:
    """What every client of this cluster uses when nothing else names an image."""
    for obj in defaults_objects(image):
        await ensure(client, obj)


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
        # The real node runs images; its notebook image is what jobs get by default there.
        await advertise_defaults(
            client, NOTEBOOK_IMAGE if cluster.node == "containerd" else DEFAULT_IMAGE
        )
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
