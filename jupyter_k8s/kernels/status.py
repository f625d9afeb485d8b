"""Where a kernel pod is, in words, from the pod and its events (pure functions).

`startup_state` tells the provisioner, while it waits, what the pod waits for (Kueue's
admission, the scheduler's message, the image pull, container creation) and when to give up
at once (a bad image, a missing config). `kernel_exit` tells `poll()` whether the kernel it
launched is gone, and why (OOMKilled, evicted, preempted by Kueue, deleted, exit code).

The kernel container restarts in place (restartPolicy Always), so "the kernel we launched"
is one instance of the container: the one with `restartCount` equal to what the provisioner
recorded when it launched it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from ..k8s.objects import condition, event_message, events_about, parse_time
from ..k8s.pods import pod_ip
from ..queues.models import WAITING_REASONS, QueueInfo
from .objects import (
    ANN_HEARTBEAT,
    CONTAINER,
    KUEUE_GATE,
    SCHEDULING_GATE,
    annotation,
    client_of,
    gates,
    path_in_root,
    pod_queue,
    server_id_of,
)

Obj = dict[str, Any]

#: The condition Kueue sets on a pod it stops (preempted, evicted, not admitted) before
#: deleting it: plain pods cannot be suspended.
KUEUE_TERMINATION = "TerminationTarget"

#: Waiting reasons that will not resolve by waiting: the kernel start fails at once.
FAIL_FAST = {
    "ErrImagePull": "the image could not be pulled",
    "ImagePullBackOff": "the image could not be pulled",
    "InvalidImageName": "the image name is invalid",
    "ErrImageNeverPull": "the image is not on the node and the pull policy is Never",
    "CreateContainerConfigError": "the container could not be configured",
}

_BACKOFF = re.compile(r"back-off (?:(\d+)m)?(\d+)s", re.IGNORECASE)


@dataclass(frozen=True)
class PodState:
    """What a starting kernel pod is doing."""

    phase: str  # Creating | Pending | Starting | Running | Failed
    reason: str | None = None
    message: str | None = None
    ip: str | None = None
    node: str | None = None

    @property
    def running(self) -> bool:
        return self.phase == "Running"

    @property
    def failed(self) -> bool:
        return self.phase == "Failed"

    def text(self) -> str:
        """One line for logs and errors: "Pending: Unschedulable: 0/1 nodes are ..."."""
        parts = [self.phase]
        if self.reason:
            parts.append(self.reason)
        if self.message:
            parts.append(self.message)
        return ": ".join(parts)


@dataclass(frozen=True)
class KernelExit:
    """How the kernel (one instance of the container) ended."""

    code: int
    reason: str
    message: str


# -- small readers ------------------------------------------------------------------------------


def container_status(pod: Obj | None) -> Obj | None:
    statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or []
    return next((s for s in statuses if s.get("name") == CONTAINER), None)


def restart_count(pod: Obj | None) -> int:
    count = (container_status(pod) or {}).get("restartCount")
    return count if type(count) is int and count >= 0 else 0


def old_instance_ended(pod: Obj | None, launched_restarts: int) -> bool:
    """The kernel's container ended (terminated, or waiting to be started again) and the
    instance with restartCount `launched_restarts` has not started yet: the kubelet's turn."""
    kind, _ = _state(container_status(pod))
    return kind in ("terminated", "waiting") and restart_count(pod) < launched_restarts


def _state(status: Obj | None, which: str = "state") -> tuple[str | None, Obj]:
    for kind, details in ((status or {}).get(which) or {}).items():
        return kind, details or {}
    return None, {}


def pod_events(events: list[Obj], pod: Obj) -> list[Obj]:
    """Events about this pod (matched by uid when the event has one), oldest first."""
    meta = pod.get("metadata") or {}
    return events_about(events, "Pod", meta.get("name", ""), meta.get("uid"))


def _memory_limit(pod: Obj) -> str | None:
    for ctr in (pod.get("spec") or {}).get("containers") or []:
        if ctr.get("name") == CONTAINER:
            return ((ctr.get("resources") or {}).get("limits") or {}).get("memory")
    return None


def _tail(text: str | None, lines: int = 5) -> str:
    kept = [line for line in (text or "").splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def backoff_seconds(message: str | None) -> float | None:
    """The back-off of a CrashLoopBackOff message ("back-off 20s restarting ..."), if any."""
    match = _BACKOFF.search(message or "")
    if not match:
        return None
    return int(match.group(1) or 0) * 60 + int(match.group(2))


# -- why it ended -------------------------------------------------------------------------------


def _terminated_exit(pod: Obj, details: Obj) -> KernelExit:
    code = details.get("exitCode")
    code = int(code) if isinstance(code, int) else 1
    if details.get("reason") == "OOMKilled":
        limit = _memory_limit(pod)
        where = f" of {limit}" if limit else ""
        return KernelExit(
            code or 137,
            "OOMKilled",
            f"the kernel ran out of memory: it was killed at its memory limit{where}; "
            "choose a profile with more memory",
        )
    if details.get("reason") in ("StartError", "ContainerCannotRun"):
        return KernelExit(
            code, details["reason"], details.get("message") or "the kernel could not start"
        )
    tail = _tail(details.get("message"))
    text = f"the kernel exited with code {code}"
    if code == 137:
        text = "the kernel was killed (exit code 137)"
    elif code == 143:
        text = "the kernel was stopped (SIGTERM)"
    return KernelExit(code, "Exited" if code == 0 else "Error", f"{text}: {tail}" if tail else text)


def _kueue_stopped(pod: Obj) -> KernelExit | None:
    """Kueue stopped the pod (its Workload was preempted or evicted), if it did."""
    cond = condition(pod, KUEUE_TERMINATION)
    if not cond or cond.get("status") != "True":
        return None
    said = " ".join(str(cond.get("message") or cond.get("reason") or "").split())[:600]
    reason = "Preempted" if "preempt" in said.lower() else "Evicted"
    return KernelExit(137, reason, "Kueue stopped the kernel's pod" + (f": {said}" if said else ""))


def _pod_ended(pod: Obj) -> KernelExit | None:
    status = pod.get("status") or {}
    if status.get("reason") == "Evicted":
        return KernelExit(137, "Evicted", status.get("message") or "the pod was evicted")
    stopped = _kueue_stopped(pod)
    if stopped is not None:
        return stopped
    disruption = condition(pod, "DisruptionTarget")
    if disruption and disruption.get("status") == "True":
        reason = "Preempted" if disruption.get("reason") == "PreemptionByScheduler" else "Evicted"
        return KernelExit(137, reason, disruption.get("message") or "the pod was disrupted")
    if status.get("phase") in ("Failed", "Succeeded"):
        kind, details = _state(container_status(pod))
        if kind == "terminated":
            return _terminated_exit(pod, details)
        reason = status.get("reason") or "PodFailed"
        return KernelExit(1, reason, status.get("message") or f"the pod ended ({reason})")
    return None


def kernel_exit(pod: Obj | None, launched_restarts: int) -> KernelExit | None:
    """How the kernel launched at container restartCount `launched_restarts` ended, or None
    while it runs (or still starts)."""
    if pod is None:
        return KernelExit(1, "PodDeleted", "the kernel's pod was deleted")
    ended = _pod_ended(pod)
    if ended is not None:
        return ended
    status = container_status(pod)
    kind, details = _state(status)
    if kind == "terminated":
        return _terminated_exit(pod, details)
    if restart_count(pod) > launched_restarts:
        # It ended and the kubelet started (or waits to start) the next instance.
        last_kind, last = _state(status, "lastState")
        if last_kind == "terminated":
            return _terminated_exit(pod, last)
        return KernelExit(1, "Restarted", "the kernel's container was restarted")
    if (pod.get("metadata") or {}).get("deletionTimestamp") and kind != "running":
        return KernelExit(1, "PodDeleted", "the kernel's pod is being deleted")
    return None


# -- while it starts ----------------------------------------------------------------------------


def queued_state(pod: Obj, queue: QueueInfo | None) -> PodState:
    """A pod that waits for Kueue's admission (it has Kueue's gate): Pending, with the reason
    and message of its QueueInfo ("Queued", "Queued in gpu: position 1 of 1; ..."), or a
    plain "Queued" where Kueue's objects are not known here."""
    if queue is None:
        name = pod_queue(pod)[0]
        where = f"in {name}" if name else "in its Kueue queue"
        return PodState("Pending", "Queued", f"Queued {where}: waiting for Kueue's admission")
    # Admitted with the gate still there: Kueue lifts it next.
    reason = "Admitted" if queue.state == "admitted" else WAITING_REASONS.get(queue.state)
    return PodState("Pending", reason or "Queued", queue.message)


def startup_state(
    pod: Obj | None,
    events: list[Obj],
    launched_restarts: int = 0,
    queue: QueueInfo | None = None,
) -> PodState:
    """What the pod of a starting kernel does; `launched_restarts`: the restartCount the new
    kernel instance will have (0 for a new pod; one more than the old one's on a restart);
    `queue`: where the pod stands in its Kueue queue, for a queued pod (see queued_state)."""
    if pod is None:
        return PodState("Creating", None, "creating the kernel pod")
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    node = spec.get("nodeName")
    ip = pod_ip(pod)
    stopped = _kueue_stopped(pod)
    if stopped is not None:  # before the deletion Kueue makes next: why it was deleted
        return PodState("Failed", stopped.reason, stopped.message, ip, node)
    if meta.get("deletionTimestamp"):
        return PodState("Failed", "PodDeleted", "the kernel's pod was deleted while starting")
    ended = _pod_ended(pod)
    if ended is not None:
        return PodState("Failed", ended.reason, ended.message, ip, node)
    about = pod_events(events, pod)
    held = gates(pod)
    # Kueue's gate first: ours goes within a moment (its Secret), Kueue's may take hours.
    if KUEUE_GATE in held:
        return queued_state(pod, queue)
    if SCHEDULING_GATE in held:
        return PodState("Pending", "SchedulingGated", "waiting for the connection Secret")
    scheduled = condition(pod, "PodScheduled")
    if not node:
        if (
            scheduled
            and scheduled.get("status") == "False"
            and scheduled.get("reason") != "SchedulingGated"  # an old condition: gate is gone
        ):
            message = scheduled.get("message")
            if not message:
                failed = [e for e in about if e.get("reason") == "FailedScheduling"]
                message = event_message(failed[-1]) if failed else None
            return PodState("Pending", scheduled.get("reason") or "Unschedulable", message)
        return PodState("Pending", "Scheduling", "waiting for the scheduler")
    cstatus = container_status(pod)
    kind, details = _state(cstatus)
    count = restart_count(pod)
    if count > launched_restarts or (kind == "terminated" and count == launched_restarts):
        # The instance we wait for has already ended: the kernel fails at start.
        last_kind, last = (kind, details) if kind == "terminated" else _state(cstatus, "lastState")
        if last_kind == "terminated":
            ended = _terminated_exit(pod, last)
            return PodState("Failed", ended.reason, ended.message, ip, node)
        return PodState("Failed", "Error", "the kernel exited while starting", ip, node)
    if kind == "terminated" or (kind == "running" and count < launched_restarts):
        # The old instance, before the kubelet starts the next one.
        return PodState("Starting", "Restarting", "waiting for the kernel to restart", ip, node)
    if kind == "running" and count == launched_restarts:
        return PodState("Running", None, f"running on node {node} at {ip}", ip, node)
    if kind == "waiting" and details.get("reason") in FAIL_FAST:
        reason = details["reason"]
        detail = details.get("message") or ""
        message = f"{FAIL_FAST[reason]}: {detail}" if detail else FAIL_FAST[reason]
        return PodState("Failed", reason, message, ip, node)
    latest = about[-1] if about else None
    if latest is not None and latest.get("reason") in ("FailedMount", "FailedCreatePodSandBox"):
        return PodState("Starting", latest["reason"], event_message(latest), ip, node)
    if latest is not None and latest.get("reason") == "Pulling":
        return PodState("Starting", "PullingImage", event_message(latest), ip, node)
    if kind == "waiting" and details.get("reason") == "CrashLoopBackOff":
        return PodState(
            "Starting",
            "Restarting",
            "the kernel restarts in its pod (" + (details.get("message") or "back-off") + ")",
            ip,
            node,
        )
    if kind == "waiting" and details.get("reason") not in (None, "ContainerCreating"):
        return PodState("Starting", details["reason"], details.get("message") or None, ip, node)
    return PodState("Starting", "ContainerCreating", f"creating the container on {node}", ip, node)


def fail_fast(pod: Obj | None) -> PodState | None:
    """The Failed state when the pod waits for what will not come, else None."""
    state = startup_state(pod, [])
    return state if state.failed else None


def session_notebook(env: dict[str, str] | None, root_dir: str | None) -> str | None:
    """The notebook a kernel serves, from jupyter_server's JPY_SESSION_NAME, for the UI.

    jupyter_server passes the session's path (relative to the root) or, when the client
    names the session as JupyterLab does, its absolute path; the UI matches it against its
    notebooks, so it is made relative to the server's root when it lies under it. Paths
    outside the root are reduced to their file name: they say nothing the UI can use.
    """
    name = (env or {}).get("JPY_SESSION_NAME") or ""
    if not name:
        return None
    path = PurePosixPath(name)
    if not path.is_absolute():
        return str(path)
    rel = path_in_root(name, root_dir)
    return path.name if rel is None else str(rel)


def heartbeat_age(pod: Obj, now: datetime) -> float | None:
    """Seconds since the pod's holder last renewed its heartbeat (a pod without one counts
    from its creation); None when neither time can be read."""
    seen = parse_time(annotation(pod, ANN_HEARTBEAT, 64)) or parse_time(
        (pod.get("metadata") or {}).get("creationTimestamp")
    )
    return None if seen is None else (now - seen).total_seconds()


def is_orphan(pod: Obj, now: datetime, grace_seconds: float) -> bool:
    """Whether the pod's holder stopped renewing its heartbeat more than `grace_seconds`
    ago (killed, stopped, its machine lost). A pod whose age can't be read is not one."""
    age = heartbeat_age(pod, now)
    return age is not None and age > grace_seconds


#: What a Jupyter server may do with a kernel pod of its owner (see `holder_state`).
MINE, ORPHAN, OTHERS = "mine", "orphan", "others"


def holder_state(pod: Obj, server_id: str | None, now: datetime, grace_seconds: float) -> str:
    """MINE: this server (`server_id`) holds the pod; ORPHAN: another holder (or none named)
    whose heartbeat is older than the grace period; OTHERS: a live holder's, left alone.

    Only MINE and ORPHAN pods may be adopted or deleted, and only after a claim (see
    `KernelService.claim`). The caller has checked whose pod it is (is_mine).
    """
    if server_id is not None and server_id_of(pod) == server_id:
        return MINE
    return ORPHAN if is_orphan(pod, now, grace_seconds) else OTHERS


def stale_standalone(pods: list[Obj], now: datetime, stale_seconds: float) -> list[str]:
    """The names of the standalone kernel pods whose client stopped renewing its heartbeat
    (a pod without one counts from its creation)."""
    stale = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if client_of(pod) != "standalone" or meta.get("deletionTimestamp"):
            continue
        if is_orphan(pod, now, stale_seconds):
            stale.append(meta["name"])
    return stale
