"""The API server: whether it answers, which Kubernetes it runs, and who we are there."""

from __future__ import annotations

from ..k8s.client import KubeError, Obj
from .checks import Check


def api_findings(
    server: str, version: Obj | None, error: KubeError | None, identity: str | None, where: str
) -> Check:
    sec = "Cluster"
    if error is None or (error.status not in (0, 401)):
        text = f"{server} answers"
        if isinstance(version, dict) and version.get("gitVersion"):
            text += f", Kubernetes {version['gitVersion']}"
        elif error is not None:
            text += f" (GET /version: {error.status} {error.message})"
        if identity:
            text += f"; you are {identity}"
        return Check("api.reachable", sec, "API server", "ok", text)
    if error.status == 401:
        return Check(
            "api.reachable",
            sec,
            "API server",
            "fail",
            f"{server} rejected the credentials of {where} (401 Unauthorized): {error.message}",
            "the token or certificate expired or is not for this cluster: get a new kubeconfig "
            "(for a ServiceAccount: kubectl -n NAMESPACE create token jupyter-k8s)",
        )
    return Check(
        "api.reachable",
        sec,
        "API server",
        "fail",
        error.message if server in error.message else f"cannot reach {server}: {error.message}",
        f"check that the cluster runs and that {where} points at it "
        "(kubectl version shows the same), or set c.JupyterK8s.kubeconfig / context",
    )
