"""A second local cluster that runs Kueue, for the tests of queued work.

Kept apart from the session's `dev_cluster`: Kueue's job and pod webhooks sit in the path of
every create, and its controllers rewrite Jobs, so the other tests keep a cluster without it.
This one is started once per session, on first use, in its own state directory and ports,
with one fake `nvidia.com/gpu`, so the sample ClusterQueue `team-a` has a GPU quota of 1.

What `up --kueue` made there (names in jupyter_k8s.devcluster.kueue_objects):
ResourceFlavor `default-flavor`; ClusterQueue `team-a` (cpu, memory, nvidia.com/gpu = the
node's allocatable; BestEffortFIFO; preemption withinClusterQueue LowerPriority); LocalQueue
`gpu` in the cluster's namespace `jupyter-k8s`; WorkloadPriorityClasses `low` (100) and
`high` (1000). LocalQueues for other namespaces: `make_local_queue`.

A test module uses it by loading this module as a plugin, then asking for the fixtures:

    pytest_plugins = ("kueue_support",)

    async def test_queued(kueue_admin: KubeClient, kueue_namespace: str):
        ...  # a Job labelled kueue.x-k8s.io/queue-name=gpu in kueue_namespace

`kueue_namespace` is a fresh namespace per module (Pod Security restricted, the shipped RBAC)
with its own LocalQueue `gpu`; the session's namespace `jupyter-k8s` has the sample one.
Everything on this cluster shares the one GPU: a module leaves nothing running behind it.
With CI=true a cluster that can't start (Kueue not built, say) fails the test; elsewhere it
is skipped with the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from clusters import running, unavailable
from namespaces import module_namespace

from jupyter_k8s.devcluster.controlplane import DevCluster
from jupyter_k8s.devcluster.kueue import apply
from jupyter_k8s.devcluster.kueue_build import KUEUE_VERSION, find_kueue
from jupyter_k8s.devcluster.kueue_objects import CLUSTER_QUEUE, KUEUE_API, LOCAL_QUEUE
from jupyter_k8s.k8s.client import ClusterConfig, KubeClient, load_config

KUEUE_GPUS = 1


@pytest.fixture(scope="session")
def kueue_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    """A running local cluster with Kueue (its own state directory, ports and processes)."""
    if find_kueue() is None:
        unavailable(
            f"Kueue {KUEUE_VERSION} is not built (run `jupyter k8s dev-cluster build --kueue`)"
        )
    state = tmp_path_factory.mktemp("kueue-cluster")
    cluster = DevCluster(state, gpus=KUEUE_GPUS, kueue=True)
    with running(cluster, "the local cluster with Kueue"):
        yield cluster


@pytest.fixture(scope="session")
def kueue_admin_config(kueue_cluster: DevCluster) -> ClusterConfig:
    """cluster-admin on the Kueue cluster (like tests/conftest.py's admin_config)."""
    return asyncio.run(load_config(str(kueue_cluster.admin_kubeconfig)))


@pytest.fixture
async def kueue_admin(kueue_admin_config: ClusterConfig) -> AsyncIterator[KubeClient]:
    async with KubeClient(kueue_admin_config) as client:
        yield client


async def make_local_queue(
    client: KubeClient, namespace: str, name: str = LOCAL_QUEUE, cluster_queue: str = CLUSTER_QUEUE
) -> dict:
    """A LocalQueue `name` in `namespace` feeding `cluster_queue` (server-side applied)."""
    obj = {
        "apiVersion": KUEUE_API,
        "kind": "LocalQueue",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterQueue": cluster_queue},
    }
    return await apply(client, obj)


@pytest.fixture(scope="module")
def kueue_namespace(
    kueue_admin_config: ClusterConfig, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh namespace on the Kueue cluster, with the shipped RBAC and a LocalQueue `gpu`."""
    stem = Path(request.module.__file__).stem.replace("_", "-")[:36]
    with module_namespace(kueue_admin_config, f"q-{stem}", make_local_queue) as name:
        yield name
