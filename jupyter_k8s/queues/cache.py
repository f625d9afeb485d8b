"""`QueueWatch`: what Kueue says of the user's queued work, kept current without a call per read.

Three watch-fed caches (Reflectors): the namespace's Workloads and LocalQueues, and, where
RBAC lets this identity read them, the cluster's ClusterQueues (their quota and usage; without
them the usage part of a message is left out, and that is logged once). Kueue's visibility API
gives a workload's place in its LocalQueue, which no object holds: a poller asks it for each
LocalQueue where some of the watched work waits, every `poll_seconds` (2 s), with a timeout and
back-off, and only while such work waits. Readers (`info_for`) only read these caches.

Start it only where discovery found Kueue (`discovery.KueueDiscovery`). Whose work is watched
is the caller's predicate (`is_watched`): the job service watches the Workloads its own Jobs
own; the kernel provisioner can watch its pods' the same way. A Workload is found by its
owner (kind, name and uid, all three checked: ownerReferences are untrusted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from ..k8s.client import Forbidden, KubeClient, KubeError, NotFound, Obj
from ..k8s.watch import Reflector, probe, sync_problem
from .models import QueueInfo
from .names import VERSION, VISIBILITY_GROUP
from .status import is_pending, owned_by, owner_uids, queue_info, queue_name_of

log = logging.getLogger("jupyter_k8s.queues")

#: How often the positions of waiting work are asked for, and the longest back-off after
#: failures; positions older than STALE_SECONDS are not shown (unknown beats wrong).
POLL_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 30.0
STALE_SECONDS = 30.0
REQUEST_TIMEOUT = 5.0


def pending_workloads_path(namespace: str, queue: str) -> str:
    return (
        f"/apis/{VISIBILITY_GROUP}/{VERSION}/namespaces/{namespace}/localqueues/{queue}"
        "/pendingworkloads"
    )


def positions_of(summary: Any) -> tuple[dict[str, int], int] | None:
    """{workload name: 1-based position} and how many are listed, from a
    PendingWorkloadsSummary (untrusted: items that are not what the API sends are skipped);
    None when it is no summary at all."""
    items = summary.get("items") if isinstance(summary, dict) else None
    if not isinstance(items, list):
        return None
    found: dict[str, int] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        name = (item.get("metadata") or {}).get("name")
        place = item.get("positionInLocalQueue")
        if isinstance(name, str) and isinstance(place, int) and not isinstance(place, bool):
            if place >= 0:
                found[name] = place + 1  # Kueue counts from 0
    return found, len(items)


class _Positions:
    """One LocalQueue's last answer from the visibility API."""

    def __init__(self, at: float, places: dict[str, int], count: int):
        self.at, self.places, self.count = at, places, count


class QueueWatch:
    """Kueue's Workloads, LocalQueues (and ClusterQueues) of one namespace, and the positions."""

    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        *,
        visibility: bool = True,
        is_watched: Callable[[Obj], bool] = lambda _wl: True,
        poll_seconds: float = POLL_SECONDS,
    ):
        self.client = client
        self.namespace = namespace
        self._watched: list[Callable[[Obj], bool]] = [is_watched]
        self.poll_seconds = poll_seconds
        self.workloads: Reflector | None = None
        self.local_queues: Reflector | None = None
        self.cluster_queues: Reflector | None = None
        #: Why Workloads or LocalQueues cannot be read (RBAC), or None.
        self.unreadable: str | None = None
        self._visibility = visibility
        self._positions: dict[str, _Positions] = {}
        self._by_owner: dict[str, dict[str, Obj]] = {}  # owner uid -> workloads by name
        self._listeners: list[Callable[[], Any]] = []
        self._wake = asyncio.Event()
        self._poller: asyncio.Task | None = None
        self._logged: set[str] = set()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, timeout: float = 15.0) -> None:
        """List and watch; a refusal to read Workloads or LocalQueues leaves `unreadable` set
        (statuses then say why positions are missing), never an error: queues are optional."""
        ns = self.namespace
        workloads = Reflector(self.client, "workloads", ns)
        local_queues = Reflector(self.client, "localqueues", ns)
        try:
            await probe((workloads, local_queues))
        except Forbidden as exc:
            self.unreadable = exc.public_message
            self._log_once("rbac", "Kueue's queues are not readable here: %s", exc.public_message)
            return
        cluster_queues: Reflector | None = Reflector(self.client, "clusterqueues")
        try:
            await probe((cluster_queues,))  # type: ignore[arg-type]
        except Forbidden as exc:
            # Optional (a ClusterRole): without it statuses leave out the quota and usage.
            self._log_once("cq", "ClusterQueues not readable, usage not shown: %s", exc.message)
            cluster_queues = None
        every = [r for r in (workloads, local_queues, cluster_queues) if r is not None]
        workloads.add_listener(self._on_workload)
        for r in every:
            r.add_listener(self._changed)
            r.start()
        try:
            await asyncio.wait_for(asyncio.gather(*(r.ready.wait() for r in every)), timeout)
        except TimeoutError:
            for r in every:
                await r.stop()
            raise
        self.workloads, self.local_queues, self.cluster_queues = (
            workloads,
            local_queues,
            cluster_queues,
        )
        if self._visibility:
            await self._poll_once()  # a first answer before the first read (the CLI's status)
            self._poller = asyncio.create_task(self._poll(), name="kueue positions")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        for r in (self.workloads, self.local_queues, self.cluster_queues):
            if r is not None:
                await r.stop()
        self.workloads = self.local_queues = self.cluster_queues = None
        self._by_owner.clear()
        self._positions.clear()

    def add_watched(self, predicate: Callable[[Obj], bool]) -> None:
        """Watch these Workloads' positions too (one QueueWatch serves jobs and kernels: the
        kernel provisioner adds its pods' Workloads to the job service's)."""
        self._watched.append(predicate)
        self._wake.set()

    def is_watched(self, workload: Obj) -> bool:
        return any(predicate(workload) for predicate in self._watched)

    def add_listener(self, fn: Callable[[], Any]) -> None:
        """fn() after any change of what `info_for` answers (a Workload, a queue, a position)."""
        self._listeners.append(fn)

    def sync_problem(self) -> str | None:
        return sync_problem([self.workloads, self.local_queues, self.cluster_queues])

    # -- reading ------------------------------------------------------------------------------

    def local_queue_names(self) -> list[str] | None:
        """The namespace's LocalQueues; None when they cannot be read here."""
        if self.local_queues is None:
            return None
        return sorted(
            str(q["metadata"]["name"]) for q in self.local_queues.items() if q.get("metadata")
        )

    def workload_for(self, kind: str, name: str, uid: str) -> Obj | None:
        """The Workload Kueue made for this object, if there is one (the newest, should an old
        one still be finishing)."""
        found = [wl for wl in self._by_owner.get(uid, {}).values() if owned_by(wl, kind, name, uid)]
        if not found:
            return None
        return max(found, key=lambda wl: str(wl["metadata"].get("creationTimestamp") or ""))

    def info_for(
        self,
        kind: str,
        name: str,
        uid: str,
        queue: str,
        priority_class: str | None = None,
        *,
        suspended: bool | None = None,
    ) -> QueueInfo:
        """Where this object (a Job, a kernel's Pod) stands in its queue `queue` (its label).
        `suspended`: whether it waits (a Job's spec.suspend, a pod's scheduling gate), which
        says what a missing Workload means."""
        workload = self.workload_for(kind, name, uid)
        local = self.local_queues.get(queue) if self.local_queues is not None else None
        cq_name = ((local or {}).get("spec") or {}).get("clusterQueue")
        cq_name = cq_name if isinstance(cq_name, str) and cq_name else None
        cq = (
            self.cluster_queues.get(cq_name)
            if self.cluster_queues is not None and cq_name
            else None
        )
        position = pending = None
        answer = self._positions.get(queue)
        loop_time = asyncio.get_running_loop().time()
        if answer is not None and loop_time - answer.at <= STALE_SECONDS:
            pending = answer.count
            if workload is not None:
                position = answer.places.get(workload["metadata"]["name"])
        if pending is None:
            counted = ((local or {}).get("status") or {}).get("pendingWorkloads")
            pending = counted if isinstance(counted, int) and counted >= 0 else None
        return queue_info(
            queue,
            workload,
            position=position,
            pending=pending,
            cluster_queue=cq,
            cluster_queue_name=cq_name,
            priority_class=priority_class,
            suspended=suspended,
            unreadable=self.unreadable,
        )

    # -- keeping up ---------------------------------------------------------------------------

    def _on_workload(self, kind: str, wl: Obj) -> None:
        name = wl["metadata"]["name"]
        for uid in owner_uids(wl):
            group = self._by_owner.setdefault(uid, {})
            if kind == "DELETED":
                group.pop(name, None)
                if not group:
                    del self._by_owner[uid]
            else:
                group[name] = wl
        self._wake.set()

    def _changed(self, _kind: str = "", _obj: Obj | None = None) -> None:
        for fn in self._listeners:
            try:
                fn()
            except Exception:  # noqa: BLE001 - a listener's bug must not stop the cache
                log.exception("listener of Kueue's queues failed")

    def _waiting_queues(self) -> set[str]:
        """The LocalQueues where some watched work waits for quota."""
        if self.workloads is None:
            return set()
        return {
            queue
            for wl in self.workloads.items()
            if is_pending(wl) and (queue := queue_name_of(wl)) and self.is_watched(wl)
        }

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        due: dict[str, float] = {}
        backoff: dict[str, float] = {}
        while self._visibility:
            queues = self._waiting_queues()
            for gone in set(self._positions) - queues:
                del self._positions[gone]  # nothing of ours waits there: stop asking
            if not queues:
                self._wake.clear()
                await self._wake.wait()
                continue
            now = loop.time()
            asked = [q for q in queues if due.get(q, 0.0) <= now]
            results = await asyncio.gather(*(self._ask(q) for q in asked))
            now = loop.time()
            for queue, ok in zip(asked, results, strict=True):
                if ok:
                    backoff.pop(queue, None)
                    due[queue] = now + self.poll_seconds
                else:
                    wait = min(backoff.get(queue, self.poll_seconds) * 2, MAX_BACKOFF_SECONDS)
                    backoff[queue] = wait
                    due[queue] = now + wait
            self._wake.clear()
            next_due = min((due.get(q, now) for q in queues), default=now + self.poll_seconds)
            with contextlib.suppress(TimeoutError):
                # A new waiting workload (another submit) is asked for at once.
                await asyncio.wait_for(self._wake.wait(), max(0.05, next_due - now))

    async def _poll_once(self) -> None:
        await asyncio.gather(*(self._ask(q) for q in self._waiting_queues()))

    async def _ask(self, queue: str) -> bool:
        """One LocalQueue's positions; False after a failure (the caller backs off)."""
        try:
            summary = await self.client.request(
                "GET", pending_workloads_path(self.namespace, queue), timeout=REQUEST_TIMEOUT
            )
        except Forbidden as exc:
            self._log_once("vis", "queue positions not readable (%s): not shown", exc.message)
            self._visibility = False
            self._wake.set()
            return False
        except NotFound:
            self._positions.pop(queue, None)  # Kueue knows no such queue (yet)
            return False
        except KubeError as exc:
            log.info("positions in queue %s not read: %s", queue, exc)
            return False
        found = positions_of(summary)
        if found is None:
            log.info("positions in queue %s: the answer was no PendingWorkloadsSummary", queue)
            return False
        places, count = found
        old = self._positions.get(queue)
        self._positions[queue] = _Positions(asyncio.get_running_loop().time(), places, count)
        if old is None or (old.places, old.count) != (places, count):
            self._changed()
        return True

    def _log_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning(message, *args)
