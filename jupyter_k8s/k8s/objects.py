"""Pure builders and readers of Kubernetes objects (dicts in, dicts out; no I/O).

Every pod jupyter-k8s creates meets the Pod Security "restricted" profile; these are the
pieces that make it so. What both jobs/ and kernels/ need (merging a profile's pod overrides,
reading conditions, events and timestamps) lives here too, so that neither imports the other.
"""

from __future__ import annotations

import copy
from datetime import datetime
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


def deep_merge(base: Any, override: Any) -> Any:
    """`override` merged into `base`: mappings recursively, lists of named items by name
    (as a strategic merge patch does for containers and volumes), anything else replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(override, list) and _named(base) and _named(override):
        merged_list = [copy.deepcopy(item) for item in base]
        index = {item["name"]: i for i, item in enumerate(merged_list)}
        for item in override:
            if item["name"] in index:
                i = index[item["name"]]
                merged_list[i] = deep_merge(merged_list[i], item)
            else:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(override)


def _named(items: list[Any]) -> bool:
    return all(isinstance(i, dict) and "name" in i for i in items)


# -- reading objects (status of pods, events) ---------------------------------------------------


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The status condition of that type, whatever its status."""
    conds = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conds if c.get("type") == kind), None)


def event_time(event: dict[str, Any]) -> str:
    """When an event last happened; core/v1 and events.k8s.io/v1 shapes alike."""
    return (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("series") or {}).get("lastObservedTime")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )


def parse_time(value: Any) -> datetime | None:
    """A Kubernetes timestamp ("2024-05-01T10:00:00Z", maybe with fractions) as aware UTC."""
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def event_message(event: dict[str, Any]) -> str:
    return (event.get("message") or event.get("note") or "").strip()


def events_about(
    events: list[dict[str, Any]], kind: str, name: str, uid: str | None = None
) -> list[dict[str, Any]]:
    """Events about one object (and that very object when the uid is known), oldest first."""
    found = []
    for event in events:
        ref = event.get("involvedObject") or event.get("regarding") or {}
        if ref.get("kind") != kind or ref.get("name") != name:
            continue
        if uid and ref.get("uid") and ref["uid"] != uid:
            continue
        found.append(event)
    return sorted(found, key=event_time)
