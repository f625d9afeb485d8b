"""The node agent's pod events: posted in the background, in order per pod, repeats counted."""

from __future__ import annotations

import asyncio

import pytest

from jupyter_k8s.devcluster.agent import events
from jupyter_k8s.devcluster.agent.events import EventRecorder, container_field_path
from jupyter_k8s.k8s.client import KubeError, NotFound, Unreachable


def pod(name: str = "p1", uid: str = "uid-1") -> dict:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": uid},
        "spec": {
            "initContainers": [{"name": "stage", "image": "busybox:1.36"}],
            "containers": [{"name": "main", "image": "python:3.11-slim"}],
        },
    }


class FakeClient:
    """Records creates and patches of events; each takes `delay` s; can be made to fail."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.created: list[dict] = []
        self.patched: list[tuple[str, dict]] = []
        self.fail_with: Exception | None = None
        self.gone: set[str] = set()

    async def create(self, resource: str, body: dict, namespace: str) -> dict:
        assert (resource, namespace) == ("events", "ns")
        await asyncio.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        name = f"{body['metadata']['generateName']}{len(self.created)}"
        self.created.append(body)
        return {**body, "metadata": {**body["metadata"], "name": name}}

    async def patch(self, resource: str, name: str, body: dict, namespace: str) -> dict:
        assert (resource, namespace) == ("events", "ns")
        await asyncio.sleep(self.delay)
        if name in self.gone:
            raise NotFound(404, "NotFound", f'events "{name}" not found')
        self.patched.append((name, body))
        return body


def recorder(client: FakeClient) -> EventRecorder:
    return EventRecorder(client, "node-1")  # type: ignore[arg-type]


async def test_record_returns_at_once_and_posts_in_order():
    client = FakeClient(delay=0.05)
    rec = recorder(client)
    loop = asyncio.get_running_loop()
    started = loop.time()
    p = pod()
    rec.record(p, "Normal", "Pulled", events.image_present("python:3.11-slim"), "main")
    rec.record(p, "Normal", "Created", events.CREATED, "main")
    rec.record(p, "Normal", "Started", events.STARTED, "main")
    assert loop.time() - started < 0.01  # nothing awaited the API
    assert client.created == []
    await rec.flush(5)
    assert [e["reason"] for e in client.created] == ["Pulled", "Created", "Started"]
    first = client.created[0]
    assert first["message"] == (
        'Container image "python:3.11-slim" already present on machine and can be accessed by '
        "the pod"
    )
    assert first["involvedObject"] == {
        "kind": "Pod",
        "namespace": "ns",
        "name": "p1",
        "uid": "uid-1",
        "apiVersion": "v1",
        "fieldPath": "spec.containers{main}",
    }
    assert first["source"] == {"component": "kubelet", "host": "node-1"}
    assert first["count"] == 1 and first["firstTimestamp"] == first["lastTimestamp"]
    assert first["metadata"] == {"generateName": "p1.", "namespace": "ns"}
    assert not rec._tasks and not rec._last  # nothing kept once posted


async def test_pods_post_concurrently():
    client = FakeClient(delay=0.1)
    rec = recorder(client)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(5):
        rec.record(pod(f"p{i}", f"uid-{i}"), "Normal", "Started", events.STARTED, "main")
    await rec.flush(5)
    assert len(client.created) == 5
    assert loop.time() - started < 0.35  # not 5 x 0.1 s one after the other


async def test_repeats_are_counted_not_posted_again():
    client = FakeClient()
    rec = recorder(client)
    p = pod()
    message = events.restart_backoff("main", p)
    assert message == "Back-off restarting failed container main in pod p1_ns(uid-1)"
    for _ in range(3):
        rec.record(p, "Warning", "BackOff", message, "main")
    rec.record(p, "Warning", "BackOff", message, "stage")  # another container: its own
    await rec.flush(5)
    assert [e["involvedObject"]["fieldPath"] for e in client.created] == [
        "spec.containers{main}",
        "spec.initContainers{stage}",
    ]
    assert [body["count"] for _, body in client.patched] == [2, 3]
    assert {name for name, _ in client.patched} == {"p1.0"}
    assert all("lastTimestamp" in body for _, body in client.patched)

    # An event that expired (TTL) is posted anew.
    client.gone.add("p1.0")
    rec.record(p, "Warning", "BackOff", message, "main")
    await rec.flush(5)
    assert len(client.created) == 3 and client.created[-1]["count"] == 1

    # A pod gone from the node: its counts are forgotten.
    rec.forget("uid-1")
    assert "uid-1" not in rec._posted


@pytest.mark.parametrize(
    "error", [Unreachable("no API"), KubeError(403, "Forbidden", "namespace terminating")]
)
async def test_failures_are_dropped_and_later_events_still_go(error):
    client = FakeClient()
    rec = recorder(client)
    client.fail_with = error
    rec.record(pod(), "Normal", "Pulled", "x", "main")
    await rec.flush(5)
    client.fail_with = None
    rec.record(pod(), "Normal", "Created", events.CREATED, "main")
    await rec.flush(5)
    assert [e["reason"] for e in client.created] == ["Created"]


async def test_flush_gives_up_after_its_timeout():
    client = FakeClient(delay=10)
    rec = recorder(client)
    rec.record(pod(), "Normal", "Killing", events.stopping("main"), "main")
    await rec.flush(0.05)
    await asyncio.sleep(0)
    assert client.created == []
    assert not rec._tasks


def test_field_paths_and_messages():
    p = pod()
    assert container_field_path(p, "main") == "spec.containers{main}"
    assert container_field_path(p, "stage") == "spec.initContainers{stage}"
    assert container_field_path(p, "nope") is None
    assert events.stopping("main") == "Stopping container main"
    assert (events.CREATED, events.STARTED) == ("Container created", "Container started")
    # core/v1 Event times are whole seconds.
    assert events.now().endswith("Z") and len(events.now()) == 20
