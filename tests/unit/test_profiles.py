"""Profiles: validated once at start-up, with errors that name the profile and the field."""

from __future__ import annotations

import pytest

from jupyter_k8s.errors import ValidationProblem
from jupyter_k8s.profiles import (
    BUILTIN_PROFILES,
    Profile,
    ProfileError,
    Toleration,
    UnknownProfile,
    default_image,
    load_profiles,
)


def test_builtin_profiles_when_none_configured():
    profiles = load_profiles([], default_image="img:1")
    assert profiles.names() == ["cpu", "gpu"]
    assert profiles.default.name == "cpu"
    gpu = profiles.get("gpu")
    assert gpu.gpus == 1 and gpu.gpu_resource == "nvidia.com/gpu"
    assert gpu.cpu_request == "1" and gpu.memory_request == "4Gi"
    assert gpu.cpu_limit == "4" and gpu.memory_limit == "16Gi"
    assert all(p.image == "img:1" for p in profiles)
    assert load_profiles(None, None).default.image is None
    assert BUILTIN_PROFILES[0]["name"] == "cpu"


def test_first_profile_is_default_when_none_marked():
    profiles = load_profiles([{"name": "small"}, {"name": "big"}], None)
    assert profiles.default.name == "small"
    assert profiles.get(None).name == "small"
    assert profiles.get("").name == "small"
    assert profiles.get("big").default is False


def test_marked_default_wins():
    profiles = load_profiles([{"name": "small"}, {"name": "big", "default": True}], None)
    assert profiles.default.name == "big"


def test_two_defaults_is_an_error():
    with pytest.raises(ProfileError, match="only one profile may be the default.*'a'.*'b'"):
        load_profiles([{"name": "a", "default": True}, {"name": "b", "default": True}], None)


def test_unknown_profile_lists_the_available_ones():
    profiles = load_profiles([{"name": "a"}, {"name": "b"}], None)
    with pytest.raises(UnknownProfile) as info:
        profiles.get("c")
    assert isinstance(info.value, ValidationProblem)
    assert info.value.status == 400 and info.value.field == "profile"
    assert info.value.available == ["a", "b"]
    assert "a, b" in str(info.value)


def test_profile_image_is_kept_over_default_image():
    profiles = load_profiles([{"name": "a", "image": "own:2"}, {"name": "b"}], "hub:1")
    assert profiles.get("a").image == "own:2"
    assert profiles.get("b").image == "hub:1"


@pytest.mark.parametrize(
    ("item", "field", "words"),
    [
        ({"name": "Bad_Name"}, "name", "not a valid profile name"),
        ({"name": "a", "cpu_limit": "lots"}, "cpu_limit", "invalid quantity"),
        ({"name": "a", "memory_request": "-1Gi"}, "memory_request", "greater than zero"),
        ({"name": "a", "memory_request": True}, "memory_request", "not a quantity"),
        ({"name": "a", "gpus": -1}, "gpus", "greater than or equal to 0"),
        ({"name": "a", "gpu_resource": "gpu"}, "gpu_resource", "domain/name"),
        ({"name": "a", "node_selector": {"bad key!": "x"}}, "node_selector", "label key"),
        ({"name": "a", "env": {"1X": "y"}}, "env", "environment variable"),
        ({"name": "a", "tolerations": [{"operator": "Equal"}]}, "tolerations.0", "Exists"),
        ({"name": "a", "colour": "red"}, "colour", "Extra inputs"),
        ({"name": "a", "image": "has space"}, "image", "no spaces"),
    ],
)
def test_errors_name_the_profile_and_the_field(item, field, words):
    with pytest.raises(ProfileError) as info:
        load_profiles([{"name": "ok"}, item], None)
    text = str(info.value)
    assert f"profile '{item['name']}'" in text
    assert f"field '{field}" in text
    assert words in text


def test_request_larger_than_limit():
    with pytest.raises(ProfileError, match="cpu_request 2 is larger than cpu_limit 500m"):
        load_profiles([{"name": "a", "cpu_request": "2", "cpu_limit": "500m"}], None)


def test_profile_without_name_is_named_by_position():
    with pytest.raises(ProfileError, match="profile '#2'"):
        load_profiles([{"name": "a"}, {"cpu_request": "1"}], None)


def test_duplicate_names_and_non_mappings():
    with pytest.raises(ProfileError, match="defined twice"):
        load_profiles([{"name": "a"}, {"name": "a"}], None)
    with pytest.raises(ProfileError, match="must be a mapping"):
        load_profiles(["a"], None)  # type: ignore[list-item]


def test_numbers_are_accepted_as_quantities():
    profile = load_profiles([{"name": "a", "cpu_request": 2, "cpu_limit": 2.5}], None).default
    assert profile.cpu_request == "2" and profile.cpu_limit == "2.5"


def test_other_gpu_vendors():
    for resource in ("amd.com/gpu", "gpu.intel.com/i915", "nvidia.com/mig-1g.5gb"):
        assert Profile(name="g", gpus=1, gpu_resource=resource).gpu_resource == resource


def test_tolerations():
    tol = Toleration.model_validate(
        {"key": "gpu", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}
    )
    assert tol.to_k8s() == {
        "key": "gpu",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 60,
    }
    assert Toleration(operator="Exists").to_k8s() == {"operator": "Exists"}
    with pytest.raises(ValueError):
        Toleration(key="a", operator="Exists", value="b")
    with pytest.raises(ValueError):
        Toleration(key="a", value="b", effect="NoSchedule", toleration_seconds=5)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"hostNetwork": True}, "'hostNetwork' may not be set"),
        ({"hostPID": False}, "'hostPID' may not be set"),
        ({"hostIPC": True}, "'hostIPC'"),
        ({"securityContext": {"runAsUser": 0}}, "runAsUser may not be 0"),
        ({"securityContext": {"runAsNonRoot": False}}, "runAsNonRoot may not be false"),
        (
            {"containers": [{"name": "runner", "securityContext": {"privileged": True}}]},
            "containers[0].securityContext.privileged",
        ),
        (
            {"containers": [{"name": "x", "securityContext": {"allowPrivilegeEscalation": True}}]},
            "allowPrivilegeEscalation",
        ),
        (
            {"containers": [{"name": "x", "securityContext": {"capabilities": {"add": ["ALL"]}}}]},
            "capabilities.add",
        ),
        (
            {"securityContext": {"seccompProfile": {"type": "Unconfined"}}},
            "seccompProfile may not be Unconfined",
        ),
        ({"volumes": [{"name": "h", "hostPath": {"path": "/"}}]}, "hostPath"),
        ({"containers": [{"name": "x", "ports": [{"hostPort": 80}]}]}, "hostPort"),
    ],
)
def test_unsafe_pod_overrides_are_rejected(overrides, words):
    with pytest.raises(ProfileError) as info:
        load_profiles([{"name": "risky", "pod_overrides": overrides}], None)
    text = str(info.value)
    assert "profile 'risky'" in text and "pod_overrides" in text and "restricted" in text
    assert words in text


def test_safe_pod_overrides_are_accepted():
    overrides = {
        "priorityClassName": "batch-low",
        "securityContext": {"fsGroup": 100, "runAsUser": 1000},
        "containers": [
            {
                "name": "runner",
                "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"]}},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }
        ],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "datasets"}}],
    }
    profile = load_profiles([{"name": "a", "pod_overrides": overrides}], None).default
    assert profile.pod_overrides == overrides


def test_public_view():
    profiles = load_profiles(
        [
            {
                "name": "a100",
                "display_name": "A100",
                "description": "one A100",
                "image": "img",
                "cpu_request": "8",
                "memory_limit": "64Gi",
                "gpus": 1,
                "env": {"SECRET_ISH": "x"},
                "node_selector": {"gpu": "a100"},
            },
            {"name": "plain"},
        ],
        None,
    )
    assert profiles.public() == [
        {
            "name": "a100",
            "display_name": "A100",
            "description": "one A100",
            "image": "img",
            "cpu": "8",
            "memory": "64Gi",
            "gpus": 1,
            "gpu_resource": "nvidia.com/gpu",
            "default": True,
            "max_parallelism": 4,
            "queue": None,
            "queues": [],
            "priority_class": None,
            "priority_classes": [],
        },
        {
            "name": "plain",
            "display_name": "plain",
            "description": "",
            "image": None,
            "cpu": None,
            "memory": None,
            "gpus": 0,
            "gpu_resource": "nvidia.com/gpu",
            "default": False,
            "max_parallelism": 4,
            "queue": None,
            "queues": [],
            "priority_class": None,
            "priority_classes": [],
        },
    ]


def test_default_image_from_jupyterhub_env(monkeypatch):
    monkeypatch.delenv("JUPYTER_IMAGE_SPEC", raising=False)
    monkeypatch.delenv("JUPYTER_IMAGE", raising=False)
    assert default_image() is None
    monkeypatch.setenv("JUPYTER_IMAGE", "quay.io/jupyter/scipy-notebook:2024")
    assert default_image() == "quay.io/jupyter/scipy-notebook:2024"
    monkeypatch.setenv("JUPYTER_IMAGE_SPEC", "spec:1")
    assert default_image() == "spec:1"
