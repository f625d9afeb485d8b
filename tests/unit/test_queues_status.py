"""queues.status: a Workload (as Kueue v0.17 writes it, kueue.x-k8s.io/v1beta2), its place in
the LocalQueue and its ClusterQueue into a QueueInfo with Kueue's words."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from jupyter_k8s.jobs.models import JobInfo, JobPhase
from jupyter_k8s.jobs.status import with_queue
from jupyter_k8s.queues.cache import positions_of
from jupyter_k8s.queues.status import (
    cluster_queue_usage,
    is_pending,
    owned_by,
    priority_class_of,
    queue_info,
    requested_resources,
    workload_state,
)

JOB_UID = "0b6c5d2e-52a8-4f7e-9d1a-3c1e4b7f2a10"
T0 = "2026-11-29T20:00:00Z"


def _cond(kind: str, status: str, reason: str, message: str, at: str = T0) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": at,
        "observedGeneration": 1,
    }


def workload(*conditions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A Workload as Kueue's Job integration makes it for `train-abc123` (one GPU)."""
    wl: dict[str, Any] = {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "Workload",
        "metadata": {
            "name": "job-train-abc123-3f9d1",
            "namespace": "jupyter-k8s",
            "uid": "9a1f0c44-1111-4a0e-8c7b-0d5e6f7a8b9c",
            "creationTimestamp": T0,
            "generation": 1,
            "labels": {"kueue.x-k8s.io/job-uid": JOB_UID},
            "finalizers": ["kueue.x-k8s.io/resource-in-use"],
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": "train-abc123",
                    "uid": JOB_UID,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "active": True,
            "queueName": "gpu",
            "priority": 0,
            "podSets": [
                {
                    "name": "main",
                    "count": 1,
                    "template": {
                        "metadata": {"labels": {"app.kubernetes.io/managed-by": "jupyter-k8s"}},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {
                                    "name": "runner",
                                    "image": "localhost/jupyter-k8s/notebook:process-node",
                                    "resources": {
                                        "requests": {"cpu": "100m", "memory": "128Mi"},
                                        "limits": {"nvidia.com/gpu": "1", "memory": "1Gi"},
                                    },
                                }
                            ],
                        },
                    },
                }
            ],
        },
        "status": {
            "conditions": list(conditions),
            "resourceRequests": [
                {
                    "name": "main",
                    "resources": {"cpu": "100m", "memory": "128Mi", "nvidia.com/gpu": "1"},
                }
            ],
        },
    }
    for key, value in extra.items():
        wl.setdefault(key, {}).update(value)
    return wl


PENDING = _cond(
    "QuotaReserved",
    "False",
    "Pending",
    "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu "
    "in flavor default-flavor, 1 more needed",
)
RESERVED = _cond("QuotaReserved", "True", "QuotaReserved", "Quota reserved in ClusterQueue team-a")
ADMITTED = _cond("Admitted", "True", "Admitted", "The workload is admitted", "2026-11-29T20:00:01Z")
ADMISSION = {
    "admission": {
        "clusterQueue": "team-a",
        "podSetAssignments": [
            {
                "name": "main",
                "count": 1,
                "flavors": {"nvidia.com/gpu": "default-flavor", "cpu": "default-flavor"},
                "resourceUsage": {"nvidia.com/gpu": "1", "cpu": "100m"},
            }
        ],
    }
}
PREEMPT_MESSAGE = (
    "Preempted to accommodate a workload (UID: 5e0c, JobUID: 77aa) due to prioritization in "
    "the ClusterQueue; preemptor path: /team-a; preemptee path: /team-a"
)


def cluster_queue(gpus_used: str = "1", gpus: str = "1") -> dict[str, Any]:
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "ClusterQueue",
        "metadata": {"name": "team-a"},
        "spec": {
            "namespaceSelector": {},
            "resourceGroups": [
                {
                    "coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
                    "flavors": [
                        {
                            "name": "default-flavor",
                            "resources": [
                                {"name": "cpu", "nominalQuota": "16"},
                                {"name": "memory", "nominalQuota": "64Gi"},
                                {"name": "nvidia.com/gpu", "nominalQuota": gpus},
                            ],
                        }
                    ],
                }
            ],
        },
        "status": {
            "flavorsReservation": [
                {
                    "name": "default-flavor",
                    "resources": [
                        {"name": "cpu", "total": "100m", "borrowed": "0"},
                        {"name": "memory", "total": "1Gi", "borrowed": "0"},
                        {"name": "nvidia.com/gpu", "total": gpus_used, "borrowed": "0"},
                    ],
                }
            ],
            "pendingWorkloads": 2,
            "admittedWorkloads": 1,
        },
    }


def test_queued_with_position_and_full_quota():
    info = queue_info(
        "gpu", workload(PENDING), position=1, pending=2, cluster_queue=cluster_queue()
    )
    assert info.state == "queued"
    assert (info.position, info.pending, info.cluster_queue) == (1, 2, "team-a")
    assert info.message == (
        "Queued in gpu: position 1 of 2; ClusterQueue team-a uses nvidia.com/gpu 1 of 1"
    )
    gpu = next(u for u in info.usage if u.resource == "nvidia.com/gpu")
    assert (gpu.used, gpu.quota) == ("1", "1")
    assert {u.resource for u in info.usage} == {"cpu", "memory", "nvidia.com/gpu"}


def test_queued_without_the_cluster_queue_says_kueues_reason():
    info = queue_info("gpu", workload(PENDING), position=2, pending=2, cluster_queue_name="team-a")
    assert info.usage == []
    assert info.message.startswith("Queued in gpu: position 2 of 2; couldn't assign flavors")
    assert "1 more needed" in info.message


def test_queued_position_unknown():
    assert queue_info("gpu", workload(PENDING), pending=7).message.startswith(
        "Queued in gpu (7 pending)"
    )
    # Two reads a moment apart never say "position 3 of 2".
    info = queue_info("gpu", workload(PENDING), position=3, pending=2)
    assert (info.position, info.pending) == (3, 3)


def test_no_workload_yet():
    info = queue_info("gpu", None, suspended=True)
    assert info.state == "queued" and "no Workload yet" in info.message
    running = queue_info("gpu", None, suspended=False)
    assert running.state == "admitted"
    denied = queue_info("gpu", None, suspended=True, unreadable="workloads is forbidden")
    assert "cannot be read here: workloads is forbidden" in denied.message


def test_admitted():
    wl = workload(RESERVED, ADMITTED, status=ADMISSION)
    info = queue_info("gpu", wl, position=1, pending=1, cluster_queue=cluster_queue())
    assert info.state == "admitted"
    assert info.message == "Admitted by ClusterQueue team-a"
    assert info.position is None and info.pending is None  # a place only while waiting


def test_quota_reserved_waiting_for_checks():
    info = queue_info("gpu", workload(RESERVED, status=ADMISSION))
    assert info.state == "queued"
    assert info.message == "Quota reserved in ClusterQueue team-a; waiting for its admission checks"


def test_preempted_and_requeued():
    evicted = _cond("Evicted", "True", "Preempted", PREEMPT_MESSAGE)
    preempted = _cond("Preempted", "True", "InClusterQueue", PREEMPT_MESSAGE)
    requeued = _cond("Requeued", "True", "Preempted", PREEMPT_MESSAGE)
    pending_again = _cond("QuotaReserved", "False", "Pending", PREEMPT_MESSAGE)
    wl = workload(pending_again, evicted, preempted, requeued)
    wl["spec"]["priorityClassRef"] = {
        "group": "kueue.x-k8s.io",
        "kind": "WorkloadPriorityClass",
        "name": "low",
    }
    info = queue_info("gpu", wl, position=1, pending=1, cluster_queue=cluster_queue())
    assert info.state == "preempted"
    assert info.priority_class == "low"
    assert info.message == (
        "Preempted by a higher priority workload in ClusterQueue team-a (job requeued); "
        "Queued in gpu: position 1 of 1; ClusterQueue team-a uses nvidia.com/gpu 1 of 1"
    )
    # While Kueue still stops it (quota still held), it is not requeued yet.
    stopping = workload(RESERVED, ADMITTED, evicted, preempted, status=ADMISSION)
    assert "stopping; it will be requeued" in queue_info("gpu", stopping).message
    # Admitted again: Kueue resets Evicted and Preempted to False.
    again = workload(
        RESERVED,
        ADMITTED,
        {**evicted, "status": "False", "reason": "QuotaReserved"},
        {**preempted, "status": "False", "reason": "QuotaReserved"},
        status=ADMISSION,
    )
    assert workload_state(again) == "admitted"


def test_other_evictions():
    timeout = _cond("Evicted", "True", "PodsReadyTimeout", "Exceeded the PodsReady timeout")
    info = queue_info("gpu", workload(timeout))
    assert info.state == "queued"
    assert info.message.startswith("Evicted (PodsReadyTimeout): Exceeded the PodsReady timeout")
    gone = _cond("Evicted", "True", "Deactivated", "The workload is deactivated")
    assert queue_info("gpu", workload(gone)).state == "inadmissible"


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("Inadmissible", "LocalQueue gpu doesn't exist"),
        ("Inadmissible", "ClusterQueue team-a is inactive"),
        (
            "Pending",
            "couldn't assign flavors to pod set main: resource nvidia.com/gpu unavailable in "
            "ClusterQueue",
        ),
        (
            "Pending",
            "couldn't assign flavors to pod set main: insufficient quota for nvidia.com/gpu in "
            "flavor a100, previously considered podsets requests (0) + current podset request "
            "(2) > maximum capacity (1)",
        ),
    ],
)
def test_inadmissible(reason, message):
    info = queue_info("gpu", workload(_cond("QuotaReserved", "False", reason, message)))
    assert info.state == "inadmissible"
    assert info.message == f"Inadmissible: {message}"


def test_deactivated_and_finished():
    off = workload(PENDING, spec={"active": False})
    assert queue_info("gpu", off).state == "inadmissible"
    assert not is_pending(off)
    done = workload(
        RESERVED, ADMITTED, _cond("Finished", "True", "Succeeded", "Job finished successfully")
    )
    info = queue_info("gpu", done)
    assert (info.state, info.message) == ("finished", "Finished: Job finished successfully")
    assert not is_pending(done)
    assert is_pending(workload(PENDING)) and is_pending(workload())


def test_owner_checks_kind_name_and_uid():
    wl = workload(PENDING)
    assert owned_by(wl, "Job", "train-abc123", JOB_UID)
    assert not owned_by(wl, "Pod", "train-abc123", JOB_UID)
    assert not owned_by(wl, "Job", "other", JOB_UID)
    assert not owned_by(wl, "Job", "train-abc123", "another-uid")
    assert not owned_by(wl, "Job", "train-abc123", "")


def test_requested_resources():
    wl = workload(PENDING)
    assert requested_resources(wl)["nvidia.com/gpu"] == 1
    # Without Kueue's computed requests: the pod sets, requests over limits, times count.
    del wl["status"]["resourceRequests"]
    wl["spec"]["podSets"][0]["count"] = 3
    found = requested_resources(wl)
    assert found["nvidia.com/gpu"] == 3 and found["memory"] == 3 * 128 * 2**20


def test_usage_sums_flavors_and_skips_garbage():
    cq = cluster_queue()
    flavors = cq["spec"]["resourceGroups"][0]["flavors"]
    flavors.append(copy.deepcopy(flavors[0]) | {"name": "spot"})
    flavors.append("junk")
    cq["status"]["flavorsReservation"].append(
        {"name": "spot", "resources": [{"name": "nvidia.com/gpu", "total": "lots"}]}
    )
    usage = {u.resource: u for u in cluster_queue_usage(cq, ["nvidia.com/gpu", "absent"])}
    assert set(usage) == {"nvidia.com/gpu"}
    assert (usage["nvidia.com/gpu"].used, usage["nvidia.com/gpu"].quota) == ("1", "2")


def test_untrusted_workloads_do_not_raise():
    for junk in (
        {"metadata": {"name": "x"}},
        {"metadata": {"name": "x"}, "status": {"conditions": "no"}, "spec": {"podSets": 3}},
        {"metadata": {"name": "x"}, "status": {"conditions": [1, {"type": 5}]}},
        {"metadata": {"name": "x", "ownerReferences": "bad"}, "spec": {"priorityClassRef": 1}},
    ):
        info = queue_info("gpu", junk)
        assert info.state == "queued"
        assert priority_class_of(junk) is None
    long = workload(_cond("QuotaReserved", "False", "Inadmissible", "x" * 10_000))
    assert len(queue_info("gpu", long).message) <= 2048


def _job(phase: JobPhase, reason: str | None = None) -> JobInfo:
    return JobInfo(id="train-abc123", notebook="t.ipynb", owner="me", phase=phase, reason=reason)


def test_job_status_while_queued():
    queued = queue_info("gpu", workload(PENDING), position=2, pending=3)
    info = with_queue(_job(JobPhase.PENDING, "Suspended"), queued)
    assert (info.phase, info.reason) == (JobPhase.PENDING, "Queued")
    assert info.message == queued.message and info.queue == queued
    preempted = queue_info("gpu", workload(_cond("Evicted", "True", "Preempted", PREEMPT_MESSAGE)))
    # Its pod is still stopping (Running as far as the pod goes): the queue says why.
    info = with_queue(_job(JobPhase.RUNNING), preempted)
    assert (info.phase, info.reason) == (JobPhase.PENDING, "Preempted")
    admitted = queue_info("gpu", workload(RESERVED, ADMITTED, status=ADMISSION))
    info = with_queue(_job(JobPhase.RUNNING), admitted)
    assert (info.phase, info.reason, info.queue) == (JobPhase.RUNNING, None, admitted)
    # A finished job is what it is, whatever its Workload says.
    info = with_queue(_job(JobPhase.CANCELLED, "Cancelled"), queued)
    assert (info.phase, info.reason) == (JobPhase.CANCELLED, "Cancelled")


def test_cli_lines_say_it_once():
    from jupyter_k8s.cli.render import StatusChanges, status_line, status_text

    changes = StatusChanges()
    lines = []
    for position in (3, 3, 2, 1):
        queued = queue_info("gpu", workload(PENDING), position=position, pending=3)
        line = changes(with_queue(_job(JobPhase.PENDING, "Suspended"), queued))
        if line:
            lines.append(line)
    # --follow / --wait: a progress line each time the place changes, none in between.
    assert lines == [
        "Pending: Queued in gpu: position 3 of 3; couldn't assign flavors to pod set main: "
        "insufficient unused quota for nvidia.com/gpu in flavor default-flavor, 1 more needed",
        *(
            f"Pending: Queued in gpu: position {p} of 3; couldn't assign flavors to pod set "
            "main: insufficient unused quota for nvidia.com/gpu in flavor default-flavor, 1 "
            "more needed"
            for p in (2, 1)
        ),
    ]
    info = with_queue(_job(JobPhase.PENDING), queue_info("gpu", workload(PENDING), pending=3))
    assert status_text(info) == "Pending (Queued)"
    assert status_line(info).startswith("Pending: Queued in gpu (3 pending)")


# -- objects recorded from Kueue v0.17.0 on the local cluster ----------------------------------

RECORDED = json.loads((Path(__file__).parents[1] / "recordings" / "kueue-v0.17.json").read_text())


def test_recorded_pending_workload_with_its_place():
    places = positions_of(RECORDED["pendingworkloads"])
    assert places is not None
    wl = RECORDED["pending"]
    position = places[0][wl["metadata"]["name"]]
    info = queue_info(
        "gpu", wl, position=position, pending=places[1], cluster_queue=RECORDED["clusterqueue"]
    )
    assert info.state == "queued"
    assert info.message == (
        f"Queued in gpu: position {position} of 2; ClusterQueue team-a uses nvidia.com/gpu 1 of 1"
    )
    assert requested_resources(wl)["nvidia.com/gpu"] == 1


def test_recorded_admitted_preempted_and_finished():
    admitted = queue_info("gpu", RECORDED["admitted"], cluster_queue=RECORDED["clusterqueue"])
    assert (admitted.state, admitted.message) == ("admitted", "Admitted by ClusterQueue team-a")
    assert admitted.priority_class == "low"
    stopping = queue_info("gpu", RECORDED["preempted_stopping"])
    assert stopping.state == "preempted"
    assert stopping.message.startswith(
        "Preempted by a higher priority workload in ClusterQueue team-a (stopping; it will be "
        "requeued)"
    )
    done = queue_info("gpu", RECORDED["finished_after_preemption"])
    assert (done.state, done.message) == (
        "finished",
        "Finished: Reached expected number of succeeded pods",
    )
    uid = RECORDED["pending"]["metadata"]["labels"]["kueue.x-k8s.io/job-uid"]
    name = RECORDED["pending"]["metadata"]["ownerReferences"][0]["name"]
    assert owned_by(RECORDED["pending"], "Job", name, uid)


def test_usage_in_bytes_reads_in_binary_units_and_stays_a_quantity():
    cq = {
        "spec": {
            "resourceGroups": [
                {
                    "flavors": [
                        {
                            "name": "default-flavor",
                            "resources": [
                                {"name": "memory", "nominalQuota": "24683656Ki"},
                                {"name": "nvidia.com/gpu", "nominalQuota": "1"},
                            ],
                        }
                    ]
                }
            ]
        },
        "status": {
            "flavorsReservation": [
                {
                    "name": "default-flavor",
                    "resources": [
                        {"name": "memory", "total": "128Mi"},
                        {"name": "nvidia.com/gpu", "total": "1"},
                    ],
                }
            ]
        },
    }
    usage = {
        u.resource: (u.used, u.quota) for u in cluster_queue_usage(cq, ["memory", "nvidia.com/gpu"])
    }
    assert usage == {"memory": ("128Mi", "23.54Gi"), "nvidia.com/gpu": ("1", "1")}
