"""Whether a LocalQueue or a WorkloadPriorityClass named by a profile or a request exists:
the checks before a job or a kernel pod joins a queue (jobs/queueing.py, kernels/queueing.py
raise each their own error from the answers)."""

from __future__ import annotations

import logging

from ..k8s.client import Forbidden, KubeClient, KubeError, NotFound

log = logging.getLogger("jupyter_k8s.queues")


async def missing_local_queue(
    client: KubeClient, namespace: str, queue: str, cached: list[str] | None
) -> list[str] | None:
    """None when `queue` is a LocalQueue of `namespace` (or this identity may not tell);
    otherwise the LocalQueues there, for the error (`cached`: the watch's names, if any).

    A queue missing from the cache is asked for once, so that one made a moment ago is no
    error. Without the optional Role Kueue itself says a queue is missing (Inadmissible),
    and the status shows it: no reason to refuse the work here."""
    if cached is not None and queue in cached:
        return None
    try:
        await client.get("localqueues", queue, namespace)
        return None
    except NotFound:
        if cached is not None:
            return list(cached)
        try:
            listing = await client.list("localqueues", namespace)
        except KubeError:
            return []
        return [
            str(q["metadata"]["name"])
            for q in listing.get("items") or []
            if isinstance(q, dict) and isinstance(q.get("metadata"), dict)
        ]
    except Forbidden as exc:
        log.info("LocalQueue %s not checked: %s", queue, exc.message)
        return None


async def missing_priority_class(client: KubeClient, name: str) -> bool:
    """Whether WorkloadPriorityClass `name` certainly does not exist. Kueue makes no Workload
    for work naming a missing one: it would wait forever, unsaid. False where the optional
    ClusterRole is not granted (the status will show the wait)."""
    try:
        await client.get("workloadpriorityclasses", name)
    except NotFound:
        return True
    except Forbidden:
        pass  # the optional ClusterRole is not granted: nothing can be said
    return False
