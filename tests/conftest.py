"""Fixtures shared by every test: the local cluster, clients for it, Jupyter server fixtures.

The cluster is a real control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler) plus the process node agent, started once per test session in a temporary
state directory. With CI=true a test that needs it fails when it can't start; elsewhere it
is skipped with the reason, so unit tests still run on a machine without Go.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from clusters import running
from jupyter_server.serverapp import ServerApp
from namespaces import module_namespace
from pytest_jupyter.jupyter_server import (  # noqa: F401 - fixtures, found by name
    echo_kernel_spec,
    http_server,
    http_server_client,
    http_server_port,
    io_loop,
    jp_argv,
    jp_auth_header,
    jp_base_url,
    jp_config_dir,
    jp_configurable_serverapp,
    jp_create_notebook,
    jp_data_dir,
    jp_env_config_path,
    jp_env_jupyter_path,
    jp_environ,
    jp_extension_environ,
    jp_fetch,
    jp_home_dir,
    jp_http_port,
    jp_kernel_dir,
    jp_logging_stream,
    jp_nbconvert_templates,
    jp_root_dir,
    jp_runtime_dir,
    jp_server_auth_core_resources,
    jp_server_auth_resources,
    jp_server_authorizer,
    jp_server_config,
    jp_serverapp,
    jp_system_config_path,
    jp_system_jupyter_path,
    jp_template_dir,
    jp_web_app,
    jp_ws_fetch,
    send_request,
)

from jupyter_k8s.devcluster.bootstrap import service_account_token
from jupyter_k8s.devcluster.controlplane import DevCluster
from jupyter_k8s.k8s.client import ClusterConfig, KubeClient, load_config


@pytest.fixture
async def jp_asyncio_loop():
    """The loop pytest-asyncio runs the test on; pytest-jupyter starts the server on it.

    (pytest-jupyter's own version makes a second loop: the server would listen on one while
    the test awaits on the other, and every request would time out.) At teardown, stop the
    ServerApp a test started, as pytest-jupyter's `jp_server_cleanup` does.
    """
    yield asyncio.get_running_loop()
    if ServerApp.initialized():
        app = ServerApp.instance()
        with contextlib.suppress(RuntimeError, SystemExit):
            await app._cleanup()
        if hasattr(app, "kernel_manager"):
            app.kernel_manager.context.destroy()
        ServerApp.clear_instance()


TEST_GPUS = 1  # the node advertises one nvidia.com/gpu


@pytest.fixture(scope="session")
def dev_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    state = tmp_path_factory.mktemp("dev-cluster")
    # 250 pods: the load test runs 200 jobs at once (a kubelet's default is 110).
    cluster = DevCluster(state, gpus=TEST_GPUS, max_pods=250)
    with running(cluster, "the local cluster"):
        yield cluster


@pytest.fixture(scope="session")
def admin_config(dev_cluster: DevCluster) -> ClusterConfig:
    return asyncio.run(load_config(str(dev_cluster.admin_kubeconfig)))


@pytest.fixture
async def admin(admin_config: ClusterConfig) -> AsyncIterator[KubeClient]:
    async with KubeClient(admin_config) as client:
        yield client


@pytest.fixture(scope="module")
def namespace(dev_cluster: DevCluster, admin_config: ClusterConfig, request) -> Iterator[str]:
    """A fresh namespace per test module, Pod Security restricted, with the shipped RBAC."""
    stem = Path(request.module.__file__).stem.replace("_", "-")[:40]
    with module_namespace(admin_config, f"t-{stem}") as name:
        yield name


@pytest.fixture(scope="module")
def user_config(namespace: str, admin_config: ClusterConfig) -> ClusterConfig:
    """The least-privileged identity: the shipped ServiceAccount bound to the shipped Role."""

    async def token() -> str:
        async with KubeClient(admin_config) as client:
            return await service_account_token(client, namespace, "jupyter-k8s")

    tok = asyncio.run(token())
    return ClusterConfig(
        host=admin_config.host,
        ssl_context=_ca_only_context(admin_config),
        context="test-user",
        namespace=namespace,
        source="test",
        _configuration=_TokenConf(tok),
    )


@pytest.fixture
async def user(user_config: ClusterConfig) -> AsyncIterator[KubeClient]:
    async with KubeClient(user_config) as client:
        yield client


class _TokenConf:
    """Just enough of a kubernetes Configuration for ClusterConfig.auth_headers."""

    username = password = None

    def __init__(self, token: str):
        self.token = token

    async def get_api_key_with_prefix(self, _name: str) -> str:
        return f"Bearer {self.token}"


def _ca_only_context(config: ClusterConfig):
    import ssl

    conf = config._configuration
    return ssl.create_default_context(cafile=conf.ssl_ca_cert)
