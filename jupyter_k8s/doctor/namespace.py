"""The namespace: its Pod Security level, and its ResourceQuotas against what a job takes."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from ..k8s.client import Forbidden, NotFound, Obj
from ..k8s.quantity import format_cpu, parse_quantity
from .checks import Check, Status
from .permissions import RBAC_PATH

if TYPE_CHECKING:
    from ..profiles import Profile

POD_SECURITY_PREFIX = "pod-security.kubernetes.io/"


def pod_security_finding(namespace: str, ns_obj: Obj | BaseException | None) -> Check:
    """The namespace's Pod Security level from its labels."""
    sec = "Namespace"
    name = "Pod Security"
    label_fix = (
        f"kubectl label namespace {namespace} {POD_SECURITY_PREFIX}enforce=restricted --overwrite"
    )
    if isinstance(ns_obj, Forbidden):
        return Check(
            "namespace.pod-security",
            sec,
            name,
            "warn",
            "unknown (cannot read the namespace; a namespaced identity may not): jupyter-k8s "
            "pods meet the restricted level either way",
            f"a cluster admin can check: kubectl get namespace {namespace} --show-labels",
        )
    if isinstance(ns_obj, NotFound):
        return Check(
            "namespace.pod-security",
            sec,
            "namespace",
            "fail",
            f"namespace {namespace} does not exist",
            f"kubectl create namespace {namespace}\n{label_fix}\n"
            f"kubectl apply -n {namespace} -f {RBAC_PATH}",
        )
    if isinstance(ns_obj, BaseException) or ns_obj is None:
        return Check(
            "namespace.pod-security", sec, name, "warn", f"unknown: {ns_obj or 'no answer'}"
        )
    labels = (ns_obj.get("metadata") or {}).get("labels") or {}
    modes = {
        mode: labels[f"{POD_SECURITY_PREFIX}{mode}"]
        for mode in ("enforce", "warn", "audit")
        if f"{POD_SECURITY_PREFIX}{mode}" in labels
    }
    others = ", ".join(f"{m}={v}" for m, v in modes.items() if m != "enforce")
    extra = f" ({others})" if others else ""
    enforce = modes.get("enforce")
    if enforce == "restricted":
        version = labels.get(f"{POD_SECURITY_PREFIX}enforce-version")
        vtext = f", version {version}" if version else ""
        return Check(
            "namespace.pod-security", sec, name, "ok", f"restricted enforced{vtext}{extra}"
        )
    level = f"{enforce} enforced" if enforce else "nothing enforced"
    return Check(
        "namespace.pod-security",
        sec,
        name,
        "warn",
        f"{level}{extra}: jupyter-k8s pods meet restricted, other pods here need not",
        label_fix,
    )


_GI = 1024**3
_MI = 1024**2


def format_amount(key: str, value: Decimal) -> str:
    """A quota amount for people: CPU in cores or millicores, bytes in Mi/Gi, else a count."""
    if key == "cpu" or key.endswith(".cpu"):
        return format_cpu(value)
    if "memory" in key or "storage" in key:
        n = int(value)
        if n and n % _GI == 0:
            return f"{n // _GI}Gi"
        if n >= _GI:
            return f"{n / _GI:.1f}Gi"
        if n and n % _MI == 0:
            return f"{n // _MI}Mi"
        if n >= _MI:
            return f"{n / _MI:.1f}Mi"
        return str(n)
    if value == value.to_integral_value():
        return str(int(value))
    return str(value.normalize())


def profile_needs(profile: Profile | None) -> dict[str, Decimal]:
    """What one job or kernel of `profile` takes from a ResourceQuota, by quota key."""
    needs: dict[str, Decimal] = {
        key: Decimal(1)
        for key in ("pods", "count/pods", "count/jobs.batch", "configmaps", "count/configmaps")
    }
    if profile is None:
        return needs
    cpu = profile.cpu_request or profile.cpu_limit  # a limit alone is also the request
    memory = profile.memory_request or profile.memory_limit
    for keys, value in (
        (("cpu", "requests.cpu"), cpu),
        (("memory", "requests.memory"), memory),
        (("limits.cpu",), profile.cpu_limit),
        (("limits.memory",), profile.memory_limit),
    ):
        if value:
            try:
                amount = parse_quantity(value)
            except ValueError:
                continue
            for key in keys:
                needs[key] = amount
    if profile.gpus:
        needs[f"requests.{profile.gpu_resource}"] = Decimal(profile.gpus)
    return needs


def quota_findings(
    namespace: str, quotas: list[Obj] | BaseException, profile: Profile | None
) -> list[Check]:
    """One line per ResourceQuota: hard, used and what is left, and whether a job still fits."""
    sec = "Namespace"
    if isinstance(quotas, BaseException):
        return [
            Check(
                "namespace.quota",
                sec,
                "ResourceQuota",
                "warn",
                f"cannot list ResourceQuotas: {quotas}",
                "the shipped Role allows it (list resourcequotas): see Permissions",
            )
        ]
    if not quotas:
        return [Check("namespace.quota", sec, "ResourceQuota", "ok", f"none in {namespace}")]
    needs = profile_needs(profile)
    pname = f"profile {profile.name!r}" if profile is not None else "a job"
    checks = []
    for quota in sorted(quotas, key=lambda q: (q.get("metadata") or {}).get("name") or ""):
        qname = (quota.get("metadata") or {}).get("name") or "?"
        reported = quota.get("status") or {}
        hard = reported.get("hard") or (quota.get("spec") or {}).get("hard") or {}
        used = reported.get("used") or {}
        parts, short, unlimited = [], [], []
        for key in sorted(hard):
            try:
                h = parse_quantity(hard[key])
                u = parse_quantity(used.get(key, "0"))
            except ValueError:
                continue
            left = max(h - u, Decimal(0))
            parts.append(
                f"{key} {format_amount(key, u)}/{format_amount(key, h)} "
                f"({format_amount(key, left)} left)"
            )
            need = needs.get(key)
            if need is not None and left < need:
                short.append(
                    f"{key}: {format_amount(key, left)} left, {pname} needs "
                    f"{format_amount(key, need)}"
                )
        if profile is not None:
            for key, attr in (("limits.cpu", "cpu_limit"), ("limits.memory", "memory_limit")):
                if key in hard and not getattr(profile, attr):
                    unlimited.append(key)
        detail = f"{qname}: " + ("; ".join(parts) if parts else "no limits")
        status: Status = "warn"
        if short:
            detail += ". Not enough left: " + "; ".join(short)
            fix = (
                "delete finished jobs (jupyter k8s jobs, jupyter k8s delete JOB) or ask a "
                f"cluster admin to raise it: kubectl -n {namespace} edit resourcequota {qname}"
            )
        elif unlimited:
            detail += (
                f". It limits {', '.join(unlimited)}, which {pname} does not set: "
                "its pods are refused unless a LimitRange gives defaults"
            )
            fix = (
                "set cpu_limit / memory_limit in the profile (c.JupyterK8s.profiles), or "
                "add a LimitRange with default limits to the namespace"
            )
        else:
            status, fix = "ok", None
        checks.append(Check(f"namespace.quota.{qname}", sec, "ResourceQuota", status, detail, fix))
    return checks
