"""Parameter sweeps in the JobService: submit fields, one output per index, results, rerun.

The pure part (combinations, the results table) is in `sweeps.py`, the per-index status in
`status.sweep_info`. This module is the service's glue: it reads the service's caches and
uses its client, so that `service.py` only calls in at submit, rerun and log following.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ForbiddenProblem, ValidationProblem
from ..files import write_atomic
from ..k8s.client import KubeError, NotFound, Obj, resource_path
from ..profiles import Profile
from .models import JobInfo, JobPhase, SubmitRequest
from .objects import ANN_INDEX_OUTPUT_PREFIX, ANN_STAGING, CONTAINER
from .runlog import parse_marker, parse_runner_log
from .status import sweep_sets
from .sweeps import SweepSpec, as_zip, indexed_output_path, pod_index, results_table

if TYPE_CHECKING:
    from .service import JobService

log = logging.getLogger("jupyter_k8s.jobs")

#: Bytes of an index's pod log read for its records when its output is not at hand.
RESULTS_LOG_LIMIT = 8 * 1024 * 1024
#: Outputs or pod logs read at once for a results table.
RESULTS_CONCURRENCY = 8


def is_sweep(job: Obj | None) -> bool:
    return job is not None and sweep_sets(job) is not None


def submit_fields(
    req: SubmitRequest, profile: Profile
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(JobBuild fields, parameters to check against the notebook, warnings) of a submit.

    A plain job: nothing to add. A sweep: its parameter sets and a parallelism the profile
    allows (capped with a warning, not refused: the sweep runs, only less at once).
    """
    if req.sweep is None:
        if req.parallelism not in (None, 1):
            raise ValidationProblem("parallelism is for sweeps only", field="parallelism")
        return {}, dict(req.parameters), []
    sets = req.sweep.combinations()
    warnings = []
    wanted = req.parallelism or 1
    parallelism = min(wanted, profile.max_parallelism)
    if parallelism < wanted:
        warnings.append(
            f"parallelism {wanted} is over profile {profile.name!r}'s limit: "
            f"{parallelism} parameter sets run at once"
        )
    checked = {**req.parameters, **sets[0]}
    return {"sweep": tuple(sets), "parallelism": parallelism}, checked, warnings


def rerun_fields(job: Obj, info: JobInfo, failed_only: bool) -> dict[str, Any]:
    """The SubmitRequest fields that run a sweep again: all of it, or (failed_only) the
    parameter sets of the indexes that did not succeed, as a zipped sweep of their own."""
    sweep = info.sweep
    if sweep is None:
        if failed_only:
            raise ValidationProblem(f"job {info.id} is not a sweep", field="failed_only")
        return {}
    indexes = sweep.indexes
    if failed_only:
        if not info.phase.finished:
            raise ValidationProblem(
                f"sweep {info.id} is still running: rerun its failed indexes once it ended",
                field="failed_only",
            )
        indexes = [i for i in indexes if i.phase != JobPhase.SUCCEEDED.value]
        if not indexes:
            raise ValidationProblem(f"every index of sweep {info.id} succeeded", "failed_only")
    base = info.parameters
    sets = [
        {n: v for n, v in i.parameters.items() if not (n in base and base[n] == v)} for i in indexes
    ]
    if not any(sets):  # every value is the shared one: keep them to have lists at all
        sets = [dict(i.parameters) for i in indexes]
    spec = SweepSpec.model_validate(as_zip(sets))
    parallelism = int((job.get("spec") or {}).get("parallelism") or 1)
    return {"sweep": spec, "parallelism": parallelism}


# -- one output per index ------------------------------------------------------------------------


def index_target(svc: JobService, job: Obj, index: int) -> Path:
    """Where index `index`'s executed notebook goes: the job's checked output path, indexed."""
    base = svc.output_target(job)
    return base.with_name(indexed_output_path(base.name, index))


async def mark_index(svc: JobService, name: str, index: int, state: str) -> None:
    client = await svc.client()
    key = f"{ANN_INDEX_OUTPUT_PREFIX}{index}"
    with contextlib.suppress(NotFound):
        await client.patch(
            "jobs", name, {"metadata": {"annotations": {key: state}}}, svc.config.namespace
        )


def _collected(job: Obj, index: int) -> bool:
    """Whether there is nothing (more) to collect for this index: shared staging writes in
    place; otherwise its output state is set once collected (or known lost)."""
    ann = job["metadata"].get("annotations") or {}
    said = ann.get(f"{ANN_INDEX_OUTPUT_PREFIX}{index}") or "pending"
    return ann.get(ANN_STAGING) == "shared" or said != "pending"


async def collect_index(svc: JobService, name: str, pod: str) -> None:
    """Follow one sweep pod's log, then write its index's executed notebook.

    Unlike a plain job's follower this does not wait for the Job to end: each index is
    done when its pod is. A pod that ended without the runner's final marker (evicted) is
    left to the index's next pod, unless the index is over.
    """
    ns = svc.config.namespace
    index: int | None = None
    try:
        cached = svc.pods.get(pod, ns) if svc.pods is not None else None
        index = pod_index(cached) if cached is not None else None
        job = svc.jobs.get(name, ns) if svc.jobs is not None else None
        ann = (job or {}).get("metadata", {}).get("annotations") or {}
        shared = ann.get(ANN_STAGING) == "shared"
        if index is None or job is None or (not shared and _collected(job, index)):
            # A follower started again after the job's end: nothing left to do.
            log.info("sweep %s pod %s: nothing to collect (index %s)", name, pod, index)
            return
        if shared:
            # The pod writes its notebook in place: once it ended, only the stamp to add.
            await svc.log_reader.read(name, pod)
            job = await (await svc.client()).get("jobs", name, ns)
            if svc.is_mine(job):
                await svc.stamper.stamp_in_place(job, pod, index)
            return
        # Said on the Job before reading: a cancel deletes the pod, and without it nobody
        # could tell an index whose output is on its way from one that never ran.
        await mark_index(svc, name, index, "pending")
        kept = await svc.log_reader.read(name, pod)
        client = await svc.client()
        job = await client.get("jobs", name, ns)
        if not svc.is_mine(job) or _collected(job, index):
            return
        parsed = await svc.log_reader.output(pod, kept)
        if parsed.output is None:
            final = parsed.final or {}
            if not final:
                info = svc.info(job)
                over = info.sweep is not None and any(
                    i.index == index and JobPhase(i.phase).finished for i in info.sweep.indexes
                )
                if not over:
                    # Evicted: the index's next pod brings the output.
                    log.info("sweep %s index %s: pod %s ended without a result", name, index, pod)
                    return
            if final.get("event") == "failed" and final.get("reason") and not final.get("cell"):
                await mark_index(svc, name, index, "none")  # refused before running anything
                return
            error = parsed.output_error or "the runner wrote no executed notebook"
            await mark_index(svc, name, index, f"error: {error}")
            return
        target = index_target(svc, job, index)
        data, _stamp = await svc.stamper.stamped(job, pod, parsed.output, index)  # provenance
        await asyncio.to_thread(write_atomic, target, data)
        await mark_index(svc, name, index, "ready")
    except NotFound:
        return
    except (KubeError, ValidationProblem, ForbiddenProblem, OSError) as exc:
        log.warning("output of job %s index %s not collected: %s", name, index, exc)
        if index is not None:
            with contextlib.suppress(KubeError):
                await mark_index(svc, name, index, f"error: {exc}")


# -- results -------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _records_from_log(text: str, max_output_bytes: int) -> dict[str, Any] | None:
    """The executed notebook framed in a pod log, or else a stand-in holding its records."""
    parsed = parse_runner_log(text, max_output_bytes=max_output_bytes)
    if parsed.output is not None:
        with contextlib.suppress(ValueError):
            value = json.loads(parsed.output)
            if isinstance(value, dict):
                return value
    records = []
    for line in text.splitlines():
        marker = parse_marker(line)
        if marker is not None and marker[1].get("event") == "record":
            records.append({"name": marker[1].get("name"), "value": marker[1].get("value")})
    return {"metadata": {"jupyter_k8s_sweep": {"records": records}}}


async def results(svc: JobService, name: str) -> dict[str, Any]:
    """The sweep's table: parameters x recorded values, with each index's phase and reason.

    Records come from each index's executed notebook where it is under the root (collected,
    or written in place), else from its pod's log (the record markers, while pods exist).
    """
    job = await svc._job(name)
    info = svc.info(job)
    if info.sweep is None:
        raise ValidationProblem(f"job {name} is not a sweep: it has no results table")
    pods: dict[int, Obj] = {}
    for pod in sorted(svc._pods_of(name), key=lambda p: p["metadata"]["creationTimestamp"]):
        k = pod_index(pod)
        if k is not None:
            pods[k] = pod
    client = await svc.client()
    gate = asyncio.Semaphore(RESULTS_CONCURRENCY)

    async def one(k: int) -> dict[str, Any] | None:
        async with gate:
            with contextlib.suppress(ForbiddenProblem, ValidationProblem):
                found = await asyncio.to_thread(_read_json, index_target(svc, job, k))
                if found is not None:
                    return found
            pod = pods.get(k)
            if pod is None:
                return None
            path = resource_path("pods", svc.config.namespace, pod["metadata"]["name"], "log")
            try:
                text = await client.request(
                    "GET",
                    path,
                    params={"container": CONTAINER, "limitBytes": RESULTS_LOG_LIMIT},
                    raw=True,
                )
            except KubeError:
                return None
            return await asyncio.to_thread(
                _records_from_log, str(text), svc.config.max_output_bytes
            )

    found = await asyncio.gather(*(one(i.index) for i in info.sweep.indexes))
    outputs = {i.index: nb for i, nb in zip(info.sweep.indexes, found, strict=True)}
    table = results_table(
        [i.parameters for i in info.sweep.indexes],
        [i.model_dump() for i in info.sweep.indexes],
        outputs,
    )
    return {"id": name, "phase": info.phase.value, **table}
