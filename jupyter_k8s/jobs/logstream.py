"""A pod's log followed to its end, resumed where it broke.

A followed log stream breaks for reasons that say nothing about the container: the API server
restarts, an idle proxy closes the connection, the network drops. A person following a job's
log (the sidebar, `jupyter k8s logs -f`) should not see it end there, nor see lines twice. So
the stream is read with timestamps; when it breaks while the container still runs, it is
opened again from the last line's second (`sinceTime`), and the lines already passed on are
skipped by their timestamps. Failures in a row are retried with back-off for up to
`resume_seconds`; a read that got lines starts the count again.

The kubelet writes timestamps as RFC3339 with up to nine fraction digits, trailing zeros
trimmed, so they are compared as numbers, not as text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from ..k8s.client import KubeClient, KubeError, NotFound, Unreachable, resource_path
from ..k8s.pods import container_running

log = logging.getLogger(__name__)


class Resumes:
    """The back-off between reads of a pod's log that broke: 0.5 s, doubling up to 10 s; a
    read that got lines starts again from 0.5 s. Failures in a row for longer than
    `limit_seconds` raise Unreachable (`reason` the last one)."""

    def __init__(self, pod: str, limit_seconds: float) -> None:
        self.pod = pod
        self.limit_seconds = limit_seconds
        self.backoff = 0.5
        self._failing_since: float | None = None

    async def wait(self, got_lines: bool, reason: str, what: str) -> None:
        """After a read that broke: raise, or log `what` was cut and sleep the back-off."""
        now = asyncio.get_running_loop().time()
        if got_lines:  # this read got through before it broke: failures start again
            self._failing_since, self.backoff = None, 0.5
        if self._failing_since is None:
            self._failing_since = now
        if now - self._failing_since > self.limit_seconds:
            raise Unreachable(f"the log of pod {self.pod} could not be read again: {reason}")
        log.info("%s cut (%s): reading it again in %.1f s", what, reason, self.backoff)
        await asyncio.sleep(self.backoff)
        self.backoff = min(self.backoff * 2, 10.0)


def stamp_ns(stamp: bytes) -> int | None:
    """Nanoseconds since the epoch of a log line's RFC3339 timestamp; None if it is none."""
    try:
        text = stamp.decode("ascii")
    except UnicodeDecodeError:
        return None
    if not text.endswith(("Z", "z")) or "T" not in text:
        return None
    whole, _, fraction = text[:-1].partition(".")
    if not fraction.isdigit() and fraction:
        return None
    try:
        seconds = datetime.fromisoformat(whole + "+00:00").timestamp()
    except ValueError:
        return None
    return int(seconds) * 1_000_000_000 + int((fraction or "0")[:9].ljust(9, "0"))


def since_time(ns: int) -> str:
    """The `sinceTime` that includes the second of `ns` (whole seconds, always accepted)."""
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def follow_pod_log(
    client: KubeClient,
    namespace: str,
    pod: str,
    container: str,
    *,
    tail: int | None = None,
    read_timeout: float | None = None,
    resume_seconds: float = 600.0,
) -> AsyncIterator[bytes]:
    """The container's log lines (without timestamps), followed until the container ends."""
    path = resource_path("pods", namespace, pod, "log")
    last: int | None = None  # timestamp of the last line passed on
    at_last = 0  # how many lines passed on carry that timestamp
    resumes = Resumes(pod, resume_seconds)
    while True:
        params: dict[str, Any] = {"container": container, "follow": "true", "timestamps": "true"}
        if last is not None:
            params["sinceTime"] = since_time(last)
        elif tail is not None:
            params["tailLines"] = tail
        skip_equal = at_last  # lines at `last` this read will show again
        got = 0
        try:
            async for raw in client.stream_lines(path, params, read_timeout=read_timeout):
                stamp, _, line = raw.partition(b" ")
                ns = stamp_ns(stamp)
                if ns is None:  # not a timestamped line (never from a kubelet): pass it on
                    yield raw
                    continue
                if last is not None and ns < last:
                    continue
                if last is not None and ns == last and skip_equal > 0:
                    skip_equal -= 1
                    continue
                got += 1
                if ns == last:
                    at_last += 1
                else:
                    last, at_last, skip_equal = ns, 1, 0
                yield line
            try:
                current = await client.get("pods", pod, namespace)
            except NotFound:
                return
            if not container_running(current, container):
                return
            reason = "the stream ended while the container still runs"
        except NotFound:
            if last is not None:
                return  # the pod went away after lines were read: its log is over
            raise
        except KubeError as exc:
            reason = str(exc)
        await resumes.wait(got > 0, reason, f"followed log of pod {pod}")
