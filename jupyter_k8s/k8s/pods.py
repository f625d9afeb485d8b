"""What a pod's status says about its containers (pods as the API server returns them).

Pure functions over the pod dict, shared by the job service and the tools that read job pods
without it; read-only, and tolerant of the missing fields of a pod not yet scheduled.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

Obj = dict[str, Any]


def _container_states(pod: Obj, container: str | None) -> list[Obj]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return [
        cs.get("state") or {}
        for cs in statuses
        if isinstance(cs, dict) and (container is None or cs.get("name") == container)
    ]


def container_started(pod: Obj, container: str | None = None) -> bool:
    """Whether a container of the pod (or the one named) has started: it runs or it ended.
    From then on the pod has a log to read."""
    return any("running" in s or "terminated" in s for s in _container_states(pod, container))


def container_running(pod: Obj, container: str | None = None) -> bool:
    """Whether a container of the pod (or the one named) runs now."""
    return any("running" in s for s in _container_states(pod, container))


def pod_ip(pod: Mapping[str, Any] | None) -> str | None:
    """The pod's IP when `status.podIP` is an IP address, else None."""
    status = (pod or {}).get("status")
    value = status.get("podIP") if isinstance(status, Mapping) else None
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None
