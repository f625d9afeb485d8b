"""Queued remote kernels (issue 13): the pod's queue labels and gates, the start-up state while
Kueue's gate is on, KernelQueues' checks and watch (fake API), and the provisioner waiting for
admission within its start timeout (fake KernelService)."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import replace
from typing import Any

import pytest
from test_kernel_objects import GPU_BUILD
from test_kernel_provisioner import FakeService, provisioner
from test_kernel_provisioner import heartbeat as heartbeat  # the fixture
from test_kernel_status import pod as status_pod
from test_queues_status import ADMISSION, ADMITTED, PENDING, cluster_queue, workload

from jupyter_k8s.k8s.client import Forbidden, NotFound
from jupyter_k8s.kernels.objects import (
    KUEUE_GATE,
    SCHEDULING_GATE,
    kueue_gated,
    make_pod,
    make_secret,
    pod_queue,
    ungate_patch,
)
from jupyter_k8s.kernels.queueing import WORK, KernelQueues
from jupyter_k8s.kernels.start_error import KernelStartError
from jupyter_k8s.kernels.status import kernel_exit, queued_state, startup_state
from jupyter_k8s.profiles import load_profiles
from jupyter_k8s.queues.cache import QueueWatch
from jupyter_k8s.queues.models import QueueInfo
from jupyter_k8s.queues.names import PRIORITY_LABEL, QUEUE_LABEL
from jupyter_k8s.queues.status import queue_info

POD_UID = "4c1d7e0a-2b3f-4a5e-9c8d-7f6e5d4c3b2a"
QUEUED = "Queued in gpu: position 1 of 1; ClusterQueue team-a uses nvidia.com/gpu 1 of 1"


def kernel_pod(*gates: str, uid: str = POD_UID, queue: str | None = "gpu") -> dict[str, Any]:
    p = status_pod(node=None)
    p["metadata"]["uid"] = uid
    if queue:
        p["metadata"]["labels"] = {QUEUE_LABEL: queue}
    if gates:
        p["spec"]["schedulingGates"] = [{"name": g} for g in gates]
    return p


def pod_workload(
    *conds: dict, name: str = "kernel-a", uid: str = POD_UID, kind: str = "Pod", **extra: Any
) -> dict[str, Any]:
    """The Workload Kueue's pod integration makes for a kernel pod (owned by the Pod)."""
    wl = workload(*conds, **extra)
    wl["metadata"]["name"] = f"pod-{name}-1d2e3"
    wl["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": kind, "name": name, "uid": uid, "controller": True}
    ]
    return wl


# -- the pod ------------------------------------------------------------------------------------


def test_a_queued_pod_has_the_queue_labels_and_the_secret_not():
    build = replace(GPU_BUILD, queue="gpu", priority_class="high")
    pod = make_pod(build)
    labels = pod["metadata"]["labels"]
    assert labels[QUEUE_LABEL] == "gpu" and labels[PRIORITY_LABEL] == "high"
    assert pod_queue(pod) == ("gpu", "high")
    # Our gate at creation; Kueue's webhook adds its own next to it.
    assert pod["spec"]["schedulingGates"] == [{"name": SCHEDULING_GATE}]
    secret = make_secret(build, {"key": "k"}, "launcher")
    assert QUEUE_LABEL not in secret["metadata"]["labels"]
    plain = make_pod(GPU_BUILD)
    assert QUEUE_LABEL not in plain["metadata"]["labels"] and pod_queue(plain) == (None, None)
    assert pod_queue(make_pod(replace(GPU_BUILD, queue="gpu"))) == ("gpu", None)


def test_a_priority_class_needs_a_queue():
    with pytest.raises(ValueError, match="needs a queue"):
        replace(GPU_BUILD, priority_class="high")


def test_ungating_removes_our_gate_only():
    """A strategic merge patch keyed by name: applied to a pod with both gates (as Kueue's
    webhook leaves it), Kueue's stays."""
    patch = ungate_patch()["spec"]["schedulingGates"]
    assert patch == [{"$patch": "delete", "name": SCHEDULING_GATE}]
    both = kernel_pod(SCHEDULING_GATE, KUEUE_GATE)
    deleted = {g["name"] for g in patch if g.get("$patch") == "delete"}
    left = [g for g in both["spec"]["schedulingGates"] if g["name"] not in deleted]
    assert left == [{"name": KUEUE_GATE}]
    assert kueue_gated(both) and not kueue_gated(kernel_pod(SCHEDULING_GATE))
    assert not kueue_gated({"spec": {"schedulingGates": "junk"}}) and not kueue_gated(None)


# -- the start-up state -------------------------------------------------------------------------


def info(state: str = "queued", message: str = QUEUED, position: int | None = 1) -> QueueInfo:
    return QueueInfo(queue="gpu", state=state, position=position, pending=1, message=message)  # type: ignore[arg-type]


def test_kueues_gate_says_queued_in_kueues_words():
    for gates in ((SCHEDULING_GATE, KUEUE_GATE), (KUEUE_GATE,)):
        s = startup_state(kernel_pod(*gates), [], 0, info())
        assert (s.phase, s.reason, s.message) == ("Pending", "Queued", QUEUED)
    # Our gate alone: the Secret is being made.
    assert startup_state(kernel_pod(SCHEDULING_GATE), [], 0, info()).reason == "SchedulingGated"
    # Without Kueue's objects: still queued, with the queue's name from the label.
    s = startup_state(kernel_pod(KUEUE_GATE), [])
    assert (s.reason, s.message) == ("Queued", "Queued in gpu: waiting for Kueue's admission")
    assert queued_state(kernel_pod(KUEUE_GATE, queue=None), None).message == (
        "Queued in its Kueue queue: waiting for Kueue's admission"
    )


def test_preempted_inadmissible_and_admitted_while_gated():
    pod = kernel_pod(KUEUE_GATE)
    said = "Preempted by a higher priority workload in ClusterQueue team-a (job requeued)"
    assert startup_state(pod, [], 0, info("preempted", said)).reason == "Preempted"
    s = startup_state(pod, [], 0, info("inadmissible", "Inadmissible: no flavor", None))
    assert (s.phase, s.reason) == ("Pending", "Inadmissible")
    s = startup_state(pod, [], 0, info("admitted", "Admitted by ClusterQueue team-a", None))
    assert (s.phase, s.reason, s.message) == (
        "Pending",
        "Admitted",
        "Admitted by ClusterQueue team-a",
    )
    # Gates gone: the scheduler's turn, whatever the queue said.
    assert startup_state(kernel_pod(), [], 0, info()).reason == "Scheduling"


def test_a_pod_kueue_stopped_says_so():
    cond = {
        "type": "TerminationTarget",
        "status": "True",
        "reason": "WorkloadEvicted",
        "message": "Preempted to accommodate a workload (UID: 5e0c) due to prioritization",
    }
    pod = status_pod(conditions=[cond], deleting=True)
    s = startup_state(pod, [])
    assert (s.phase, s.reason) == ("Failed", "Preempted")
    assert s.message.startswith("Kueue stopped the kernel's pod: Preempted to accommodate")
    ended = kernel_exit(pod, 0)
    assert ended is not None and ended.reason == "Preempted" and ended.code == 137
    other = {**cond, "message": "The workload was deactivated"}
    assert kernel_exit(status_pod(conditions=[other]), 0).reason == "Evicted"  # type: ignore[union-attr]
    assert kernel_exit(status_pod(conditions=[{**cond, "status": "False"}]), 0) is None


# -- KernelQueues -------------------------------------------------------------------------------

QUEUED_PROFILES = load_profiles(
    [
        {"name": "cpu", "default": True},
        {"name": "gpu", "gpus": 1, "queue": "gpu"},
        {"name": "gpu-high", "gpus": 1, "queue": "gpu", "priority_class": "high"},
        {"name": "spare", "gpus": 1, "queue": "spare"},
    ],
    "img:1",
)


class FakeKube:
    """Discovery, LocalQueues and WorkloadPriorityClasses as a cluster with Kueue answers."""

    def __init__(self, kueue: bool = True, forbidden: set[str] = frozenset()):
        self.kueue = kueue
        self.forbidden = set(forbidden)
        self.local_queues = ["gpu"]
        self.priority_classes = ["low", "high"]
        self.namespace = "ns"

    async def request(self, method: str, path: str, **kw: Any) -> Any:
        if path == "/apis/kueue.x-k8s.io" and self.kueue:
            return {"versions": [{"version": "v1beta2"}]}
        if path == "/apis/visibility.kueue.x-k8s.io" and self.kueue:
            return {"versions": [{"version": "v1beta2"}]}
        raise NotFound(404, "NotFound", path)

    async def get(self, resource: str, name: str, namespace: str | None = None) -> dict:
        if resource in self.forbidden:
            raise Forbidden(403, "Forbidden", f"{resource} is forbidden")
        names = self.local_queues if resource == "localqueues" else self.priority_classes
        if name not in names:
            raise NotFound(404, "NotFound", f"{resource} {name} not found")
        return {"metadata": {"name": name}}

    async def list(self, resource: str, namespace: str | None = None, **params: Any) -> dict:
        # Workloads not readable: the optional Role is not granted here.
        if resource in self.forbidden or resource == "workloads":
            raise Forbidden(403, "Forbidden", f"{resource} is forbidden")
        return {"items": [{"metadata": {"name": n}} for n in self.local_queues]}


class FakeKernels:
    """What KernelQueues uses of its KernelService."""

    namespace = "ns"

    def __init__(self, kube: FakeKube):
        self.kube = kube
        self.pods: dict[str, dict] = {}

    async def client(self) -> FakeKube:
        return self.kube

    def pod(self, name: str) -> dict | None:
        return self.pods.get(name)


def queues_with(
    kube: FakeKube, shared: QueueWatch | None = None
) -> tuple[KernelQueues, FakeKernels]:
    svc = FakeKernels(kube)

    async def source() -> QueueWatch | None:
        return shared

    return KernelQueues(svc, source if shared is not None else None), svc  # type: ignore[arg-type]


async def test_a_cluster_without_kueue_is_a_clear_error():
    queues, _ = queues_with(FakeKube(kueue=False))
    await queues.check(QUEUED_PROFILES.get("cpu"))  # no queue: nothing asked
    with pytest.raises(Exception) as err:
        await queues.check(QUEUED_PROFILES.get("gpu"))
    assert err.value.reason == "NoKueue" and err.value.http_status == 409  # type: ignore[attr-defined]
    assert str(err.value) == (
        f"cannot put {WORK} in queue 'gpu': this cluster has no Kueue: the kueue.x-k8s.io "
        "API is not served; ask your operator, or remove `queue` from profile 'gpu'"
    )


async def test_a_missing_local_queue_and_priority_class_are_clear_errors():
    shared = QueueWatch(FakeKube(), "ns", is_watched=lambda _wl: False)  # the jobs'
    queues, _ = queues_with(FakeKube(), shared)
    await queues.check(QUEUED_PROFILES.get("gpu"))
    with pytest.raises(Exception) as err:
        await queues.check(QUEUED_PROFILES.get("spare"))
    assert err.value.reason == "NoLocalQueue" and err.value.http_status == 409  # type: ignore[attr-defined]
    assert str(err.value).startswith("no LocalQueue 'spare' in namespace 'ns' (queues here: gpu)")
    queues.service.kube.priority_classes = ["low"]  # type: ignore[attr-defined]
    with pytest.raises(Exception) as err:
        await queues.check(QUEUED_PROFILES.get("gpu-high"))
    assert err.value.reason == "NoPriorityClass"  # type: ignore[attr-defined]
    assert "no WorkloadPriorityClass 'high'" in str(err.value)
    # Where the optional RBAC is not granted, Kueue itself will say (in the status).
    denied, _ = queues_with(FakeKube(forbidden={"localqueues", "workloadpriorityclasses"}), shared)
    await denied.check(QUEUED_PROFILES.get("spare"))


async def test_the_shared_watch_is_used_and_wakes_the_wait():
    shared = QueueWatch(FakeKube(), "ns", is_watched=lambda _wl: False)  # the jobs'
    queues, svc = queues_with(FakeKube(), shared)
    await queues.check(QUEUED_PROFILES.get("gpu"))
    await queues.check(QUEUED_PROFILES.get("gpu"))  # registered once
    assert queues.watch is shared and len(shared._listeners) == 1
    assert len(shared._watched) == 2  # the job service's predicate and ours
    waiting = asyncio.ensure_future(queues.changed(5))
    await asyncio.sleep(0)
    shared._changed()  # a position moved
    await asyncio.wait_for(waiting, 1)
    # Whose Workloads are watched: the kernel pods' (kind, name and uid all match).
    svc.pods["kernel-a"] = kernel_pod(KUEUE_GATE)
    assert shared.is_watched(pod_workload(PENDING))
    assert not shared.is_watched(pod_workload(PENDING, uid="someone-else"))
    assert not shared.is_watched(pod_workload(PENDING, kind="Job"))
    assert not shared.is_watched(pod_workload(PENDING, name="kernel-b"))
    # A pod just created, before the pod cache has it.
    queues.track({"metadata": {"name": "kernel-b", "uid": "u-b"}})
    assert shared.is_watched(pod_workload(PENDING, name="kernel-b", uid="u-b"))
    queues.untrack("kernel-b")
    assert not shared.is_watched(pod_workload(PENDING, name="kernel-b", uid="u-b"))


async def test_a_watch_of_another_namespace_is_not_shared():
    other = QueueWatch(FakeKube(), "elsewhere")
    queues, _ = queues_with(FakeKube(), other)
    await queues.check(QUEUED_PROFILES.get("gpu"))
    # Its own one, which can't read Workloads here (no optional Role): the status says so.
    assert queues.watch is not None and queues.watch is not other
    assert queues.watch.namespace == "ns" and queues.problem
    said = queues.info(kernel_pod(KUEUE_GATE))
    assert said is not None and said.state == "queued"
    assert said.message.startswith("Queued in gpu (Kueue's Workloads cannot be read here")
    await queues.stop()
    assert queues.watch is None


async def test_info_from_the_watch():
    shared = QueueWatch(FakeKube(), "ns", is_watched=lambda _wl: False)  # the jobs'
    queues, _ = queues_with(FakeKube(), shared)
    assert queues.info(kernel_pod(KUEUE_GATE, queue=None)) is None  # not queued
    # No watch yet: queued, no Workload known.
    assert queues.info(kernel_pod(KUEUE_GATE)).state == "queued"  # type: ignore[union-attr]
    await queues.check(QUEUED_PROFILES.get("gpu"))
    first = queues.info(kernel_pod(KUEUE_GATE))  # before Kueue made the Workload
    assert first is not None and first.message == (
        "Queued in gpu: waiting for Kueue to take the kernel's pod in"
    )
    wl = pod_workload(PENDING)
    shared._on_workload("ADDED", wl)
    got = shared.workload_for("Pod", "kernel-a", POD_UID)
    assert got is wl
    said = queues.info(kernel_pod(KUEUE_GATE))
    assert said is not None and said.state == "queued" and said.queue == "gpu"
    admitted = pod_workload(ADMITTED, status=ADMISSION)
    shared._on_workload("MODIFIED", admitted)
    said = queues.info(kernel_pod())
    assert said is not None and said.message == "Admitted by ClusterQueue team-a"


# -- the provisioner ----------------------------------------------------------------------------


class FakeQueues:
    """KernelQueues as the provisioner uses it: a place that moves, then admission."""

    def __init__(self, problem: Exception | None = None):
        self.problem = problem
        self.checked: list[str] = []
        self.tracked: list[str] = []
        self.position = 2
        self.pending = 2
        self._changed = asyncio.Event()

    async def check(self, profile: Any) -> None:
        self.checked.append(profile.name)
        if self.problem is not None:
            raise self.problem

    def track(self, pod: dict) -> None:
        self.tracked.append(pod["metadata"]["name"])

    def untrack(self, name: str) -> None:
        self.tracked.remove(name)

    def info(self, pod: dict | None) -> QueueInfo | None:
        gated = kueue_gated(pod)
        wl = pod_workload(PENDING) if gated else pod_workload(ADMITTED, status=ADMISSION)
        return queue_info(
            "gpu",
            wl,
            position=self.position,
            pending=self.pending,
            cluster_queue=cluster_queue(),
            suspended=gated,
        )

    async def changed(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    def move(self, position: int, pending: int) -> None:
        self.position, self.pending = position, pending
        self._changed.set()
        self._changed = asyncio.Event()


class QueuedService(FakeService):
    """A pod that Kueue gates at creation; `admit` lifts the gate and the pod runs."""

    def __init__(self, queues: FakeQueues):
        super().__init__("runs")
        self.profiles = QUEUED_PROFILES
        self.queues = queues
        self.waits_with_queues = 0

    async def create(self, build, connection_info) -> dict:
        pod = await super().create(build, connection_info)
        pod["metadata"]["labels"] = make_pod(build)["metadata"]["labels"]
        self.running = copy.deepcopy(pod)
        pod["spec"]["schedulingGates"] = [{"name": KUEUE_GATE}]
        del pod["spec"]["nodeName"]
        pod["status"] = {"phase": "Pending"}
        return pod

    async def changed(self, timeout: float, queues: bool = False) -> None:
        if not queues:
            return await super().changed(timeout)
        self.waits_with_queues += 1
        waits = [
            asyncio.ensure_future(super().changed(timeout)),
            asyncio.ensure_future(self.queues.changed(timeout)),
        ]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()

    def admit(self, name: str) -> None:
        self.pods[name] = self.running
        self.touch()


async def wait_for_status(svc: FakeService, check, timeout: float = 5) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        status = svc.statuses.get("0123abcd-0000") or {}
        if check(status):
            return dict(status)
        await asyncio.sleep(0.01)
    raise TimeoutError(svc.statuses)


async def test_a_queued_kernel_waits_for_admission_with_its_place(heartbeat):
    queues = FakeQueues()
    svc = QueuedService(queues)
    heartbeat(svc.config.ports["hb_port"])
    prov = provisioner(svc, profile="gpu", start_timeout=10)
    start = asyncio.ensure_future(launch_queued(prov))
    first = await wait_for_status(svc, lambda s: s.get("reason") == "Queued")
    assert first["phase"] == "Pending"
    assert first["message"] == (
        "Queued in gpu: position 2 of 2; ClusterQueue team-a uses nvidia.com/gpu 1 of 1"
    )
    assert first["queue"]["position"] == 2 and first["queue"]["state"] == "queued"
    build = svc.created[0][0]
    assert (build.queue, build.priority_class) == ("gpu", None)
    assert queues.checked == ["gpu"] and queues.tracked == [build.name]
    queues.move(1, 1)  # the one ahead was admitted: the wait wakes without a pod change
    moved = await wait_for_status(svc, lambda s: "position 1 of 1" in (s.get("message") or ""))
    assert moved["message"] == QUEUED and moved["queue"]["position"] == 1
    assert svc.waits_with_queues >= 1
    svc.admit(build.name)
    await asyncio.wait_for(start, 5)
    status = svc.statuses["0123abcd-0000"]
    assert status["phase"] == "Running"
    assert status["queue"]["state"] == "admitted"
    assert status["queue"]["message"] == "Admitted by ClusterQueue team-a"
    assert queues.tracked == []


async def launch_queued(prov) -> dict:
    kwargs = await prov.pre_launch(env={})
    return await prov.launch_kernel(kwargs.pop("cmd"), **kwargs)


async def test_time_in_the_queue_counts_against_the_start_timeout():
    queues = FakeQueues()
    queues.position = queues.pending = 1
    svc = QueuedService(queues)
    prov = provisioner(svc, profile="gpu", start_timeout=0.3)
    with pytest.raises(KernelStartError) as err:
        await launch_queued(prov)
    assert err.value.reason == "StartTimeout" and err.value.status_code == 504
    assert str(err.value) == (
        f"kernel pod {svc.created[0][0].name} did not start within 0.3 s: it was still "
        f"waiting in its Kueue queue ({QUEUED}); the pod was deleted"
    )
    assert len(svc.deleted) == 1
    failed = svc.statuses["0123abcd-0000"]
    assert failed["phase"] == "Failed" and failed["queue"]["position"] == 1


async def test_a_queue_that_cannot_take_the_pod_fails_before_any_pod():
    from jupyter_k8s.errors import KernelStartProblem

    problem = KernelStartProblem("no LocalQueue 'spare' in namespace 'ns' (...)", "NoLocalQueue")
    svc = QueuedService(FakeQueues(problem))
    prov = provisioner(svc, profile="spare")
    with pytest.raises(KernelStartError) as err:
        await launch_queued(prov)
    assert err.value.reason == "NoLocalQueue" and err.value.status_code == 409
    assert str(err.value).startswith("no LocalQueue 'spare'")
    assert svc.created == [] and svc.statuses["0123abcd-0000"]["phase"] == "Failed"


async def test_a_kernel_not_queued_asks_nothing_of_the_queues(heartbeat):
    queues = FakeQueues()
    svc = QueuedService(queues)
    svc.create = FakeService.create.__get__(svc)  # type: ignore[method-assign]
    heartbeat(svc.config.ports["hb_port"])
    prov = provisioner(svc, profile="cpu")
    await launch_queued(prov)
    assert queues.checked == [] and svc.statuses["0123abcd-0000"]["queue"] is None
    assert svc.created[0][0].queue is None
