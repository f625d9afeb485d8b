"""The provenance stamp of an executed notebook, where its facts come from: the job's status,
its pod (kept past its deletion), its profile and its node, all from the caches (a node read
once, where RBAC allows). Added to the notebook as it is collected (API staging) or to the
file the pod wrote (shared staging, in place), and kept on the Job as an annotation.
provenance.py holds the stamp itself. A stamp never costs an output: what fails is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ForbiddenProblem, ValidationProblem
from ..files import write_atomic
from ..k8s.client import Forbidden, KubeError, Obj
from ..k8s.pods import container_running
from .models import JobInfo, JobPhase, Provenance
from .objects import CONTAINER
from .provenance import (
    ANN_PROVENANCE,
    STAMP_MAX_BYTES,
    add_to_notebook,
    annotation,
    gpu_product,
    stamp,
)
from .sweeps import indexed_output_path

if TYPE_CHECKING:
    from .service import JobService

log = logging.getLogger("jupyter_k8s.jobs")


class Stamper:
    """Makes and adds the stamps of one JobService's jobs."""

    def __init__(self, service: JobService) -> None:
        self.service = service
        #: A followed pod's last state, kept past its deletion (a cancel deletes it): the
        #: stamp reads its node, image digest and times from it.
        self.last_pods: dict[str, Obj] = {}
        self._nodes: dict[str, Obj] = {}  # read once each, for their GPU product label
        self._nodes_readable = True  # False after a 403: the shipped Role reads no nodes

    async def stamped(
        self, job: Obj, pod: str, data: bytes, index: int | None = None
    ) -> tuple[bytes, Provenance | None]:
        """The executed notebook `data` with its provenance stamp (of sweep index `index`),
        and the stamp; `data` as it is and None where no stamp could be made or added."""
        provenance = await self.provenance(job, pod, index)
        if provenance is None:
            return data, None
        stamped = await asyncio.to_thread(add_to_notebook, data, provenance)
        return (data, None) if stamped is None else (stamped, provenance)

    async def provenance(self, job: Obj, pod: str, index: int | None = None) -> Provenance | None:
        """The provenance stamp of a finished job (or of a sweep's index: its parameter set
        and how it ended), from the caches (and the Node, read once per node where allowed);
        None if it cannot be made: a stamp never costs an output."""
        ns, pods = self.service.config.namespace, self.service.pods
        if pods is not None:

            def ended(_: object) -> bool:
                current = pods.get(pod, ns)
                return current is None or not container_running(current, CONTAINER)

            # The runner's log has ended; the cache may show its end (finishedAt) a moment later.
            with contextlib.suppress(TimeoutError):
                await pods.wait_for(ended, 5)
        found = pods.get(pod, ns) if pods is not None else None
        info = self.service.info(job)
        if index is not None:
            info = await self._index_as_job(info, index)
        try:
            profile = self.service.profiles.get(info.profile) if info.profile else None
        except ValidationProblem:
            profile = None  # no longer configured: no cost
        try:
            provenance = stamp(
                info,
                found or self.last_pods.get(pod),
                gpu_resource=profile.gpu_resource if profile else None,
                cost_per_hour=profile.cost_per_hour if profile else None,
            )
        except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
            log.warning("no provenance stamp for job %s: %s", info.id, exc)
            return None
        if provenance.gpu_count and provenance.node and self._nodes_readable:
            if provenance.node not in self._nodes:
                try:
                    client = await self.service.client()
                    self._nodes[provenance.node] = await client.get("nodes", provenance.node)
                except Forbidden:
                    self._nodes_readable = False
                except KubeError as exc:
                    log.info("node %s not read for its GPU label: %s", provenance.node, exc)
            product = gpu_product(self._nodes.get(provenance.node), provenance.gpu_resource)
            provenance.gpu_product = product
        provenance.sweep_index = index
        return provenance

    async def _index_as_job(self, info: JobInfo, index: int) -> JobInfo:
        """A sweep's status as index `index`'s own: its parameter set, phase and reason, once
        the Job counts the index as ended (a moment after its pod; up to 10 s)."""
        jobs, ns = self.service.jobs, self.service.config.namespace

        def ended(_: object) -> JobInfo | None:
            job = jobs.get(info.id, ns) if jobs is not None else None
            now = self.service.info(job) if job is not None else info
            for i in now.sweep.indexes if now.sweep is not None else []:
                if i.index == index and i.phase in {p.value for p in JobPhase if p.finished}:
                    update = {"parameters": i.parameters, "phase": JobPhase(i.phase)}
                    return now.model_copy(update={**update, "reason": i.reason})
            return None

        if jobs is not None:
            with contextlib.suppress(TimeoutError):
                return await jobs.wait_for(ended, 10)
        sets = [
            i for i in (info.sweep.indexes if info.sweep is not None else []) if i.index == index
        ]
        return info.model_copy(update={"parameters": sets[0].parameters}) if sets else info

    async def stamp_in_place(self, job: Obj, pod: str, index: int | None = None) -> None:
        """Shared staging: add the stamp to the executed notebook the pod wrote in place (read,
        stamped, written whole atomically; a file that is not a notebook is left as it is).
        A sweep's index (`index`): that index's notebook and its own stamp, which the Job's
        annotation (the job detail's provenance, one per Job) does not carry."""
        provenance = await self.provenance(job, pod, index)
        if provenance is None:
            return

        def rewrite(target: Path) -> bool:
            if not target.is_file():
                return False
            was = target.stat()
            if was.st_size > STAMP_MAX_BYTES:
                return False
            stamped = add_to_notebook(target.read_bytes(), provenance)
            if stamped is not None:
                write_atomic(target, stamped)
                keep_ownership(target, was)
            return stamped is not None

        try:  # the output is there whatever happens here: a failure costs only the stamp
            target = self.service.output_target(job)
            if index is not None:
                target = target.with_name(indexed_output_path(target.name, index))
            if await asyncio.to_thread(rewrite, target) and index is None:
                client = await self.service.client()
                ann = {ANN_PROVENANCE: annotation(provenance)}
                await client.patch(
                    "jobs",
                    provenance.job_id,
                    {"metadata": {"annotations": ann}},
                    self.service.namespace,
                )
        except (OSError, ForbiddenProblem, KubeError) as exc:
            log.warning("output of job %s not stamped: %s", provenance.job_id, exc)


def keep_ownership(path: Path, was: os.stat_result) -> None:
    """Give a file rewritten by the server the owner and mode it had: the executed notebook a
    job's pod wrote in place (uid 1000, the fsGroup's gid) stays the user's whoever runs the
    server (as root, the rename would make it root's, and the user could no longer save it).
    A server that may not chown (not root) keeps what it can: the mode."""
    if (was.st_uid, was.st_gid) != (os.geteuid(), os.getegid()):
        with contextlib.suppress(OSError):
            os.chown(path, was.st_uid, was.st_gid)
    with contextlib.suppress(OSError):  # after chown, which clears set-id bits
        os.chmod(path, was.st_mode & 0o7777)
