"""One local cluster with a real node (kubelet + containerd + runc + CNI), shared by the tests
of jobs and kernels on it (tests/integration/test_node_*.py).

Kept apart from the session's `dev_cluster` (a process node): here pods run in containers of
images built on this machine (`localhost/jupyter-k8s/notebook:bookworm` is the cluster's
default image), as the uid their securityContext says, with their own network namespace on the
node's bridge (the server on the host reaches them by pod IP), real cgroup limits, the
kubelet's Secret modes and its log rotation (10 MiB, `containerLogMaxSize`).

Started once per session, on first use; `down` at the end, after which nothing of it may be
left (the fixture checks the processes are gone). A module uses it as a plugin:

    pytest_plugins = ("realnode_support",)

    def test_x(real_node_namespace: str, real_node_kubeconfig: Path): ...

Needs root and Debian's containerd, runc and iptables (docs/dev-cluster.md). With CI=true a
node that can't start fails the test; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from clusters import running, unavailable
from jobs_support import user_kubeconfig
from namespaces import module_namespace

from jupyter_k8s.devcluster.build import Versions, find_binaries
from jupyter_k8s.devcluster.controlplane import DevCluster, pid_alive
from jupyter_k8s.devcluster.realnode import prereqs
from jupyter_k8s.k8s.client import ClusterConfig, KubeClient, load_config


@pytest.fixture(scope="session")
def real_node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    """A running local cluster whose node is a real kubelet with containerd."""
    if find_binaries(Versions()) is None:
        unavailable("control-plane binaries are not built (run `jupyter k8s dev-cluster build`)")
    problems = prereqs.problems(prereqs.probe())
    if problems:
        unavailable("the real node cannot start here: " + "; ".join(map(str, problems)))
    cluster = DevCluster(tmp_path_factory.mktemp("realnode-shared"), node="containerd")
    with running(cluster, "the local cluster with a real node", timeout=240) as state:
        pids = dict(state.pids)
        yield cluster
    left = [name for name, pid in pids.items() if pid_alive(pid)]
    assert not left, f"still running after down: {left}"


@pytest.fixture(scope="session")
def real_node_admin_config(real_node_cluster: DevCluster) -> ClusterConfig:
    """cluster-admin on the real-node cluster (like tests/conftest.py's admin_config)."""
    return asyncio.run(load_config(str(real_node_cluster.admin_kubeconfig)))


@pytest.fixture
async def real_node_admin(real_node_admin_config: ClusterConfig) -> AsyncIterator[KubeClient]:
    async with KubeClient(real_node_admin_config) as client:
        yield client


@pytest.fixture(scope="module")
def real_node_namespace(
    real_node_admin_config: ClusterConfig, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh namespace on the real-node cluster: Pod Security restricted, shipped RBAC."""
    stem = Path(request.module.__file__).stem.replace("_", "-")[:36]
    with module_namespace(real_node_admin_config, f"r-{stem}") as name:
        yield name


@pytest.fixture(scope="module")
def real_node_kubeconfig(
    real_node_cluster: DevCluster,
    real_node_admin_config: ClusterConfig,
    real_node_namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A kubeconfig of the shipped ServiceAccount in the module's namespace (what a user's
    server gets), for a ServerProcess or the CLI."""
    path = tmp_path_factory.mktemp("realnode-user") / "user.kubeconfig"
    return user_kubeconfig(real_node_cluster, real_node_admin_config, real_node_namespace, path)
