"""Reading a job's runner log to its end, for its outputs: the markers (live progress, the
live view's cells, the end of the run) and the output frame, across cut streams; and the
output a pod holds for the server when it is too large for the log (handover.py). User
output is not kept. runlog.py parses what this reads.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from ..k8s.client import KubeError, NotFound, resource_path
from ..k8s.pods import container_running, pod_ip
from .handover import HandoverError, fetch_held_output, handover_key, handover_token
from .live import LiveRun
from .logstream import Resumes
from .objects import CONTAINER, schedule_of
from .runlog import FRAME, MARKER, RunnerLog, parse_marker, parse_runner_log

if TYPE_CHECKING:
    from .service import JobService

log = logging.getLogger("jupyter_k8s.jobs")

LOG_FETCH_LIMIT = 256 * 1024 * 1024  # bytes of pod log read to find the output frame
# How long a job's log may keep failing to be read (API server down, network cut) before its
# output is reported lost; each failure is retried with back-off while the pod exists.
LOG_RESUME_SECONDS = 600.0
# A followed log silent this long is read again (a dead connection that never closed would
# otherwise hold the follower forever; a quiet cell only costs a re-read).
LOG_SILENCE_SECONDS = 300.0
# Markers only the live view needs: not kept for the parse of the log at its end (they hold
# sources and outputs, up to a few MiB a run).
LIVE_ONLY_EVENTS = ("notebook", "source", "cell_done")


class RunnerLogReader:
    """The runner logs of one JobService's jobs, read for their outputs."""

    def __init__(self, service: JobService) -> None:
        self.service = service
        self.held: dict[str, asyncio.Task[bytes]] = {}  # pod name -> fetch of its held output
        self._key: bytes | None = None

    async def handover_token(self, name: str) -> str:
        if self._key is None:
            data_dir = self.service.config.data_dir
            if data_dir is None:
                from jupyter_core.paths import jupyter_data_dir

                data_dir = jupyter_data_dir()
            self._key = await asyncio.to_thread(handover_key, data_dir)
        return handover_token(self._key, self.service.namespace, name)

    async def fetch_held(self, name: str, pod: str, event: dict[str, Any]) -> bytes:
        """The output a pod holds for us (see handover.py); raises HandoverError."""
        svc, ns = self.service, self.service.config.namespace
        current = svc.pods.get(pod, ns) if svc.pods is not None else None
        ip = pod_ip(current) if current is not None else None
        if ip is None:
            client = await svc.client()
            ip = pod_ip(await client.get("pods", pod, ns))
        if ip is None:
            raise HandoverError(f"pod {pod} has no IP to fetch its held output from")
        log.info(
            "fetching the held output of job %s from pod %s (%s bytes)",
            name,
            pod,
            event.get("bytes"),
        )
        job = svc.jobs.get(name, ns) if svc.jobs is not None else None
        # A schedule's run holds the schedule's token (its ConfigMap is every run's).
        token = await self.handover_token((schedule_of(job) if job else None) or name)
        for attempt in range(4):  # a pod's first seconds, a blip: try again a few times
            try:
                return await fetch_held_output(ip, event, token, svc.config.max_output_bytes)
            except HandoverError as exc:
                if attempt == 3 or "refused" in str(exc):
                    raise
                log.info("held output of job %s: %s; trying again", name, exc)
                await asyncio.sleep(2**attempt)
        raise AssertionError("unreachable")

    async def read(self, name: str, pod: str) -> list[str]:
        """The runner's markers and output frame, from the pod's log followed to its end.

        A stream cut before the runner's container ended (the API server restarted, the
        network dropped, an idle proxy closed it) is read again from the start, with
        back-off, for as long as the pod exists (up to LOG_RESUME_SECONDS of failures in a
        row): the executed notebook is framed at the end of the log, so a re-read has it.
        User output is not kept, only markers and the frame.
        """
        ns = self.service.config.namespace
        client = await self.service.client()
        path = resource_path("pods", ns, pod, "log")
        params = {"container": CONTAINER, "limitBytes": LOG_FETCH_LIMIT, "follow": "true"}
        resumes = Resumes(pod, LOG_RESUME_SECONDS)
        read: list[str] | None = None  # the last log read to its end
        run = self.service.live_runs.get(name)
        if run is None or run.pod != pod:  # a job's next pod (a retry) starts afresh
            run = self.service.live_runs[name] = LiveRun(pod)
        while True:
            kept: list[str] = []
            in_frame = False
            lines_read = 0
            try:
                async for raw in client.stream_lines(
                    path, params, read_timeout=LOG_SILENCE_SECONDS
                ):
                    lines_read += 1
                    line = raw.decode(errors="replace").rstrip("\n")
                    if line.startswith(FRAME):
                        in_frame = not line.startswith(f"{FRAME} end")
                        kept.append(line)
                    elif in_frame:
                        kept.append(line)
                    elif (marker := parse_marker(line)) is not None:
                        if marker[1].get("event") not in LIVE_ONLY_EVENTS:
                            kept.append(f"{MARKER} {json.dumps(marker[1])}")
                        # Applied once however often a re-read repeats it (idempotent).
                        run.add(marker[1])
                        if marker[1].get("event") == "output_held" and pod not in self.held:
                            # The runner waits for us to fetch it before it ends: now.
                            self.held[pod] = asyncio.ensure_future(
                                self.fetch_held(name, pod, marker[1])
                            )
                        self.service.touch()
                read = kept
                try:
                    current = await client.get("pods", pod, ns)
                except NotFound:
                    return kept  # the pod is gone (a cancel's deadline deletes it): all there is
                if not container_running(current, CONTAINER):
                    return kept
                reason = "the log stream ended while the runner still runs"
            except NotFound:
                if read is not None:
                    return read  # gone after a full read: that read is all there is
                raise
            except KubeError as exc:
                reason = str(exc)
            await resumes.wait(lines_read > 0, reason, f"log of job {name}")

    async def output(self, pod: str, kept: list[str]) -> RunnerLog:
        """The runner's log parsed, its output taken from the log's frame or, for one too
        large for the log, from the pod's hand-over (awaited here; a fetch that failed is
        the output's error)."""
        # Base64, gunzip and sha256 of up to max_output_bytes: CPU work, off the loop.
        parsed = await asyncio.to_thread(
            parse_runner_log, "\n".join(kept), max_output_bytes=self.service.config.max_output_bytes
        )
        held = self.held.pop(pod, None)
        if parsed.output is None and held is not None:
            try:
                parsed.output, parsed.output_error = await held, None
            except HandoverError as exc:
                parsed.output_error = str(exc)
        elif held is not None:
            held.cancel()
        return parsed
