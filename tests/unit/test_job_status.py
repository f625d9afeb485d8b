"""Job status with the real reason, from realistic Job, Pod and Event objects."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from jupyter_k8s.jobs.models import JobPhase
from jupyter_k8s.jobs.objects import JobBuild, make_job
from jupyter_k8s.jobs.status import fail_fast_reason, job_info, runner_event
from jupyter_k8s.k8s.objects import parse_time
from jupyter_k8s.profiles import load_profiles

PROFILE = load_profiles(
    [{"name": "gpu", "cpu_request": "4", "memory_limit": "16Gi", "gpus": 1}], None
).default
NAME = "nb-analysis-abc123"
POD = f"{NAME}-x7k2p"
T0 = "2024-05-01T10:00:00Z"


def build(**changes) -> JobBuild:
    fields = dict(
        name=NAME,
        namespace="team",
        owner="alice@example.com",
        notebook_path="reports/analysis.ipynb",
        parameters={"alpha": 0.5},
        profile=PROFILE,
        image="img:1",
        output_path="reports/analysis.abc123.ipynb",
        timeout_seconds=3600,
    )
    fields.update(changes)
    return JobBuild(**fields)


def job(status: dict | None = None, annotations: dict | None = None, **changes) -> dict:
    """The Job as the API server returns it: our spec plus uid, timestamps and status."""
    obj = make_job(build(**changes))
    obj["metadata"].update(uid="0b6f-uid", creationTimestamp=T0, resourceVersion="42")
    obj["metadata"]["annotations"].update(annotations or {})
    obj["status"] = status or {}
    return obj


def condition(kind: str, reason: str = "", message: str = "", at: str = T0, status="True"):
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastProbeTime": at,
        "lastTransitionTime": at,
    }


def pod(phase: str = "Pending", state: dict | None = None, conditions=(), name=POD, **status):
    spec = copy.deepcopy(job()["spec"]["template"]["spec"])
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "team",
            "creationTimestamp": "2024-05-01T10:00:01Z",
            "labels": {"batch.kubernetes.io/job-name": NAME},
        },
        "spec": spec,
        "status": {"phase": phase, "conditions": list(conditions), **status},
    }
    if state is not None:
        obj["status"]["containerStatuses"] = [
            {"name": "runner", "image": "img:1", "ready": False, "restartCount": 0, "state": state}
        ]
    return obj


def event(kind: str, name: str, reason: str, message: str, at: str = "2024-05-01T10:00:05Z"):
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.17c", "namespace": "team"},
        "involvedObject": {"kind": kind, "name": name, "namespace": "team"},
        "reason": reason,
        "message": message,
        "type": "Warning",
        "lastTimestamp": at,
        "count": 1,
    }


RUNNING = {"running": {"startedAt": "2024-05-01T10:01:00Z"}}


def terminated(code: int, reason: str = "Error", message: str = "") -> dict:
    return {
        "terminated": {
            "exitCode": code,
            "reason": reason,
            "message": message,
            "startedAt": "2024-05-01T10:01:00Z",
            "finishedAt": "2024-05-01T10:03:30Z",
        }
    }


FAILED_MARKER = (
    '##jupyter-k8s## {"event": "failed", "ename": "ZeroDivisionError", '
    '"evalue": "division by zero", "cell": 3, "exec_count": 4}'
)


# -- identity -----------------------------------------------------------------------------------


def test_fields_come_from_the_job():
    info = job_info(job(), [], [])
    assert info.id == NAME
    assert info.notebook == "reports/analysis.ipynb"
    assert info.owner == "alice@example.com"
    assert info.profile == "gpu" and info.image == "img:1"
    assert info.parameters == {"alpha": 0.5}
    assert info.created == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert info.output_path == "reports/analysis.abc123.ipynb"
    assert info.phase == JobPhase.PENDING and info.reason is None
    assert info.output_state == "pending"


def test_parameters_read_back_in_the_users_order():
    # A rerun resubmits what status reads from the annotation: the order must survive.
    info = job_info(job(parameters={"msg": "x", "a": 3.5}), [], [])
    assert list(info.parameters.items()) == [("msg", "x"), ("a", 3.5)]


def test_bad_parameters_annotation_is_ignored():
    info = job_info(job(annotations={"jupyter-k8s.io/parameters": "{oops"}), [], [])
    assert info.parameters == {}


# -- waiting ------------------------------------------------------------------------------------


def test_no_pod_because_of_quota():
    quota = (
        'Error creating: pods "nb-analysis-abc123-x7k2p" is forbidden: exceeded quota: gpus, '
        "requested: requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=4, limited: "
        "requests.nvidia.com/gpu=4"
    )
    info = job_info(job(), [], [event("Job", NAME, "FailedCreate", quota)])
    assert info.phase == JobPhase.PENDING
    assert (info.reason, info.message) == ("FailedCreate", quota)


def test_suspended_job():
    info = job_info(job(suspend=True), [], [])
    assert (info.phase, info.reason) == (JobPhase.PENDING, "Suspended")


def test_unschedulable_gpu():
    message = (
        "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are "
        "available: 3 No preemption victims found for incoming pod."
    )
    p = pod(conditions=[condition("PodScheduled", "Unschedulable", message, status="False")])
    info = job_info(job(status={"active": 1, "startTime": T0}), [p], [])
    assert (info.phase, info.reason, info.message) == (JobPhase.PENDING, "Unschedulable", message)
    assert fail_fast_reason(info) is None  # an autoscaler may still add a GPU node


def test_unschedulable_message_from_events_new_api():
    p = pod(conditions=[condition("PodScheduled", "Unschedulable", "", status="False")])
    ev = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "regarding": {"kind": "Pod", "name": POD},
        "reason": "FailedScheduling",
        "note": "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
        "eventTime": "2024-05-01T10:00:02.000000Z",
    }
    other = event("Pod", "someone-else", "FailedScheduling", "not ours")
    info = job_info(job(), [p], [other, ev])
    assert info.reason == "Unschedulable"
    assert info.message == ev["note"]


@pytest.mark.parametrize(
    ("reason", "message", "fail_fast"),
    [
        (
            "ErrImagePull",
            'rpc error: code = NotFound desc = failed to pull and unpack image "img:1": not found',
            False,
        ),
        ("ImagePullBackOff", 'Back-off pulling image "img:1"', True),
        (
            "InvalidImageName",
            'Failed to apply default image tag "IMG:1": couldn\'t parse image name',
            True,
        ),
        ("CreateContainerConfigError", 'secret "db-creds" not found', True),
        ("CrashLoopBackOff", "back-off 5m0s restarting failed container", False),
    ],
)
def test_container_waiting_reasons(reason, message, fail_fast):
    p = pod(
        state={"waiting": {"reason": reason, "message": message}},
        conditions=[condition("PodScheduled")],
    )
    info = job_info(job(status={"active": 1}), [p], [])
    assert (info.phase, info.reason, info.message) == (JobPhase.PENDING, reason, message)
    stop = fail_fast_reason(info)
    if fail_fast:
        assert stop is not None and reason in stop and message in stop
    else:
        assert stop is None


def test_container_creating_shows_image_pull_and_mount_problems():
    creating = pod(
        state={"waiting": {"reason": "ContainerCreating"}}, conditions=[condition("PodScheduled")]
    )
    pulling = event("Pod", POD, "Pulling", 'Pulling image "img:1"')
    pulling["type"] = "Normal"
    info = job_info(job(), [creating], [pulling])
    assert (info.reason, info.message) == ("PullingImage", 'Pulling image "img:1"')

    mount = event(
        "Pod",
        POD,
        "FailedMount",
        'MountVolume.SetUp failed for volume "shared" : persistentvolumeclaim "home-bob" not found',
        at="2024-05-01T10:00:09Z",
    )
    info = job_info(job(), [creating], [pulling, mount])
    assert info.reason == "FailedMount" and "home-bob" in info.message

    info = job_info(job(), [creating], [])
    assert (info.reason, info.message) == ("ContainerCreating", None)


# -- running ------------------------------------------------------------------------------------


def test_running_with_progress():
    p = pod("Running", RUNNING, conditions=[condition("PodScheduled"), condition("Ready")])
    progress = {"index": 2, "total": 5, "final": None}
    now = datetime(2024, 5, 1, 10, 2, 30, tzinfo=UTC)
    info = job_info(job(status={"active": 1, "ready": 1}), [p], [], progress, now=now)
    assert info.phase == JobPhase.RUNNING and info.reason is None
    assert info.started == parse_time("2024-05-01T10:01:00Z")
    assert info.finished is None and info.duration_seconds == 90
    assert (info.current_cell, info.total_cells) == (3, 5)
    assert info.output_state == "pending"


def test_retrying_after_eviction():
    evicted = pod(
        "Failed",
        terminated(143),
        conditions=[
            condition(
                "DisruptionTarget",
                "TerminationByKubelet",
                "The node was low on resource: memory.",
            )
        ],
        reason="Evicted",
        message="The node was low on resource: memory. Threshold quantity: 100Mi.",
    )
    info = job_info(job(status={"active": 0}), [evicted], [])
    assert info.phase == JobPhase.PENDING
    assert info.reason == "Evicted"
    assert info.message.startswith("The node was low on resource: memory.")
    assert info.message.endswith("; retrying")


def test_preempted_pod():
    preempted = pod(
        "Failed",
        terminated(143),
        conditions=[condition("DisruptionTarget", "PreemptionByScheduler", "preempted by x")],
    )
    info = job_info(job(), [preempted], [])
    assert info.reason == "Preempted" and info.message == "preempted by x; retrying"


# -- finished -----------------------------------------------------------------------------------


def test_succeeded():
    status = {
        "succeeded": 1,
        "startTime": T0,
        "completionTime": "2024-05-01T10:03:31Z",
        "conditions": [
            condition("SuccessCriteriaMet", "CompletionsReached", at="2024-05-01T10:03:31Z"),
            condition("Complete", "CompletionsReached", at="2024-05-01T10:03:31Z"),
        ],
    }
    done = pod("Succeeded", terminated(0, "Completed"))
    progress = {"index": 3, "total": 5, "final": {"event": "succeeded"}}
    info = job_info(job(status=status), [done], [], progress)
    assert info.phase == JobPhase.SUCCEEDED and info.reason is None
    assert info.finished == parse_time("2024-05-01T10:03:31Z")
    assert info.duration_seconds == 151
    assert (info.current_cell, info.total_cells) == (5, 5)
    assert info.output_state == "pending"  # configmap staging: the service collects it


def test_success_criteria_met_alone_is_success():
    status = {"conditions": [condition("SuccessCriteriaMet", "CompletionsReached")]}
    assert job_info(job(status=status), [], []).phase == JobPhase.SUCCEEDED


def test_output_state_from_annotations_and_shared_staging():
    status = {"conditions": [condition("Complete")]}
    done = pod("Succeeded", terminated(0, "Completed"))
    ann = {"jupyter-k8s.io/output-state": "error", "jupyter-k8s.io/output-error": "too big"}
    info = job_info(job(status=status, annotations=ann), [done], [])
    assert (info.output_state, info.output_error) == ("error", "too big")
    shared = job(
        status=status,
        staging="shared",
        shared_volume={"persistentVolumeClaim": {"claimName": "home"}},
        shared_mount_path="/home/jovyan",
    )
    assert job_info(shared, [done], []).output_state == "ready"


def test_notebook_failure_from_termination_message():
    status = {
        "failed": 1,
        "conditions": [
            condition(
                "FailureTarget",
                "PodFailurePolicy",
                f"Container runner for pod team/{POD} failed with exit code 1 matching FailJob "
                "rule at index 1",
            ),
            condition("Failed", "PodFailurePolicy", "same", at="2024-05-01T10:03:31Z"),
        ],
    }
    tail = "\n".join(["H4sIAAAA", "##jupyter-k8s-output## end", FAILED_MARKER])
    failed = pod("Failed", terminated(1, "Error", tail))
    info = job_info(job(status=status), [failed], [])
    assert info.phase == JobPhase.FAILED
    assert info.reason == "NotebookFailed"
    assert info.message == "ZeroDivisionError: division by zero (in cell [4])"
    assert info.finished == parse_time("2024-05-01T10:03:31Z")


def test_notebook_failure_from_runner_log_when_message_is_cut():
    status = {"conditions": [condition("Failed", "PodFailurePolicy", "exit code 1")]}
    failed = pod("Failed", terminated(1, "Error", "...cut"))
    final = {"event": "failed", "ename": "KeyError", "evalue": "'x'", "cell": 2}
    info = job_info(job(status=status), [failed], [], {"index": 2, "total": 4, "final": final})
    assert (info.reason, info.message) == ("NotebookFailed", "KeyError: 'x'")


def test_failure_target_alone_is_failure():
    status = {"conditions": [condition("FailureTarget", "PodFailurePolicy", "exit code 1")]}
    info = job_info(job(status=status), [], [])
    assert (info.phase, info.reason, info.message) == (
        JobPhase.FAILED,
        "PodFailurePolicy",
        "exit code 1",
    )


def test_oom_killed():
    status = {
        "failed": 1,
        "conditions": [
            condition(
                "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            )
        ],
    }
    oom = pod("Failed", terminated(137, "OOMKilled"))
    info = job_info(job(status=status), [oom], [])
    assert info.phase == JobPhase.FAILED and info.reason == "OOMKilled"
    assert "memory limit of 16Gi" in info.message


def test_deadline_exceeded():
    status = {
        "conditions": [
            condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
        ]
    }
    info = job_info(job(status=status), [pod("Failed", terminated(143))], [])
    assert info.reason == "DeadlineExceeded"
    assert "timeout of 3600 s" in info.message
    assert "Job was active longer than specified deadline" in info.message


def test_terminated_without_cancel_and_other_exit_codes():
    status = {"conditions": [condition("Failed", "PodFailurePolicy", "exit code 143")]}
    info = job_info(job(status=status), [pod("Failed", terminated(143))], [])
    assert info.reason == "Terminated"

    status = {"conditions": [condition("Failed", "BackoffLimitExceeded", "limit")]}
    crash = pod("Failed", terminated(2, "Error", "Traceback...\nImportError: no papermill"))
    info = job_info(job(status=status), [crash], [])
    assert info.reason == "Error"
    assert info.message.startswith("the runner exited with code 2")
    assert "ImportError: no papermill" in info.message


MISSING_MARKER = (
    '##jupyter-k8s## {"event": "failed", "reason": "MissingPackage", "ename": "MissingPackage", '
    '"evalue": "the image has no papermill: the runner needs Python >= 3.8 with papermill and '
    'ipykernel (pip install papermill ipykernel)", "cell": null}'
)
MISSING_MESSAGE = (
    "the image has no papermill: the runner needs Python >= 3.8 with papermill and ipykernel "
    "(pip install papermill ipykernel)"
)


def test_image_without_papermill_from_termination_message():
    # What the runner writes to /dev/termination-log (and last to its log), exit code 1.
    status = {
        "failed": 1,
        "conditions": [
            condition("FailureTarget", "PodFailurePolicy", "exit code 1 matching FailJob"),
            condition("Failed", "PodFailurePolicy", "exit code 1 matching FailJob"),
        ],
    }
    failed = pod("Failed", terminated(1, "Error", MISSING_MARKER + "\n"))
    info = job_info(job(status=status), [failed], [])
    assert info.phase == JobPhase.FAILED
    assert (info.reason, info.message) == ("MissingPackage", MISSING_MESSAGE)


def test_image_without_papermill_from_runner_log_and_before_the_job_fails():
    # The termination message was lost: the final marker read from the pod log says it.
    status = {"conditions": [condition("Failed", "PodFailurePolicy", "exit code 1")]}
    failed = pod("Failed", terminated(1, "Error", ""))
    final = {"event": "failed", "reason": "MissingPackage", "evalue": MISSING_MESSAGE}
    progress = {"index": None, "total": None, "final": final}
    info = job_info(job(status=status), [failed], [], progress)
    assert (info.reason, info.message) == ("MissingPackage", MISSING_MESSAGE)
    # The pod ended with exit 1 but the Job controller has not said so yet: still Running,
    # then Failed at once (podFailurePolicy), never a retry nor a wait for the deadline.
    info = job_info(job(status={"active": 1}), [failed], [], progress)
    assert info.phase == JobPhase.RUNNING


def test_image_without_python():
    status = {"conditions": [condition("Failed", "BackoffLimitExceeded", "limit")]}
    message = 'exec: "python": executable file not found in $PATH: unknown'
    info = job_info(job(status=status), [pod("Failed", terminated(128, "StartError", message))], [])
    assert (info.reason, info.message) == ("StartError", message)


def test_evicted_then_failed_uses_the_failed_pod():
    status = {"conditions": [condition("Failed", "BackoffLimitExceeded", "limit")]}
    oom = pod("Failed", terminated(137, "OOMKilled"), name=f"{NAME}-aaaaa")
    oom["metadata"]["creationTimestamp"] = "2024-05-01T10:05:00Z"
    old = pod("Failed", terminated(143), name=f"{NAME}-bbbbb", reason="Evicted", message="ev")
    info = job_info(job(status=status), [old, oom], [])
    assert info.reason == "OOMKilled"


def test_never_started_job_has_no_output():
    status = {"conditions": [condition("Failed", "DeadlineExceeded", "deadline")]}
    info = job_info(job(status=status), [], [])
    assert info.output_state == "none" and info.started is None


# -- cancel -------------------------------------------------------------------------------------


def test_cancelled_while_stopping_and_after():
    ann = {"jupyter-k8s.io/cancelled": "true"}
    stopping = pod("Running", RUNNING)
    info = job_info(job(annotations=ann, status={"active": 1}), [stopping], [])
    assert (info.phase, info.reason) == (JobPhase.CANCELLED, "Cancelling")
    assert info.finished is None

    status = {"conditions": [condition("Failed", "PodFailurePolicy", "exit code 143")]}
    stopped = pod("Failed", terminated(143, "Error", '##jupyter-k8s## {"event": "cancelled"}'))
    info = job_info(job(annotations=ann, status=status), [stopped], [])
    assert (info.phase, info.reason) == (JobPhase.CANCELLED, "Cancelled")
    assert info.finished is not None
    assert info.output_state == "pending"  # what ran is kept and still collected


def test_finished_before_the_cancel_took_effect():
    ann = {"jupyter-k8s.io/cancelled": "true"}
    status = {"conditions": [condition("Complete")]}
    assert job_info(job(annotations=ann, status=status), [], []).phase == JobPhase.SUCCEEDED


# -- helpers ------------------------------------------------------------------------------------


def test_runner_event_and_parse_time():
    assert runner_event("junk\n" + FAILED_MARKER + "\n")["ename"] == "ZeroDivisionError"
    assert runner_event(None) is None and runner_event("no markers") is None
    assert parse_time("2024-05-01T10:00:00.123456Z").microsecond == 123456
    assert parse_time("nonsense") is None and parse_time(None) is None


def test_fail_fast_only_while_pending():
    info = job_info(job(), [pod(state={"waiting": {"reason": "ImagePullBackOff"}})], [])
    assert fail_fast_reason(info) == "the image could not be pulled (ImagePullBackOff)"
    assert fail_fast_reason(info.model_copy(update={"phase": JobPhase.FAILED})) is None


def test_reason_recorded_by_the_service_wins():
    ann = {
        "jupyter-k8s.io/failure-reason": "ImagePullBackOff",
        "jupyter-k8s.io/failure-message": 'Back-off pulling image "img:1"',
    }
    status = {"conditions": [condition("Failed", "DeadlineExceeded", "deadline")]}
    info = job_info(job(annotations=ann, status=status), [], [])
    assert (info.phase, info.reason) == (JobPhase.FAILED, "ImagePullBackOff")
    assert info.message == 'Back-off pulling image "img:1"'


# -- the node goes down -------------------------------------------------------------------------


def on_a_lost_node(tolerations: bool = True) -> dict:
    """A running pod whose node stopped reporting, as the node lifecycle controller leaves it:
    the container still says running (nobody reports otherwise), Ready is False."""
    p = pod(
        "Running",
        RUNNING,
        conditions=[condition("PodScheduled"), condition("Ready", status="False")],
    )
    p["spec"]["nodeName"] = "dev-node"
    if tolerations:  # added by the API server's DefaultTolerationSeconds admission
        p["spec"]["tolerations"] = [
            {
                "key": f"node.kubernetes.io/{key}",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
            for key in ("not-ready", "unreachable")
        ]
    return p


def test_a_running_job_says_when_its_node_stopped_reporting():
    node_down = event("Pod", POD, "NodeNotReady", "Node is not ready")
    info = job_info(job(status={"active": 1}), [on_a_lost_node()], [node_down])
    assert info.phase == JobPhase.RUNNING
    assert info.reason == "NodeNotReady"
    assert info.message == (
        "Node is not ready: node dev-node stopped reporting, so whether the notebook still "
        "runs is unknown; unless the node comes back, Kubernetes evicts the pod 300 s after "
        "the node went down"
    )
    info = job_info(job(status={"active": 1}), [on_a_lost_node(False)], [node_down])
    assert info.reason == "NodeNotReady" and "evicts" not in info.message
    # Ready False without the controller's event, or the node back (Ready True): nothing
    assert job_info(job(), [on_a_lost_node()], []).reason is None
    back = on_a_lost_node()
    back["status"]["conditions"][-1]["status"] = "True"
    assert job_info(job(), [back], [node_down]).reason is None


def test_a_container_lost_with_its_node_is_retried_or_fails_as_backoff_limit_says():
    """The node (agent) came back without the container: the kubelet reports it terminated,
    ContainerStatusUnknown, exit code 137 -- not one of the codes the podFailurePolicy fails
    the job on, so backoffLimit (the job's retries) decides."""
    lost = pod(
        "Failed",
        terminated(
            137,
            "ContainerStatusUnknown",
            "The container could not be located when the pod was terminated",
        ),
    )
    why = (
        "the notebook's container was lost: its node stopped while it ran, so how it ended "
        "is unknown (The container could not be located when the pod was terminated)"
    )
    # retries=1: the Job controller starts another pod
    info = job_info(job(retries=1), [lost], [])
    assert info.phase == JobPhase.PENDING
    assert (info.reason, info.message) == ("ContainerStatusUnknown", f"{why}; retrying")
    # retries=0: nothing is retried; until the Job says Failed it is still "running"
    info = job_info(job(retries=0), [lost], [])
    assert info.phase == JobPhase.RUNNING and info.reason is None
    status = {"failed": 1, "conditions": [condition("Failed", "BackoffLimitExceeded", "x")]}
    info = job_info(job(status=status, retries=0), [lost], [])
    assert info.phase == JobPhase.FAILED
    assert (info.reason, info.message) == ("ContainerStatusUnknown", why)
    # retried once already (a failed pod before): the second loss ends it
    first = copy.deepcopy(lost)
    first["metadata"].update(name=f"{NAME}-aaaaa", creationTimestamp=T0)
    info = job_info(job(retries=1), [first, lost], [])
    assert info.phase == JobPhase.RUNNING and info.reason is None
    # an evicted pod is not counted (the podFailurePolicy ignores disruptions)
    evicted = copy.deepcopy(first)
    evicted["status"]["conditions"] = [condition("DisruptionTarget", "DeletionByTaintManager")]
    info = job_info(job(retries=1), [evicted, lost], [])
    assert info.phase == JobPhase.PENDING and info.message.endswith("; retrying")
