"""jupyter_k8s.k8s.event_pruning: an events cache keeps the events of cached objects only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jupyter_k8s.k8s.event_pruning import EventPruner
from jupyter_k8s.k8s.watch import Reflector

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def pod(name: str) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": "1"}}


def event(name: str, about: str, age_seconds: float) -> dict:
    when = (NOW - timedelta(seconds=age_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": "1",
            "managedFields": [{"manager": "kubelet"}],
        },
        "involvedObject": {"kind": "Pod", "name": about, "namespace": "ns"},
        "reason": "Scheduled",
        "lastTimestamp": when,
    }


class Clock:
    """Both clocks the pruner reads: monotonic seconds and the wall time."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.wall = NOW

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self.wall += timedelta(seconds=seconds)


@pytest.fixture
def caches():
    pods = Reflector(None, "pods", "ns")  # type: ignore[arg-type] - never started here
    events = Reflector(None, "events", "ns")  # type: ignore[arg-type]
    clock = Clock()
    pruner = EventPruner(events, pods, clock=clock, now=lambda: clock.wall)
    seen: list[tuple[str, str]] = []
    events.add_listener(lambda kind, obj: seen.append((kind, obj["metadata"]["name"])))
    return pods, events, clock, pruner, seen


def names(reflector: Reflector) -> set[str]:
    return {o["metadata"]["name"] for o in reflector.items()}


def test_events_of_cached_pods_stay_and_go_with_their_pod(caches):
    pods, events, _clock, _pruner, seen = caches
    pods.ready.set()
    pods._emit("ADDED", pod("mine"))
    events._emit("ADDED", event("e1", "mine", age_seconds=3600))
    assert names(events) == {"e1"}
    assert "managedFields" not in events.items()[0]["metadata"]  # stripped on the way in
    pods._emit("DELETED", pod("mine"))
    assert names(events) == set()
    assert seen == [("ADDED", "e1"), ("DELETED", "e1")]  # the service's index is told


def test_old_events_of_pods_never_cached_are_not_kept_recent_ones_are_until_swept(caches):
    pods, events, clock, pruner, _seen = caches
    pods.ready.set()
    events._emit("ADDED", event("theirs-old", "theirs", age_seconds=3600))
    events._emit("ADDED", event("early", "coming", age_seconds=5))  # before its pod
    assert names(events) == {"early"}
    # Its pod arrives: kept for good.
    pods._emit("ADDED", pod("coming"))
    events._emit("ADDED", event("other-recent", "theirs", age_seconds=5))
    assert names(events) == {"early", "other-recent"}
    # Minutes later, any change sweeps what aged past the grace period meanwhile.
    clock.advance(200)
    pods._emit("ADDED", pod("another"))
    assert names(events) == {"early"}
    assert pruner.pruned == 1


def test_nothing_is_dropped_before_the_object_cache_has_listed(caches):
    pods, events, _clock, _pruner, _seen = caches
    events._emit("ADDED", event("listed-first", "mine", age_seconds=3600))
    assert names(events) == {"listed-first"}


def test_a_deleted_pod_takes_only_its_events_and_the_index_keeps_nothing_of_it(caches):
    pods, events, _clock, pruner, _seen = caches
    pods.ready.set()
    for p in range(50):
        pods._emit("ADDED", pod(f"p{p}"))
        for e in range(4):
            events._emit("ADDED", event(f"p{p}-e{e}", f"p{p}", age_seconds=30))
    events._emit("MODIFIED", event("p7-e0", "p7", age_seconds=1))  # a repeated event
    pods._emit("DELETED", pod("p7"))
    assert len(events.items()) == 49 * 4
    assert not any(n.startswith("p7-") for n in names(events))
    # An event deleted by the API (its TTL) leaves the index too.
    events._emit("DELETED", event("p8-e0", "p8", age_seconds=30))
    for p in range(50):
        pods._emit("DELETED", pod(f"p{p}"))
    assert names(events) == set()
    assert pruner._by_subject == {}  # nothing left behind by 200 events of 50 pods
