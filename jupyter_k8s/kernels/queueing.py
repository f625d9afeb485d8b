"""Remote kernels in Kueue's queues: the kernel service's side of jupyter_k8s.queues.

A profile that names a LocalQueue (`queue`, and maybe `priority_class`) puts its kernels'
pods in that queue through Kueue's pod integration: the pod carries the queue's labels from
its creation, Kueue's webhook gates it, and Kueue lifts its gate on admission
(kernels/objects.py). `KernelQueues` belongs to one KernelService. Before a pod is made it
checks what a job submit checks (Kueue served, the LocalQueue there, the
WorkloadPriorityClass), with the same clear errors; while the pod waits it answers where the
pod stands (`info`: a QueueInfo, from the Workload owned by the Pod) and wakes the start-up
wait on every change of the queue (`changed`).

One QueueWatch per namespace serves jobs and kernels (docs/queues.md): in a Jupyter server
the job service's (`jobs_queue_watch`), to which the kernels' predicate is added; a client
without a server (papermill) starts its own, stopped with its service. Without Kueue, and for
profiles that name no queue, nothing here runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..errors import KernelStartProblem, Problem
from ..k8s.client import KubeError, Obj
from ..profiles import Profile
from ..queues.cache import QueueWatch
from ..queues.discovery import KueueAPI, KueueDiscovery, no_kueue, no_local_queue
from ..queues.lookups import missing_local_queue, missing_priority_class
from ..queues.models import QueueInfo
from ..queues.status import owned_by, queue_info
from .objects import kueue_gated, pod_queue

if TYPE_CHECKING:
    from ..jobs.service import JobService
    from .service import KernelService

log = logging.getLogger("jupyter_k8s.kernels")

#: Where a shared QueueWatch comes from (None: none to share; the kernels start their own).
WatchSource = Callable[[], Awaitable["QueueWatch | None"]]

#: What the errors call the work that was to be queued.
WORK = "the kernel's pod"


def jobs_queue_watch(jobs: JobService) -> WatchSource:
    """The job service's QueueWatch, started if need be (docs/queues.md, for the provisioner):
    one watch per namespace serves the jobs and the kernels of a server."""

    async def source() -> QueueWatch | None:
        await jobs.start()  # idempotent; its namespace and its Kueue caches
        await jobs.queueing.ensure(await jobs.queueing.discovery.find(jobs.client))
        return jobs.queueing.watch

    return source


def _start_problem(problem: Problem) -> KernelStartProblem:
    return KernelStartProblem(problem.message, problem.reason)


class KernelQueues:
    def __init__(self, service: KernelService, shared: WatchSource | None = None):
        self.service = service
        self.discovery = KueueDiscovery()
        self._shared = shared
        self._own: QueueWatch | None = None
        #: The QueueWatch statuses are read from (shared or own); None until a queued start.
        self.watch: QueueWatch | None = None
        #: Why there is no watch (no answer, no Kueue), or why Workloads can't be read.
        self.problem: str | None = None
        self._registered: QueueWatch | None = None
        #: Pods this process created that may wait (name -> uid): their Workloads are watched
        #: even before the pod cache has seen the pod.
        self._tracked: dict[str, str] = {}
        self._changed = asyncio.Event()
        self._lock = asyncio.Lock()

    # -- before the pod -----------------------------------------------------------------------

    async def check(self, profile: Profile) -> None:
        """That the profile's queue can take a kernel pod; KernelStartProblem otherwise."""
        queue = profile.queue
        if queue is None:
            return
        try:
            api = await self.discovery.find(self.service.client)
        except KubeError as exc:
            raise KernelStartProblem(
                f"cannot tell whether this cluster runs Kueue, for queue {queue!r} of profile "
                f"{profile.name!r}: {exc}",
                "Unreachable",
            ) from exc
        if not api.served:
            raise _start_problem(no_kueue(api, queue, profile.name, False, work=WORK))
        watch = await self.ensure(api)
        await self._check_queue(queue, profile, watch)
        if profile.priority_class:
            await self._check_priority_class(profile.priority_class, profile)

    async def _check_queue(self, queue: str, profile: Profile, watch: QueueWatch | None) -> None:
        ns = self.service.namespace
        cached = watch.local_queue_names() if watch is not None else None
        names = await missing_local_queue(await self.service.client(), ns, queue, cached)
        if names is not None:
            raise _start_problem(no_local_queue(queue, ns, names, profile.name, False))

    async def _check_priority_class(self, name: str, profile: Profile) -> None:
        if await missing_priority_class(await self.service.client(), name):
            raise KernelStartProblem(
                f"no WorkloadPriorityClass {name!r} in this cluster; ask your operator, or "
                f"change `priority_class` of profile {profile.name!r}",
                "NoPriorityClass",
            )

    # -- the watch ----------------------------------------------------------------------------

    async def ensure(self, api: KueueAPI) -> QueueWatch | None:
        """The namespace's QueueWatch (the shared one where there is one), with this service's
        pods watched and every change waking the start-up waits. Never raises."""
        async with self._lock:
            watch = await self._shared_watch()
            if watch is None:
                watch = await self._own_watch(api)
            if watch is not None and watch is not self._registered:
                if watch is not self._own:
                    watch.add_watched(self._is_watched)
                watch.add_listener(self._on_change)
                self._registered = watch
            self.watch = watch
            if watch is not None:
                self.problem = watch.unreadable
            return watch

    async def _shared_watch(self) -> QueueWatch | None:
        if self._shared is None:
            return None
        try:
            watch = await self._shared()
        except Exception as exc:  # noqa: BLE001 - the kernels then watch on their own
            log.info("Kueue: the job service's queue watch is not there: %s", exc)
            return None
        if watch is None or watch.namespace != self.service.namespace:
            return None
        return watch

    async def _own_watch(self, api: KueueAPI) -> QueueWatch | None:
        if self._own is not None:
            return self._own
        client = await self.service.client()
        watch = QueueWatch(
            client, self.service.namespace, visibility=api.visibility, is_watched=self._is_watched
        )
        try:
            await watch.start()
        except (KubeError, TimeoutError) as exc:
            self.problem = f"Kueue's queues could not be watched: {exc or 'no answer'}"
            log.warning("Kueue: %s", self.problem)
            await watch.stop()
            return None
        self._own = watch
        return watch

    async def stop(self) -> None:
        """Stop this service's own watch (a shared one is its owner's to stop)."""
        own, self._own = self._own, None
        if own is not None:
            await own.stop()
        if self.watch is own:
            self.watch = None
        if self._registered is own:
            self._registered = None

    # -- while the pod waits ------------------------------------------------------------------

    def track(self, pod: Obj) -> None:
        """Watch the Workload of this new pod (as returned by the API server) from now on."""
        meta = pod.get("metadata") or {}
        name, uid = meta.get("name"), meta.get("uid")
        if isinstance(name, str) and isinstance(uid, str) and uid:
            self._tracked[name] = uid

    def untrack(self, name: str) -> None:
        self._tracked.pop(name, None)

    def info(self, pod: Obj | None) -> QueueInfo | None:
        """Where a kernel pod stands in its queue (its labels'); None for a pod not queued."""
        queue, priority = pod_queue(pod)
        if pod is None or queue is None:
            return None
        meta = pod.get("metadata") or {}
        gated = kueue_gated(pod)
        if self.watch is None:
            return queue_info(
                queue, None, priority_class=priority, suspended=gated, unreadable=self.problem
            )
        name, uid = str(meta.get("name", "")), str(meta.get("uid", ""))
        said = self.watch.info_for("Pod", name, uid, queue, priority, suspended=gated)
        if (
            gated
            and not self.watch.unreadable
            and self.watch.workload_for("Pod", name, uid) is None
        ):
            # The first moment, before Kueue made the Workload: in a kernel's words.
            said = said.model_copy(
                update={"message": f"Queued in {said.queue}: waiting for Kueue to take {WORK} in"}
            )
        return said

    async def changed(self, timeout: float) -> None:
        """Until what `info` answers may have changed, or `timeout` seconds passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), max(0.0, timeout))

    def _on_change(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _is_watched(self, workload: Obj) -> bool:
        """A Workload of one of this user's kernel pods: kind, name and uid of its owner all
        match the pod's (ownerReferences are untrusted)."""
        refs = (workload.get("metadata") or {}).get("ownerReferences")
        for ref in refs if isinstance(refs, list) else []:
            if not isinstance(ref, dict) or ref.get("kind") != "Pod":
                continue
            name = ref.get("name")
            if not isinstance(name, str):
                continue
            uids = set()
            if name in self._tracked:
                uids.add(self._tracked[name])
            pod = self.service.pod(name)
            uid = ((pod or {}).get("metadata") or {}).get("uid")
            if isinstance(uid, str):
                uids.add(uid)
            if any(owned_by(workload, "Pod", name, u) for u in uids):
                return True
        return False
