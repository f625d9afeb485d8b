"""GET /jupyter-k8s/cluster against a Jupyter server whose cluster cannot be reached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

UNREACHABLE_SERVER = "https://127.0.0.1:1"
CONTEXT = "unit-test-context"
NAMESPACE = "unit-test-ns"


def write_kubeconfig(path: Path, server: str = UNREACHABLE_SERVER) -> Path:
    path.write_text(
        f"""\
apiVersion: v1
kind: Config
clusters:
- name: unit-test-cluster
  cluster:
    server: {server}
    insecure-skip-tls-verify: true
users:
- name: unit-test-user
  user:
    token: not-a-real-token
contexts:
- name: {CONTEXT}
  context:
    cluster: unit-test-cluster
    user: unit-test-user
    namespace: {NAMESPACE}
current-context: {CONTEXT}
"""
    )
    return path


def server_config(**jupyter_k8s: str) -> dict:
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_k8s": True},
            # Fail any handler that forgets @tornado.web.authenticated.
            "allow_unauthenticated_access": False,
        },
        "JupyterK8s": jupyter_k8s,
    }


@pytest.fixture
def jp_server_config(tmp_path: Path) -> dict:
    return server_config(kubeconfig=str(write_kubeconfig(tmp_path / "kubeconfig")))


async def test_unreachable_cluster_is_reported_not_raised(jp_fetch):
    response = await jp_fetch("jupyter-k8s", "cluster")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    info = json.loads(response.body)
    assert info["reachable"] is False
    assert CONTEXT in info["error"]
    assert UNREACHABLE_SERVER in info["error"]
    assert "Traceback" not in info["error"]
    assert info["context"] == CONTEXT
    assert info["namespace"] == NAMESPACE
    assert info["server"] == UNREACHABLE_SERVER
    assert info["version"] is None
    assert info["identity"] is None
    assert info["gpus"] is None


async def test_cluster_is_asked_again_on_later_requests(jp_fetch, jp_serverapp):
    cluster = jp_serverapp.web_app.settings["jupyter_k8s_cluster"]
    for _ in range(2):
        cluster.invalidate()
        response = await jp_fetch("jupyter-k8s", "cluster")
        assert json.loads(response.body)["reachable"] is False


async def test_job_events_of_an_unreachable_cluster_are_a_503(jp_fetch):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("jupyter-k8s", "jobs", "nb-x-abc123", "events")
    assert err.value.code == 503
    body = json.loads(err.value.response.body)
    assert body["reason"] == "Unreachable" and UNREACHABLE_SERVER in body["message"]


async def test_wrong_token_is_refused(jp_fetch):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("jupyter-k8s", "cluster", headers={"Authorization": "token wrong"})
    assert err.value.code in (401, 403)
    body = json.loads(err.value.response.body)
    assert body["message"]
    assert "traceback" not in body


async def test_no_token_is_refused(jp_serverapp, http_server_client, jp_base_url):
    with pytest.raises(HTTPClientError) as err:
        await http_server_client.fetch(f"{jp_base_url}jupyter-k8s/cluster")
    assert err.value.code in (401, 403)


class TestBrokenKubeconfig:
    @pytest.fixture
    def jp_server_config(self, tmp_path: Path) -> dict:
        return server_config(kubeconfig=str(tmp_path / "missing-kubeconfig"), context="nowhere")

    async def test_server_starts_and_names_the_file_and_context(self, jp_fetch):
        response = await jp_fetch("jupyter-k8s", "cluster")
        assert response.code == 200
        info = json.loads(response.body)
        assert info["reachable"] is False
        assert "missing-kubeconfig" in info["error"]
        assert "nowhere" in info["error"]
        assert info["context"] == "nowhere"
        assert info["server"] is None
