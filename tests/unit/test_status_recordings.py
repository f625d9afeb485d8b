"""Job and kernel statuses on what a real cluster sent: the recordings in tests/recordings/.

Each recording is the watch stream of Jobs, Pods and Events in one namespace of the local
cluster while something went right or wrong (see tests/recordings/record.py, which made them
and says how to make them again). Here each stream is fed, change by change, into a cache as
the services' reflectors keep it, and after every change the status is read from that cache
as the services read it: what a user would see at that moment, in order.

The expectations are the sequence of distinct states (a change that alters nothing the user
sees is not a step). Where the sequence shows something odd that the code does today, a
comment says so; it is asserted all the same, so that a change of behaviour is a decision.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_k8s.jobs.models import JobInfo
from jupyter_k8s.jobs.status import fail_fast_reason, job_info
from jupyter_k8s.k8s.objects import events_about
from jupyter_k8s.kernels.status import KernelExit, PodState, fail_fast, kernel_exit, pod_events
from jupyter_k8s.kernels.status import startup_state as kernel_startup_state

Obj = dict[str, Any]
RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
SCHEDULER_SAYS = (
    "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are "
    "available: 1 Preemption is not helpful for scheduling."
)
BAD_IMAGE = "registry.invalid/team/notebook:1"
PULL_FAILED = f'failed to pull image "{BAD_IMAGE}": dial tcp: lookup registry.invalid: no such host'
BACK_OFF = f'Back-off pulling image "{BAD_IMAGE}"'
# What every job recording shows first: the Job made suspended (its ConfigMap follows), then
# resumed, its pod scheduled and its container created.
JOB_START = [
    ("Pending", "Suspended", "the job is suspended"),
    ("Pending", None, None),
]
CONTAINER_CREATING = ("Pending", "ContainerCreating", None)
# The node agent reports the runner's container terminated one update before the pod's phase;
# in between the job still reads Running (not Pending again: see
# test_a_job_never_steps_back_to_pending).
RUNNING_THEN_ENDING = [("Running", None, None)]
KERNEL_START = [
    "Pending: SchedulingGated: waiting for the connection Secret",
    "Pending: Scheduling: waiting for the scheduler",
]
KERNEL_CREATING = "Starting: ContainerCreating: creating the container on dev-node"


# -- replay -------------------------------------------------------------------------------------


def recording(name: str) -> list[Obj]:
    return [json.loads(line) for line in (RECORDINGS / f"{name}.jsonl").read_text().splitlines()]


def replay(name: str) -> Iterator[dict[str, dict[str, Obj]]]:
    """The cache after each recorded change: resource -> name -> object, as a reflector keeps
    its store (ADDED and MODIFIED replace the object, DELETED drops it)."""
    cache: dict[str, dict[str, Obj]] = {"jobs": {}, "pods": {}, "events": {}}
    for change in recording(name):
        store = cache[change["resource"]]
        obj = change["object"]
        if change["type"] == "DELETED":
            store.pop(obj["metadata"]["name"], None)
        else:
            store[obj["metadata"]["name"]] = obj
        yield cache


def _pods_of(job: Obj, pods: dict[str, Obj]) -> list[Obj]:
    """As JobService._pods_of: the job-name label, and made by that very Job."""
    name, uid = job["metadata"]["name"], job["metadata"]["uid"]
    return [
        p
        for p in pods.values()
        if (p["metadata"].get("labels") or {}).get(JOB_NAME_LABEL) == name
        and any(
            r.get("kind") == "Job" and r.get("uid") == uid and r.get("controller")
            for r in p["metadata"].get("ownerReferences") or []
        )
    ]


def job_infos(name: str) -> list[JobInfo]:
    """The job's status after each change, as JobService._info reads it (no pod log)."""
    infos = []
    for cache in replay(name):
        jobs = list(cache["jobs"].values())
        assert len(jobs) <= 1, "one job per recording"
        if not jobs:
            continue
        job = jobs[0]
        pods = _pods_of(job, cache["pods"])
        events = list(cache["events"].values())
        about = events_about(events, "Job", job["metadata"]["name"])
        for pod in pods:
            about += events_about(events, "Pod", pod["metadata"]["name"])
        infos.append(job_info(job, pods, about))
    return infos


def steps(values: list[Any]) -> list[Any]:
    """The distinct consecutive values: what a user watching would have seen change."""
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def job_states(name: str) -> list[tuple[str, str | None, str | None]]:
    return steps([(i.phase.value, i.reason, i.message) for i in job_infos(name)])


def kernel_pods(name: str) -> list[tuple[Obj | None, list[Obj]]]:
    """(the kernel pod or None once deleted, its events) after each change."""
    seen = []
    for cache in replay(name):
        pods = list(cache["pods"].values())
        assert len(pods) <= 1, "one kernel pod per recording"
        pod = pods[0] if pods else None
        seen.append((pod, pod_events(list(cache["events"].values()), pod) if pod else []))
    return seen


def startup_states(name: str) -> list[str]:
    """What the provisioner's start says while the pod exists (PodState.text())."""
    return steps(
        [
            kernel_startup_state(pod, events).text()
            for pod, events in kernel_pods(name)
            if pod is not None
        ]
    )


def kernel_exits(name: str) -> list[tuple[str, int] | None]:
    """What the provisioner's poll() says of the launched kernel: (reason, exit code)."""
    ends: list[KernelExit | None] = [kernel_exit(pod, 0) for pod, _ in kernel_pods(name)]
    return steps([(e.reason, e.code) if e else None for e in ends])


# -- the recordings themselves ------------------------------------------------------------------

JOB_RECORDINGS = [
    "job-succeeded",
    "job-notebook-error",
    "job-oomkilled",
    "job-unschedulable",
    "job-bad-image",
    "job-pod-deleted",
]
KERNEL_RECORDINGS = [
    "kernel-unschedulable",
    "kernel-bad-image",
    "kernel-exits",
    "kernel-oomkilled",
    "kernel-deleted",
]


def test_every_recording_is_replayed_here():
    on_disk = sorted(p.stem for p in RECORDINGS.glob("*.jsonl"))
    assert on_disk == sorted(JOB_RECORDINGS + KERNEL_RECORDINGS)


def test_recordings_are_small_and_hold_no_token():
    files = list(RECORDINGS.glob("*.jsonl"))
    assert sum(f.stat().st_size for f in files) < 200_000
    jwt = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")
    for f in files:
        text = f.read_text()
        assert not jwt.search(text), f.name
        assert "managedFields" not in text and '"env"' not in text, f.name


@pytest.mark.parametrize("name", JOB_RECORDINGS + KERNEL_RECORDINGS)
def test_recordings_are_watch_streams(name):
    changes = recording(name)
    assert changes, name
    for change in changes:
        assert change["resource"] in ("jobs", "pods", "events")
        assert change["type"] in ("ADDED", "MODIFIED", "DELETED")
        assert change["object"]["metadata"]["name"]


# -- notebook jobs ------------------------------------------------------------------------------


def test_job_that_succeeds():
    assert job_states("job-succeeded") == [
        *JOB_START,
        CONTAINER_CREATING,
        *RUNNING_THEN_ENDING,
        ("Succeeded", None, None),
    ]
    last = job_infos("job-succeeded")[-1]
    assert last.output_state == "ready"  # the service collected the executed notebook
    assert last.started and last.finished and last.duration_seconds is not None


def test_job_whose_notebook_raises_exits_1_with_the_exception():
    # The runner's final marker, read from the container's termination message.
    assert job_states("job-notebook-error") == [
        *JOB_START,
        CONTAINER_CREATING,
        *RUNNING_THEN_ENDING,
        ("Failed", "NotebookFailed", "ValueError: bad row 40 (in cell [3])"),
    ]
    assert job_infos("job-notebook-error")[-1].output_state == "ready"  # the partial notebook


def test_job_killed_at_its_memory_limit_says_oomkilled_and_the_limit():
    assert job_states("job-oomkilled") == [
        *JOB_START,
        CONTAINER_CREATING,
        *RUNNING_THEN_ENDING,
        (
            "Failed",
            "OOMKilled",
            "the notebook ran out of memory: the container was killed at its memory limit of "
            "256Mi; choose a profile with more memory",
        ),
    ]


def test_job_asking_more_gpus_than_any_node_has_says_what_the_scheduler_said():
    states = job_states("job-unschedulable")
    assert states == [
        *JOB_START,
        ("Pending", "Unschedulable", SCHEDULER_SAYS),
        # The user cancels: the pod never ran, so nothing is kept but the reason.
        ("Cancelled", "Cancelling", "stopping the notebook; the output so far is kept"),
        ("Cancelled", "Cancelled", "cancelled by the user"),
    ]
    # An autoscaler may add a node: Unschedulable is waited for, never failed fast.
    assert all(fail_fast_reason(i) is None for i in job_infos("job-unschedulable"))


def test_job_with_an_image_that_cannot_be_pulled_fails_fast():
    infos = job_infos("job-bad-image")
    assert steps([(i.phase.value, i.reason, i.message) for i in infos]) == [
        *JOB_START,
        CONTAINER_CREATING,
        ("Pending", "PullingImage", f'Pulling image "{BAD_IMAGE}"'),
        ("Pending", "ErrImagePull", PULL_FAILED),
        ("Pending", "ImagePullBackOff", BACK_OFF),
        # The service read the next line as hopeless, annotated the Job with why and gave it
        # a deadline already passed: the Job controller failed it and removed the pod.
        (
            "Failed",
            "ImagePullBackOff",
            f"the image could not be pulled (ImagePullBackOff): {BACK_OFF}",
        ),
    ]
    # ErrImagePull may be a registry's hiccup; its back-off is what stops the job.
    first = next(i for i in infos if fail_fast_reason(i) is not None)
    assert first.reason == "ImagePullBackOff"
    assert fail_fast_reason(first) == infos[-1].message
    assert infos[-1].output_state == "none"  # it never ran: nothing to wait for


def test_job_whose_pod_is_deleted_while_it_runs():
    states = job_states("job-pod-deleted")
    assert states[:-1] == [
        *JOB_START,
        CONTAINER_CREATING,
        *RUNNING_THEN_ENDING,
        ("Failed", "Terminated", "the notebook was stopped (SIGTERM) before it finished"),
    ]
    # Once the pod is gone, only the Job's condition is left to read: the Job controller's
    # words replace the reason the user had (the pod's exit code 143 matched the FailJob
    # rule of our podFailurePolicy).
    phase, reason, message = states[-1]
    assert (phase, reason) == ("Failed", "PodFailurePolicy")
    assert re.fullmatch(
        r"Container runner for pod [\w-]+/nb-nb-\w+-\w+ failed with exit code 143 matching "
        r"FailJob rule at index 1",
        message or "",
    )
    assert job_infos("job-pod-deleted")[-1].output_state == "ready"  # the partial notebook


@pytest.mark.parametrize(
    "name", ["job-succeeded", "job-notebook-error", "job-oomkilled", "job-pod-deleted"]
)
def test_a_job_never_steps_back_to_pending(name):
    phases = steps([i.phase.value for i in job_infos(name)])
    assert phases.count("Pending") == 1, phases


# -- kernel pods --------------------------------------------------------------------------------


def test_kernel_asking_more_gpus_than_any_node_has_says_what_the_scheduler_said():
    assert startup_states("kernel-unschedulable") == [
        *KERNEL_START,
        f"Pending: Unschedulable: {SCHEDULER_SAYS}",
        "Failed: PodDeleted: the kernel's pod was deleted while starting",
    ]
    assert kernel_exits("kernel-unschedulable") == [
        None,
        ("PodDeleted", 1),  # being deleted, then gone
    ]


def test_kernel_with_an_image_that_cannot_be_pulled_fails_at_once():
    assert startup_states("kernel-bad-image") == [
        *KERNEL_START,
        KERNEL_CREATING,
        # (The Pulling event came after the pod's ErrImagePull here: nothing to show.)
        f"Failed: ErrImagePull: the image could not be pulled: {PULL_FAILED}",
        f"Failed: ImagePullBackOff: the image could not be pulled: {BACK_OFF}",
        "Failed: PodDeleted: the kernel's pod was deleted while starting",
    ]
    # Unlike a job's, a kernel's start gives up on the first ErrImagePull: someone waits.
    first: PodState = next(
        s for s in (fail_fast(pod) for pod, _ in kernel_pods("kernel-bad-image")) if s
    )
    assert first.reason == "ErrImagePull"


def test_kernel_that_exits_1_fails_its_start_with_its_last_words():
    words = "the kernel exited with code 1: No module named ipykernel_launcher"
    assert startup_states("kernel-exits") == [
        *KERNEL_START,
        KERNEL_CREATING,
        "Running: running on node dev-node at 127.1.0.8",  # for a moment
        f"Failed: Error: {words}",
        "Failed: PodDeleted: the kernel's pod was deleted while starting",
    ]
    assert kernel_exits("kernel-exits") == [None, ("Error", 1), ("PodDeleted", 1)]
    ended = [kernel_exit(pod, 0) for pod, _ in kernel_pods("kernel-exits")]
    assert next(e for e in ended if e).message == words


def test_kernel_killed_at_its_memory_limit_says_oomkilled_and_the_limit():
    said = (
        "the kernel ran out of memory: it was killed at its memory limit of 256Mi; choose a "
        "profile with more memory"
    )
    assert startup_states("kernel-oomkilled") == [
        *KERNEL_START,
        KERNEL_CREATING,
        "Running: running on node dev-node at 127.1.0.9",
        f"Failed: OOMKilled: {said}",
        "Failed: PodDeleted: the kernel's pod was deleted while starting",
    ]
    assert kernel_exits("kernel-oomkilled") == [None, ("OOMKilled", 137), ("PodDeleted", 1)]


def test_running_kernel_whose_pod_is_deleted():
    assert startup_states("kernel-deleted")[:-1] == [
        *KERNEL_START,
        KERNEL_CREATING,
        "Running: running on node dev-node at 127.1.0.10",
    ]
    # While the pod terminates the kernel reads as still running, then as stopped by SIGTERM
    # (with the tail of its log: ipykernel's banner), and as deleted once the pod is gone.
    assert kernel_exits("kernel-deleted") == [None, ("Error", 143), ("PodDeleted", 1)]
    ended = [kernel_exit(pod, 0) for pod, _ in kernel_pods("kernel-deleted")]
    sigterm = next(e for e in ended if e)
    assert sigterm.message.startswith("the kernel was stopped (SIGTERM): ")
