"""Whether the cluster serves Kueue, asked once and cached; the errors of a queue that can't be.

A cluster without Kueue must change nothing for jobs not queued, and a profile or request that
names a queue there must say so at submit, not leave a Job suspended forever. API discovery
(`GET /apis/kueue.x-k8s.io`) answers it; the answer is kept (an absent Kueue for a short
while, so that installing it is noticed without a restart).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..errors import ConflictProblem, Problem, ValidationProblem
from ..k8s.client import KubeClient, NotFound, Obj
from .names import GROUP, VERSION, VISIBILITY_GROUP

#: How long an answer is kept: Kueue present (it rarely goes), Kueue absent (it may come).
PRESENT_SECONDS = 600.0
ABSENT_SECONDS = 30.0


@dataclass(frozen=True)
class KueueAPI:
    """What discovery found: the workloads API (kueue.x-k8s.io/v1beta2), the visibility API."""

    served: bool
    visibility: bool = False
    #: The group's versions when it is served but not in the version read here.
    other_versions: tuple[str, ...] = ()


def _versions(group: Obj | None) -> list[str]:
    versions = (group or {}).get("versions")
    return [
        v["version"]
        for v in (versions if isinstance(versions, list) else [])
        if isinstance(v, dict) and isinstance(v.get("version"), str)
    ]


class KueueDiscovery:
    """API discovery of Kueue, cached; `clock` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._answer: KueueAPI | None = None
        self._until = 0.0
        self._lock = asyncio.Lock()

    def cached(self) -> KueueAPI | None:
        """The last answer, however old (None: never asked)."""
        return self._answer

    async def find(self, get_client: Callable[[], Awaitable[KubeClient]]) -> KueueAPI:
        """Whether Kueue is served; raises KubeError when the API server can't tell (no answer,
        a refusal of discovery itself), so that "unknown" is never taken for "absent"."""
        async with self._lock:
            if self._answer is not None and self._clock() < self._until:
                return self._answer
            client = await get_client()
            group = await _group(client, GROUP)
            versions = _versions(group)
            if group is None or VERSION not in versions:
                answer = KueueAPI(False, other_versions=tuple(versions))
            else:
                visibility = await _group(client, VISIBILITY_GROUP)
                answer = KueueAPI(True, VERSION in _versions(visibility))
            self._answer = answer
            self._until = self._clock() + (PRESENT_SECONDS if answer.served else ABSENT_SECONDS)
            return answer


async def _group(client: KubeClient, group: str) -> Obj | None:
    try:
        found = await client.request("GET", f"/apis/{group}", timeout=10)
    except NotFound:
        return None
    return found if isinstance(found, dict) else None


# -- the errors ---------------------------------------------------------------------------------


def _where(queue_from_request: bool, profile: str, preposition: str) -> str:
    """Where the queue came from: "`queue` from the request", "`queue` in profile 'gpu'"."""
    where = "the request" if queue_from_request else f"profile {profile!r}"
    return f"`queue` {preposition} {where}"


def no_kueue(
    api: KueueAPI, queue: str, profile: str, from_request: bool, work: str = "the job"
) -> Problem:
    """The error of a queued submit on a cluster without Kueue (400 for the request's own
    field, 409 for a profile's: the request is fine, the cluster is not what the profile
    expects). `work`: what was to be queued ("the job", "the kernel's pod")."""
    if api.other_versions:
        what = (
            f"this cluster's Kueue serves kueue.x-k8s.io {', '.join(api.other_versions)}, "
            f"not {VERSION}, which jupyter-k8s reads (Kueue v0.15 or later)"
        )
    else:
        what = f"this cluster has no Kueue: the {GROUP} API is not served"
    message = (
        f"cannot put {work} in queue {queue!r}: {what}; ask your operator, or remove "
        f"{_where(from_request, profile, 'from')}"
    )
    problem: Problem = (
        ValidationProblem(message, field="queue") if from_request else ConflictProblem(message)
    )
    problem.reason = "NoKueue"
    return problem


def no_local_queue(
    queue: str, namespace: str, available: list[str], profile: str, from_request: bool
) -> Problem:
    """The error of a queue name that is no LocalQueue of the namespace."""
    here = ", ".join(sorted(available)) or "none"
    message = (
        f"no LocalQueue {queue!r} in namespace {namespace!r} (queues here: {here}); ask your "
        f"operator, or change {_where(from_request, profile, 'in')}"
    )
    problem: Problem = (
        ValidationProblem(message, field="queue") if from_request else ConflictProblem(message)
    )
    problem.reason = "NoLocalQueue"
    return problem
