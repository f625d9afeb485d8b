"""The hub's RBAC (jupyter_k8s/manifests/hub-rbac.yaml) against what it must allow.

* It holds every permission of the shipped Role (rbac.yaml, read from the file), with no
  resourceNames: Kubernetes lets the hub create that Role and bind it only then (the hub has
  neither `escalate` nor `bind`).
* It allows each request the hook makes, for each object the hook builds: create; get and
  update (or patch) by that object's name.
* It holds nothing it does not say why: every rule has a comment, no wildcard, no `escalate`,
  `bind`, `impersonate`, no delete of namespaces, no nodes.
"""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from jupyter_k8s.hub import UserNamespace, user_objects
from jupyter_k8s.k8s.tenancy import KINDS, shipped_rbac_documents

TEXT = resources.files("jupyter_k8s").joinpath("manifests/hub-rbac.yaml").read_text()
DOCS = [d for d in yaml.safe_load_all(TEXT) if d]
CLUSTER_ROLE = next(d for d in DOCS if d["kind"] == "ClusterRole")
BINDING = next(d for d in DOCS if d["kind"] == "ClusterRoleBinding")
RULES = CLUSTER_ROLE["rules"]


def group_of(kind: str) -> str:
    path = KINDS[kind][0]
    return "" if path == "/api/v1" else path.split("/")[2]


def allows(group: str, resource: str, verb: str, name: str | None = None, rules=RULES) -> bool:
    """RBAC's matching: a rule with resourceNames matches only requests naming one of them
    (never create or list)."""
    for rule in rules:
        if group not in rule.get("apiGroups", []) or resource not in rule.get("resources", []):
            continue
        if verb not in rule.get("verbs", []):
            continue
        names = rule.get("resourceNames")
        if names and (name is None or name not in names):
            continue
        return True
    return False


def shipped_role_permissions() -> list[tuple[str, str, str]]:
    role = next(d for d in shipped_rbac_documents() if d["kind"] == "Role")
    return [
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    ]


@pytest.mark.parametrize("group, resource, verb", shipped_role_permissions())
def test_hub_holds_every_permission_of_the_shipped_role(group, resource, verb):
    assert allows(group, resource, verb), (
        f"hub-rbac.yaml lacks {verb} {resource} ({group or 'core'}) that rbac.yaml's Role "
        "grants: the hub could not create or bind that Role"
    )


PLAN = UserNamespace(
    namespace="jupyter-user-a",
    username="user-a",
    quota={"pods": 10},
    limit_range=[{"type": "Container", "default": {"memory": "1Gi"}}],
)


@pytest.mark.parametrize("obj", user_objects(PLAN), ids=lambda o: o["kind"])
def test_hub_may_make_and_keep_each_object_of_the_hook(obj):
    group, plural = group_of(obj["kind"]), KINDS[obj["kind"]][1]
    name = obj["metadata"]["name"]
    assert allows(group, plural, "create")
    assert allows(group, plural, "get", name)
    # Namespace and ServiceAccount: labels merge-patched; the rest replaced.
    change = "patch" if obj["kind"] in ("Namespace", "ServiceAccount") else "update"
    assert allows(group, plural, change, name)


def test_kubespawner_needs_are_held():
    # The pod and event reflectors (all namespaces), the server pod, the dry run.
    for verb in ("list", "watch", "get", "create", "delete"):
        assert allows("", "pods", verb)
    for verb in ("list", "watch"):
        assert allows("", "events", verb)
    assert allows("", "namespaces", "create")
    for verb in ("get", "create", "delete"):
        assert allows("", "persistentvolumeclaims", verb)


def test_nothing_beyond():
    for rule in RULES:
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule.get(key, []), rule
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), rule
        assert "nodes" not in rule["resources"]
    assert not allows("", "namespaces", "delete")
    assert not allows("", "namespaces", "list")
    assert not allows("", "secrets", "list") and not allows("", "secrets", "watch")
    # Updating RBAC objects only under the shipped name.
    assert not allows("rbac.authorization.k8s.io", "roles", "update", "admin")
    assert not allows("rbac.authorization.k8s.io", "clusterroles", "create")


def test_every_rule_says_why():
    """Each `- apiGroups:` line of the ClusterRole is preceded by a comment line."""
    lines = TEXT.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("- apiGroups:"):
            assert lines[i - 1].strip().startswith("#"), f"rule at line {i + 1} has no comment"


def test_binding_names_the_role_and_a_service_account():
    assert BINDING["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": CLUSTER_ROLE["metadata"]["name"],
    }
    assert BINDING["subjects"] == [
        {"kind": "ServiceAccount", "name": "hub", "namespace": "jupyterhub"}
    ]


def kubespawner_and_hook_needs() -> set[tuple[str, str, str]]:
    """What KubeSpawner (with user namespaces) and the hook do, by (group, resource, verb),
    beyond requests by name."""
    needs = {("", "pods", v) for v in ("get", "list", "watch", "create", "delete")}
    needs |= {("", "events", v) for v in ("list", "watch")}
    needs |= {("", "persistentvolumeclaims", v) for v in ("get", "create", "delete")}
    needs |= {("", "namespaces", v) for v in ("create", "get", "patch")}
    for obj in user_objects(PLAN):
        needs.add((group_of(obj["kind"]), KINDS[obj["kind"]][1], "create"))
    return needs


def test_nothing_unneeded():
    """Every permission held without a name is the shipped Role's, KubeSpawner's or the
    hook's: when rbac.yaml drops a verb, this says to drop it here too."""
    needed = set(shipped_role_permissions()) | kubespawner_and_hook_needs()
    extra = [
        (g, r, v)
        for rule in RULES
        if not rule.get("resourceNames")
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
        if (g, r, v) not in needed
    ]
    assert extra == [], f"hub-rbac.yaml holds more than it needs: {extra}"
