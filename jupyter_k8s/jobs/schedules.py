"""Schedules: a notebook run on a cron schedule by a batch/v1 CronJob, with no server needed.

A schedule is made from the same submit request as a job (`JobService.prepare` builds both),
so its CronJob's jobTemplate is the Job a submit would create, with the owner's labels and
annotations: every run is an ordinary notebook job of the owner, listed by the JobService and
collected by it like any other (from its pod's log, when the server is up while the pod
exists: at once, or when it starts again). Each run writes `<stem>.<run's Job name>.ipynb`.

The input ConfigMap (notebook, runner, job.json) is owned by the CronJob, not by a run: every
run mounts it, and it goes with the schedule. The hand-over token of a large output is
therefore the schedule's (handover.py). The CronJob is created suspended, then its ConfigMap,
then it is resumed (unless asked paused): no run starts before its input exists.

Everything here reads the cluster (the CronJobs are few and read on demand, not watched) and
the JobService's job cache (a schedule's runs). Knows nothing of tornado.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundProblem, ValidationProblem
from ..k8s.client import KubeError, NotFound, Obj
from ..k8s.objects import parse_time
from ..names import notebook_stem, owner_label, random_suffix, slug
from .cron import next_run
from .models import JobInfo, ScheduleInfo, ScheduleRequest, ScheduleUpdate
from .objects import (
    COMPONENT_SCHEDULE,
    LABEL_COMPONENT,
    LABEL_OWNER,
    MAX_SCHEDULE_NAME,
    SCHEDULE_SELECTOR,
    ScheduleSpec,
    make_cronjob,
    make_manual_run,
    schedule_of,
)
from .status import job_info

if TYPE_CHECKING:
    from .service import JobService

#: At most this many run ids in a schedule's info (Kubernetes keeps few anyway: the
#: history limits).
RUNS_SHOWN = 20
#: A run started by hand: `<schedule>-m<6 random>` (the controller's are `<schedule>-<minutes>`).
MANUAL_PREFIX = "m"


def schedule_name(notebook: str, unique: str) -> str:
    """`sc-<slug of the notebook's stem>-<unique>`, at most 52 characters (a CronJob's)."""
    room = MAX_SCHEDULE_NAME - len(unique) - 1
    return f"{slug(notebook_stem(notebook), max_len=room, prefix='sc-')}-{unique}"


def _spec(req: ScheduleRequest, suspend: bool) -> ScheduleSpec:
    return ScheduleSpec(
        cron=req.cron,
        time_zone=req.time_zone,
        concurrency_policy=req.concurrency_policy,
        successful_history=req.successful_jobs_history_limit,
        failed_history=req.failed_jobs_history_limit,
        suspend=suspend,
    )


async def create(svc: JobService, req: ScheduleRequest) -> tuple[ScheduleInfo, list[str]]:
    """Create the schedule; returns it and the warnings of its request."""
    if req.sweep is not None or req.parallelism not in (None, 1):
        raise ValidationProblem("a schedule runs one notebook: sweeps cannot be scheduled", "sweep")
    await svc.start()
    name = schedule_name(req.notebook, random_suffix())
    # The schedule's output path names the schedule; each run's names the run.
    build, configmap, warnings = await svc.prepare(req, name, name, schedule=True)
    cronjob = make_cronjob(build, _spec(req, suspend=True))
    client = await svc.client()
    ns = svc.config.namespace
    created = await client.create("cronjobs", cronjob, ns)
    try:
        await svc.create_owned(configmap, created)
        if not req.suspend:
            created = await client.patch("cronjobs", name, {"spec": {"suspend": False}}, ns)
    except BaseException:
        with contextlib.suppress(KubeError):
            await client.delete("cronjobs", name, ns, propagation="Background")
        with contextlib.suppress(KubeError):
            await client.delete("configmaps", configmap["metadata"]["name"], ns)
        raise
    return schedule_info(svc, created), warnings


def _is_schedule(svc: JobService, cronjob: Obj) -> bool:
    labels = (cronjob.get("metadata") or {}).get("labels") or {}
    return labels.get(LABEL_COMPONENT) == COMPONENT_SCHEDULE and svc.is_mine(cronjob)


async def _cronjob(svc: JobService, name: str) -> Obj:
    """The user's schedule's CronJob; another user's is "not found" too."""
    await svc.start()
    client = await svc.client()
    try:
        cronjob = await client.get("cronjobs", name, svc.config.namespace)
    except NotFound:
        cronjob = None
    if cronjob is None or not _is_schedule(svc, cronjob):
        raise NotFoundProblem(
            f"no schedule {name!r} of yours in namespace {svc.config.namespace!r}"
        )
    return cronjob


async def list_schedules(svc: JobService) -> list[ScheduleInfo]:
    """The user's schedules, newest first."""
    await svc.start()
    client = await svc.client()
    selector = f"{SCHEDULE_SELECTOR},{LABEL_OWNER}={owner_label(svc.config.owner)}"
    found = await client.list("cronjobs", svc.config.namespace, labelSelector=selector)
    infos = [schedule_info(svc, c) for c in found.get("items") or [] if _is_schedule(svc, c)]
    infos.sort(key=lambda i: (i.created or datetime.min.replace(tzinfo=UTC), i.id), reverse=True)
    return infos


async def get(svc: JobService, name: str) -> ScheduleInfo:
    return schedule_info(svc, await _cronjob(svc, name))


async def update(svc: JobService, name: str, change: ScheduleUpdate) -> ScheduleInfo:
    """Pause or resume (suspend), change the cron, time zone, policy or history limits."""
    cronjob = await _cronjob(svc, name)
    given = change.model_fields_set
    fields: dict[str, Any] = {}
    for key, field in (
        ("suspend", "suspend"),
        ("schedule", "cron"),
        ("concurrencyPolicy", "concurrency_policy"),
        ("successfulJobsHistoryLimit", "successful_jobs_history_limit"),
        ("failedJobsHistoryLimit", "failed_jobs_history_limit"),
    ):
        value = getattr(change, field)
        if field in given and value is not None:  # null: left as it is
            fields[key] = value
    if "time_zone" in given:
        fields["timeZone"] = change.time_zone  # null removes it (merge patch): UTC
    if not fields:
        return schedule_info(svc, cronjob)
    client = await svc.client()
    patched = await client.patch("cronjobs", name, {"spec": fields}, svc.config.namespace)
    return schedule_info(svc, patched)


async def delete(svc: JobService, name: str) -> None:
    """Delete the schedule: its CronJob, its input and (Kubernetes' garbage collector) the
    Jobs of its runs still kept, a running one stopped. Executed notebooks already collected
    (or written in place) stay where they are."""
    await _cronjob(svc, name)
    client = await svc.client()
    ns = svc.config.namespace
    await client.delete("cronjobs", name, ns, propagation="Background", missing_ok=True)
    # Owned by the CronJob, so the collector would remove it too: at once is clearer.
    await client.delete("configmaps", f"{name}-input", ns, missing_ok=True)


async def run_now(svc: JobService, name: str) -> JobInfo:
    """Start a run now, whatever the schedule (paused too), as `kubectl create job
    --from=cronjob/<name>` does: a Job from the CronJob's template, owned by it."""
    cronjob = await _cronjob(svc, name)
    job = make_manual_run(cronjob, f"{name}-{MANUAL_PREFIX}{random_suffix()}")
    client = await svc.client()
    created = await client.create("jobs", job, svc.config.namespace)
    return svc.info(created)


# -- reading ------------------------------------------------------------------------------------


def _runs(svc: JobService, name: str) -> list[Obj]:
    """The schedule's runs in the job cache, newest first."""
    if svc.jobs is None:
        return []
    runs = [j for j in svc.jobs.items() if schedule_of(j) == name and svc.is_mine(j)]
    return sorted(runs, key=lambda j: j["metadata"].get("creationTimestamp") or "", reverse=True)


def schedule_info(svc: JobService, cronjob: Obj, now: datetime | None = None) -> ScheduleInfo:
    """A CronJob as the user's schedule (its fields read back from the cluster: untrusted,
    so anything malformed is shown as missing rather than raised)."""
    meta = cronjob.get("metadata") or {}
    spec = cronjob.get("spec") or {}
    status = cronjob.get("status") or {}
    name = str(meta.get("name", ""))
    template = spec.get("jobTemplate") or {}
    # What each run runs, read as a job's status reads its Job.
    as_job = {**template, "metadata": {**(template.get("metadata") or {}), "name": name}}
    run = job_info(as_job, [], [])
    suspended = bool(spec.get("suspend"))
    cron = str(spec.get("schedule") or "")
    time_zone = spec.get("timeZone") if isinstance(spec.get("timeZone"), str) else None
    upcoming = None
    if not suspended:
        upcoming = next_run(cron, time_zone, now or datetime.now(UTC))
    active = [str(r.get("name")) for r in status.get("active") or [] if r.get("name")]
    return ScheduleInfo(
        id=name,
        notebook=run.notebook,
        owner=run.owner,
        profile=run.profile,
        image=run.image,
        parameters=run.parameters,
        cron=cron,
        time_zone=time_zone,
        concurrency_policy=str(spec.get("concurrencyPolicy") or "Allow"),
        successful_jobs_history_limit=_count(spec.get("successfulJobsHistoryLimit"), 3),
        failed_jobs_history_limit=_count(spec.get("failedJobsHistoryLimit"), 1),
        suspended=suspended,
        created=parse_time(meta.get("creationTimestamp")),
        next_run=upcoming,
        last_schedule=parse_time(status.get("lastScheduleTime")),
        last_successful=parse_time(status.get("lastSuccessfulTime")),
        active=active,
        runs=[j["metadata"]["name"] for j in _runs(svc, name)[:RUNS_SHOWN]],
    )


def _count(value: Any, default: int) -> int:
    return value if isinstance(value, int) and 0 <= value <= 2**31 - 1 else default
