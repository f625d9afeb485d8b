"""Notebook jobs in Kueue's queues: the job service's side of jupyter_k8s.queues.

`JobQueues` belongs to one JobService. It checks a submit's queue (Kueue served, the
LocalQueue there), starts the Kueue caches (`QueueWatch`) once Kueue is found, watching the
Workloads of this owner's Jobs, and answers a Job's `QueueInfo` from them. Without Kueue it
costs one discovery request at start and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..errors import ValidationProblem
from ..k8s.client import KubeError, Obj
from ..profiles import Profile
from ..queues.cache import QueueWatch
from ..queues.discovery import KueueAPI, KueueDiscovery, no_kueue, no_local_queue
from ..queues.lookups import missing_local_queue, missing_priority_class
from ..queues.models import QueueInfo
from ..queues.names import PRIORITY_LABEL, QUEUE_LABEL
from ..queues.status import queue_info

if TYPE_CHECKING:
    from .service import JobService

log = logging.getLogger("jupyter_k8s.jobs")


def queue_of(job: Obj) -> tuple[str | None, str | None]:
    """The LocalQueue and WorkloadPriorityClass a Job's labels name (untrusted: names only)."""
    labels = (job.get("metadata") or {}).get("labels") or {}
    queue, priority = labels.get(QUEUE_LABEL), labels.get(PRIORITY_LABEL)
    return (
        queue if isinstance(queue, str) and queue else None,
        priority if isinstance(priority, str) and priority else None,
    )


class JobQueues:
    def __init__(self, service: JobService):
        self.service = service
        self.discovery = KueueDiscovery()
        self.watch: QueueWatch | None = None
        #: Why there is no watch while jobs name a queue (no Kueue, no answer), or None.
        self.problem: str | None = None
        self._lock = asyncio.Lock()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Find Kueue and, where served, watch it. Never raises: jobs work without it."""
        try:
            api = await self.discovery.find(self.service.client)
        except KubeError as exc:
            self.problem = f"whether Kueue is installed could not be found out: {exc}"
            log.info("Kueue: %s", self.problem)
            return
        await self.ensure(api)

    async def ensure(self, api: KueueAPI) -> None:
        """Start the caches once Kueue is served (also when it was installed after start)."""
        if not api.served:
            self.problem = "this cluster has no Kueue (the kueue.x-k8s.io API is not served)"
            return
        async with self._lock:
            if self.watch is not None:
                return
            client = await self.service.client()
            watch = QueueWatch(
                client,
                self.service.namespace,
                visibility=api.visibility,
                is_watched=self._is_watched,
            )
            try:
                await watch.start()
            except (KubeError, TimeoutError) as exc:
                self.problem = f"Kueue's queues could not be watched: {exc or 'no answer'}"
                log.warning("Kueue: %s", self.problem)
                await watch.stop()
                return
            watch.add_listener(self.service.touch)  # waiters see positions change
            self.watch, self.problem = watch, watch.unreadable

    async def stop(self) -> None:
        if self.watch is not None:
            await self.watch.stop()
            self.watch = None

    def sync_problem(self) -> str | None:
        return self.watch.sync_problem() if self.watch is not None else None

    # -- submit -------------------------------------------------------------------------------

    async def check(
        self, queue: str, priority_class: str | None, profile: Profile, from_request: bool
    ) -> None:
        """That `queue` can take the job: Kueue is served, the LocalQueue exists here, and so
        does the WorkloadPriorityClass (where this identity may read them)."""
        await self._check_queue(queue, profile, from_request)
        if priority_class is None:
            return
        if await missing_priority_class(await self.service.client(), priority_class):
            raise ValidationProblem(
                f"no WorkloadPriorityClass {priority_class!r} in this cluster; ask your "
                f"operator, or change `priority_class` (profile {profile.name!r})",
                field="priority_class",
            )

    async def _check_queue(self, queue: str, profile: Profile, from_request: bool) -> None:
        api = await self.discovery.find(self.service.client)
        if not api.served:
            raise no_kueue(api, queue, profile.name, from_request)
        await self.ensure(api)
        ns = self.service.namespace
        cached = self.watch.local_queue_names() if self.watch is not None else None
        names = await missing_local_queue(await self.service.client(), ns, queue, cached)
        if names is not None:
            raise no_local_queue(queue, ns, names, profile.name, from_request)

    async def withdraw(self, job: Obj) -> None:
        """Take a cancelled job that never ran out of its queue: deactivate its Workload
        (spec.active false), so it neither keeps its place nor runs when its turn comes (its
        Job is suspended, so its deadline never fires). Best effort: without the optional
        Role's patch, Kueue admits it later and the deadline stops it at once."""
        meta = job.get("metadata") or {}
        if self.watch is None or queue_of(job)[0] is None:
            return
        workload = self.watch.workload_for(
            "Job", str(meta.get("name", "")), str(meta.get("uid", ""))
        )
        if workload is None:
            return
        client = await self.service.client()
        try:
            await client.patch(
                "workloads",
                workload["metadata"]["name"],
                {"spec": {"active": False}},
                self.service.namespace,
            )
        except KubeError as exc:
            log.info("job %s: its Workload was not deactivated: %s", meta.get("name"), exc)

    # -- status -------------------------------------------------------------------------------

    def info(self, job: Obj) -> QueueInfo | None:
        """The QueueInfo of a Job put in a queue (None for one that is not)."""
        queue, priority = queue_of(job)
        if queue is None:
            return None
        meta = job.get("metadata") or {}
        suspended = bool((job.get("spec") or {}).get("suspend"))
        if self.watch is None:
            return queue_info(queue, None, suspended=suspended, unreadable=self.problem)
        return self.watch.info_for(
            "Job",
            str(meta.get("name", "")),
            str(meta.get("uid", "")),
            queue,
            priority,
            suspended=suspended,
        )

    def _is_watched(self, workload: Obj) -> bool:
        """A Workload of one of this owner's Jobs (owner name and uid both match)."""
        jobs = self.service.jobs
        if jobs is None:
            return False
        for ref in (workload.get("metadata") or {}).get("ownerReferences") or []:
            if not isinstance(ref, dict) or ref.get("kind") != "Job":
                continue
            job = jobs.get(str(ref.get("name", "")), self.service.config.namespace)
            if (
                job is not None
                and job["metadata"].get("uid") == ref.get("uid")
                and self.service.is_mine(job)
            ):
                return True
        return False
