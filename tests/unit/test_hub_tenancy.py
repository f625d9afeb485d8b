"""jupyter_k8s.k8s.tenancy, the pure parts: what counts as a change, and what a PUT sends."""

from __future__ import annotations

import pytest

from jupyter_k8s.k8s.tenancy import (
    POD_SECURITY_LABELS,
    covers,
    namespace_object,
    object_path,
    replacement,
    shipped_rbac,
    shipped_service_account_name,
    up_to_date,
)


@pytest.mark.parametrize(
    "actual, wanted, same",
    [
        ({"a": 1, "b": 2}, {"a": 1}, True),  # maps: a superset is fine
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([1, 2], [1, 2], True),
        ([1, 2, 3], [1, 2], False),  # lists: exactly
        ({"memory": "1Gi"}, {"memory": "1024Mi"}, True),  # quantities by value
        ({"cpu": "500m"}, {"cpu": "0.5"}, True),
        ({"pods": "20"}, {"pods": 20}, True),
        ({"pods": "21"}, {"pods": "20"}, False),
        ({"x": "restricted"}, {"x": "baseline"}, False),
        ({"x": True}, {"x": 1}, False),
    ],
)
def test_covers(actual, wanted, same):
    assert covers(actual, wanted) is same


def test_metadata_only_kinds_compare_labels_and_annotations():
    wanted = namespace_object("ns", {"team": "a"}, {"who": "a"})
    current = {
        "kind": "Namespace",
        "metadata": {
            "name": "ns",
            "labels": {**POD_SECURITY_LABELS, "team": "a", "other": "x"},
            "annotations": {"who": "a"},
            "resourceVersion": "5",
        },
        "spec": {"finalizers": ["kubernetes"]},
    }
    assert up_to_date(current, wanted)
    current["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged"
    assert not up_to_date(current, wanted)


def test_replacement_keeps_others_metadata_and_the_version():
    wanted = {
        "kind": "Role",
        "metadata": {"name": "r", "namespace": "n", "labels": {"a": "1"}},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    }
    current = {
        "kind": "Role",
        "metadata": {
            "name": "r",
            "namespace": "n",
            "labels": {"a": "0", "b": "2"},
            "annotations": {"c": "3"},
            "resourceVersion": "9",
            "uid": "u",
            "managedFields": [{}],
        },
        "rules": [],
    }
    assert not up_to_date(current, wanted)
    body = replacement(current, wanted)
    assert body["metadata"] == {
        "name": "r",
        "namespace": "n",
        "labels": {"a": "1", "b": "2"},
        "annotations": {"c": "3"},
        "resourceVersion": "9",
    }
    assert body["rules"] == wanted["rules"]


def test_paths():
    assert object_path("Namespace", name="a") == "/api/v1/namespaces/a"
    assert (
        object_path("NetworkPolicy", "ns", "p")
        == "/apis/networking.k8s.io/v1/namespaces/ns/networkpolicies/p"
    )
    assert object_path("LimitRange", "ns") == "/api/v1/namespaces/ns/limitranges"
    with pytest.raises(ValueError):
        object_path("Role")


def test_shipped_rbac_placed_and_renamed():
    objs = shipped_rbac("team", "runner")
    sa = next(o for o in objs if o["kind"] == "ServiceAccount")
    binding = next(o for o in objs if o["kind"] == "RoleBinding")
    assert sa["metadata"] == {**sa["metadata"], "name": "runner", "namespace": "team"}
    assert binding["subjects"][0] == {
        "kind": "ServiceAccount",
        "name": "runner",
        "namespace": "team",
    }
    assert shipped_service_account_name() == "jupyter-k8s"
