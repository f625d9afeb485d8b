"""Kueue: whether the cluster serves it, and the optional verbs that show queued jobs' places.

Queued jobs need no permission beyond the shipped Role (a queue is a label on the Job); what
Kueue says of them (position, admitted, preempted) needs the optional Role of
jupyter_k8s/manifests/kueue-rbac.yaml, and the ClusterQueues' usage the optional ClusterRole of
kueue-clusterrole.yaml. Each verb is asked with a SelfSubjectAccessReview, read from those
files; a denial is a warning that says what goes missing and how to grant it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from ..k8s.client import KubeClient, KubeError, Obj
from ..queues.discovery import KueueAPI, KueueDiscovery
from .checks import Check
from .permissions import Permission, binding_subject, rules_permissions

MANIFESTS = Path(__file__).parent.parent / "manifests"
ROLE_PATH = MANIFESTS / "kueue-rbac.yaml"
CLUSTER_ROLE_PATH = MANIFESTS / "kueue-clusterrole.yaml"
SECTION = "Permissions"

#: What each resource's denial costs.
COSTS = {
    "kueue.x-k8s.io/workloads": (
        "queued jobs show no Kueue status; a cancelled queued job keeps its place"
    ),
    "kueue.x-k8s.io/localqueues": "queue names are not checked at submit and no pending count",
    "visibility.kueue.x-k8s.io/localqueues/pendingworkloads": "no positions in the queue",
    "kueue.x-k8s.io/clusterqueues": "statuses leave out the ClusterQueue's quota and usage",
    "kueue.x-k8s.io/workloadpriorityclasses": "priority classes are not listed",
}

Ask = Callable[[Permission, str | None], Awaitable[Obj]]


def manifest_permissions(path: Path, kind: str) -> list[Permission]:
    """Every verb of the rules of the `kind` documents (Role, ClusterRole) in `path`."""
    return rules_permissions(path.read_text(), kind)


def _allowed(answer: Obj | BaseException | None) -> bool | None:
    if answer is None or isinstance(answer, BaseException):
        return None
    return bool((answer.get("status") or {}).get("allowed"))


def presence_finding(api: KueueAPI | None, error: str | None = None) -> Check:
    name = "Kueue (optional)"
    if api is None:
        return Check("rbac.kueue", SECTION, name, "warn", f"could not tell: {error}")
    if not api.served:
        detail = "not installed: a profile or submit naming a queue is refused"
        if api.other_versions:
            detail = (
                f"serves kueue.x-k8s.io {', '.join(api.other_versions)}, not v1beta2: queues "
                "cannot be used (Kueue v0.15 or later is)"
            )
            return Check("rbac.kueue", SECTION, name, "warn", detail, "upgrade Kueue")
        return Check("rbac.kueue", SECTION, name, "ok", detail)
    if not api.visibility:
        return Check(
            "rbac.kueue",
            SECTION,
            name,
            "warn",
            "installed (kueue.x-k8s.io/v1beta2), but its visibility API is not served: queued "
            "jobs show no position",
            "register Kueue's visibility API (the APIService v1beta2.visibility.kueue.x-k8s.io)",
        )
    return Check(
        "rbac.kueue", SECTION, name, "ok", "installed (kueue.x-k8s.io/v1beta2, visibility API)"
    )


def permission_findings(
    role: list[Permission],
    cluster_role: list[Permission],
    answers: Mapping[Permission, Obj | BaseException],
    namespace: str,
    identity: str | None,
) -> list[Check]:
    """One line per resource of the optional Role and ClusterRole (Kueue being served)."""
    checks: list[Check] = []
    for perms, cluster in ((role, False), (cluster_role, True)):
        by_target: dict[str, list[Permission]] = {}
        for perm in perms:
            by_target.setdefault(perm.target, []).append(perm)
        for target, group in by_target.items():
            allowed = {p: _allowed(answers.get(p)) for p in group}
            denied = [p for p in group if allowed[p] is False]
            unknown = [p for p in group if allowed[p] is None]
            cid, name = f"rbac.kueue.{target}", f"{target} (optional)"
            if denied:
                missing = ", ".join(p.verb for p in denied)
                if cluster:
                    fix = (
                        f"a cluster admin runs: kubectl apply -f {CLUSTER_ROLE_PATH}\n"
                        f"kubectl create clusterrolebinding jupyter-k8s-kueue-{namespace} "
                        f"--clusterrole=jupyter-k8s-kueue-reader "
                        + binding_subject(identity, namespace)
                    )
                else:
                    fix = f"kubectl apply -n {namespace} -f {ROLE_PATH}" + (
                        ""
                        if identity is None or identity.endswith(":jupyter-k8s")
                        else f" (its RoleBinding names ServiceAccount jupyter-k8s; bind {identity})"
                    )
                cost = COSTS.get(target, "Kueue statuses are incomplete")
                checks.append(Check(cid, SECTION, name, "warn", f"{missing} denied: {cost}", fix))
            elif unknown:
                what = answers.get(unknown[0])
                checks.append(Check(cid, SECTION, name, "warn", f"could not check: {what}"))
            else:
                checks.append(Check(cid, SECTION, name, "ok", ", ".join(p.verb for p in group)))
    return checks


async def kueue_checks(
    client: KubeClient, namespace: str, identity: str | None, ask: Ask
) -> list[Check]:
    """Kueue's presence, then (where served) the optional verbs. Never raises."""

    async def get_client() -> KubeClient:
        return client

    try:
        api = await KueueDiscovery().find(get_client)
    except KubeError as exc:
        return [presence_finding(None, str(exc))]
    checks = [presence_finding(api)]
    if not api.served:
        return checks
    role = manifest_permissions(ROLE_PATH, "Role")
    cluster_role = manifest_permissions(CLUSTER_ROLE_PATH, "ClusterRole")
    every = [(p, namespace) for p in role] + [(p, None) for p in cluster_role]
    results = await asyncio.gather(*(ask(p, ns) for p, ns in every), return_exceptions=True)
    answers = {p: r for (p, _), r in zip(every, results, strict=True)}
    return checks + permission_findings(role, cluster_role, answers, namespace, identity)
