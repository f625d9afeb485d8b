"""A notebook job's status with the real reason, from its Job, pods and events (pure).

Users should read "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu", not
"Pending"; "OOMKilled" with the memory limit, not "BackoffLimitExceeded"; the notebook's
exception, not "exit code 1". The reason is machine-readable (CamelCase, mostly the one
Kubernetes uses); the message is for a person.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TypeGuard, get_args

from ..k8s.objects import condition, event_message, events_about, parse_time
from ..queues.models import WAITING_REASONS, QueueInfo
from .models import JobInfo, JobPhase, OutputState
from .objects import (
    ANN_CANCELLED,
    ANN_FAILURE_MESSAGE,
    ANN_FAILURE_REASON,
    ANN_INDEX_OUTPUT_PREFIX,
    ANN_NOTEBOOK,
    ANN_OUTPUT,
    ANN_OUTPUT_ERROR,
    ANN_OUTPUT_STATE,
    ANN_PARAMETERS,
    ANN_PROFILE,
    ANN_STAGING,
    ANN_SWEEP,
    ANN_USERNAME,
    CONTAINER,
    FAIL_JOB_EXIT_CODES,
    LABEL_OWNER,
)
from .runlog import parse_marker
from .sweeps import IndexInfo, SweepInfo, indexed_output_path, parse_indexes, pod_index

Obj = dict[str, Any]

#: Waiting reasons that say something is wrong (ContainerCreating and the like are normal).
PROBLEM_WAITING = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
    "RunContainerError",
}
#: Waiting reasons that will not resolve by waiting: the service may stop the job at once.
FAIL_FAST = {
    "InvalidImageName": "the image name is invalid",
    "ErrImageNeverPull": "the image is not on the node and the pull policy is Never",
    "ImagePullBackOff": "the image could not be pulled",
    "CreateContainerConfigError": "the container could not be configured",
}


# -- small readers ------------------------------------------------------------------------------


def _true_conditions(obj: Obj) -> dict[str, Obj]:
    conds = (obj.get("status") or {}).get("conditions") or []
    return {c.get("type", ""): c for c in conds if c.get("status") == "True"}


def _runner_status(pod: Obj) -> Obj | None:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return next(
        (s for s in statuses if s.get("name") == CONTAINER), statuses[0] if statuses else None
    )


def _state(pod: Obj) -> tuple[str | None, Obj]:
    """("waiting" | "running" | "terminated" | None, the state's details) of the runner."""
    status = _runner_status(pod)
    for kind, details in ((status or {}).get("state") or {}).items():
        return kind, details or {}
    return None, {}


def _newest(pods: list[Obj]) -> Obj | None:
    def key(pod: Obj) -> tuple[str, str]:
        meta = pod.get("metadata") or {}
        return meta.get("creationTimestamp") or "", meta.get("name") or ""

    return max(pods, key=key) if pods else None


def runner_event(message: str | None) -> Obj | None:
    """The runner's last final event (failed/cancelled/succeeded) in a termination message.

    With FallbackToLogsOnError that message is the tail of the log, where the runner prints
    its final marker last; the runner also writes the marker to /dev/termination-log.
    """
    for line in reversed((message or "").splitlines()):
        parsed = parse_marker(line)
        if parsed and parsed[1].get("event") in ("failed", "cancelled", "succeeded"):
            return parsed[1]
    return None


def _last_lines(text: str | None, n: int = 3) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return "\n".join(lines[-n:])


# -- reasons ------------------------------------------------------------------------------------


def _memory_limit(pod: Obj) -> str | None:
    for ctr in (pod.get("spec") or {}).get("containers") or []:
        if ctr.get("name") == CONTAINER:
            return ((ctr.get("resources") or {}).get("limits") or {}).get("memory")
    return None


def _notebook_failure(event: Obj) -> tuple[str, str]:
    text = f"{event.get('ename') or 'Error'}: {event.get('evalue') or ''}".rstrip(": ")
    if event.get("exec_count") is not None:
        text += f" (in cell [{event['exec_count']}])"
    return "NotebookFailed", text


def _pod_failure(pod: Obj, progress: Obj | None) -> tuple[str, str] | None:
    """Why this pod ended badly, if it did."""
    status = pod.get("status") or {}
    if status.get("reason") == "Evicted":
        return "Evicted", status.get("message") or "the pod was evicted from its node"
    disruption = condition(pod, "DisruptionTarget")
    if disruption and disruption.get("status") == "True":
        reason = "Preempted" if disruption.get("reason") == "PreemptionByScheduler" else "Evicted"
        return reason, disruption.get("message") or "the pod was disrupted"
    kind, details = _state(pod)
    if kind != "terminated":
        return None
    code = details.get("exitCode")
    if details.get("reason") == "ContainerStatusUnknown":
        # What the kubelet reports for a container it can no longer find: its node (or the
        # node's agent) went down while it ran, and nobody knows how it ended.
        said = details.get("message")
        return "ContainerStatusUnknown", (
            "the notebook's container was lost: its node stopped while it ran, so how it "
            "ended is unknown" + (f" ({said})" if said else "")
        )
    if details.get("reason") == "OOMKilled":
        limit = _memory_limit(pod)
        where = f" of {limit}" if limit else ""
        return "OOMKilled", (
            f"the notebook ran out of memory: the container was killed at its memory "
            f"limit{where}; choose a profile with more memory"
        )
    if code == 0:
        return None
    final = runner_event(details.get("message")) or ((progress or {}).get("final") or None)
    if code == 1 and final and final.get("event") == "failed":
        if final.get("reason"):
            # The runner's own failure, named (e.g. MissingPackage: an image without
            # papermill); its evalue is already a sentence for a person.
            return str(final["reason"]), str(final.get("evalue") or final["reason"])
        return _notebook_failure(final)
    if code == 143:
        return "Terminated", "the notebook was stopped (SIGTERM) before it finished"
    if details.get("reason") in ("StartError", "ContainerCannotRun"):
        return details["reason"], details.get("message") or "the container could not start"
    tail = _last_lines(details.get("message"))
    text = f"the runner exited with code {code}"
    if code == 137:
        text = "the container was killed (exit code 137)"
    return "Error", f"{text}: {tail}" if tail else text


def _pod_waiting(pod: Obj, events: list[Obj]) -> tuple[str, str | None] | None:
    """Why this (not yet running) pod waits, when it is worth saying."""
    scheduled = condition(pod, "PodScheduled")
    pod_events = events_about(events, "Pod", (pod.get("metadata") or {}).get("name", ""))
    if scheduled and scheduled.get("status") == "False":
        message = scheduled.get("message")
        if not message:
            failed = [e for e in pod_events if e.get("reason") == "FailedScheduling"]
            message = event_message(failed[-1]) if failed else None
        return scheduled.get("reason") or "Unschedulable", message
    kind, details = _state(pod)
    if kind == "waiting" and details.get("reason") in PROBLEM_WAITING:
        return details["reason"], details.get("message")
    if kind in ("waiting", None):
        latest = pod_events[-1] if pod_events else None
        if latest is not None and latest.get("reason") == "FailedMount":
            return "FailedMount", event_message(latest)
        if latest is not None and latest.get("reason") == "Pulling":
            return "PullingImage", event_message(latest)
        if kind == "waiting" and details.get("reason"):
            return details["reason"], details.get("message")
    return None


#: NoExecute taints the node lifecycle controller puts on a node that stopped reporting.
NODE_DOWN_TAINTS = ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")


def _eviction_seconds(pod: Obj) -> int | None:
    """After how long a pod on a node that stopped reporting is evicted (its toleration of
    the not-ready/unreachable taints; 300 s when the API server's DefaultTolerationSeconds
    admission added them)."""
    found = [
        t.get("tolerationSeconds")
        for t in (pod.get("spec") or {}).get("tolerations") or []
        if t.get("key") in NODE_DOWN_TAINTS and t.get("effect") in (None, "NoExecute")
    ]
    seconds = [s for s in found if isinstance(s, int)]
    return min(seconds) if seconds else None


def _node_not_ready(pod: Obj, events: list[Obj]) -> tuple[str, str] | None:
    """Why a running pod may not be running at all: its node stopped reporting.

    Nobody reports a container's end when its node is down, so the pod still says it runs;
    after the node monitor grace period the node lifecycle controller sets the pod's Ready
    condition False and records NodeNotReady ("Node is not ready") on it. Both are read here
    (a notebook's pod has no readiness probe: Ready is False while it runs only then).
    """
    if _state(pod)[0] != "running":
        return None
    ready = condition(pod, "Ready")
    if not ready or ready.get("status") != "False":
        return None
    meta = pod.get("metadata") or {}
    marked = [
        e
        for e in events_about(events, "Pod", meta.get("name", ""), meta.get("uid"))
        if e.get("reason") == "NodeNotReady"
    ]
    if not marked:
        return None
    node = (pod.get("spec") or {}).get("nodeName")
    where = f"node {node}" if node else "its node"
    evict = _eviction_seconds(pod)
    after = (
        f"; unless the node comes back, Kubernetes evicts the pod {evict} s after the node "
        "went down"
        if evict is not None
        else ""
    )
    return "NodeNotReady", (
        f"{event_message(marked[-1]) or 'Node is not ready'}: {where} stopped reporting, so "
        f"whether the notebook still runs is unknown{after}"
    )


# -- the job ------------------------------------------------------------------------------------


def _phase(job: Obj, conds: dict[str, Obj], pod: Obj | None, pods: list[Obj]) -> JobPhase:
    cancelled = (job.get("metadata") or {}).get("annotations", {}).get(ANN_CANCELLED) == "true"
    if "Complete" in conds or "SuccessCriteriaMet" in conds:
        return JobPhase.SUCCEEDED
    if cancelled:
        return JobPhase.CANCELLED
    if "Failed" in conds or "FailureTarget" in conds:
        return JobPhase.FAILED
    if pod is not None and _state(pod)[0] == "running":
        return JobPhase.RUNNING
    if (
        pod is not None
        and _state(pod)[0] == "terminated"
        and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ):
        # The runner ended and the pod's phase says so in the node's next update: still
        # running as far as the user is concerned, not back to "Pending".
        return JobPhase.RUNNING
    if pod is not None and _ends_the_job(pod, job, pods):
        # The pod has ended but the Job controller has not said so yet (a moment): still
        # running, as far as the user is concerned; "Pending" would be a step backwards.
        return JobPhase.RUNNING
    return JobPhase.PENDING


def _disrupted(pod: Obj) -> bool:
    disruption = condition(pod, "DisruptionTarget")
    return bool(disruption and disruption.get("status") == "True")


def _ends_the_job(pod: Obj, job: Obj | None = None, pods: list[Obj] | None = None) -> bool:
    """A pod that succeeded, or failed in a way the Job won't retry: its podFailurePolicy
    fails the Job on the exit code, or the failures counted against backoffLimit (all but
    disruptions, which the policy ignores) are more than it allows."""
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return True
    ignored = _ignored_exit_codes(job)
    if phase != "Failed" or _disrupted(pod) or _exit_code(pod) in ignored:
        return False  # evicted or preempted: the policy's first rules retry it
    if _exit_code(pod) in FAIL_JOB_EXIT_CODES:
        return True
    if job is None:
        return False
    limit = (job.get("spec") or {}).get("backoffLimit")
    if not isinstance(limit, int):
        return False
    counted = sum(
        1
        for p in pods or [pod]
        if (p.get("status") or {}).get("phase") == "Failed"
        and not _disrupted(p)
        and _exit_code(p) not in ignored
    )
    failed = (job.get("status") or {}).get("failed")
    return max(counted, failed if isinstance(failed, int) else 0) > limit


def _exit_code(pod: Obj) -> int | None:
    kind, details = _state(pod)
    code = details.get("exitCode") if kind == "terminated" else None
    return code if isinstance(code, int) else None


def _ignored_exit_codes(job: Obj | None) -> set[int]:
    """The runner's exit codes the Job's podFailurePolicy ignores (retries uncounted): a
    queued job's 143, Kueue's preemption (objects._failure_policy)."""
    rules = (((job or {}).get("spec") or {}).get("podFailurePolicy") or {}).get("rules")
    ignored: set[int] = set()
    for rule in rules if isinstance(rules, list) else []:
        codes = (rule.get("onExitCodes") or {}) if isinstance(rule, dict) else {}
        if rule.get("action") == "Ignore" and codes.get("operator") == "In":
            ignored.update(c for c in codes.get("values") or [] if isinstance(c, int))
    return ignored


def _finish_time(job: Obj, conds: dict[str, Obj], pod: Obj | None) -> datetime | None:
    for ctype in ("Complete", "Failed", "SuccessCriteriaMet", "FailureTarget"):
        if ctype in conds and conds[ctype].get("lastTransitionTime"):
            return parse_time(conds[ctype]["lastTransitionTime"])
    if (job.get("status") or {}).get("completionTime"):
        return parse_time(job["status"]["completionTime"])
    if pod is not None:
        kind, details = _state(pod)
        if kind == "terminated":
            return parse_time(details.get("finishedAt"))
    return None


def _reason(
    job: Obj,
    phase: JobPhase,
    conds: dict[str, Obj],
    pods: list[Obj],
    events: list[Obj],
    progress: Obj | None,
) -> tuple[str | None, str | None]:
    pod = _newest(pods)
    if phase == JobPhase.SUCCEEDED:
        return None, None
    if phase == JobPhase.CANCELLED:
        finished = "Failed" in conds or "FailureTarget" in conds
        active = pod is not None and (pod.get("status") or {}).get("phase") not in (
            "Succeeded",
            "Failed",
        )
        if not finished and active:
            return "Cancelling", "stopping the notebook; the output so far is kept"
        return "Cancelled", "cancelled by the user"
    if phase == JobPhase.FAILED:
        ann = _annotations(job)
        if ann.get(ANN_FAILURE_REASON):
            return ann[ANN_FAILURE_REASON], ann.get(ANN_FAILURE_MESSAGE)
        cond = conds.get("Failed") or conds.get("FailureTarget") or {}
        if cond.get("reason") == "DeadlineExceeded":
            deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
            limit = f" of {deadline} s" if deadline else ""
            return "DeadlineExceeded", (
                f"the job ran past its timeout{limit} and was stopped "
                f"({cond.get('message') or 'Job was active longer than specified deadline'})"
            )
        failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
        last = _newest(failed) or pod
        detail = _pod_failure(last, progress) if last else None
        if detail:
            return detail
        return cond.get("reason") or "Failed", cond.get("message") or "the job failed"
    # Pending or Running.
    if pod is None:
        job_events = events_about(events, "Job", (job.get("metadata") or {}).get("name", ""))
        failed_create = [e for e in job_events if e.get("reason") == "FailedCreate"]
        if failed_create:
            return "FailedCreate", event_message(failed_create[-1])
        if (job.get("spec") or {}).get("suspend"):
            return "Suspended", "the job is suspended"
        return None, None
    if _ends_the_job(pod, job, pods):
        return None, None
    if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
        detail = _pod_failure(pod, progress)
        if detail:  # the Job controller will start another pod
            return detail[0], f"{detail[1]}; retrying"
        return None, None
    if phase == JobPhase.RUNNING:
        down = _node_not_ready(pod, events)
        if down:
            return down
    if phase == JobPhase.PENDING:
        waiting = _pod_waiting(pod, events)
        if waiting:
            return waiting
    return None, None


def _annotations(job: Obj) -> dict[str, str]:
    return (job.get("metadata") or {}).get("annotations") or {}


def _parameters(job: Obj) -> dict[str, Any]:
    try:
        value = json.loads(_annotations(job).get(ANN_PARAMETERS) or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _image(job: Obj) -> str | None:
    spec = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    for ctr in spec.get("containers") or []:
        if ctr.get("name") == CONTAINER:
            return ctr.get("image")
    return None


def _is_output_state(value: str | None) -> TypeGuard[OutputState]:
    return value in get_args(OutputState)


def _output_state(
    job: Obj, phase: JobPhase, started: datetime | None
) -> tuple[OutputState, str | None]:
    ann = _annotations(job)
    error = ann.get(ANN_OUTPUT_ERROR)
    state = ann.get(ANN_OUTPUT_STATE)
    if _is_output_state(state):
        return state, error
    if not ann.get(ANN_OUTPUT):
        return "none", None
    if phase.finished and started is None:
        return "none", None  # it never ran: there is nothing to collect
    if phase.finished and ann.get(ANN_STAGING) == "shared":
        return "ready", None  # the runner wrote it in place
    return "pending", None


def cell_progress(progress: Obj | None) -> tuple[int | None, int | None, str | None]:
    """(current cell, cells, its first line) of `runlog.progress_of`'s progress: code cell k of
    N, 1-based, the injected parameters cell counted; a run that succeeded is at its last."""
    if not progress:
        return None, None, None
    current, total = progress.get("cell"), progress.get("total")
    if current is None and isinstance(progress.get("index"), int):
        current = progress["index"] + 1  # a progress of before code cells were counted
    final = progress.get("final") or {}
    if final.get("event") == "succeeded" and total is not None:
        current = total
    return current, total, progress.get("line")


def job_info(
    job: Obj,
    pods: list[Obj],
    events: list[Obj],
    runlog_progress: Obj | None = None,
    *,
    now: datetime | None = None,
) -> JobInfo:
    """The status of one notebook job.

    `pods`: the Job's pods (label `batch.kubernetes.io/job-name`); `events`: events about the
    Job and those pods (others are ignored); `runlog_progress`: `RunnerLog.progress` from the
    pod log, if read. `now` gives a running job's duration so far.
    """
    meta = job.get("metadata") or {}
    ann = _annotations(job)
    conds = _true_conditions(job)
    pod = _newest(pods)
    phase = _phase(job, conds, pod, pods)
    reason, message = _reason(job, phase, conds, pods, events, runlog_progress)
    sweep = sweep_info(job, pods, phase, reason, message)
    if sweep is not None:
        phase, reason, message = _sweep_phase(job, sweep, phase, reason, message)

    started = None
    if pod is not None:
        kind, details = _state(pod)
        if kind in ("running", "terminated"):
            started = parse_time(details.get("startedAt"))
    finished = _finish_time(job, conds, pod) if phase.finished and reason != "Cancelling" else None
    duration = None
    if started and finished:
        duration = max(0.0, (finished - started).total_seconds())
    elif started and now and not phase.finished:
        duration = max(0.0, (now - started).total_seconds())

    current, total, line = cell_progress(runlog_progress)
    output_state, output_error = _output_state(job, phase, started)
    if sweep is not None and ANN_OUTPUT_STATE not in ann:
        output_state, output_error = _sweep_output_state(sweep, phase)

    return JobInfo(
        id=meta.get("name", ""),
        notebook=ann.get(ANN_NOTEBOOK, ""),
        owner=ann.get(ANN_USERNAME) or (meta.get("labels") or {}).get(LABEL_OWNER, ""),
        profile=ann.get(ANN_PROFILE),
        image=_image(job),
        parameters=_parameters(job),
        phase=phase,
        reason=reason,
        message=message,
        created=parse_time(meta.get("creationTimestamp")),
        started=started,
        finished=finished,
        duration_seconds=duration,
        current_cell=current,
        total_cells=total,
        current_cell_line=line,
        output_path=ann.get(ANN_OUTPUT),
        output_state=output_state,
        output_error=output_error,
        sweep=sweep,
    )


# -- sweeps (Indexed Jobs) ----------------------------------------------------------------------


def sweep_sets(job: Obj) -> list[dict[str, Any]] | None:
    """A sweep's parameter sets (its annotation), or None for a plain job."""
    text = _annotations(job).get(ANN_SWEEP)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return []
    if not isinstance(value, list):
        return []
    return [s if isinstance(s, dict) else {} for s in value]


def _index_output(
    ann: dict[str, str], k: int, finished: bool, started: bool
) -> tuple[str, str | None]:
    said = ann.get(f"{ANN_INDEX_OUTPUT_PREFIX}{k}")
    if said in ("ready", "none", "pending"):
        return said, None
    if said and said.startswith("error"):
        return "error", said.removeprefix("error").lstrip(": ") or None
    if not finished:
        return ("pending" if started else "none"), None
    if not started:
        return "none", None  # it never ran: nothing to collect
    return ("ready" if ann.get(ANN_STAGING) == "shared" else "pending"), None


def sweep_info(
    job: Obj,
    pods: list[Obj],
    phase: JobPhase,
    reason: str | None = None,
    message: str | None = None,
) -> SweepInfo | None:
    """Each index's phase and reason, from status.completedIndexes/failedIndexes and the
    index's newest pod (its completion-index annotation); None for a plain job.

    `phase`, `reason`, `message`: the Job's, which an index neither done nor failed takes
    when the whole Job ended (a cancel, the timeout).
    """
    sets = sweep_sets(job)
    if sets is None:
        return None
    status = job.get("status") or {}
    done = parse_indexes(status.get("completedIndexes"))
    failed = parse_indexes(status.get("failedIndexes"))
    newest: dict[int, list[Obj]] = {}
    for p in pods:
        k = pod_index(p)
        if k is not None:
            newest.setdefault(k, []).append(p)
    ann = _annotations(job)
    base_output = ann.get(ANN_OUTPUT)
    spec = job.get("spec") or {}
    info = SweepInfo(total=len(sets), parallelism=int(spec.get("parallelism") or 1))
    for k, params in enumerate(sets):
        pod = _newest(newest.get(k, []))
        kind = _state(pod)[0] if pod is not None else None
        started = kind in ("running", "terminated")
        idx_reason = idx_message = None
        if k in done:
            idx_phase = JobPhase.SUCCEEDED
        elif k in failed:
            idx_phase = JobPhase.FAILED
            detail = _pod_failure(pod, None) if pod is not None else None
            idx_reason, idx_message = detail or ("Failed", "this parameter set failed")
            if phase == JobPhase.CANCELLED and idx_reason == "Terminated":
                # Stopped by the cancel (SIGTERM, exit 143), which FailIndex counts as failed.
                idx_phase, idx_reason, idx_message = JobPhase.CANCELLED, reason, message
        elif phase.finished:
            idx_phase = JobPhase.CANCELLED if phase == JobPhase.CANCELLED else JobPhase.FAILED
            idx_reason, idx_message = reason, message
        elif kind == "running" or (pod is not None and kind == "terminated"):
            idx_phase = JobPhase.RUNNING
        else:
            idx_phase = JobPhase.PENDING
            waiting = _pod_waiting(pod, []) if pod is not None else None
            if waiting:
                idx_reason, idx_message = waiting
        state, error = _index_output(ann, k, idx_phase.finished, started)
        info.indexes.append(
            IndexInfo(
                index=k,
                parameters=params,
                phase=idx_phase.value,
                reason=idx_reason,
                message=idx_message,
                output_path=indexed_output_path(base_output, k) if base_output else None,
                output_state=state,  # type: ignore[arg-type]
                output_error=error,
            )
        )
        counted = {
            JobPhase.SUCCEEDED: "succeeded",
            JobPhase.FAILED: "failed",
            JobPhase.RUNNING: "running",
            JobPhase.PENDING: "pending",
            JobPhase.CANCELLED: "cancelled",
        }[idx_phase]
        setattr(info, counted, getattr(info, counted) + 1)
    return info


def _sweep_phase(
    job: Obj, sweep: SweepInfo, phase: JobPhase, reason: str | None, message: str | None
) -> tuple[JobPhase, str | None, str | None]:
    """The whole sweep's phase and reason: running while any index runs or has run (the
    newest pod alone may be a pending one), "FailedIndexes" when the indexes failed."""
    if not phase.finished:
        if sweep.running or sweep.succeeded or sweep.failed:
            return JobPhase.RUNNING, None, None
        return phase, reason, message
    cond = _true_conditions(job).get("Failed") or _true_conditions(job).get("FailureTarget")
    if (
        phase == JobPhase.FAILED
        and sweep.failed
        and not _annotations(job).get(ANN_FAILURE_REASON)
        and (cond or {}).get("reason") in (None, "FailedIndexes", "BackoffLimitExceeded")
    ):
        first = next(i for i in sweep.indexes if i.phase == JobPhase.FAILED.value)
        return (
            JobPhase.FAILED,
            "FailedIndexes",
            (
                f"{sweep.failed} of {sweep.total} parameter sets failed; index {first.index}: "
                f"{first.reason}: {first.message}"
            ),
        )
    return phase, reason, message


def _sweep_output_state(sweep: SweepInfo, phase: JobPhase) -> tuple[OutputState, str | None]:
    """Pending until every index that ran has its output; then ready if any is."""
    states = [i.output_state for i in sweep.indexes]
    if not phase.finished or "pending" in states:
        return "pending", None
    if "ready" in states:
        return "ready", None
    errors = [i.output_error for i in sweep.indexes if i.output_state == "error"]
    if errors:
        return "error", errors[0]
    return "none", None


def with_queue(info: JobInfo, queue: QueueInfo | None) -> JobInfo:
    """The job's status with its Kueue queue: while it waits there (queued, preempted and
    queued again, inadmissible) it is Pending with reason Queued, Preempted or Inadmissible
    and the queue's message, so that every view (CLI, magic, sidebar) says why it waits."""
    info.queue = queue
    if queue is not None and not info.phase.finished and queue.state in WAITING_REASONS:
        info.phase = JobPhase.PENDING
        info.reason = WAITING_REASONS[queue.state]
        info.message = queue.message
        # A preempted run's progress is not this wait's: it starts again from the first cell.
        info.current_cell = info.current_cell_line = None
    return info


def fail_fast_reason(info: JobInfo) -> str | None:
    """A message when the job waits for something that will not come; None to keep waiting.

    The service stops such a job (e.g. marks it failed and deletes it) instead of letting it
    sit Pending until its deadline. Unschedulable is not here: an autoscaler may add a node.
    """
    if info.phase != JobPhase.PENDING or info.reason not in FAIL_FAST:
        return None
    detail = f": {info.message}" if info.message else ""
    return f"{FAIL_FAST[info.reason]} ({info.reason}){detail}"
