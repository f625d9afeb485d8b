"""Events about pods, as the kubelet's event recorder posts them.

Pod handling never waits for an event: `record` only schedules the post. Posts about one pod
go out one after the other, in the order they were recorded (Pulled, Created, Started...),
each stamped with the time it was recorded; events of different pods go out concurrently.
An event like one already posted about the same pod (same container, type, reason and
message) is counted instead (`count`, `lastTimestamp`), as the kubelet's correlator does:
a container restarting in a loop gives "Started (x6)", not six events. Failures are logged
and dropped: an event is worth less than the pod it is about.

Wording and reasons are those of kubelet v1.37 (pkg/kubelet/events, kuberuntime, images):
the message helpers below say where each comes from.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import Any

from ...k8s.client import KubeClient, NotFound

log = logging.getLogger("jupyter_k8s.devcluster.agent")

NORMAL, WARNING = "Normal", "Warning"


def now() -> str:
    """A Kubernetes timestamp of this second (core/v1 event times have no fractions)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def container_field_path(pod: dict, container: str) -> str | None:
    """The involvedObject.fieldPath the kubelet gives a container's events."""
    spec = pod.get("spec") or {}
    for key in ("containers", "initContainers", "ephemeralContainers"):
        if any(c.get("name") == container for c in spec.get(key) or []):
            return f"spec.{key}{{{container}}}"
    return None


# -- the kubelet's messages -----------------------------------------------------------------------


def image_present(image: str) -> str:
    # images/image_manager.go, with KubeletEnsureSecretPulledImages (on by default since 1.35).
    return f'Container image "{image}" already present on machine and can be accessed by the pod'


def stopping(container: str) -> str:
    # kuberuntime_container.go killContainer, when no other message is given.
    return f"Stopping container {container}"


def restart_backoff(container: str, pod: dict) -> str:
    # kuberuntime_manager.go doBackOff; format.Pod is name_namespace(uid).
    meta = pod["metadata"]
    return (
        f"Back-off restarting failed container {container} in pod "
        f"{meta['name']}_{meta['namespace']}({meta['uid']})"
    )


CREATED = "Container created"
STARTED = "Container started"
DEADLINE = "Pod was active on the node longer than the specified deadline"


class EventRecorder:
    def __init__(self, client: KubeClient, node_name: str):
        self.client = client
        self.node_name = node_name
        self._tasks: set[asyncio.Task] = set()  # held here: a bare task may be collected
        self._last: dict[str, asyncio.Task] = {}  # pod uid -> its latest post
        # pod uid -> (fieldPath, type, reason, message) -> [event name, count, firstTimestamp]
        self._posted: dict[str, dict[tuple, list[Any]]] = {}

    def record(
        self,
        pod: dict,
        kind: str,
        reason: str,
        message: str,
        container: str | None = None,
        at: str | None = None,
    ) -> None:
        """Post an event about `pod` (or one of its containers) in the background."""
        meta = pod["metadata"]
        uid = meta["uid"]
        ref = {
            "kind": "Pod",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": uid,
            "apiVersion": "v1",
        }
        if container is not None and (path := container_field_path(pod, container)):
            ref["fieldPath"] = path
        posted = self._posted.setdefault(uid, {})
        task = asyncio.get_running_loop().create_task(
            self._post(self._last.get(uid), posted, ref, kind, reason, message, at or now())
        )
        self._tasks.add(task)
        self._last[uid] = task

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if self._last.get(uid) is t:
                del self._last[uid]

        task.add_done_callback(done)

    def forget(self, uid: str) -> None:
        """The pod is gone from the node: its events are no longer counted (posts in flight go)."""
        self._posted.pop(uid, None)

    async def flush(self, timeout: float) -> None:
        """Let posts in flight finish (for up to `timeout` s), then drop the rest."""
        pending = set(self._tasks)
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for t in late:
                t.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _post(
        self,
        before: asyncio.Task | None,
        posted: dict[tuple, list[Any]],
        ref: dict,
        kind: str,
        reason: str,
        message: str,
        at: str,
    ) -> None:
        if before is not None:
            await asyncio.wait([before])  # in order; whatever became of the one before
        try:
            await self._send(posted, ref, kind, reason, message, at)
        except Exception as exc:  # noqa: BLE001 - an event must never hurt the pod
            log.debug(
                "event %s about pod %s/%s not posted: %s",
                reason,
                ref["namespace"],
                ref["name"],
                exc,
            )

    async def _send(
        self,
        posted: dict[tuple, list[Any]],
        ref: dict,
        kind: str,
        reason: str,
        message: str,
        at: str,
    ) -> None:
        ns = ref["namespace"]
        key = (ref.get("fieldPath"), kind, reason, message)
        seen = posted.get(key)
        if seen is not None:
            name, count, _first = seen
            with contextlib.suppress(NotFound):  # gone (its TTL): post it anew below
                await self.client.patch(
                    "events", name, {"count": count + 1, "lastTimestamp": at}, ns
                )
                seen[1] = count + 1
                return
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{ref['name']}.", "namespace": ns},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": "kubelet", "host": self.node_name},
            "reportingComponent": "kubelet",
            "reportingInstance": self.node_name,
            "firstTimestamp": at,
            "lastTimestamp": at,
            "count": 1,
        }
        created = await self.client.create("events", body, ns)
        posted[key] = [created["metadata"]["name"], 1, at]
