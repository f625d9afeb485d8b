"""Starting a local cluster for tests, and what happens when one cannot start.

With CI=true a test whose cluster (or a piece it needs) cannot start fails: a broken
dependency must not hide behind a skip. Elsewhere (a laptop without Go, say) it is skipped
with the reason, so the unit tests still run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from jupyter_k8s.devcluster.controlplane import ClusterState, DevCluster

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(message: str) -> None:
    """Fail (CI) or skip (elsewhere) with `message`."""
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@contextmanager
def running(cluster: DevCluster, what: str, timeout: float = 180) -> Iterator[ClusterState]:
    """`cluster` up (Ready) for the block and down after it; `unavailable` when it can't
    start, with `what` (e.g. "the local cluster") and the reason."""
    try:
        state = cluster.up(wait=True, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - reported as fail (CI) or skip
        cluster.down(quiet=True)
        unavailable(f"{what} could not start: {exc}")
        raise
    try:
        yield state
    finally:
        cluster.down(quiet=True)
