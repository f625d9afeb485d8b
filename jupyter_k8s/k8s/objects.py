"""Pure builders of Kubernetes objects (dicts in, dicts out; no I/O).

Every pod jupyter-k8s creates meets the Pod Security "restricted" profile; these are the
pieces that make it so.
"""

from __future__ import annotations

from typing import Any

MANAGED_BY = {"app.kubernetes.io/managed-by": "jupyter-k8s"}


def restricted_container_security() -> dict[str, Any]:
    """The container securityContext that Pod Security "restricted" asks for."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_pod_security(run_as_user: int = 1000) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": run_as_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container(name: str, image: str, command: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "command": command,
        "securityContext": restricted_container_security(),
        **extra,
    }


def pod_spec(containers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A restricted pod spec with no service-account token unless asked for."""
    spec: dict[str, Any] = {
        "containers": containers,
        "securityContext": restricted_pod_security(),
        "automountServiceAccountToken": False,
        "restartPolicy": "Never",
    }
    spec.update(extra)
    return spec
