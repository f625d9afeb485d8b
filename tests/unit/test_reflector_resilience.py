"""The watch cache survives what a stream can throw at it (pure loop logic, scripted client)."""

from __future__ import annotations

import asyncio

from jupyter_k8s.k8s.watch import Reflector


def _pod(name: str, rv: str) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}


class ScriptedClient:
    """list() answers from a script; watch() yields one scripted stream per call."""

    def __init__(self, listings: list[list[dict]], streams: list[list[object]]):
        self.listings = listings
        self.streams = streams
        self.lists = 0

    async def list(self, resource, namespace=None, **params):
        items = self.listings[min(self.lists, len(self.listings) - 1)]
        self.lists += 1
        return {"items": items, "metadata": {"resourceVersion": str(10 * self.lists)}}

    async def watch(self, resource, namespace=None, **params):
        stream = self.streams.pop(0) if self.streams else None
        if stream is None:
            await asyncio.sleep(3600)  # a quiet watch
            return
        for event in stream:
            if isinstance(event, BaseException):
                raise event
            yield event


async def _until(predicate, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_malformed_event_relists_instead_of_ending_the_watch():
    client = ScriptedClient(
        listings=[[_pod("a", "1")], [_pod("a", "1"), _pod("b", "5")]],
        streams=[[{"type": "MODIFIED", "object": {"no": "metadata"}}]],
    )
    r = Reflector(client, "pods", "ns")  # type: ignore[arg-type]
    r.start()
    try:
        await _until(lambda: len(r.items()) == 2)
        assert client.lists == 2
        assert "KeyError" in (r.last_error or "")
        assert r._task is not None and not r._task.done()
    finally:
        await r.stop()


async def test_any_exception_from_the_stream_is_retried():
    client = ScriptedClient(
        listings=[[_pod("a", "1")], [_pod("c", "7")]],
        streams=[[RuntimeError("exec credential plugin failed")]],
    )
    r = Reflector(client, "pods", "ns")  # type: ignore[arg-type]
    seen: list[tuple[str, str]] = []
    r.add_listener(lambda kind, obj: seen.append((kind, obj["metadata"]["name"])))
    r.start()
    try:
        await _until(lambda: ("ADDED", "c") in seen)
        assert ("DELETED", "a") in seen
        assert "credential plugin" in (r.last_error or "")
    finally:
        await r.stop()


async def test_events_apply_in_order_and_bookmarks_move_the_version():
    client = ScriptedClient(
        listings=[[]],
        streams=[
            [
                {"type": "ADDED", "object": _pod("x", "11")},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}},
                {"type": "DELETED", "object": _pod("x", "13")},
            ]
        ],
    )
    r = Reflector(client, "pods", "ns")  # type: ignore[arg-type]
    r.start()
    try:
        await _until(lambda: r.resource_version == "13")
        assert r.items() == []
    finally:
        await r.stop()


async def test_a_broken_stream_marks_the_cache_unsynced_until_it_resumes():
    from jupyter_k8s.k8s.client import Unreachable
    from jupyter_k8s.k8s.watch import sync_problem

    gate = asyncio.Event()

    class Client(ScriptedClient):
        async def watch(self, resource, namespace=None, **params):
            if not self.streams:
                await asyncio.sleep(3600)
            stream = self.streams.pop(0)
            if stream == "wait":
                await gate.wait()
                raise Unreachable("connection refused")
            for event in stream:
                yield event

    client = Client(
        listings=[[_pod("a", "1")]], streams=["wait", [{"type": "ADDED", "object": _pod("b", "2")}]]
    )
    r = Reflector(client, "pods", "ns")  # type: ignore[arg-type]
    r.start()
    try:
        await _until(lambda: r.ready.is_set())
        assert r.synced and sync_problem([r]) is None
        gate.set()
        await _until(lambda: len(r.items()) == 2)  # resumed: the event after the break
        assert r.synced and sync_problem([r]) is None
    finally:
        await r.stop()
