"""QueueWatch against a fake API server: the caches, whose work is watched, and the poller of
the visibility API (only while watched work waits; back-off; a refusal stops it; ClusterQueues
optional)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from test_queues_status import PENDING, RESERVED, _cond, cluster_queue, workload

from jupyter_k8s.k8s.client import Forbidden, Unreachable
from jupyter_k8s.queues.cache import QueueWatch

NS = "jupyter-k8s"
ADMITTED = _cond("Admitted", "True", "Admitted", "The workload is admitted")


class FakeKube:
    """Lists, watches (events fed by the test) and the visibility API's answers."""

    def __init__(self, objects: dict[str, list[dict]], forbidden: set[str] = frozenset()):
        self.objects = objects
        self.forbidden = set(forbidden)
        self.events: dict[str, asyncio.Queue] = {r: asyncio.Queue() for r in objects}
        self.asked: list[float] = []
        self.answer: Any = {"items": []}

    async def list(self, resource: str, namespace: str | None = None, **params: Any) -> dict:
        if resource in self.forbidden:
            raise Forbidden(403, "Forbidden", f"{resource} is forbidden")
        items = copy.deepcopy(self.objects.get(resource, []))
        return {"items": items, "metadata": {"resourceVersion": "1"}}

    async def watch(self, resource: str, namespace: str | None = None, **params: Any):
        while True:
            yield await self.events[resource].get()

    async def request(self, method: str, path: str, timeout: float | None = None, **kw: Any):
        self.asked.append(asyncio.get_running_loop().time())
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def modify(self, resource: str, obj: dict) -> None:
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(len(self.asked) + 2)
        self.events[resource].put_nowait({"type": "MODIFIED", "object": obj})


def local_queue() -> dict:
    return {
        "metadata": {"name": "gpu", "namespace": NS},
        "spec": {"clusterQueue": "team-a"},
        "status": {"pendingWorkloads": 5},
    }


def summary(*names: str) -> dict:
    return {
        "items": [{"metadata": {"name": n}, "positionInLocalQueue": i} for i, n in enumerate(names)]
    }


def _objects(wl: dict) -> dict[str, list[dict]]:
    return {
        "workloads": [wl],
        "localqueues": [local_queue()],
        "clusterqueues": [cluster_queue()],
    }


async def _settle(seconds: float = 0.15) -> None:
    await asyncio.sleep(seconds)


async def test_positions_while_waiting_then_quiet():
    wl = workload(PENDING)
    kube = FakeKube(_objects(wl))
    kube.answer = summary("job-other-1", wl["metadata"]["name"])
    watch = QueueWatch(kube, NS, poll_seconds=0.02)  # type: ignore[arg-type]
    changes: list[int] = []
    watch.add_listener(lambda: changes.append(1))
    await watch.start()
    try:
        info = watch.info_for(
            "Job", "train-abc123", wl["metadata"]["ownerReferences"][0]["uid"], "gpu"
        )
        assert (info.position, info.pending) == (2, 2)  # asked once before start() returned
        assert info.message.startswith("Queued in gpu: position 2 of 2; ClusterQueue team-a")
        assert watch.local_queue_names() == ["gpu"]
        await _settle()
        assert len(kube.asked) >= 3  # every poll_seconds while it waits
        # Admitted: nothing of ours waits, the poller goes quiet.
        admitted = workload(RESERVED, ADMITTED, status={"admission": {"clusterQueue": "team-a"}})
        kube.modify("workloads", admitted)
        await _settle(0.05)
        asked = len(kube.asked)
        await _settle()
        assert len(kube.asked) == asked
        uid = admitted["metadata"]["ownerReferences"][0]["uid"]
        assert watch.info_for("Job", "train-abc123", uid, "gpu").state == "admitted"
        assert changes  # listeners heard of it
        # Waiting again (preempted, requeued): asked at once.
        kube.modify("workloads", wl)
        await _settle(0.05)
        assert len(kube.asked) > asked
    finally:
        await watch.stop()


async def test_only_watched_work_is_polled():
    wl = workload(PENDING)
    kube = FakeKube(_objects(wl))
    watch = QueueWatch(kube, NS, poll_seconds=0.02, is_watched=lambda _wl: False)  # type: ignore[arg-type]
    await watch.start()
    try:
        await _settle()
        assert kube.asked == []
        # Unknown position: the LocalQueue's own count.
        uid = wl["metadata"]["ownerReferences"][0]["uid"]
        info = watch.info_for("Job", "train-abc123", uid, "gpu")
        assert (info.position, info.pending) == (None, 5)
        # A Workload owned by another object (or a forged uid) is not this job's.
        assert watch.workload_for("Job", "train-abc123", "forged") is None
        assert watch.workload_for("Pod", "train-abc123", uid) is None
    finally:
        await watch.stop()


async def test_failures_back_off_and_a_refusal_stops_polling():
    wl = workload(PENDING)
    kube = FakeKube(_objects(wl))
    kube.answer = Unreachable("no answer")
    watch = QueueWatch(kube, NS, poll_seconds=0.02)  # type: ignore[arg-type]
    await watch.start()
    try:
        await _settle(0.5)
        gaps = [b - a for a, b in zip(kube.asked, kube.asked[1:], strict=False)]
        assert len(kube.asked) < 10 and gaps[-1] > gaps[0]  # doubling, not every 20 ms
        kube.answer = Forbidden(403, "Forbidden", "pendingworkloads is forbidden")
        await _settle(0.7)
        asked = len(kube.asked)
        await _settle(0.3)
        assert len(kube.asked) == asked  # no more asking after a refusal
    finally:
        await watch.stop()


async def test_rbac_refusals_are_not_errors():
    wl = workload(PENDING)
    kube = FakeKube(_objects(wl), forbidden={"clusterqueues"})
    kube.answer = summary(wl["metadata"]["name"])
    watch = QueueWatch(kube, NS, poll_seconds=0.02)  # type: ignore[arg-type]
    await watch.start()
    try:
        assert watch.cluster_queues is None and watch.workloads is not None
        uid = wl["metadata"]["ownerReferences"][0]["uid"]
        info = watch.info_for("Job", "train-abc123", uid, "gpu")
        assert info.usage == [] and info.cluster_queue == "team-a"  # from the LocalQueue
        assert info.message.startswith("Queued in gpu: position 1 of 1; couldn't assign")
    finally:
        await watch.stop()
    denied = FakeKube(_objects(wl), forbidden={"workloads"})
    watch = QueueWatch(denied, NS)  # type: ignore[arg-type]
    await watch.start()
    try:
        assert watch.workloads is None and "workloads is forbidden" in (watch.unreadable or "")
        assert watch.local_queue_names() is None
        info = watch.info_for("Job", "train-abc123", "uid", "gpu", suspended=True)
        assert "cannot be read here" in info.message
    finally:
        await watch.stop()
