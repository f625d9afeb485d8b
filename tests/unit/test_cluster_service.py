"""ClusterService and the error mapper, against a fake client (no cluster, no server)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import tornado.web

from jupyter_k8s.errors import InvalidRequest, TooLarge
from jupyter_k8s.handlers import map_error
from jupyter_k8s.k8s.client import (
    ClusterConfig,
    Conflict,
    Forbidden,
    KubeError,
    NotFound,
    Unreachable,
)
from jupyter_k8s.k8s.cluster import ClusterService, gpus_in_use, node_gpus, pod_gpus


def node(**allocatable: str) -> dict:
    return {"status": {"allocatable": {"cpu": "8", "memory": "32Gi", **allocatable}}}


def container(**gpus: Any) -> dict:
    return {"name": "c", "resources": {"limits": dict(gpus)}}


def pod(phase: str = "Running", node_name: str | None = "n1", **gpus: Any) -> dict:
    spec: dict = {"containers": [container(**gpus)]}
    if node_name:
        spec["nodeName"] = node_name
    return {"spec": spec, "status": {"phase": phase}}


class FakeClient:
    """Answers like an API server; `answers` maps (method, path) to a value or an exception."""

    def __init__(self, answers: dict[tuple[str, str], Any]):
        self.answers = answers
        self.calls: list[tuple[str, str, dict | None]] = []
        self.closed = False
        self.config = ClusterConfig(
            host="https://k8s.example:6443",
            ssl_context=False,
            context="fake-ctx",
            namespace="fake-ns",
            source="/fake/kubeconfig",
        )

    async def request(self, method: str, path: str, *, params=None, body=None, **_: Any):
        self.calls.append((method, path, params))
        answer = self.answers.get((method, path))
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def close(self) -> None:
        self.closed = True


HEALTHY = {
    ("GET", "/version"): {"gitVersion": "v1.37.2"},
    ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews"): {
        "status": {"userInfo": {"username": "system:serviceaccount:ns:jupyter-k8s"}}
    },
    ("GET", "/api/v1/nodes"): {
        "items": [
            node(**{"nvidia.com/gpu": "4"}),
            node(**{"nvidia.com/gpu": "2", "amd.com/gpu": "1"}),
        ],
        "metadata": {},
    },
    ("GET", "/api/v1/pods"): {
        "items": [
            pod(**{"nvidia.com/gpu": "1"}),
            pod(phase="Pending", **{"nvidia.com/gpu": 2}),
            pod(phase="Pending", node_name=None, **{"nvidia.com/gpu": "8"}),  # not scheduled
            pod(phase="Succeeded", **{"nvidia.com/gpu": "1"}),  # finished
            pod(**{"amd.com/gpu": "1"}),
        ],
        "metadata": {},
    },
}


def service(answers: dict, **kwargs: Any) -> tuple[ClusterService, list[FakeClient]]:
    made: list[FakeClient] = []

    async def factory(kubeconfig, context, namespace):
        client = FakeClient(answers)
        made.append(client)
        return client

    return ClusterService(client_factory=factory, **kwargs), made


async def test_healthy_cluster():
    svc, _ = service(HEALTHY)
    info = await svc.info()
    assert info == {
        "reachable": True,
        "error": None,
        "context": "fake-ctx",
        "namespace": "fake-ns",
        "server": "https://k8s.example:6443",
        "version": "v1.37.2",
        "identity": "system:serviceaccount:ns:jupyter-k8s",
        "gpus": {
            "amd.com/gpu": {"allocatable": 1, "in_use": 1},
            "nvidia.com/gpu": {"allocatable": 6, "in_use": 3},
        },
        "gpus_error": None,
    }


async def test_identity_forbidden_or_missing_is_none():
    for exc in (Forbidden(403, "Forbidden", "no"), NotFound(404, "NotFound", "old server")):
        answers = dict(HEALTHY)
        answers[("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews")] = exc
        svc, _ = service(answers)
        info = await svc.info()
        assert info["reachable"] is True
        assert info["identity"] is None


async def test_namespaced_role_reports_gpus_error_not_failure():
    answers = dict(HEALTHY)
    answers[("GET", "/api/v1/nodes")] = Forbidden(403, "Forbidden", 'nodes is forbidden: User "x"')
    svc, _ = service(answers)
    info = await svc.info()
    assert info["reachable"] is True
    assert info["version"] == "v1.37.2"
    assert info["gpus"] is None
    assert "nodes" in info["gpus_error"] and "read access" in info["gpus_error"]

    answers = dict(HEALTHY)
    answers[("GET", "/api/v1/pods")] = Forbidden(403, "Forbidden", "pods is forbidden")
    svc, _ = service(answers)
    info = await svc.info()
    assert info["gpus"] is None
    assert "pods" in info["gpus_error"]


async def test_unreachable_names_context_and_kubeconfig():
    svc, _ = service(
        {
            ("GET", "/version"): Unreachable(
                "cannot reach the Kubernetes API at https://x (context 'fake-ctx')"
            )
        }
    )
    info = await svc.info()
    assert info["reachable"] is False
    assert "fake-ctx" in info["error"] and "/fake/kubeconfig" in info["error"]
    assert info["server"] == "https://k8s.example:6443"


async def test_unauthorized_is_not_reachable():
    svc, _ = service({("GET", "/version"): KubeError(401, "Unauthorized", "Unauthorized")})
    info = await svc.info()
    assert info["reachable"] is False
    assert "401" in info["error"] and "fake-ctx" in info["error"]


async def test_config_failure_is_retried_on_next_call():
    attempts = 0

    async def factory(kubeconfig, context, namespace):
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise Unreachable("cannot load kubeconfig /k: no such file")
        return FakeClient(HEALTHY)

    svc = ClusterService("/k", "ctx", client_factory=factory, cache_seconds=0)
    first = await svc.info()
    assert first["reachable"] is False
    assert "/k" in first["error"] and "ctx" in first["error"]
    second = await svc.info()
    assert second["reachable"] is True
    assert attempts == 2


async def test_info_is_cached_and_shared():
    svc, made = service(HEALTHY, cache_seconds=60)
    results = await asyncio.gather(*(svc.info() for _ in range(5)))
    assert all(r == results[0] for r in results)
    assert len(made) == 1
    versions = [c for c in made[0].calls if c[1] == "/version"]
    assert len(versions) == 1
    results[0]["version"] = "mutated"  # callers get copies
    assert (await svc.info())["version"] == "v1.37.2"
    svc.invalidate()
    await svc.info()
    assert len([c for c in made[0].calls if c[1] == "/version"]) == 2


async def test_close_closes_client():
    svc, made = service(HEALTHY)
    await svc.info()
    await svc.close()
    assert made[0].closed


async def test_lists_follow_continue_tokens():
    answers = dict(HEALTHY)
    pages = [
        {"items": [node(**{"nvidia.com/gpu": "1"})], "metadata": {"continue": "tok"}},
        {"items": [node(**{"nvidia.com/gpu": "1"})], "metadata": {}},
    ]

    class Paging(FakeClient):
        async def request(self, method, path, *, params=None, body=None, **kw):
            if path == "/api/v1/nodes":
                self.calls.append((method, path, params))
                return pages[1] if params.get("continue") == "tok" else pages[0]
            return await super().request(method, path, params=params, body=body, **kw)

    async def factory(*_):
        return Paging(answers)

    info = await ClusterService(client_factory=factory).info()
    assert info["gpus"]["nvidia.com/gpu"]["allocatable"] == 2


def test_node_gpus_ignores_non_gpu_resources():
    assert node_gpus([node(**{"example.com/foo": "3", "nvidia.com/gpu": "2"}), {}]) == {
        "nvidia.com/gpu": 2
    }


def test_pod_gpus_counts_init_and_sidecar_containers():
    p = {
        "spec": {
            "initContainers": [
                {
                    "name": "sidecar",
                    "restartPolicy": "Always",
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                },
                {"name": "init", "resources": {"requests": {"nvidia.com/gpu": "4"}}},
            ],
            "containers": [
                container(**{"nvidia.com/gpu": "1"}),
                container(**{"nvidia.com/gpu": "1"}),
            ],
        }
    }
    # The init container runs next to the sidecar (1 + 4) and beats sidecar + regulars (1 + 2).
    assert pod_gpus(p) == {"nvidia.com/gpu": 5}
    p["spec"]["initContainers"].pop()
    assert pod_gpus(p) == {"nvidia.com/gpu": 3}


def test_gpus_in_use_only_counts_bound_active_pods():
    pods = [
        pod(**{"nvidia.com/gpu": "1"}),
        pod(phase="Failed", **{"nvidia.com/gpu": "1"}),
        pod(node_name=None, **{"nvidia.com/gpu": "1"}),
    ]
    assert gpus_in_use(pods) == {"nvidia.com/gpu": 1}


@pytest.mark.parametrize(
    ("exc", "status", "reason"),
    [
        (Unreachable("cannot reach"), 503, "Unreachable"),
        (Forbidden(403, "Forbidden", "jobs is forbidden"), 403, "Forbidden"),
        (NotFound(404, "NotFound", 'jobs "x" not found'), 404, "NotFound"),
        (Conflict(409, "AlreadyExists", "exists"), 409, "AlreadyExists"),
        (KubeError(422, "Invalid", "spec.x: Invalid value"), 400, "Invalid"),
        (KubeError(413, "", "too large"), 413, "TooLarge"),
        (KubeError(500, "InternalError", "etcd down"), 502, "InternalError"),
        (InvalidRequest("unknown profile 'big'"), 400, "Invalid"),
        (TooLarge("notebook is 80 MB; the limit is 10 MB"), 413, "TooLarge"),
        (json.JSONDecodeError("Expecting value", "x", 0), 400, "Invalid"),
        (tornado.web.HTTPError(403), 403, "Forbidden"),
        (RuntimeError("secret internals"), 500, "InternalError"),
    ],
)
def test_map_error(exc, status, reason):
    got_status, body = map_error(exc)
    assert (got_status, body["reason"]) == (status, reason)
    assert set(body) == {"message", "reason"}
    assert body["message"]
    assert "secret internals" not in body["message"]


def test_map_error_pydantic_validation():
    from pydantic import BaseModel, ValidationError

    class Spec(BaseModel):
        gpus: int

    with pytest.raises(ValidationError) as err:
        Spec(gpus="many")
    status, body = map_error(err.value)
    assert status == 400 and "gpus" in body["message"]
