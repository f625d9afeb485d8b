"""JobService: submit, follow and manage notebook jobs. Used by REST, CLI and magic alike.

The cluster is the source of truth: a job is its batch/v1 Job (labels say whose it is,
annotations what it runs), its pods and its events. Watch-fed caches (Reflectors) of those
answer every read; nothing is kept anywhere else, so a restarted server lists every job again
and collects outputs it missed. Knows nothing of tornado. Its parts: runner_logs.py reads a
job's log for its outputs, stamping.py stamps them, queueing.py speaks with Kueue,
sweep_runs.py collects a sweep's indexes.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import contextlib
import dataclasses
import fnmatch
import functools
import io
import json
import logging
import os
import tarfile
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ForbiddenProblem, NotFoundProblem, TooLargeProblem, ValidationProblem
from ..files import write_atomic
from ..k8s.client import (
    KubeClient,
    KubeError,
    NotFound,
    Obj,
    Unreachable,
    resource_path,
)
from ..k8s.cluster_defaults import NO_IMAGE_HINT, ClusterDefaults
from ..k8s.event_pruning import EventPruner
from ..k8s.pods import container_started
from ..k8s.watch import Reflector, any_change, probe, sync_problem
from ..names import job_name, owner_label, random_suffix
from ..profiles import ProfileSet
from .handover import PORT as HANDOVER_PORT
from .live import LiveRun, Progress, from_notebook
from .logstream import follow_pod_log
from .models import JobInfo, Provenance, SubmitRequest
from .notebook import check_parameters, kernel_and_language, read_notebook
from .notify import body as notification_body
from .notify import is_due as notification_due
from .notify import send as send_notification
from .objects import (
    ANN_CANCELLED,
    ANN_FAILURE_MESSAGE,
    ANN_FAILURE_REASON,
    ANN_NOTEBOOK,
    ANN_NOTIFIED,
    ANN_OUTPUT,
    ANN_OUTPUT_ERROR,
    ANN_OUTPUT_STATE,
    ANN_STAGING,
    ANN_TIMEOUT,
    ANN_USERNAME,
    CONTAINER,
    FOLDER_KEY,
    JOB_SELECTOR,
    LABEL_OWNER,
    JobBuild,
    make_input_configmap,
    make_job,
    make_runner_config,
    output_path_for,
    queue_labels,
    run_output_path,
    schedule_of,
    set_owner,
)
from .provenance import (
    ANN_PROVENANCE,
    annotation,
    from_annotation,
)
from .queueing import JobQueues, queue_of
from .runlog import user_lines
from .runner_logs import LOG_FETCH_LIMIT, LOG_RESUME_SECONDS, LOG_SILENCE_SECONDS, RunnerLogReader
from .stamping import Stamper
from .status import fail_fast_reason, job_info, with_queue
from .sweep_runs import collect_index, is_sweep, rerun_fields, submit_fields
from .timeline import job_timeline

log = logging.getLogger("jupyter_k8s.jobs")

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
#: Jobs whose status a listing makes between two yields to the event loop. In the 200-job load
#: test (tests/integration/test_jobs_load.py) batches of 25 left 8-16 callbacks over 10 ms per
#: run; batches of 10, with the JSON made off the loop, 0-3.
LIST_BATCH = 10


@dataclass
class JobsConfig:
    """What the service needs from configuration (filled from the JupyterK8s traits)."""

    namespace: str | None  # None: the kubeconfig context's (known once connected)
    owner: str
    root_dir: Path
    default_image: str | None = None
    allowed_images: list[str] | None = None  # fnmatch patterns; None: any image
    #: "api" (notebook in and executed notebook out through the Kubernetes API) or "shared"
    #: (a volume both sides mount), as c.JupyterK8s.staging says.
    staging: str = "api"
    shared_volume: dict[str, Any] | None = None
    shared_mount_path: str | None = None
    max_notebook_bytes: int = 5_000_000
    max_folder_bytes: int = 512 * 1024
    max_output_bytes: int = 50 * 1024 * 1024
    default_ttl_seconds: int | None = 7 * 24 * 3600
    output_dir: str | None = None  # relative to root; None: next to the notebook
    extra_labels: dict[str, str] = field(default_factory=dict)
    #: How long a pod holds an output too large for its log for the server (handover.py).
    output_hold_seconds: float = 900.0
    #: Where the hand-over key lives (None: the user's Jupyter data directory).
    data_dir: str | None = None
    #: c.JupyterK8s.notify_webhook: told when a job ends (notify.py). A secret: never logged.
    notify_webhook: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.staging == "configmap":  # what "api" staging was called here before
            self.staging = "api"


def safe_path(root: Path, relative: str) -> Path:
    """`relative` under `root`, refusing anything that escapes it (.., absolute, symlinks)."""
    rel = PurePosixPath(relative.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or not str(relative).strip():
        raise ValidationProblem(
            f"{relative!r} is not a path inside the server's root directory", field="notebook"
        )
    root = root.resolve()
    target = (root / rel).resolve()
    if target != root and root not in target.parents:
        raise ValidationProblem(
            f"{relative!r} leads outside the server's root directory", field="notebook"
        )
    return target


@functools.cache
def _RUNNER_SOURCE() -> str:  # noqa: N802 - a constant, read once
    return resources.files("jupyter_k8s.pod").joinpath("runner.py").read_text()


class JobService:
    def __init__(
        self,
        get_client: Callable[[], Awaitable[KubeClient]],
        profiles: ProfileSet,
        config: JobsConfig,
    ):
        self._get_client = get_client
        self.profiles = profiles
        self.config = config
        self.selector = f"{JOB_SELECTOR},{LABEL_OWNER}={owner_label(config.owner)}"
        self.jobs: Reflector | None = None
        self.pods: Reflector | None = None
        self.events: Reflector | None = None
        self.pod_events: Reflector | None = None
        # Indexes over the caches, kept by their listeners: reads (a list of 1,000 jobs every
        # few seconds) look up a job's pods and events instead of scanning the namespace.
        self._pods_by_job: dict[str, dict[str, Obj]] = {}
        self._events_by_object: dict[tuple[str, str], dict[str, Obj]] = {}
        self._collecting: dict[str, asyncio.Task] = {}  # pod name -> its log follower
        self._followed: set[str] = set()  # jobs whose output a follower here takes care of
        # Shared-staging jobs that ended unstamped (while no server ran: a schedule's runs)
        # whose stamp this process tried to add: once each, not at every event of the Job.
        self._stamp_tried: set[str] = set()
        #: Per job, what its log follower learned of its current pod's run: progress (for
        #: every read) and, with API staging, the live view's cells and outputs.
        self.live_runs: dict[str, LiveRun] = {}
        #: Reads the runner logs for the outputs (runner_logs.py); stamps them (stamping.py).
        self.log_reader = RunnerLogReader(self)
        self.stamper = Stamper(self)
        # End-of-job notifications: jobs told (or being told) by this process, so that the
        # Job's events before the notified annotation comes back send nothing twice; and when
        # this service began, to keep quiet about jobs that ended long before (notify.py).
        self._notified: set[str] = set()
        self._created_at = datetime.now(UTC)
        self._started = asyncio.Lock()
        #: Set once the watch caches have listed (start() done): long-lived data from here.
        self.synced = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self.cluster_defaults = ClusterDefaults(config.default_image)
        #: Whose executed notebooks this service collects (writes under root_dir): None, every
        #: job of the owner (the server); a set, only those named (the CLI and the magic:
        #: the jobs they wait for, never the user's other jobs, wherever they were started).
        self.collect_only: set[str] | None = None
        #: False: collect nothing (CLI commands that only look, and exit at once).
        self.collect_enabled = True
        #: Kueue: queued jobs' checks and statuses (jobs/queueing.py; docs/queues.md).
        self.queueing = JobQueues(self)

    # -- lifecycle ----------------------------------------------------------------------------

    async def client(self) -> KubeClient:
        return await self._get_client()

    @property
    def namespace(self) -> str:
        """The jobs' namespace, for what runs after start() (which sets the context's where
        the configuration names none)."""
        assert self.config.namespace is not None, "start() fills in the namespace"
        return self.config.namespace

    def sync_problem(self) -> str | None:
        """Why job statuses may be stale right now (a watch reconnecting), or None."""
        return (
            sync_problem([self.jobs, self.pods, self.events, self.pod_events])
            or self.queueing.sync_problem()
        )

    async def default_image(self) -> str | None:
        """The configured default image, else the one the cluster advertises (cached)."""
        return await self.cluster_defaults.image(self.client)

    async def start(self) -> None:
        """Start the watch caches (idempotent); raises Unreachable when the API can't be had."""
        async with self._started:
            if self.jobs is not None:
                return
            client = await self.client()
            if self.config.namespace is None:
                self.config.namespace = client.namespace
            ns = self.config.namespace
            jobs = Reflector(client, "jobs", ns, label_selector=self.selector)
            pods = Reflector(client, "pods", ns, label_selector=self.selector)
            # Events about Jobs (FailedCreate: quota) and about pods (FailedScheduling,
            # FailedMount, Pulling): the real reasons while something waits.
            events = Reflector(client, "events", ns, field_selector="involvedObject.kind=Job")
            pod_events = Reflector(client, "events", ns, field_selector="involvedObject.kind=Pod")
            pods.add_listener(self._index_pod)
            events.add_listener(self._index_event)
            pod_events.add_listener(self._index_event)
            jobs.add_listener(self._on_job)
            pods.add_listener(self._on_pod)
            # Only the events of our jobs and pods are ever read: keep no others.
            EventPruner(events, jobs)
            EventPruner(pod_events, pods)
            every = (jobs, pods, events, pod_events)
            # Ask once before watching: a refusal or no API server is an answer now.
            await probe(every)
            for r in every:
                r.start()
            try:
                await asyncio.wait_for(asyncio.gather(*(r.ready.wait() for r in every)), 15)
            except TimeoutError:
                for r in every:
                    await r.stop()
                raise Unreachable(
                    f"could not list jobs in namespace {ns!r}: "
                    f"{jobs.last_error or pods.last_error or 'no answer'}"
                ) from None
            self.jobs, self.pods, self.events, self.pod_events = jobs, pods, events, pod_events
            for job in jobs.items():
                self._on_job("ADDED", job)
            # Pods listed before the jobs were known were skipped by _on_pod: a restarted
            # server follows its running jobs' pods now (their progress, a held output), not
            # at their next change, which may be long (a pod holding its output changes not).
            for pod in pods.items():
                self._on_pod("ADDED", pod)
            # Kueue, where served: queued jobs' places in their queues (never fails start).
            await self.queueing.start()
            self.synced.set()

    async def stop(self) -> None:
        for task in [*self._collecting.values(), *self._tasks]:
            task.cancel()
        await self.queueing.stop()
        for r in (self.jobs, self.pods, self.events, self.pod_events):
            if r is not None:
                await r.stop()
        self.jobs = self.pods = self.events = self.pod_events = None
        self._pods_by_job.clear()
        self._events_by_object.clear()
        self.synced.clear()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- ownership: everything read from the cluster is untrusted ------------------------------

    def is_mine(self, job: Obj) -> bool:
        """Whether a Job is this owner's: its owner label (how it was found; hashed, so two
        names may share it) and its exact user name annotation. In a shared namespace anyone
        with the Role can write both: this keeps colliding names apart, not a forger out
        (per-user namespaces do that; docs/operators.md#trust)."""
        meta = job.get("metadata") or {}
        return (meta.get("labels") or {}).get(LABEL_OWNER) == owner_label(self.config.owner) and (
            meta.get("annotations") or {}
        ).get(ANN_USERNAME) == self.config.owner

    def _is_pod_of(self, pod: Obj, job: Obj) -> bool:
        """A pod counts for a job only if the Job controller made it for that very Job."""
        uid = (job.get("metadata") or {}).get("uid")
        refs = (pod.get("metadata") or {}).get("ownerReferences") or []
        return bool(uid) and any(
            r.get("kind") == "Job" and r.get("uid") == uid and r.get("controller") for r in refs
        )

    def output_target(self, job: Obj) -> Path:
        """Where this job's executed notebook goes: exactly the path the submit chose, under
        the root. The path is read back from the Job's annotations, so it is checked again:
        it must be `<notebook stem>.<job suffix>.ipynb` next to the notebook (or in
        output_dir), never an arbitrary file such as a startup script."""
        meta = job.get("metadata") or {}
        ann = meta.get("annotations") or {}
        notebook, output = ann.get(ANN_NOTEBOOK), ann.get(ANN_OUTPUT)
        unique = str(meta.get("name", ""))[-6:]
        schedule = schedule_of(job)
        if schedule is not None and isinstance(output, str):
            # A schedule's run: `<stem>.<its Job's name>.ipynb`, beside the schedule's path.
            unique = str(meta["name"])
            try:
                output = run_output_path(output, schedule, unique)
            except ValueError:
                output = None
        if isinstance(notebook, str) and isinstance(output, str) and notebook.endswith(".ipynb"):
            # Next to the notebook, or where output_dir puts it (also when set since).
            allowed = {output_path_for(notebook, unique), self._output_path(notebook, unique)}
            if output in allowed:
                return safe_path(self.config.root_dir, output)
        raise ForbiddenProblem(
            f"job {meta.get('name')!r} names an output path that is not its own; nothing is written"
        )

    def _output_path(self, notebook: str, unique: str) -> str:
        """The executed notebook's path a submit chooses: beside the input, or in output_dir."""
        output = output_path_for(notebook, unique)
        if self.config.output_dir:
            output = str(PurePosixPath(self.config.output_dir) / PurePosixPath(output).name)
        return output

    # -- reading ------------------------------------------------------------------------------

    def _index_pod(self, kind: str, pod: Obj) -> None:
        name = (pod["metadata"].get("labels") or {}).get(JOB_NAME_LABEL)
        if name:
            _index(self._pods_by_job, name, kind, pod)

    def _index_event(self, kind: str, event: Obj) -> None:
        ref = event.get("involvedObject") or {}
        _index(self._events_by_object, (ref.get("kind", ""), ref.get("name", "")), kind, event)

    def _pods_of(self, name: str) -> list[Obj]:
        pods = list(self._pods_by_job.get(name, {}).values())
        job = self.jobs.get(name, self.config.namespace) if self.jobs is not None else None
        if job is None:
            return pods
        return [p for p in pods if self._is_pod_of(p, job)]

    def _events_of(self, name: str) -> list[Obj]:
        found = list(self._events_by_object.get(("Job", name), {}).values())
        for pod in self._pods_of(name):
            found += self._events_by_object.get(("Pod", pod["metadata"]["name"]), {}).values()
        return found

    def info(self, job: Obj) -> JobInfo:
        name = job["metadata"]["name"]
        info = job_info(
            job,
            self._pods_of(name),
            self._events_of(name),
            run.progress.as_dict() if (run := self.live_runs.get(name)) is not None else None,
            now=datetime.now(UTC),
        )
        ann = job["metadata"].get("annotations") or {}
        if info.output_state == "none" and name in self._followed and ANN_OUTPUT_STATE not in ann:
            # Its pod is gone (cancel, deadline) but our follower is still reading the output.
            info.output_state = "pending"
        schedule = schedule_of(job)
        if schedule is not None and info.output_path:
            # The template's annotation names the schedule's path; each run has its own.
            info.schedule = schedule
            with contextlib.suppress(ValueError):
                info.output_path = run_output_path(info.output_path, schedule, name)
        return with_queue(info, self.queueing.info(job))

    async def _job(self, name: str) -> Obj:
        await self.start()
        assert self.jobs is not None
        job = self.jobs.get(name, self.config.namespace)
        if job is not None and not self.is_mine(job):
            job = None  # a colliding owner label, or a Job someone else labelled: not ours
        if job is None:
            # Another user's job is "not found" too: their existence is not ours to tell.
            raise NotFoundProblem(
                f"no job {name!r} of yours in namespace {self.config.namespace!r}"
            )
        return job

    async def get(self, name: str) -> JobInfo:
        job = await self._job(name)
        info = self.info(job)
        info.provenance = from_annotation(job, info.parameters)
        return info

    async def timeline(self, name: str) -> list[dict[str, Any]]:
        """The job's timeline: the events about its Job and its pods, oldest first."""
        job = await self._job(name)
        return job_timeline(self._events_of(name), job["metadata"].get("uid"))

    # Below this method, `list` in the class body is the method: annotations say builtins.list.
    async def list(
        self,
        phase: str | None = None,
        notebook: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[JobInfo], int]:
        """Newest first; returns (page, total matching)."""
        await self.start()
        assert self.jobs is not None
        infos = []
        for n, job in enumerate(list(self.jobs.items())):  # a snapshot: the loop yields below
            if self.is_mine(job):
                infos.append(self.info(job))
            if n % LIST_BATCH == LIST_BATCH - 1:
                # Hundreds of jobs: let other callbacks run between batches, so that one
                # listing does not hold the event loop for its whole length.
                await asyncio.sleep(0)
        if phase:
            wanted = {p.strip().lower() for p in phase.split(",")}
            infos = [i for i in infos if i.phase.value.lower() in wanted]
        if notebook:
            infos = [i for i in infos if i.notebook == notebook]
        infos.sort(
            key=lambda i: (i.created or datetime.min.replace(tzinfo=UTC), i.id), reverse=True
        )
        return infos[offset : offset + limit], len(infos)

    async def wait(
        self,
        name: str,
        timeout: float | None = None,
        on_change: Callable[[JobInfo], Any] | None = None,
    ) -> JobInfo:
        """Until the job finished (and its output is collected); on_change sees each state."""
        await self.start()
        assert self.jobs is not None and self.pods is not None
        await self._job(name)  # not the user's: not found, and nothing collected
        self.collect(name)
        last: JobInfo | None = None
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            info = await self.get(name)
            if on_change and (last is None or _changed(last, info)):
                on_change(info)
            last = info
            if info.phase.finished and info.output_state != "pending":
                return info
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                raise TimeoutError(f"job {name} did not finish in {timeout} s")
            # Wake up on any change of jobs or pods, or every second for durations.
            await any_change([self.jobs, self.pods], min(1.0, left or 1.0))

    # -- submitting ---------------------------------------------------------------------------

    def _check_image(self, image: str) -> None:
        allowed = self.config.allowed_images
        if allowed is not None and not any(fnmatch.fnmatchcase(image, p) for p in allowed):
            raise ForbiddenProblem(
                f"image {image!r} is not allowed here; allowed: {', '.join(allowed) or 'none'}"
            )

    async def _check_secrets(self, names: builtins.list[str]) -> None:
        """Only the caller's own Secrets (labelled with their owner label) may be exposed:
        the namespace is shared, and another user's Secret must not reach this user's pod."""
        if not names:
            return
        client = await self.client()
        mine = owner_label(self.config.owner)
        for name in names:
            try:
                secret = await client.get("secrets", name, self.config.namespace)
            except NotFound:
                secret = None
            # One answer whether it is missing or someone else's: whether another user's
            # Secret exists is not this user's to learn.
            if secret is None or (secret["metadata"].get("labels") or {}).get(LABEL_OWNER) != mine:
                raise ValidationProblem(
                    f"no secret {name!r} of yours in namespace {self.config.namespace!r}: "
                    f"create it there with the label {LABEL_OWNER}={mine}",
                    field="secrets",
                )

    def _read_notebook(self, path: str) -> tuple[bytes, dict[str, Any]]:
        file = safe_path(self.config.root_dir, path)
        if not file.is_file():
            raise NotFoundProblem(f"notebook {path!r} does not exist")
        size = file.stat().st_size
        if size > self.config.max_notebook_bytes:
            raise TooLargeProblem(
                f"{path} is {size} bytes, over the limit of {self.config.max_notebook_bytes}; "
                "clear large outputs first (Edit > Clear Outputs of All Cells) or configure a "
                "shared volume"
            )
        data = file.read_bytes()
        return data, read_notebook(data, path)

    def _pack_folder(self, notebook: str) -> bytes:
        folder = safe_path(self.config.root_dir, notebook).parent
        buf = io.BytesIO()
        total = 0
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for dirpath, dirnames, filenames in os.walk(folder):
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                for fn in filenames:
                    full = Path(dirpath) / fn
                    if fn.startswith(".") or not full.is_file() or full.is_symlink():
                        continue
                    total += full.stat().st_size
                    if total > self.config.max_folder_bytes:
                        raise TooLargeProblem(
                            f"the notebook's folder holds more than "
                            f"{self.config.max_folder_bytes} bytes; ship fewer files or use a "
                            "shared volume"
                        )
                    tar.add(full, arcname=str(full.relative_to(folder)))
        return buf.getvalue()

    async def submit(self, req: SubmitRequest) -> tuple[JobInfo, builtins.list[str]]:
        """Create the job; returns it and warnings (e.g. unknown parameters)."""
        await self.start()
        unique = random_suffix()
        build, configmap, warnings = await self.prepare(req, job_name(req.notebook, unique), unique)
        job = make_job(dataclasses.replace(build, suspend=True))
        # A queued job joins its queue only once its ConfigMap exists: it is created without
        # the queue's labels, which the last patch adds. Kueue, which resumes a suspended Job
        # on admission, never sees it before, so no pod can start without its ConfigMap (and
        # a job not queued is resumed by that patch itself).
        joins = queue_labels(build)
        for key in joins:
            del job["metadata"]["labels"][key]
        client = await self.client()
        cfg = self.config
        # Suspended first, so no pod starts before its ConfigMap exists; the ConfigMap then
        # is created already owned by the Job (it goes away with it) and the Job resumed. One
        # large write, no race with the pod; any failure removes what was made.
        created = await client.create("jobs", job, cfg.namespace)
        try:
            await self.create_owned(configmap, created)
            if joins:
                # Kueue resumes it when admitted: never unsuspended here.
                last: Obj = {"metadata": {"labels": joins}}
            elif queue_of(created)[0]:
                # Kueue's webhook put it in the namespace's default LocalQueue: Kueue's to
                # resume, as for a job put in a queue on purpose.
                last = {}
            else:
                last = {"spec": {"suspend": False}}
            if last:
                created = await client.patch("jobs", build.name, last, cfg.namespace)
        except BaseException:
            with contextlib.suppress(KubeError):
                await client.delete("jobs", build.name, cfg.namespace, propagation="Background")
            with contextlib.suppress(KubeError):
                await client.delete("configmaps", configmap["metadata"]["name"], cfg.namespace)
            raise
        # Queued: says so at once (its Workload comes a moment later), never "Suspended".
        return with_queue(job_info(created, [], []), self.queueing.info(created)), warnings

    async def create_owned(self, obj: Obj, owner: Obj) -> None:
        """Create `obj` (an input ConfigMap) owned by the created `owner` (Job or CronJob)."""
        client = await self.client()
        # raw: the API server echoes the whole ConfigMap back; nothing to parse there.
        await client.request(
            "POST",
            resource_path("configmaps", self.config.namespace),
            body=set_owner(obj, owner),
            raw=True,
        )

    async def prepare(
        self, req: SubmitRequest, name: str, unique: str, *, schedule: bool = False
    ) -> tuple[JobBuild, Obj, builtins.list[str]]:
        """The JobBuild of a submit request, its input ConfigMap and the warnings (unknown
        parameters, a capped parallelism): what a job and a schedule are both made of.

        `name`: the Job's (or the schedule's CronJob's); `unique`: what names the output,
        `<stem>.<unique>.ipynb`. Call after start().
        """
        cfg = self.config
        profile = self.profiles.get(req.profile)
        queue, priority_class = profile.pick_queue(req.queue, req.priority_class)
        if queue is not None:  # Kueue is served, and the LocalQueue is there
            await self.queueing.check(queue, priority_class, profile, from_request=bool(req.queue))
        image = req.image or profile.image or await self.default_image()
        if not image:
            raise ValidationProblem(
                f"no image: profile {profile.name!r} names none, and neither the server nor "
                f"the cluster gives a default; {NO_IMAGE_HINT}",
                field="image",
            )
        if req.image:
            self._check_image(req.image)
        # File reading, parsing and compressing are CPU work: off the event loop.
        data, nb = await asyncio.to_thread(self._read_notebook, req.notebook)
        sweep, checked, warnings = submit_fields(req, profile)  # a sweep: one set per index
        warnings = check_parameters(nb, checked) + warnings
        await self._check_secrets(req.secrets)
        kernel, language = kernel_and_language(nb)
        output = self._output_path(req.notebook, unique)
        safe_path(cfg.root_dir, output)
        extra = (
            {FOLDER_KEY: await asyncio.to_thread(self._pack_folder, req.notebook)}
            if req.ship_folder
            else None
        )
        build = JobBuild(
            name=name,
            namespace=self.namespace,  # submit() starts the service first
            owner=cfg.owner,
            notebook_path=req.notebook,
            parameters=req.parameters,
            profile=profile,
            image=image,
            output_path=output,
            env=req.env,
            secrets=tuple(req.secrets),
            timeout_seconds=req.timeout_seconds,
            retries=req.retries,
            ttl_seconds=ttl_for(req, cfg.default_ttl_seconds),
            # JobBuild calls "api" staging "configmap" (the word the Job's staging annotation
            # carries on the wire).
            staging="shared" if cfg.staging == "shared" else "configmap",
            shared_volume=cfg.shared_volume,
            shared_mount_path=cfg.shared_mount_path,
            kernel_name=kernel,
            language=language,
            max_output_bytes=cfg.max_output_bytes,
            ship_folder=req.ship_folder,
            handover=(
                None
                if cfg.staging == "shared"
                else {
                    # A schedule's runs share one ConfigMap: their token is the schedule's
                    # (handover.py), which fetch_held derives again from each run's Job.
                    "token": await self.log_reader.handover_token(name),
                    "port": HANDOVER_PORT,
                    "hold_seconds": cfg.output_hold_seconds,
                }
            ),
            schedule=schedule,
            queue=queue,
            priority_class=priority_class,
            **sweep,
        )
        configmap = await asyncio.to_thread(
            make_input_configmap, build, data, _RUNNER_SOURCE(), make_runner_config(build), extra
        )
        return build, configmap, warnings

    async def rerun(
        self, name: str, parameters: dict[str, Any] | None = None, failed_only: bool = False
    ) -> tuple[JobInfo, builtins.list[str]]:
        """Submit the same notebook again with the same (or the given) parameters; a sweep
        again as a whole, or (failed_only) only its indexes that did not succeed."""
        old = await self.get(name)
        job = await self._job(name)
        container = job["spec"]["template"]["spec"]["containers"][0]
        env = {
            e["name"]: e["value"]
            for e in container.get("env", [])
            if "value" in e and e["name"] != "PYTHONUNBUFFERED"
        }
        ann = job["metadata"].get("annotations") or {}
        # The image the profile (or the defaults) gave is no choice of the user's: passing it
        # as one would meet allowed_images (which may allow none).
        profile = self.profiles.get(old.profile)
        default = profile.image or await self.default_image()
        # Its queue and priority again, where the profile still allows them (else its own).
        queue, priority = queue_of(job)
        req = SubmitRequest(
            notebook=old.notebook,
            parameters=old.parameters if parameters is None else parameters,
            profile=old.profile,
            image=old.image if old.image and old.image != default else None,
            env=env,
            secrets=[
                e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e
            ],
            # Not activeDeadlineSeconds: a cancel sets it to 1 (a rerun would die at once).
            timeout_seconds=_positive_int(ann.get(ANN_TIMEOUT)),
            # A sweep's retries are per index (its backoffLimit is then Kubernetes' default).
            retries=job["spec"].get("backoffLimitPerIndex", job["spec"].get("backoffLimit", 0)),
            queue=queue if queue in profile.queue_choices else None,
            priority_class=priority if priority in profile.priority_class_choices else None,
            **rerun_fields(job, old, failed_only),
        )
        return await self.submit(req)

    # -- cancel / delete ----------------------------------------------------------------------

    async def cancel(self, name: str) -> JobInfo:
        """Stop the job gracefully: the runner saves the notebook as far as it got."""
        job = await self._job(name)
        info = self.info(job)
        if info.phase.finished:
            return info
        client = await self.client()
        # The partial notebook comes out through the log as the runner exits, and the pod's
        # log follower (started when it began running) reads it before the pod goes away.
        # A deadline already passed makes the job controller stop the pods gracefully (SIGTERM,
        # then the grace period) and mark the Job Failed; the annotation says it was us.
        await client.patch(
            "jobs",
            name,
            {
                "metadata": {"annotations": {ANN_CANCELLED: "true"}},
                "spec": {"activeDeadlineSeconds": 1},
            },
            self.config.namespace,
        )
        if job["spec"].get("suspend"):
            await self.queueing.withdraw(job)  # queued, never ran: out of its queue now
        return self.info(await client.get("jobs", name, self.config.namespace))

    async def delete(self, name: str) -> None:
        await self._job(name)
        client = await self.client()
        await client.delete(
            "jobs", name, self.config.namespace, propagation="Background", missing_ok=True
        )

    # -- logs ---------------------------------------------------------------------------------

    def _log_pod(self, name: str) -> Obj:
        pods = sorted(self._pods_of(name), key=lambda p: p["metadata"]["creationTimestamp"])
        started = [p for p in pods if container_started(p)]
        if not started:
            raise NotFoundProblem(f"job {name} has no logs yet: its pod has not started")
        return started[-1]

    async def logs(
        self,
        name: str,
        tail: int | None = None,
        follow: bool = False,
        on_cell: Callable[[Progress], None] | None = None,
    ) -> AsyncGenerator[str, None]:
        """The notebook's log lines (runner markers and the output frame left out).

        `tail` counts the user's lines: without follow, the whole log is read and filtered
        first (a plain tailLines could start inside the output frame and show its data).
        `on_cell` is called with each cell marker's progress where it comes in the log, before
        the lines that follow it (the CLI prints "cell 3/5: ..." between the log lines).
        """
        await self._job(name)
        pod = self._log_pod(name)
        client = await self.client()
        if follow:
            # Resumed across cut streams (API server restarts, idle proxies), no line twice.
            raw = follow_pod_log(
                client,
                self.namespace,  # _job() started the service
                pod["metadata"]["name"],
                CONTAINER,
                tail=tail,
                read_timeout=LOG_SILENCE_SECONDS,
                resume_seconds=LOG_RESUME_SECONDS,
            )
        else:
            path = resource_path("pods", self.config.namespace, pod["metadata"]["name"], "log")
            raw = client.stream_lines(path, {"container": CONTAINER, "limitBytes": LOG_FETCH_LIMIT})
        lines = user_lines(raw, on_cell)
        if tail is None or follow:
            async for line in lines:
                yield line
            return
        last: collections.deque[str] = collections.deque(maxlen=tail)
        async for line in lines:
            last.append(line)
        for line in last:
            yield line

    # -- output -------------------------------------------------------------------------------

    async def output(self, name: str) -> bytes:
        """The executed notebook's bytes (from the workspace once collected)."""
        info = await self.get(name)
        if not info.output_path:
            raise NotFoundProblem(f"job {name} has no output")
        if info.output_state == "error":
            raise NotFoundProblem(
                f"the output of job {name} could not be collected: {info.output_error}"
            )
        path = await self.output_file(name)
        if not path.is_file():
            state = "is not ready yet" if info.output_state == "pending" else "is not there"
            raise NotFoundProblem(
                f"the executed notebook of job {name} {state} ({info.output_path})"
            )
        return await asyncio.to_thread(path.read_bytes)  # up to max_output_bytes

    async def output_file(self, name: str) -> Path:
        """Where the job's executed notebook is (or goes) under the root; see output_target."""
        return self.output_target(await self._job(name))

    async def live(self, name: str) -> dict[str, Any]:
        """The job's notebook as it executes (or as it ended): an nbformat-4 notebook whose
        metadata `jupyter_k8s_live` says the job's phase and cell k of N, each code cell's
        `jupyter_k8s_live.state` pending, running, done or failed; outputs capped (live.py).

        API staging: assembled from the runner's markers while the run goes on, the collected
        executed notebook once it is there. Shared staging: the notebook papermill saves in
        place at each cell. NotFoundProblem when no cell has started (or a sweep: its
        indexes are notebooks of their own).
        """
        job = await self._job(name)
        info = self.info(job)
        if is_sweep(job):
            raise NotFoundProblem(
                f"job {name} is a sweep: each of its indexes runs a notebook of its own; "
                "see its results table and the indexes' notebooks"
            )
        header = {
            "job": name,
            "phase": info.phase.value,
            "cell": info.current_cell,
            "total": info.total_cells,
            "line": info.current_cell_line,
            "finished": info.phase.finished,
        }
        shared = (job["metadata"].get("annotations") or {}).get(ANN_STAGING) == "shared"
        run = self.live_runs.get(name)
        found: dict[str, Any] | None = None
        if not shared and run is not None and run.has_notebook and run.started:
            found = run.notebook(header)  # the run as it goes (or just ended, not yet collected)
        elif shared or info.output_state == "ready":
            try:
                path = self.output_target(job)
            except ForbiddenProblem:
                path = None
            if path is not None and (info.started is not None or info.phase.finished):
                nb = await asyncio.to_thread(read_notebook_file, path, self.config.max_output_bytes)
                source = "file" if shared and not info.phase.finished else "output"
                if nb is not None:
                    found = await asyncio.to_thread(from_notebook, nb, header, source)
        if found is None:
            state = info.phase.value + (f": {info.reason}" if info.reason else "")
            why = "has not started a cell yet" if not info.phase.finished else "ran no cell"
            if info.phase.finished and info.current_cell is not None:
                why = "has no notebook to show (the executed notebook was not collected)"
            raise NotFoundProblem(f"job {name} {why} ({state}); there is no live view")
        return found

    async def copy_output(self, name: str, path: str) -> str:
        """Copy the executed notebook to `path` (relative to the root); returns the path."""
        data = await self.output(name)
        target = safe_path(self.config.root_dir, path)
        await asyncio.to_thread(write_atomic, target, data)
        return path

    def _on_job(self, kind: str, job: Obj) -> None:
        if kind == "DELETED":
            self.live_runs.pop(job["metadata"]["name"], None)
            self._followed.discard(job["metadata"]["name"])
            self._stamp_tried.discard(job["metadata"]["name"])
            self._notified.discard(job["metadata"]["name"])
            return
        if self.jobs is None:
            return  # the first listing, before every cache is ready: start() replays it
        if not self.is_mine(job):
            return
        name = job["metadata"]["name"]
        info = self.info(job)
        self._maybe_notify(job, info)
        if info.phase.finished and info.output_state == "pending" and self._collects(name):
            started = [p for p in self._pods_of(name) if container_started(p)]
            if not started and name not in self._followed:
                self._spawn(self._mark_output(name, "none", None))
            for pod in started:  # a restarted server catches up here
                self._follow(name, pod["metadata"]["name"])
        elif info.phase.finished and self._unstamped_in_place(job) and self._collects(name):
            # Written in place while no server ran (a schedule's run): the stamp is still due,
            # while the pod (its digest, node, times) exists. The follower reads the ended
            # log at once, then stamps.
            self._stamp_tried.add(name)
            for pod in self._pods_of(name):
                if container_started(pod):
                    self._follow(name, pod["metadata"]["name"])

    def _maybe_notify(self, job: Obj, info: JobInfo) -> None:
        """Tell the webhook once that this job ended. Only the server does (it collects every
        job of the owner); the CLI and the magic, short-lived, leave it to the server."""
        name = job["metadata"]["name"]
        if (
            not self.config.notify_webhook
            or self.collect_only is not None
            or not self.collect_enabled
            or name in self._notified
        ):
            return
        notified = (job["metadata"].get("annotations") or {}).get(ANN_NOTIFIED) == "true"
        if notification_due(info, notified, self._created_at):
            self._notified.add(name)
            self._spawn(self._notify(name, info))

    async def _notify(self, name: str, info: JobInfo) -> None:
        """POST the notification, then mark the Job told, sent or not (a receiver that is down
        is not retried forever), so that a restarted server does not tell it again."""
        url = self.config.notify_webhook
        assert url is not None
        problem = await send_notification(url, notification_body(info))
        if problem is not None:
            # Never the URL: it is a secret.
            log.warning("job %s: the end-of-job notification failed: %s", name, problem)
        else:
            log.info("job %s: end-of-job notification sent (%s)", name, info.phase.value)
        try:
            client = await self.client()
            await client.patch(
                "jobs",
                name,
                {"metadata": {"annotations": {ANN_NOTIFIED: "true"}}},
                self.config.namespace,
            )
        except NotFound:
            return
        except KubeError as exc:
            log.warning("job %s: could not mark the notification as sent: %s", name, exc)

    def _unstamped_in_place(self, job: Obj) -> bool:
        ann = job["metadata"].get("annotations") or {}
        return (
            ann.get(ANN_STAGING) == "shared"
            and ANN_PROVENANCE not in ann
            and job["metadata"]["name"] not in self._stamp_tried
            and not is_sweep(job)
        )

    def _on_pod(self, kind: str, pod: Obj) -> None:
        if pod["metadata"]["name"] in self._collecting:
            self.stamper.last_pods[pod["metadata"]["name"]] = pod
        name = (pod["metadata"].get("labels") or {}).get(JOB_NAME_LABEL)
        if not name or self.jobs is None:
            return
        job = self.jobs.get(name, self.config.namespace)
        if job is None or not self.is_mine(job) or not self._is_pod_of(pod, job):
            return
        info = self.info(job)
        if kind != "DELETED" and container_started(pod) and self._collects(name):
            if info.output_state in ("pending", "none"):
                self._follow(name, pod["metadata"]["name"])
        reason = fail_fast_reason(info)
        if reason and not (job["metadata"].get("annotations") or {}).get(ANN_FAILURE_REASON):
            self._spawn(self._fail_fast(name, info.reason or "FailedFast", reason))

    async def _fail_fast(self, name: str, reason: str, message: str) -> None:
        """Stop a job that waits for what won't come (a bad image, a missing Secret)."""
        client = await self.client()
        with contextlib.suppress(NotFound):
            await client.patch(
                "jobs",
                name,
                {
                    "metadata": {
                        "annotations": {ANN_FAILURE_REASON: reason, ANN_FAILURE_MESSAGE: message}
                    },
                    "spec": {"activeDeadlineSeconds": 1},
                },
                self.config.namespace,
            )

    def _collects(self, name: str) -> bool:
        return self.collect_enabled and (self.collect_only is None or name in self.collect_only)

    def collect(self, name: str) -> None:
        """Collect this job's executed notebook too (a no-op where every job is collected)."""
        if self.collect_only is None or name in self.collect_only:
            return
        self.collect_only.add(name)
        if self.jobs is None or self.pods is None:
            return
        job = self.jobs.get(name, self.config.namespace)
        if job is not None:  # what the listeners skipped so far
            self._on_job("MODIFIED", job)
            for pod in self._pods_of(name):
                self._on_pod("MODIFIED", pod)

    def _follow(self, name: str, pod: str) -> None:
        """One log follower per pod: live cell progress, then the executed notebook."""
        if pod in self._collecting:
            return
        self._followed.add(name)
        job = self.jobs.get(name, self.config.namespace) if self.jobs is not None else None
        # A sweep's pods each bring their own index's output, without waiting for the rest.
        follower = collect_index(self, name, pod) if is_sweep(job) else self._follow_log(name, pod)
        task = asyncio.ensure_future(follower)
        self._collecting[pod] = task
        task.add_done_callback(
            lambda _t: (self._collecting.pop(pod, None), self.stamper.last_pods.pop(pod, None))
        )

    async def _follow_log(self, name: str, pod: str) -> None:
        ns = self.config.namespace
        try:
            client = await self.client()
            kept = await self.log_reader.read(name, pod)
            job = await client.get("jobs", name, ns)
            if not self.info(job).phase.finished:
                if job["spec"].get("suspend"):
                    # Kueue preempted it (suspended, its pod deleted): it runs again from the
                    # start when admitted again, and that pod's follower brings the output.
                    return
                # The pod ended but the job goes on (a retry after eviction): next pod's turn.
                await self._wait_finished(name)
                job = await client.get("jobs", name, ns)
            if self._superseded(name, pod):
                return  # a later pod of the job ran (a retry): its follower collects
            ann = job["metadata"].get("annotations") or {}
            if ann.get(ANN_STAGING) == "shared":
                if self.is_mine(job):  # the pod wrote it in place: only the stamp to add
                    await self.stamper.stamp_in_place(job, pod)
                return
            if ann.get(ANN_OUTPUT_STATE) == "ready" or not self.is_mine(job):
                return
            parsed = await self.log_reader.output(pod, kept)
            if parsed.output is None:
                final = parsed.final or {}
                if final.get("event") == "failed" and final.get("reason") and not final.get("cell"):
                    # The runner refused before running anything (MissingPackage): there is
                    # no executed notebook to lose; the job's status says why.
                    await self._mark_output(name, "none", None)
                    return
                await self._mark_output(
                    name, "error", parsed.output_error or "the runner wrote no executed notebook"
                )
                return
            target = self.output_target(job)
            data, provenance = await self.stamper.stamped(job, pod, parsed.output)
            await asyncio.to_thread(write_atomic, target, data)
            await self._mark_output(name, "ready", None, provenance)
            if (run := self.live_runs.get(name)) is not None:
                run.forget_outputs()  # the live view reads the collected notebook now
        except NotFound:
            return  # the job or pod was deleted: nothing to collect
        except (KubeError, ValidationProblem, ForbiddenProblem, OSError) as exc:
            log.warning("output of job %s not collected: %s", name, exc)
            with contextlib.suppress(KubeError):
                await self._mark_output(name, "error", str(exc))

    def _superseded(self, name: str, pod: str) -> bool:
        """Whether a pod of the job started after `pod` (a retry, a requeued run)."""
        started = [p for p in self._pods_of(name) if container_started(p)]
        mine = next((p for p in started if p["metadata"]["name"] == pod), None)
        if mine is None:
            return False
        when = str(mine["metadata"].get("creationTimestamp") or "")
        return any(str(p["metadata"].get("creationTimestamp") or "") > when for p in started)

    async def _wait_finished(self, name: str) -> None:
        assert self.jobs is not None
        await self.jobs.wait_for(
            lambda jobs: any(
                j["metadata"]["name"] == name and self.info(j).phase.finished for j in jobs
            ),
            3600,
        )

    def touch(self) -> None:
        """Wake waiters: progress is state too, though it lives in no Kubernetes object."""
        if self.jobs is not None:
            self.jobs.notify()

    async def _mark_output(
        self, name: str, state: str, error: str | None, provenance: Provenance | None = None
    ) -> None:
        client = await self.client()
        ann: dict[str, Any] = {ANN_OUTPUT_STATE: state, ANN_OUTPUT_ERROR: error}
        if provenance is not None:
            ann[ANN_PROVENANCE] = annotation(provenance)
        with contextlib.suppress(NotFound):
            await client.patch(
                "jobs", name, {"metadata": {"annotations": ann}}, self.config.namespace
            )
        assert self.jobs is not None
        # Reflect it at once for readers (the watch event follows shortly).
        with contextlib.suppress(TimeoutError):
            await self.jobs.wait_for(
                lambda jobs: any(
                    j["metadata"]["name"] == name
                    and (j["metadata"].get("annotations") or {}).get(ANN_OUTPUT_STATE) == state
                    for j in jobs
                ),
                5,
            )


def read_notebook_file(path: Path, limit: int) -> Any | None:
    """A notebook file parsed, or None when missing or not JSON. Blocking: call in a thread.

    Reads at most `limit` bytes (a larger file is a TooLargeProblem). papermill writes the
    file in place as cells run, not atomically: a read that catches it half-written is tried
    again a few times.
    """
    for attempt in range(5):
        try:
            with path.open("rb") as f:
                data = f.read(limit + 1)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        if len(data) > limit:
            raise TooLargeProblem(
                f"the notebook {path.name} is over {limit} bytes, too large for the live view"
            )
        try:
            return json.loads(data)
        except ValueError:
            if attempt == 4:
                return None
            time.sleep(0.05 * (attempt + 1))
    return None


def _index(index: dict[Any, dict[str, Obj]], key: Any, kind: str, obj: Obj) -> None:
    """Keep `index[key]` (objects by name) in step with one watch event."""
    name = obj["metadata"]["name"]
    if kind == "DELETED":
        group = index.get(key)
        if group is not None:
            group.pop(name, None)
            if not group:
                del index[key]
    else:
        index.setdefault(key, {})[name] = obj


def _changed(a: JobInfo, b: JobInfo) -> bool:
    return (a.phase, a.reason, a.message, a.current_cell, a.output_state) != (
        b.phase,
        b.reason,
        b.message,
        b.current_cell,
        b.output_state,
    )


def _positive_int(value: Any) -> int | None:
    """An annotation read back as a positive int (it is untrusted text), else None."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= 2**31 - 1 else None


def ttl_for(req: SubmitRequest, configured: int | None) -> int | None:
    """ttlSecondsAfterFinished: the request's when it gives one (null: keep the job), else
    the server's `c.JupyterK8s.job_ttl_seconds` (not the request model's own default)."""
    if "ttl_seconds_after_finished" in req.model_fields_set:
        return req.ttl_seconds_after_finished
    return configured
