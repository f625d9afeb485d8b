"""The doctor's Kueue lines: present or absent, and the optional Role's and ClusterRole's verbs
(read from jupyter_k8s/manifests/kueue-rbac.yaml and kueue-clusterrole.yaml)."""

from __future__ import annotations

from jupyter_k8s.doctor.kueue import (
    CLUSTER_ROLE_PATH,
    ROLE_PATH,
    manifest_permissions,
    permission_findings,
    presence_finding,
)
from jupyter_k8s.doctor.permissions import Permission
from jupyter_k8s.queues.discovery import KueueAPI

NS = "notebooks"
SA = "system:serviceaccount:notebooks:jupyter-k8s"


def review(allowed: bool) -> dict:
    return {"status": {"allowed": allowed}}


def test_the_manifests_grant_what_the_caches_use():
    role = {p.text for p in manifest_permissions(ROLE_PATH, "Role")}
    assert {
        "list kueue.x-k8s.io/workloads",
        "watch kueue.x-k8s.io/workloads",
        "list kueue.x-k8s.io/localqueues",
        "watch kueue.x-k8s.io/localqueues",
        "get visibility.kueue.x-k8s.io/localqueues/pendingworkloads",
    } <= role
    assert "patch kueue.x-k8s.io/workloads" in role  # a cancel takes it out of the queue
    assert not any(p.startswith(("create", "delete")) for p in role)
    cluster = {p.text for p in manifest_permissions(CLUSTER_ROLE_PATH, "ClusterRole")}
    assert "watch kueue.x-k8s.io/clusterqueues" in cluster


def test_presence():
    absent = presence_finding(KueueAPI(False))
    assert absent.status == "ok" and "not installed" in absent.detail
    assert absent.id == "rbac.kueue"
    assert presence_finding(KueueAPI(True, True)).status == "ok"
    blind = presence_finding(KueueAPI(True, False))
    assert blind.status == "warn" and "no position" in blind.detail
    old = presence_finding(KueueAPI(False, other_versions=("v1beta1",)))
    assert old.status == "warn" and "v1beta1" in old.detail
    unknown = presence_finding(None, "503 busy")
    assert unknown.status == "warn" and "503 busy" in unknown.detail


def test_denied_verbs_are_warnings_with_the_fix():
    role = manifest_permissions(ROLE_PATH, "Role")
    cluster = manifest_permissions(CLUSTER_ROLE_PATH, "ClusterRole")
    answers: dict[Permission, object] = {p: review(True) for p in role}
    answers.update({p: review(False) for p in cluster})
    checks = {c.id: c for c in permission_findings(role, cluster, answers, NS, SA)}
    workloads = checks["rbac.kueue.kueue.x-k8s.io/workloads"]
    assert workloads.status == "ok"
    cq = checks["rbac.kueue.kueue.x-k8s.io/clusterqueues"]
    assert cq.status == "warn" and "usage" in cq.detail
    assert "--clusterrole=jupyter-k8s-kueue-reader --serviceaccount=notebooks:jupyter-k8s" in (
        cq.fix or ""
    )
    answers.update({p: review(False) for p in role if p.verb == "watch"})
    checks = {c.id: c for c in permission_findings(role, cluster, answers, NS, SA)}
    denied = checks["rbac.kueue.kueue.x-k8s.io/workloads"]
    assert denied.status == "warn" and denied.detail.startswith("watch denied")
    assert f"kubectl apply -n {NS} -f {ROLE_PATH}" in (denied.fix or "")
    assert all(c.status in ("ok", "warn") for c in checks.values())  # never a failure
