"""Start-up states and kernel exits read from pod objects (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from jupyter_k8s.kernels.objects import SCHEDULING_GATE
from jupyter_k8s.kernels.status import (
    backoff_seconds,
    fail_fast,
    kernel_exit,
    old_instance_ended,
    restart_count,
    session_notebook,
    stale_standalone,
    startup_state,
)


def pod(
    *,
    node: str | None = "n1",
    phase: str = "Pending",
    state: dict | None = None,
    last: dict | None = None,
    restarts: int = 0,
    gated: bool = False,
    conditions: list | None = None,
    deleting: bool = False,
    reason: str | None = None,
    memory: str | None = "2Gi",
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "metadata": {"name": "kernel-a", "uid": "u1"},
        "spec": {"containers": [{"name": "kernel", "resources": {"limits": {"memory": memory}}}]},
        "status": {"phase": phase, "conditions": conditions or []},
    }
    if node:
        p["spec"]["nodeName"] = node
        p["status"]["podIP"] = "10.0.0.7"
    if gated:
        p["spec"]["schedulingGates"] = [{"name": SCHEDULING_GATE}]
    if deleting:
        p["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    if reason:
        p["status"]["reason"] = reason
    if state is not None:
        p["status"]["containerStatuses"] = [
            {"name": "kernel", "state": state, "lastState": last or {}, "restartCount": restarts}
        ]
    return p


RUNNING = {"running": {"startedAt": "2025-01-01T00:00:00Z"}}
UNSCHEDULABLE = [
    {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
    }
]


def event(reason: str, message: str, t: str = "2025-01-01T00:00:01Z", uid: str = "u1") -> dict:
    return {
        "involvedObject": {"kind": "Pod", "name": "kernel-a", "uid": uid},
        "reason": reason,
        "message": message,
        "lastTimestamp": t,
    }


def test_creating_gated_scheduling_unschedulable():
    assert startup_state(None, []).phase == "Creating"
    assert startup_state(pod(node=None, gated=True), []).reason == "SchedulingGated"
    assert startup_state(pod(node=None), []).reason == "Scheduling"
    s = startup_state(pod(node=None, conditions=UNSCHEDULABLE), [])
    assert (s.phase, s.reason) == ("Pending", "Unschedulable")
    assert "Insufficient nvidia.com/gpu" in s.text()


def test_unschedulable_message_from_event_when_condition_has_none():
    cond = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
    s = startup_state(pod(node=None, conditions=cond), [event("FailedScheduling", "0/3 nodes")])
    assert s.message == "0/3 nodes"


def test_stale_gate_condition_is_not_the_reason():
    cond = [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]
    assert startup_state(pod(node=None, conditions=cond), []).reason == "Scheduling"


def test_starting_reasons():
    s = startup_state(pod(state={"waiting": {"reason": "ContainerCreating"}}), [])
    assert (s.phase, s.reason) == ("Starting", "ContainerCreating")
    pulling = startup_state(
        pod(state={"waiting": {"reason": "ContainerCreating"}}),
        [event("Pulling", 'Pulling image "x"')],
    )
    assert (pulling.reason, pulling.message) == ("PullingImage", 'Pulling image "x"')
    mount = startup_state(pod(), [event("FailedMount", "secret not found")])
    assert mount.reason == "FailedMount"
    other = startup_state(pod(), [event("Pulling", "old pod's", uid="other")])
    assert other.reason == "ContainerCreating"


def test_running():
    s = startup_state(pod(phase="Running", state=RUNNING), [])
    assert s.running and s.ip == "10.0.0.7" and s.node == "n1"


@pytest.mark.parametrize(
    "reason", ["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError"]
)
def test_fail_fast(reason):
    p = pod(state={"waiting": {"reason": reason, "message": "details"}})
    s = fail_fast(p)
    assert s is not None and s.failed and s.reason == reason and "details" in s.message
    assert fail_fast(pod(state={"waiting": {"reason": "ContainerCreating"}})) is None


def test_kernel_that_exits_at_start_fails_with_its_log():
    term = {
        "terminated": {
            "exitCode": 1,
            "reason": "Error",
            "message": "x\nModuleNotFoundError: ipykernel",
        }
    }
    s = startup_state(pod(state=term), [])
    assert s.failed and "exited with code 1" in s.message and "ipykernel" in s.message
    looping = pod(state={"waiting": {"reason": "CrashLoopBackOff"}}, last=term, restarts=1)
    assert startup_state(looping, []).failed


def test_restart_in_place_states():
    # the old instance (0) still runs / just ended / back-off: not yet the new one (1)
    assert startup_state(pod(state=RUNNING), [], 1).reason == "Restarting"
    ended = pod(state={"terminated": {"exitCode": 0, "reason": "Completed"}})
    assert startup_state(ended, [], 1).reason == "Restarting"
    backoff = pod(
        state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1s"}}, restarts=1
    )
    assert startup_state(backoff, [], 1).reason == "Restarting"
    assert startup_state(pod(state=RUNNING, restarts=1), [], 1).running
    assert startup_state(pod(state=RUNNING, restarts=2), [], 1).failed


def test_old_instance_ended():
    ended = pod(state={"terminated": {"exitCode": 0, "reason": "Completed"}})
    assert old_instance_ended(ended, 1)
    looping = pod(state={"waiting": {"reason": "CrashLoopBackOff"}}, restarts=1)
    assert old_instance_ended(looping, 2) and not old_instance_ended(looping, 1)
    assert not old_instance_ended(pod(state=RUNNING), 1)  # still the old one, running
    assert not old_instance_ended(pod(state=RUNNING, restarts=1), 1)  # the new one runs
    assert not old_instance_ended(None, 1)


def test_pod_ended_while_starting():
    assert startup_state(pod(deleting=True), []).reason == "PodDeleted"
    ev = startup_state(pod(phase="Failed", reason="Evicted"), [])
    assert ev.failed and ev.reason == "Evicted"


def test_kernel_exit():
    assert kernel_exit(pod(phase="Running", state=RUNNING), 0) is None
    assert kernel_exit(None, 0).reason == "PodDeleted"
    oom = pod(
        state={"waiting": {"reason": "CrashLoopBackOff"}},
        restarts=1,
        last={"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
    )
    ex = kernel_exit(oom, 0)
    assert ex.code == 137 and ex.reason == "OOMKilled" and "2Gi" in ex.message
    assert kernel_exit(oom, 1) is None  # the instance launched after the OOM kill waits
    done = kernel_exit(pod(state={"terminated": {"exitCode": 0, "reason": "Completed"}}), 0)
    assert (done.code, done.reason) == (0, "Exited")
    evicted = kernel_exit(pod(phase="Failed", reason="Evicted", state=RUNNING), 0)
    assert evicted.reason == "Evicted"
    disrupted = pod(
        phase="Running",
        state=RUNNING,
        conditions=[
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "PreemptionByScheduler",
                "message": "m",
            }
        ],
    )
    assert kernel_exit(disrupted, 0).reason == "Preempted"
    assert kernel_exit(pod(state={"waiting": {}}, deleting=True), 0).reason == "PodDeleted"
    assert kernel_exit(pod(state=RUNNING, deleting=True), 0) is None  # still stopping


def test_small_readers():
    assert restart_count(pod(state=RUNNING, restarts=3)) == 3
    assert restart_count(None) == 0
    assert backoff_seconds("back-off 20s restarting failed container=k") == 20
    assert backoff_seconds("back-off 5m0s restarting") == 300
    assert backoff_seconds(None) is None


@pytest.mark.parametrize(
    ("env", "root", "expected"),
    [
        ({"JPY_SESSION_NAME": "/srv/work/a/b.ipynb"}, "/srv/work", "a/b.ipynb"),
        ({"JPY_SESSION_NAME": "a/b.ipynb"}, "/srv/work", "a/b.ipynb"),
        ({"JPY_SESSION_NAME": "/elsewhere/b.ipynb"}, "/srv/work", "b.ipynb"),
        ({"JPY_SESSION_NAME": "/srv/work/b.ipynb"}, None, "b.ipynb"),
        ({}, "/srv/work", None),
        (None, None, None),
    ],
)
def test_session_notebook_is_relative_to_the_root(env, root, expected):
    assert session_notebook(env, root) == expected


def test_stale_standalone_pods_are_those_whose_heartbeat_stopped():

    def kernel_pod(name, client="standalone", heartbeat=None, created="2026-01-01T10:00:00Z"):
        ann = {"jupyter-k8s.io/client": client}
        if heartbeat:
            ann["jupyter-k8s.io/client-heartbeat"] = heartbeat
        return {"metadata": {"name": name, "annotations": ann, "creationTimestamp": created}}

    now = datetime(2026, 1, 1, 10, 10, 0, tzinfo=UTC)
    pods = [
        kernel_pod("alive", heartbeat="2026-01-01T10:09:45Z"),
        kernel_pod("killed", heartbeat="2026-01-01T10:02:00Z"),
        kernel_pod("never-beat"),  # counts from its creation, 10 min ago
        kernel_pod("young-never-beat", created="2026-01-01T10:09:00Z"),
        kernel_pod("server-kernel", client="server"),
        {**kernel_pod("deleting"), "metadata": {**kernel_pod("deleting")["metadata"]}},
    ]
    pods[-1]["metadata"]["deletionTimestamp"] = "2026-01-01T10:09:00Z"
    assert stale_standalone(pods, now, 300) == ["killed", "never-beat"]


def test_holder_state_mine_orphan_or_another_servers():
    from jupyter_k8s.kernels.status import (
        MINE,
        ORPHAN,
        OTHERS,
        heartbeat_age,
        holder_state,
        is_orphan,
    )

    me, other = "a" * 32, "b" * 32
    now = datetime(2026, 1, 1, 10, 10, tzinfo=UTC)

    def pod(holder=None, heartbeat=None, created="2026-01-01T10:00:00Z"):
        ann = {"jupyter-k8s.io/client": "server"}
        if holder:
            ann["jupyter-k8s.io/server-id"] = holder
        if heartbeat:
            ann["jupyter-k8s.io/client-heartbeat"] = heartbeat
        return {"metadata": {"name": "k", "annotations": ann, "creationTimestamp": created}}

    # mine whatever the heartbeat: a restarted server gets its own kernels back
    assert holder_state(pod(me), me, now, 300) == MINE
    assert holder_state(pod(me, "2025-01-01T00:00:00Z"), me, now, 300) == MINE
    # another server's with a fresh heartbeat: left alone
    assert holder_state(pod(other, "2026-01-01T10:09:30Z"), me, now, 300) == OTHERS
    # ... until the heartbeat is older than the grace period
    assert holder_state(pod(other, "2026-01-01T10:04:00Z"), me, now, 300) == ORPHAN
    # no heartbeat yet: counts from the pod's creation
    assert holder_state(pod(other, created="2026-01-01T10:09:00Z"), me, now, 300) == OTHERS
    assert holder_state(pod(other), me, now, 300) == ORPHAN
    # no holder named (an older jupyter-k8s, or junk): an orphan only by its age
    assert holder_state(pod("NOT VALID"), me, now, 300) == ORPHAN
    assert holder_state(pod(None, created="2026-01-01T10:09:59Z"), me, now, 300) == OTHERS
    # an age that can't be read is no orphan: never touched
    junk = pod(other, heartbeat="yesterday", created=None)
    assert heartbeat_age(junk, now) is None and not is_orphan(junk, now, 0)
    assert holder_state(junk, me, now, 0) == OTHERS
    # this server without an id yet: nothing is its own
    assert holder_state(pod(me, "2026-01-01T10:09:30Z"), None, now, 300) == OTHERS
    assert heartbeat_age(pod(other, "2026-01-01T10:09:30Z"), now) == 30
