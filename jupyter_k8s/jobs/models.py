"""The request and status models of notebook jobs, as the REST API, CLI and magic speak them.

Validation happens here, before anything reaches the cluster, so that a bad field is a 400
that names it rather than a 422 from the API server or a pod that never starts.
"""

from __future__ import annotations

import keyword
import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from ..errors import ValidationProblem
from ..queues.models import QueueInfo
from ..queues.names import check_kueue_name
from .cron import check_cron, check_time_zone
from .sweeps import SweepInfo, SweepSpec

#: Finished jobs (and their pods and logs) are kept a week unless the request says otherwise.
DEFAULT_TTL_SECONDS = 7 * 24 * 3600
MAX_RETRIES = 10
#: Kubernetes keeps ttlSecondsAfterFinished in an int32; a larger number is a 400 from the API
#: server (a 502 here) rather than a validation error naming the field. 68 years is plenty.
MAX_SECONDS = 2**31 - 1

_C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def check_notebook_path(path: str) -> str:
    """A notebook path relative to the server root, '/'-separated, without '..'; returned clean.

    Leading slashes are dropped (the contents API is relative to the root either way); what
    could leave the root is refused here rather than trusted to the contents manager alone.
    """
    clean = path.strip().lstrip("/")
    parts = clean.split("/")
    if not clean or "\\" in clean or "\0" in clean or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{path!r} is not a notebook path relative to the server root")
    if not clean.endswith(".ipynb"):
        raise ValueError(f"{path!r} is not a notebook (.ipynb) file")
    return clean


class SubmitRequest(BaseModel):
    """What a user asks for when submitting a notebook as a job."""

    model_config = ConfigDict(extra="forbid")

    notebook: str = Field(description="notebook path relative to the server root")
    parameters: dict[str, JsonValue] = Field(
        default_factory=dict, description="values injected after the cell tagged 'parameters'"
    )
    profile: str | None = Field(default=None, description="resource profile; None: the default")
    image: str | None = Field(default=None, description="container image; None: the profile's")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")
    secrets: list[str] = Field(
        default_factory=list, description="existing Secrets exposed as environment (envFrom)"
    )
    timeout_seconds: int | None = Field(
        default=None, gt=0, le=MAX_SECONDS, description="stop the job after"
    )
    retries: int = Field(default=0, ge=0, le=MAX_RETRIES, description="retries after a crash")
    ttl_seconds_after_finished: int | None = Field(
        default=DEFAULT_TTL_SECONDS,
        ge=0,
        le=MAX_SECONDS,
        description="delete the finished job after; None: keep",
    )
    ship_folder: bool = Field(default=False, description="copy the notebook's folder to the pod")
    sweep: SweepSpec | None = Field(
        default=None, description="run once per parameter set (grid or zip) as one Indexed Job"
    )
    parallelism: int | None = Field(
        default=None, ge=1, description="a sweep's indexes run at once (capped by the profile)"
    )
    queue: str | None = Field(
        default=None, description="Kueue LocalQueue, one the profile allows; None: the profile's"
    )
    priority_class: str | None = Field(
        default=None,
        description="Kueue WorkloadPriorityClass, one the profile allows; None: the profile's",
    )

    @field_validator("queue", "priority_class")
    @classmethod
    def _kueue_name(cls, value: str | None) -> str | None:
        return None if value is None or value == "" else check_kueue_name(value)

    @field_validator("notebook")
    @classmethod
    def _notebook(cls, value: str) -> str:
        return check_notebook_path(value)

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Names become code in the injected cell: only identifiers, never something to parse.
        for name in value:
            if not name.isidentifier() or keyword.iskeyword(name):
                raise ValueError(f"{name!r} is not a valid parameter name (a Python identifier)")
        return value

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if len(value) > 1024 or any(c.isspace() for c in value):
            raise ValueError(f"{value!r} is not a container image reference")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _C_IDENTIFIER.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a valid environment variable name (letters, digits and "
                    "'_', not starting with a digit)"
                )
        return value

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: list[str]) -> list[str]:
        for name in value:
            if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid Secret name")
        return list(dict.fromkeys(value))  # duplicates would only duplicate envFrom entries

    @classmethod
    def from_json(cls, data: Any) -> SubmitRequest:
        """Validate request JSON, raising ValidationProblem naming the first bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise validation_problem(exc) from None


def validation_problem(exc: ValidationError) -> ValidationProblem:
    """The first error of a pydantic ValidationError as a ValidationProblem with its field."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or None
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown field"
    return ValidationProblem(f"{field}: {message}" if field else message, field)


class JobPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobPhase.SUCCEEDED, JobPhase.FAILED, JobPhase.CANCELLED)


OutputState = Literal["none", "pending", "ready", "error"]


class Provenance(BaseModel):
    """What ran where: the `jupyter_k8s` block of an executed notebook's metadata.

    Built by `provenance.stamp` from the Job, its pod and (where readable) its node when the
    output is collected. Values read back from the cluster are untrusted: the bounds here are
    the last check before they reach a notebook or a response.
    """

    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(max_length=253)
    sweep_index: int | None = Field(
        default=None, ge=0, description="a sweep's index: whose parameter set this is"
    )
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    profile: str | None = Field(default=None, max_length=63)
    image: str | None = Field(default=None, max_length=1024, description="as requested")
    image_digest: str | None = Field(
        default=None, max_length=1024, description="what the node ran: the container's imageID"
    )
    node: str | None = Field(default=None, max_length=253)
    gpu_resource: str | None = Field(default=None, max_length=317)
    gpu_count: int = Field(default=0, ge=0, le=1024)
    gpu_product: str | None = Field(
        default=None, max_length=63, description="the node's GPU product label, where readable"
    )
    started: datetime | None = None
    finished: datetime | None = None
    duration_seconds: float | None = Field(default=None, ge=0)
    outcome: JobPhase
    reason: str = Field(
        max_length=128, description="Succeeded, NotebookFailed, Cancelled, OOMKilled, ..."
    )
    gpu_hours: float = Field(default=0.0, ge=0)
    cost_per_hour: float | None = Field(default=None, ge=0)
    cost: float | None = Field(default=None, ge=0, description="hours run × cost_per_hour")


class JobInfo(BaseModel):
    """A job as users see it; built from the cluster's objects by `status.job_info`."""

    id: str = Field(description="the Job's name; the id in URLs")
    notebook: str
    owner: str
    profile: str | None = None
    image: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    phase: JobPhase
    reason: str | None = Field(default=None, description="machine-readable, e.g. OOMKilled")
    message: str | None = Field(default=None, description="for a person: what happened")
    created: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    duration_seconds: float | None = None
    current_cell: int | None = Field(
        default=None,
        description="the code cell executing (or last executed): k of total_cells, 1-based, "
        "counting the code cells of the executed notebook, the injected parameters cell "
        "included (so k is the cell's execution count); markdown cells do not count",
    )
    total_cells: int | None = Field(
        default=None,
        description="code cells of the executed notebook, the injected parameters cell included",
    )
    current_cell_line: str | None = Field(
        default=None,
        max_length=120,
        description="the first non-blank line of that cell (untrusted text from the pod, "
        "control characters removed, at most 120 characters)",
    )
    output_path: str | None = None
    output_state: OutputState = "none"
    output_error: str | None = None
    sweep: SweepInfo | None = Field(default=None, description="a sweep's indexes, if it is one")
    schedule: str | None = Field(
        default=None, description="the schedule this job is a run of (its id), if any"
    )
    provenance: Provenance | None = Field(
        default=None,
        description="what ran where, once the output is collected (job detail only)",
    )
    queue: QueueInfo | None = Field(
        default=None, description="its place in its Kueue queue, for a job put in one"
    )


# -- schedules -------------------------------------------------------------------------------

#: Kubernetes' own defaults for a CronJob's history.
DEFAULT_SUCCESSFUL_HISTORY = 3
DEFAULT_FAILED_HISTORY = 1
MAX_HISTORY = 100
ConcurrencyPolicy = Literal["Forbid", "Allow", "Replace"]


def _cron(value: str) -> str:
    return check_cron(value)


def _time_zone(value: str | None) -> str | None:
    return None if value is None or not value.strip() else check_time_zone(value)


class ScheduleRequest(SubmitRequest):
    """A schedule: the submit request of each run, and when it runs (a CronJob)."""

    cron: str = Field(
        description="when: five cron fields (minute hour day-of-month month day-of-week) "
        "or a macro such as @daily"
    )
    time_zone: str | None = Field(
        default=None, description="IANA time zone of the cron fields; None: UTC"
    )
    concurrency_policy: ConcurrencyPolicy = Field(
        default="Forbid", description="a run still going when the next is due: Forbid skips it"
    )
    successful_jobs_history_limit: int = Field(
        default=DEFAULT_SUCCESSFUL_HISTORY, ge=0, le=MAX_HISTORY, description="runs kept"
    )
    failed_jobs_history_limit: int = Field(
        default=DEFAULT_FAILED_HISTORY, ge=0, le=MAX_HISTORY, description="failed runs kept"
    )
    suspend: bool = Field(default=False, description="created paused")

    _check_cron = field_validator("cron")(_cron)
    _check_time_zone = field_validator("time_zone")(_time_zone)

    @classmethod
    def from_json(cls, data: Any) -> ScheduleRequest:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise validation_problem(exc) from None


class ScheduleUpdate(BaseModel):
    """PATCH of a schedule: pause or resume, a new cron or time zone, its history limits."""

    model_config = ConfigDict(extra="forbid")

    suspend: bool | None = None
    cron: str | None = None
    time_zone: str | None = Field(default=None, description="null or '': UTC")
    concurrency_policy: ConcurrencyPolicy | None = None
    successful_jobs_history_limit: int | None = Field(default=None, ge=0, le=MAX_HISTORY)
    failed_jobs_history_limit: int | None = Field(default=None, ge=0, le=MAX_HISTORY)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    _check_time_zone = field_validator("time_zone")(_time_zone)

    @classmethod
    def from_json(cls, data: Any) -> ScheduleUpdate:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise validation_problem(exc) from None


class ScheduleInfo(BaseModel):
    """A schedule as users see it; built from its CronJob and the runs in the job cache."""

    id: str = Field(description="the CronJob's name; the id in URLs")
    notebook: str
    owner: str
    profile: str | None = None
    image: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    cron: str
    time_zone: str | None = None
    concurrency_policy: str = "Forbid"
    successful_jobs_history_limit: int = DEFAULT_SUCCESSFUL_HISTORY
    failed_jobs_history_limit: int = DEFAULT_FAILED_HISTORY
    suspended: bool = False
    created: datetime | None = None
    next_run: datetime | None = Field(
        default=None, description="when it runs next; None while suspended"
    )
    last_schedule: datetime | None = Field(
        default=None, description="when the controller last started a run"
    )
    last_successful: datetime | None = Field(default=None, description="when a run last succeeded")
    active: list[str] = Field(default_factory=list, description="ids of the runs going on")
    runs: list[str] = Field(
        default_factory=list, description="ids of its runs Kubernetes still keeps, newest first"
    )
