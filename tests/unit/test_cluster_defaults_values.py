"""The cluster-advertised defaults: what is accepted from the cluster, and what is created."""

from __future__ import annotations

import pytest

from jupyter_k8s.k8s.client import Forbidden, NotFound
from jupyter_k8s.k8s.cluster_defaults import (
    DEFAULTS_NAME,
    DEFAULTS_NAMESPACE,
    ClusterDefaults,
    defaults_objects,
    plausible_image,
)


@pytest.mark.parametrize(
    "value",
    [
        "python:3.12-slim",
        "quay.io/jupyter/scipy-notebook:2026-11-01",
        "reg:5000/a/b@sha256:" + "a" * 64,
    ],
)
def test_plausible_images_are_kept(value):
    assert plausible_image(value) == value


@pytest.mark.parametrize(
    "value",
    [None, 3, "", "  ", "img; rm -rf /", "a\nb", "x" * 600, "-leading-dash", {"image": "x"}],
)
def test_implausible_values_from_the_cluster_are_dropped(value):
    assert plausible_image(value) is None


def test_the_advertisement_is_readable_by_everyone_and_grants_nothing_else():
    cm, role, binding = defaults_objects("img:1")
    assert cm["metadata"] == {
        "name": DEFAULTS_NAME,
        "namespace": DEFAULTS_NAMESPACE,
        "labels": {"app.kubernetes.io/name": "jupyter-k8s"},
    }
    assert cm["data"] == {"image": "img:1"}
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [DEFAULTS_NAME],
            "verbs": ["get"],
        }
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}
    ]


class _Client:
    """Answers `get` from a script (pure logic of the cache, no cluster)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = 0

    async def itself(self):
        """What a service's get_client gives."""
        return self

    async def get(self, resource, name, namespace):
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_answers_are_cached_also_when_none_is_advertised():
    client = _Client(NotFound(404, "NotFound", "no"), {"data": {"image": "img:2"}})
    defaults = ClusterDefaults(cache_seconds=60)
    assert await defaults.image(client.itself) is None
    assert await defaults.image(client.itself) is None
    assert client.calls == 1
    fresh = ClusterDefaults(cache_seconds=0)
    assert await fresh.image(client.itself) == "img:2"


async def test_a_forbidden_read_is_no_default_not_an_error():
    defaults = ClusterDefaults()
    assert await defaults.image(_Client(Forbidden(403, "Forbidden", "no")).itself) is None


async def test_a_configured_image_wins_without_asking_the_cluster():
    client = _Client()
    assert await ClusterDefaults("img:cfg").image(client.itself) == "img:cfg"
    assert client.calls == 0
