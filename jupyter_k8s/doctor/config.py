"""What the doctor is told (`DoctorSettings`, from the `c.JupyterK8s.*` traits), and the
configuration lines: which kubeconfig, context and namespace were chosen, and why."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .checks import Check, Status
from .probe import KERNEL_PORT, PROBE_TIMEOUT


@dataclass(frozen=True)
class DoctorSettings:
    """What the doctor needs from configuration (the `c.JupyterK8s.*` traits)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    profiles: list[dict[str, Any]] | None = None  # raw, as configured
    default_image: str | None = None  # c.JupyterK8s.default_image
    owner: str = "doctor"
    #: How explicit values were given, by name ("--kubeconfig" on the command line, ...);
    #: default: `c.JupyterK8s.<name>`.
    origins: Mapping[str, str] = field(default_factory=dict)
    probe_timeout: float = PROBE_TIMEOUT
    kernel_port: int = KERNEL_PORT

    def origin(self, name: str) -> str:
        return self.origins.get(name) or f"c.JupyterK8s.{name}"


def settings_from_app(app: Any, origins: Mapping[str, str] | None = None) -> DoctorSettings:
    """DoctorSettings from a `JupyterK8s` (the server's extension app, or the CLI's)."""
    return DoctorSettings(
        kubeconfig=app.kubeconfig or None,
        context=app.context or None,
        namespace=app.namespace or None,
        profiles=app.profiles,
        default_image=app.default_image or None,
        owner=app.owner or "doctor",
        origins=dict(origins or {}),
    )


def kubeconfig_choice(
    explicit: str | None,
    explicit_origin: str,
    env_kubeconfig: str | None,
    default_path: str,
    default_exists: bool,
) -> tuple[str | None, str]:
    """(the kubeconfig path or None for in-cluster, why), as `client.load_config` chooses."""
    if explicit:
        return explicit, f"set by {explicit_origin}"
    entries = [e for e in (env_kubeconfig or "").split(os.pathsep)]
    if entries and entries[0]:
        return entries[0], "from $KUBECONFIG"
    if default_exists:
        return default_path, "the default location; $KUBECONFIG is not set"
    return None, "no kubeconfig: $KUBECONFIG is not set and ~/.kube/config does not exist"


def config_findings(
    settings: DoctorSettings,
    *,
    source: str,
    context: str | None,
    namespace: str,
    context_namespace: str | None,
    env_kubeconfig: str | None,
    default_path: str,
    default_exists: bool,
) -> list[Check]:
    """The configuration lines: kubeconfig, context and namespace, each with why."""
    sec = "Configuration"
    checks: list[Check] = []
    _path, why = kubeconfig_choice(
        settings.kubeconfig,
        settings.origin("kubeconfig"),
        env_kubeconfig,
        default_path,
        default_exists,
    )
    in_cluster = source == "in-cluster"
    if in_cluster:
        checks.append(
            Check(
                "config.kubeconfig", sec, "kubeconfig", "ok", f"in-cluster service account ({why})"
            )
        )
    else:
        checks.append(Check("config.kubeconfig", sec, "kubeconfig", "ok", f"{source} ({why})"))
        entries = [e for e in (env_kubeconfig or "").split(os.pathsep) if e]
        if not settings.kubeconfig and len(entries) > 1:
            checks.append(
                Check(
                    "config.kubeconfig-list",
                    sec,
                    "$KUBECONFIG",
                    "warn",
                    f"lists {len(entries)} files; jupyter-k8s reads only the first ({entries[0]}), "
                    "where kubectl merges them",
                    f"set {settings.origin('kubeconfig')} to the file that has the context to use",
                )
            )
    if not in_cluster:
        if settings.context:
            why_ctx = f"set by {settings.origin('context')}"
        else:
            why_ctx = "the kubeconfig's current-context"
        checks.append(
            Check("config.context", sec, "context", "ok", f"{context or '-'} ({why_ctx})")
        )
    status: Status
    fix: str | None
    if settings.namespace:
        why_ns, status, fix = f"set by {settings.origin('namespace')}", "ok", None
    elif in_cluster:
        why_ns, status, fix = "the pod's own namespace", "ok", None
    elif context_namespace:
        why_ns, status, fix = "the context's namespace", "ok", None
    else:
        why_ns, status = "the context names no namespace, so Kubernetes' default", "warn"
        fix = (
            f"set {settings.origin('namespace')} (or the context's namespace: kubectl config "
            f"set-context {context or '--current'} --namespace=NAMESPACE)"
        )
    checks.append(
        Check("config.namespace", sec, "namespace", status, f"{namespace} ({why_ns})", fix)
    )
    return checks


def local_facts(source: str, context: str | None) -> tuple[str, bool, str | None]:
    """(~/.kube/config expanded, whether it exists, the chosen context's namespace)."""
    from kubernetes.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION

    default_path = os.path.expanduser(KUBE_CONFIG_DEFAULT_LOCATION)
    context_ns = _context_namespace(source, context) if source != "in-cluster" else None
    return default_path, os.path.exists(default_path), context_ns


def _context_namespace(path: str, context: str | None) -> str | None:
    """The namespace the kubeconfig's (chosen or current) context names, if any."""
    from kubernetes.config.kube_config import list_kube_config_contexts

    try:
        contexts, active = list_kube_config_contexts(path)
    except Exception:  # noqa: BLE001 - it loaded a moment ago; a race only loses the reason
        return None
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else None
    chosen = chosen or active or {}
    return (chosen.get("context") or {}).get("namespace") or None
