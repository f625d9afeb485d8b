"""A watch-fed cache of one kind of object: list, then watch, relist on 410, resync.

Readers (REST handlers, the provisioner's poll) read `store` instead of calling the API, and
`wait_for` lets them sleep until an object reaches a state. The API server restarting, a
network blip or an expired resourceVersion only delays updates: the reflector relists and
watches again, and says meanwhile that its data may be stale (`synced`, `sync_problem`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from .client import Gone, KubeClient, KubeError, Obj

log = logging.getLogger("jupyter_k8s.k8s.watch")

Listener = Callable[[str, Obj], Any]

# How long past the watch's own timeout a silent connection is given up on.
WATCH_GRACE_SECONDS = 30


def key_of(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


class Reflector:
    def __init__(
        self,
        client: KubeClient,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_seconds: float = 300.0,
        watch_seconds: int = 240,
    ):
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.params = {
            k: v
            for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector))
            if v
        }
        self.resync_seconds = resync_seconds
        self.watch_seconds = watch_seconds
        self.store: dict[str, Obj] = {}
        self.resource_version: str | None = None
        self.ready = asyncio.Event()
        self.last_error: str | None = None
        #: False from a broken stream until the cache is current again (a relist, or a watch
        #: that resumed): readers say their data may be stale instead of serving it as news.
        self.synced = False
        self.relists = 0
        self._listeners: list[Listener] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None
        #: Whether an object is worth keeping; those it refuses are never stored (and one
        #: stored before is dropped as if deleted). None: keep everything.
        self.retain: Callable[[Obj], bool] | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"reflector {self.resource}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def add_listener(self, fn: Listener) -> None:
        """fn(event_type, obj) is called for every change (ADDED, MODIFIED, DELETED)."""
        self._listeners.append(fn)

    # -- reading ------------------------------------------------------------------------------

    def get(self, name: str, namespace: str | None = None) -> Obj | None:
        return self.store.get(f"{namespace or self.namespace or ''}/{name}")

    def items(self) -> list[Obj]:
        return list(self.store.values())

    async def wait_for(self, predicate: Callable[[list[Obj]], Any], timeout: float) -> Any:
        """Until predicate(objects) is truthy; returns its value."""

        async def loop() -> Any:
            while True:
                changed = self._changed
                if self.ready.is_set() and (result := predicate(self.items())):
                    return result
                await changed.wait()

        return await asyncio.wait_for(loop(), timeout)

    # -- the loop -----------------------------------------------------------------------------

    def notify(self) -> None:
        """Wake everyone waiting on this cache (also for state kept beside it)."""
        self._changed.set()
        self._changed = asyncio.Event()

    def forget(self, obj: Obj) -> None:
        """Drop an object from the cache as if it were deleted (listeners are told)."""
        if key_of(obj) in self.store:
            self._emit("DELETED", obj)

    def _emit(self, kind: str, obj: Obj) -> None:
        key = key_of(obj)
        # Nobody reads the field managers, and they are often most of an object's size.
        obj["metadata"].pop("managedFields", None)
        if kind != "DELETED" and self.retain is not None and not self.retain(obj):
            if key not in self.store:
                return
            kind = "DELETED"
        if kind == "DELETED":
            self.store.pop(key, None)
        else:
            self.store[key] = obj
        for fn in self._listeners:
            try:
                fn(kind, obj)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop the cache
                log.exception("listener of %s failed", self.resource)
        self.notify()

    async def _list(self) -> None:
        listing = await self.client.list(self.resource, self.namespace, **self.params)
        fresh = {key_of(o): o for o in listing["items"]}
        for key, gone in list(self.store.items()):
            if key not in fresh:
                self._emit("DELETED", gone)
        for key, obj in fresh.items():
            old = self.store.get(key)
            if old is None:
                self._emit("ADDED", obj)
            elif old["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._emit("MODIFIED", obj)
        self.resource_version = listing["metadata"]["resourceVersion"]
        self.relists += 1
        self.synced = True
        self.ready.set()
        self.notify()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = 0.1
        last_list = 0.0
        while True:
            try:
                if self.resource_version is None or loop.time() - last_list > self.resync_seconds:
                    await self._list()
                    last_list = loop.time()
                # The API server ends a watch after watch_seconds; a connection that hangs
                # without closing (a dead peer, a proxy) must not freeze the cache forever.
                async with asyncio.timeout(self.watch_seconds + WATCH_GRACE_SECONDS):
                    async for event in self.client.watch(
                        self.resource,
                        self.namespace,
                        resource_version=self.resource_version,
                        timeout_seconds=self.watch_seconds,
                        **self.params,
                    ):
                        self._apply(event)
                        self.synced = True
                        backoff = 0.1
                self.last_error = None
            except Gone:
                self.resource_version = None  # too old: relist
            except Exception as exc:  # noqa: BLE001 - whatever it is, the cache must go on
                # The API or the network (expected), or a malformed event, a failing
                # credential plugin, a bug (logged with its traceback): a silent end of this
                # task would freeze the cache while `ready` stays set. Relist rather than
                # resume: a resumed watch on a quiet namespace sends nothing that says
                # "current again", and a list does (and catches deletions made meanwhile).
                expected = isinstance(exc, KubeError | TimeoutError)
                self.synced = False
                self.resource_version = None
                self.last_error = (
                    str(exc) or "the watch stopped answering"
                    if expected
                    else f"{type(exc).__name__}: {exc}"
                )
                log.log(
                    logging.INFO if expected else logging.WARNING,
                    "watch of %s interrupted: %s (relist in %.1f s)",
                    self.resource,
                    self.last_error,
                    backoff,
                    exc_info=not expected,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _apply(self, event: Obj) -> None:
        """One watch event into the cache; an event that is not what the API sends raises."""
        kind = event["type"]  # ERROR events are raised by the client as KubeError
        obj = event["object"]
        version = obj["metadata"]["resourceVersion"]
        if kind != "BOOKMARK":
            if kind not in ("ADDED", "MODIFIED", "DELETED") or not obj["metadata"].get("name"):
                raise ValueError(f"unexpected watch event {kind!r}")
            self._emit(kind, obj)
        self.resource_version = version


def sync_problem(reflectors: list[Reflector | None] | tuple[Reflector | None, ...]) -> str | None:
    """Why the data of these caches may be stale now (the first broken one), or None."""
    for r in reflectors:
        if r is not None and r.ready.is_set() and not r.synced:
            return f"watching {r.resource} was interrupted ({r.last_error}); retrying"
    return None


async def probe(reflectors: tuple[Reflector, ...] | list[Reflector]) -> None:
    """List each reflector's objects once (limit 1), in parallel, before watching.

    RBAC refusing a list (403 naming verb and resource) or an unreachable API server is then
    an answer at once, not a watch that never gets ready. The first refusal in the given
    order is the one raised, so the error names the same resource every time.
    """
    answers = await asyncio.gather(
        *(r.client.list(r.resource, r.namespace, limit=1, **r.params) for r in reflectors),
        return_exceptions=True,
    )
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer


async def any_change(reflectors: list[Reflector | None], timeout: float) -> None:
    """Until one of the caches changes, or `timeout` seconds passed (no error either way)."""
    waits = [asyncio.ensure_future(r._changed.wait()) for r in reflectors if r is not None]
    if not waits:
        await asyncio.sleep(min(timeout, 0.1))
        return
    try:
        await asyncio.wait(waits, timeout=max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
