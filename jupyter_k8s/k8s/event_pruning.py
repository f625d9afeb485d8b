"""An events cache that keeps only the events of objects the cache beside it holds.

A watch of a namespace's events (field selector `involvedObject.kind=Pod`) brings the events of
every pod there, ours or not, and the API server keeps events an hour (`--event-ttl`): in a
15-minute soak (bench/soak.py) they were all of the server's Python heap growth (20 MiB, the
events of pods long gone). Readers only ever look up the events of objects in the cache beside
(a job's pods, a kernel's pod), so the rest go: at once when their object is deleted, and for
objects that cache never held (another user's pods in a shared namespace) once they are older
than a grace period, which covers an event that arrives before its object does. A sweep runs
at most once a minute, on a change of either cache: no task of its own. The events are indexed
by their object, so a deletion costs that object's events, not a scan of the cache (a TTL
sweep of hundreds of jobs deletes hundreds of pods at once).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from .objects import event_time, parse_time
from .watch import Obj, Reflector, key_of

#: An event of an object not (yet) in the cache is kept this long after it happened.
GRACE_SECONDS = 120.0
#: Events of objects never cached are swept at most this often.
SWEEP_SECONDS = 60.0


def _subject(event: Obj) -> tuple[str, str]:
    ref = event.get("involvedObject") or event.get("regarding") or {}
    namespace = ref.get("namespace") or (event.get("metadata") or {}).get("namespace") or ""
    return str(namespace), str(ref.get("name") or "")


class EventPruner:
    """Keeps `events` to the events about objects in `objects` (and recent ones)."""

    def __init__(
        self,
        events: Reflector,
        objects: Reflector,
        *,
        grace_seconds: float = GRACE_SECONDS,
        sweep_seconds: float = SWEEP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.events = events
        self.objects = objects
        self.grace_seconds = grace_seconds
        self.sweep_seconds = sweep_seconds
        self._clock = clock
        self._now = now
        self._last_sweep = clock()
        self.pruned = 0
        #: (namespace, name) of an object -> the cache keys of the events about it
        self._by_subject: dict[tuple[str, str], set[str]] = {}
        events.retain = self.retain
        objects.add_listener(self._on_object)
        events.add_listener(self._on_event)

    def _about_cached(self, event: Obj) -> bool:
        namespace, name = _subject(event)
        return self.objects.get(name, namespace) is not None

    def retain(self, event: Obj) -> bool:
        if self._about_cached(event):
            return True
        # Until the object cache has listed, nothing can be said of what it will hold.
        if not self.objects.ready.is_set():
            return True
        when = parse_time(event_time(event))
        return when is None or (self._now() - when).total_seconds() < self.grace_seconds

    def _on_object(self, kind: str, obj: Obj) -> None:
        if kind == "DELETED":
            meta = obj.get("metadata") or {}
            subject = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
            for key in list(self._by_subject.get(subject, ())):
                event = self.events.store.get(key)
                if event is not None:
                    self._forget(event)
        self._maybe_sweep()

    def _on_event(self, kind: str, event: Obj) -> None:
        subject, key = _subject(event), key_of(event)
        if kind == "DELETED":
            keys = self._by_subject.get(subject)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_subject[subject]
            return
        self._by_subject.setdefault(subject, set()).add(key)
        self._maybe_sweep()

    def _maybe_sweep(self) -> None:
        if self._clock() - self._last_sweep < self.sweep_seconds:
            return
        self._last_sweep = self._clock()
        for event in [e for e in self.events.store.values() if not self.retain(e)]:
            self._forget(event)

    def _forget(self, event: Obj) -> None:
        self.pruned += 1
        self.events.forget(event)
