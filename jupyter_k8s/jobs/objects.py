"""Pure builders of a notebook job's Kubernetes objects: the Job and its input ConfigMap.

Dicts out, no I/O, tested against golden dicts. Everything the service knows about a job is
in a `JobBuild`; everything the cluster needs to remember about it (notebook, parameters,
profile, output path, owner) is written into the Job's labels and annotations, so that a
restarted server lists the jobs again from the cluster alone.

The ConfigMap carries the notebook, the runner's source and job.json into the pod. The
service creates the Job first, then the ConfigMap owned by it (`set_owner`), so that deleting
the Job (or its TTL) removes the ConfigMap too; a pod that starts before the ConfigMap exists
waits for its volume.

A schedule is a CronJob (`make_cronjob`) whose jobTemplate is the Job `make_job` builds, with
the owner's labels and annotations: the Jobs the CronJob controller makes from it are ordinary
jobs of the owner. Its input ConfigMap is owned by the CronJob (every run mounts it), and each
run writes its own output, `<stem>.<run's Job name>.ipynb` (`run_output_path`): the run's name
reaches the pod through the downward API (`RUN_NAME_ENV`).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import gzip
import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import TooLargeProblem
from ..k8s.objects import (
    MANAGED_BY,
    container,
    deep_merge,
    pod_spec,
    restricted_pod_security,
)
from ..names import notebook_stem, owner_label
from ..profiles import Profile
from ..queues.names import PRIORITY_LABEL, QUEUE_LABEL

# -- labels and annotations (the cluster is the source of truth) ---------------------------------

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_OWNER = "jupyter-k8s.io/owner"
COMPONENT = "notebook-job"

ANN_NOTEBOOK = "jupyter-k8s.io/notebook"
ANN_PARAMETERS = "jupyter-k8s.io/parameters"
ANN_PROFILE = "jupyter-k8s.io/profile"
ANN_OUTPUT = "jupyter-k8s.io/output"
ANN_USERNAME = "jupyter-k8s.io/username"  # the exact name; the owner label may be hashed
ANN_STAGING = "jupyter-k8s.io/staging"
# The timeout the user asked for: cancel and fail-fast overwrite activeDeadlineSeconds (with 1),
# so a rerun reads the user's value from here.
ANN_TIMEOUT = "jupyter-k8s.io/timeout-seconds"
ANN_CANCELLED = "jupyter-k8s.io/cancelled"  # set by the service on cancel: "true"
ANN_OUTPUT_STATE = "jupyter-k8s.io/output-state"  # set by the service: pending|ready|error
ANN_OUTPUT_ERROR = "jupyter-k8s.io/output-error"
# Set by the service when it stops a job itself (e.g. after `status.fail_fast_reason`), so the
# real reason outlives the pod: it wins over what the Job's conditions say.
ANN_FAILURE_REASON = "jupyter-k8s.io/failure-reason"
ANN_FAILURE_MESSAGE = "jupyter-k8s.io/failure-message"
# A sweep's parameter sets (JSON list, index k runs set k); absent on a plain job.
ANN_SWEEP = "jupyter-k8s.io/sweep"
# Set by the service per index of a sweep once its output is collected: "ready" | "none" |
# "error: <message>" (one key per index, so that concurrent patches never race).
ANN_INDEX_OUTPUT_PREFIX = "jupyter-k8s.io/output-"
# On a schedule's jobTemplate (so on each of its runs): the CronJob's name.
ANN_SCHEDULE = "jupyter-k8s.io/schedule"
# What `kubectl create job --from=cronjob/x` puts on a Job it makes: a run started by hand.
ANN_INSTANTIATE = "cronjob.kubernetes.io/instantiate"
# Set by the service once the end-of-job notification went out (or was given up): "true".
ANN_NOTIFIED = "jupyter-k8s.io/notified"
COMPONENT_SCHEDULE = "notebook-schedule"

#: Select every notebook job (add the owner label to select one user's).
JOB_SELECTOR = f"{LABEL_MANAGED_BY}=jupyter-k8s,{LABEL_COMPONENT}={COMPONENT}"
#: Select every schedule (CronJob); add the owner label to select one user's.
SCHEDULE_SELECTOR = f"{LABEL_MANAGED_BY}=jupyter-k8s,{LABEL_COMPONENT}={COMPONENT_SCHEDULE}"
#: A CronJob's name: the controller appends `-<minutes since 1970>` (11 characters) for a
#: run's Job, whose name must stay a 63-character label (its pods' job-name label).
MAX_SCHEDULE_NAME = 52
#: A scheduled run's own Job name in its pod (downward API), for its output path.
RUN_NAME_ENV = "JUPYTER_K8S_JOB_NAME"
RUN_NAME_FIELD = "metadata.labels['batch.kubernetes.io/job-name']"
CONCURRENCY_POLICIES = ("Forbid", "Allow", "Replace")

# -- paths inside the pod -----------------------------------------------------------------------

CONTAINER = "runner"
JOB_DIR = "/var/run/jupyter-k8s/job"
RUNNER_DIR = "/var/run/jupyter-k8s/runner"
WORK_DIR = "/var/run/jupyter-k8s/work"
NOTEBOOK_KEY = "notebook.ipynb.gz"  # gzip: notebooks (JSON) shrink 3-10x, writes get faster
RUNNER_KEY = "runner.py"
CONFIG_KEY = "job.json"
FOLDER_KEY = "folder.tar.gz"

#: The API server refuses ConfigMaps whose data (keys + values) exceed 1 MiB.
MAX_CONFIGMAP_BYTES = 1024 * 1024
#: Parameters travel in an annotation; all annotations together may not pass 256 KiB.
MAX_PARAMETERS_BYTES = 64 * 1024
DEFAULT_MAX_OUTPUT_BYTES = 5 * 1024 * 1024

#: A notebook that fails (1) or is cancelled (143) is final; an evicted pod is retried.
FAIL_JOB_EXIT_CODES = [1, 143]
SIGTERM_EXIT_CODE = 143
#: The runner's environment variable the Job controller sets in an Indexed Job's pods.
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
GRACE_SECONDS = 30

Staging = Literal["configmap", "shared"]


@dataclass(frozen=True)
class JobBuild:
    """Everything needed to build one notebook job's objects.

    `staging` "configmap": notebook in, executed notebook out through the pod log (framed by
    the runner); "shared": the pod mounts `shared_volume` (a pod volume source such as
    {"persistentVolumeClaim": {"claimName": ...}}) at `shared_mount_path`, the server root's
    path, and writes the executed notebook straight to `output_path` there.
    Paths (`notebook_path`, `output_path`) are relative to the server root.
    """

    name: str
    namespace: str
    owner: str
    notebook_path: str
    parameters: Mapping[str, Any]
    profile: Profile
    image: str
    output_path: str
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    timeout_seconds: int | None = None
    retries: int = 0
    ttl_seconds: int | None = None
    staging: Staging = "configmap"
    shared_volume: Mapping[str, Any] | None = None
    shared_mount_path: str | None = None
    input_configmap_name: str = ""  # "": "<name>-input" (see `configmap_name`)
    runner_configmap_name: str | None = None  # None: runner.py is in the input ConfigMap
    kernel_name: str = "python3"
    language: str = "python"
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    ship_folder: bool = False
    run_as_user: int = 1000
    suspend: bool = False
    # How an output too large for the log reaches the server (pod/runner.py's hold_output):
    # {"token", "port", "hold_seconds"}; None: such an output fails the job (OutputTooLarge).
    handover: Mapping[str, Any] | None = None
    # A sweep: one parameter set per index of an Indexed Job (each merged over `parameters`);
    # () for a plain job. `parallelism`: how many indexes run at once.
    sweep: tuple[Mapping[str, Any], ...] = ()
    parallelism: int = 1
    # A schedule's build: `name` is its CronJob's, `output_path` the schedule's
    # `<stem>.<name>.ipynb`, of which each run writes its own (`run_output_path`).
    schedule: bool = False
    # Kueue (docs/queues.md): the LocalQueue the Job joins and its WorkloadPriorityClass;
    # None: not queued. A queued Job is created suspended and Kueue resumes it on admission.
    queue: str | None = None
    priority_class: str | None = None

    def __post_init__(self) -> None:
        if self.parallelism < 1:
            raise ValueError("parallelism must be at least 1")
        if self.schedule and self.sweep:
            raise ValueError("a schedule runs one notebook, not a sweep")
        if self.schedule and len(self.name) > MAX_SCHEDULE_NAME:
            raise ValueError(f"a schedule's name has at most {MAX_SCHEDULE_NAME} characters")
        if self.staging not in ("configmap", "shared"):
            raise ValueError(f"unknown staging {self.staging!r}")
        if self.staging == "shared" and not (self.shared_volume and self.shared_mount_path):
            raise ValueError("shared staging needs shared_volume and shared_mount_path")
        if self.shared_mount_path is not None and not self.shared_mount_path.startswith("/"):
            raise ValueError("shared_mount_path must be absolute")
        if self.priority_class and not self.queue:
            raise ValueError("a priority class needs a queue")

    @property
    def configmap_name(self) -> str:
        """The input ConfigMap's name (derived here, so `dataclasses.replace` stays right)."""
        return self.input_configmap_name or f"{self.name}-input"

    @property
    def runner_path(self) -> str:
        folder = RUNNER_DIR if self.runner_configmap_name else JOB_DIR
        return f"{folder}/{RUNNER_KEY}"

    @property
    def notebook_dir(self) -> str:
        """The notebook's folder relative to the server root ("" at the root)."""
        return posixpath.dirname(self.notebook_path)


def output_path_for(notebook_path: str, unique: str) -> str:
    """Where the executed notebook goes: next to the input, `<stem>.<unique>.ipynb`."""
    folder = posixpath.dirname(notebook_path)
    name = f"{notebook_stem(notebook_path)}.{unique}.ipynb"
    return posixpath.join(folder, name) if folder else name


def run_output_path(schedule_output: str, schedule: str, run: str) -> str:
    """A scheduled run's output: the schedule's `<stem>.<schedule>.ipynb` as `<stem>.<run>.ipynb`
    (`run`, the run's Job name, is `<schedule>-<suffix>`)."""
    tail = f".{schedule}.ipynb"
    if not schedule_output.endswith(tail):
        raise ValueError(f"{schedule_output!r} is not the output path of schedule {schedule!r}")
    return f"{schedule_output[: -len(tail)]}.{run}.ipynb"


def schedule_of(job: Mapping[str, Any]) -> str | None:
    """The schedule (CronJob name) whose run this Job is, or None.

    Its schedule annotation (from the jobTemplate), its name `<schedule>-...` and its
    controller owner reference to that CronJob must agree: labels and annotations are
    untrusted text, and the answer picks the output path and the hand-over token.
    """
    meta = job.get("metadata") or {}
    schedule = (meta.get("annotations") or {}).get(ANN_SCHEDULE)
    if not isinstance(schedule, str) or not str(meta.get("name", "")).startswith(f"{schedule}-"):
        return None
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "CronJob" and ref.get("name") == schedule and ref.get("controller"):
            return schedule
    return None


def labels(build: JobBuild) -> dict[str, str]:
    return {
        **MANAGED_BY,
        LABEL_COMPONENT: COMPONENT,
        LABEL_OWNER: owner_label(build.owner),
    }


def queue_labels(build: JobBuild) -> dict[str, str]:
    """The labels that put the Job in its Kueue LocalQueue (none for a job not queued)."""
    found = {QUEUE_LABEL: build.queue} if build.queue else {}
    if build.queue and build.priority_class:
        found[PRIORITY_LABEL] = build.priority_class
    return found


def _parameters_json(parameters: Mapping[str, Any] | list[Any], what: str = "parameters") -> str:
    # Never sort_keys: the order is the user's (`-p msg x -p a 3.5` injects msg, then a, as
    # papermill does), and a rerun reads the parameters back from this annotation.
    value = list(parameters) if isinstance(parameters, list) else dict(parameters)
    text = json.dumps(value, separators=(",", ":"))
    if len(text.encode()) > MAX_PARAMETERS_BYTES:
        raise TooLargeProblem(
            f"the {what} are {len(text.encode())} bytes of JSON, over the limit of "
            f"{MAX_PARAMETERS_BYTES}; pass large data as a file path instead"
        )
    return text


def sweep_sets(build: JobBuild) -> list[dict[str, Any]]:
    """Each index's full parameters: the shared ones, then its own set over them."""
    return [{**build.parameters, **one} for one in build.sweep]


def make_annotations(build: JobBuild) -> dict[str, str]:
    ann = {
        ANN_NOTEBOOK: build.notebook_path,
        ANN_PARAMETERS: _parameters_json(build.parameters),
        ANN_PROFILE: build.profile.name,
        ANN_OUTPUT: build.output_path,
        ANN_USERNAME: build.owner,
        ANN_STAGING: build.staging,
    }
    if build.timeout_seconds:
        ann[ANN_TIMEOUT] = str(build.timeout_seconds)
    if build.sweep:
        ann[ANN_SWEEP] = _parameters_json(sweep_sets(build), "sweep's parameter sets")
    if build.schedule:
        ann[ANN_SCHEDULE] = build.name
    return ann


# -- job.json and the input ConfigMap ------------------------------------------------------------


def make_runner_config(build: JobBuild) -> dict[str, Any]:
    """job.json, what the runner in the pod reads (see pod/runner.py)."""
    if build.staging == "shared":
        root = build.shared_mount_path or "/"
        output = posixpath.join(root, build.output_path)
        cwd = posixpath.join(root, build.notebook_dir) if build.notebook_dir else root
    else:
        output = f"{WORK_DIR}/output/{posixpath.basename(build.output_path)}"
        cwd = f"{WORK_DIR}/cwd"
    config: dict[str, Any] = {
        "input": f"{JOB_DIR}/{NOTEBOOK_KEY}",
        "output": output,
        "parameters": dict(build.parameters),
        "kernel_name": build.kernel_name,
        "language": build.language,
        "cwd": cwd,
        "output_mode": "shared" if build.staging == "shared" else "log",
        "max_output_bytes": build.max_output_bytes,
        "work_dir": WORK_DIR,
    }
    if build.ship_folder:
        config["unpack"] = f"{JOB_DIR}/{FOLDER_KEY}"
    if build.handover and build.staging != "shared":
        config["handover"] = dict(build.handover)
    if build.sweep:
        # The runner picks set JOB_COMPLETION_INDEX and writes `<output stem>-<index>.ipynb`.
        config["sweep"] = sweep_sets(build)
    return config


def _configmap_size(data: Mapping[str, str], binary: Mapping[str, bytes]) -> int:
    # As the API server counts it: key and value bytes, binaryData before base64.
    return sum(len(k) + len(v.encode()) for k, v in data.items()) + sum(
        len(k) + len(v) for k, v in binary.items()
    )


def make_input_configmap(
    build: JobBuild,
    notebook_bytes: bytes,
    runner_source: str | None,
    job_json: Mapping[str, Any] | str,
    extra_files: Mapping[str, bytes] | None = None,
) -> dict[str, Any]:
    """The ConfigMap with notebook.ipynb.gz, runner.py (unless in its own ConfigMap), job.json.

    `extra_files` go in binaryData (e.g. FOLDER_KEY, the notebook's folder as .tar.gz).
    TooLargeProblem past the API server's 1 MiB.
    """
    data: dict[str, str] = {}
    # mtime=0: the same notebook gives the same bytes (golden tests, no spurious diffs).
    binary: dict[str, bytes] = {NOTEBOOK_KEY: gzip.compress(notebook_bytes, 1, mtime=0)}
    if runner_source is not None:
        data[RUNNER_KEY] = runner_source
    # Not sort_keys: that would sort the parameters too, and the runner injects them in this
    # order. The builder's own key order is fixed, so the text stays deterministic.
    data[CONFIG_KEY] = job_json if isinstance(job_json, str) else json.dumps(job_json, indent=1)
    for key, value in (extra_files or {}).items():
        if not re.fullmatch(r"[-._a-zA-Z0-9]+", key) or key in data:
            raise ValueError(f"invalid or duplicate ConfigMap key {key!r}")
        binary[key] = value
    size = _configmap_size(data, binary)
    if size > MAX_CONFIGMAP_BYTES:
        raise TooLargeProblem(
            f"the notebook and its files are {size} bytes, over the {MAX_CONFIGMAP_BYTES} bytes "
            "a ConfigMap can hold; clear large outputs, ship less, or use a shared volume"
        )
    configmap: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": build.configmap_name,
            "namespace": build.namespace,
            "labels": labels(build),
        },
        "data": data,
    }
    if binary:
        configmap["binaryData"] = {k: base64.b64encode(v).decode() for k, v in binary.items()}
    return configmap


def set_owner(obj: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """A copy of `obj` owned by the created `job` (needs its uid): garbage-collected with it.

    blockOwnerDeletion false: deleting the Job must never wait on its ConfigMap.
    """
    meta = job.get("metadata") or {}
    if not meta.get("uid"):
        raise ValueError("the Job has no uid: pass the object the API server returned")
    owned = copy.deepcopy(obj)
    owned.setdefault("metadata", {})["ownerReferences"] = [
        {
            "apiVersion": job.get("apiVersion", "batch/v1"),
            "kind": job.get("kind", "Job"),
            "name": meta["name"],
            "uid": meta["uid"],
            "blockOwnerDeletion": False,
        }
    ]
    return owned


# -- the Job ------------------------------------------------------------------------------------


def _env(build: JobBuild) -> list[dict[str, Any]]:
    # Later wins: the profile's settings, then the user's own.
    merged = {"PYTHONUNBUFFERED": "1", **build.profile.env, **build.env}
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in merged.items()]
    if build.handover and build.staging != "shared":
        # Where the runner serves a held output (from the downward API, not a user choice).
        env = [e for e in env if e["name"] != "POD_IP"]
        env.append({"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})
    if build.schedule:
        # Which run this is: its output path, and the notebook may read it too.
        env = [e for e in env if e["name"] != RUN_NAME_ENV]
        env.append({"name": RUN_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": RUN_NAME_FIELD}}})
    return env


def _volumes(build: JobBuild) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(pod volumes, runner container mounts)."""
    volumes: list[dict[str, Any]] = [
        {"name": "job", "configMap": {"name": build.configmap_name, "defaultMode": 0o444}},
        {"name": "work", "emptyDir": {}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "job", "mountPath": JOB_DIR, "readOnly": True},
        {"name": "work", "mountPath": WORK_DIR},
    ]
    if build.runner_configmap_name:
        volumes.append(
            {
                "name": "runner",
                "configMap": {"name": build.runner_configmap_name, "defaultMode": 0o444},
            }
        )
        mounts.append({"name": "runner", "mountPath": RUNNER_DIR, "readOnly": True})
    if build.staging == "shared":
        volumes.append({"name": "shared", **copy.deepcopy(dict(build.shared_volume or {}))})
        mounts.append({"name": "shared", "mountPath": build.shared_mount_path})
    return volumes, mounts


def _pod_security(build: JobBuild) -> dict[str, Any]:
    """Restricted, as `run_as_user` with that number as its group too (as kernel pods).

    Without runAsGroup the pod's group is the image's (root, 0, for a uid the image does not
    list), and what a job writes into the user's folder would be group root. fsGroup adds the
    group to every process and has the kubelet give volumes that support it (most block-storage
    PVCs, Secrets, ConfigMaps) to that group; hostPath and most NFS volumes it leaves as they
    are, so there the folder must be writable by the uid or by this group (docs/operators.md).
    OnRootMismatch: a large home volume is not walked again at every job's start."""
    security = restricted_pod_security(build.run_as_user)
    security["runAsGroup"] = build.run_as_user
    security["fsGroup"] = build.run_as_user
    security["fsGroupChangePolicy"] = "OnRootMismatch"
    return security


def make_pod_spec(build: JobBuild) -> dict[str, Any]:
    """The pod template's spec: restricted, no token, the runner container, the profile."""
    profile = build.profile
    volumes, mounts = _volumes(build)
    cfg = make_runner_config(build)
    command = ["python", build.runner_path, "--config", f"{JOB_DIR}/{CONFIG_KEY}"]
    if build.schedule and build.staging == "shared":
        # Each run writes its own notebook in place: the path names the run's Job, which
        # Kubernetes puts in for $(RUN_NAME_ENV) (a '$' of the path itself is escaped as $$).
        root = build.shared_mount_path or "/"
        schedule_output = posixpath.join(root, build.output_path).replace("$", "$$")
        own = run_output_path(schedule_output, build.name, f"$({RUN_NAME_ENV})")
        command += ["--output", own]
    runner = container(
        CONTAINER,
        build.image,
        command,
        # In configmap staging the runner makes cwd itself: a workingDir the runtime has to
        # create would belong to root, not to the pod's user.
        workingDir=cfg["cwd"] if build.staging == "shared" else WORK_DIR,
        env=_env(build),
    )
    if build.secrets:
        runner["envFrom"] = [{"secretRef": {"name": s}} for s in build.secrets]
    resources = profile.resources()
    if resources:
        runner["resources"] = resources
    runner["volumeMounts"] = mounts
    runner["terminationMessagePolicy"] = "FallbackToLogsOnError"
    spec = pod_spec(
        [runner],
        securityContext=_pod_security(build),
        enableServiceLinks=False,
        terminationGracePeriodSeconds=GRACE_SECONDS,
    )
    spec["volumes"] = volumes
    spec.update(profile.placement())
    if profile.pod_overrides:  # last, as the operator's escape hatch (checked in profiles.py)
        spec = deep_merge(spec, profile.pod_overrides)
    return spec


def _failure_policy(action: str, queued: bool = False) -> dict[str, Any]:
    rules: list[dict[str, Any]] = [
        # Evicted, preempted, node drained: not the notebook's fault, retry uncounted.
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
    ]
    codes = FAIL_JOB_EXIT_CODES
    if queued:
        # Kueue preempts a job by suspending it: the Job controller deletes the pod, whose
        # runner ends on SIGTERM with 143, and no DisruptionTarget condition marks it. Failing
        # the job on 143 would fail every preempted job instead of requeuing it, so here 143
        # is not counted; a cancel still ends the job (its deadline fails it, and the
        # annotation says who).
        codes = [c for c in FAIL_JOB_EXIT_CODES if c != SIGTERM_EXIT_CODE]
        rules.append(
            {
                "action": "Ignore",
                "onExitCodes": {
                    "containerName": CONTAINER,
                    "operator": "In",
                    "values": [SIGTERM_EXIT_CODE],
                },
            }
        )
    # The notebook raised (1) or was cancelled (143): a retry would do the same.
    rules.append(
        {
            "action": action,
            "onExitCodes": {"containerName": CONTAINER, "operator": "In", "values": codes},
        }
    )
    return {"rules": rules}


def _counts(build: JobBuild) -> dict[str, Any]:
    """How many pods: once for a plain job; an Indexed Job for a sweep.

    A sweep's failing index must not stop the others: backoffLimitPerIndex (the retries,
    per index) instead of backoffLimit, maxFailedIndexes unset, and the exit codes of a
    failed or cancelled notebook fail that index only (FailIndex, which Kubernetes accepts
    only with backoffLimitPerIndex set).
    """
    if not build.sweep:
        return {
            "backoffLimit": build.retries,
            "completions": 1,
            "parallelism": 1,
            "podFailurePolicy": _failure_policy("FailJob", bool(build.queue)),
        }
    return {
        "completionMode": "Indexed",
        "completions": len(build.sweep),
        "parallelism": min(build.parallelism, len(build.sweep)),
        "backoffLimitPerIndex": build.retries,
        "podFailurePolicy": _failure_policy("FailIndex", bool(build.queue)),
    }


def make_job(build: JobBuild) -> dict[str, Any]:
    """The batch/v1 Job that runs the notebook once (retried only after disruptions), or
    once per parameter set of a sweep (an Indexed Job)."""
    job_labels = labels(build)
    spec: dict[str, Any] = {
        **_counts(build),
        "template": {
            "metadata": {"labels": dict(job_labels)},
            "spec": make_pod_spec(build),
        },
    }
    if build.timeout_seconds:
        spec["activeDeadlineSeconds"] = build.timeout_seconds
    if build.ttl_seconds is not None:
        spec["ttlSecondsAfterFinished"] = build.ttl_seconds
    if build.suspend:
        spec["suspend"] = True
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": build.name,
            "namespace": build.namespace,
            # Kueue reads the queue from the Job's own labels; its pods carry none (they are
            # the Job's, which Kueue manages).
            "labels": {**job_labels, **queue_labels(build)},
            "annotations": make_annotations(build),
        },
        "spec": spec,
    }


# -- schedules (CronJobs) ---------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleSpec:
    """When a schedule runs, and what Kubernetes keeps of its runs."""

    cron: str  # checked by cron.check_cron
    time_zone: str | None = None  # IANA name; None: the controller manager's (mostly UTC)
    concurrency_policy: str = "Forbid"  # a run still going when the next is due: skip it
    successful_history: int = 3  # finished Jobs (with their pods and logs) kept
    failed_history: int = 1
    suspend: bool = False

    def __post_init__(self) -> None:
        if self.concurrency_policy not in CONCURRENCY_POLICIES:
            raise ValueError(f"concurrency_policy must be one of {CONCURRENCY_POLICIES}")


def cronjob_spec_fields(spec: ScheduleSpec) -> dict[str, Any]:
    """The CronJob spec's fields that a schedule's edit may change (timeZone null: unset)."""
    return {
        "schedule": spec.cron,
        "timeZone": spec.time_zone,
        "concurrencyPolicy": spec.concurrency_policy,
        "successfulJobsHistoryLimit": spec.successful_history,
        "failedJobsHistoryLimit": spec.failed_history,
        "suspend": spec.suspend,
    }


def make_cronjob(build: JobBuild, spec: ScheduleSpec) -> dict[str, Any]:
    """The batch/v1 CronJob of a schedule: its jobTemplate is `make_job`'s Job (metadata and
    spec), so each run is an ordinary notebook job of the owner."""
    if not build.schedule:
        raise ValueError("make_cronjob needs a schedule's build (schedule=True)")
    job = make_job(dataclasses.replace(build, suspend=False))
    fields = {k: v for k, v in cronjob_spec_fields(spec).items() if v is not None}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": build.name,
            "namespace": build.namespace,
            "labels": {**labels(build), LABEL_COMPONENT: COMPONENT_SCHEDULE},
            # The exact owner, as on Jobs; what it runs is on the jobTemplate.
            "annotations": {ANN_USERNAME: build.owner},
        },
        "spec": {
            **fields,
            "jobTemplate": {
                "metadata": {
                    "labels": job["metadata"]["labels"],
                    "annotations": job["metadata"]["annotations"],
                },
                "spec": job["spec"],
            },
        },
    }


def make_manual_run(cronjob: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A Job from the CronJob's template, as `kubectl create job --from=cronjob/x` makes it:
    the template's labels, annotations and spec, owned (controller) by the CronJob."""
    meta = cronjob.get("metadata") or {}
    if not meta.get("uid"):
        raise ValueError("the CronJob has no uid: pass the object the API server returned")
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace"),
            "labels": dict(tmeta.get("labels") or {}),
            "annotations": {**(tmeta.get("annotations") or {}), ANN_INSTANTIATE: "manual"},
            "ownerReferences": [
                {
                    "apiVersion": cronjob.get("apiVersion", "batch/v1"),
                    "kind": "CronJob",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": copy.deepcopy(template.get("spec") or {}),
    }
