"""What a queued piece of work (a notebook job, later a kernel pod) shows of its Kueue queue.

Built by `queues.status.queue_info` from the Workload Kueue made for it, its place in the
LocalQueue (the visibility API) and its ClusterQueue; carried by `JobInfo.queue`. Everything
here was read back from the cluster: the bounds are the last check before a response.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

QueueState = Literal["queued", "admitted", "preempted", "inadmissible", "finished"]

#: The JobInfo reason of a job that waits in its queue, by queue state.
WAITING_REASONS: dict[str, str] = {
    "queued": "Queued",
    "preempted": "Preempted",
    "inadmissible": "Inadmissible",
}


class QueueUsage(BaseModel):
    """One resource of the ClusterQueue: what its admitted work holds, and its quota."""

    resource: str = Field(max_length=317, description="e.g. nvidia.com/gpu, cpu, memory")
    used: str = Field(max_length=64, description="a Kubernetes quantity, e.g. 8 or 12Gi")
    quota: str = Field(max_length=64, description="nominal quota over the ClusterQueue's flavors")


class QueueInfo(BaseModel):
    """Where a job stands in its Kueue queue, in Kueue's words."""

    queue: str = Field(
        max_length=253, description="the LocalQueue (label kueue.x-k8s.io/queue-name)"
    )
    cluster_queue: str | None = Field(
        default=None, max_length=253, description="the ClusterQueue the LocalQueue feeds"
    )
    state: QueueState
    position: int | None = Field(
        default=None,
        ge=1,
        description="1-based place in the LocalQueue while queued (Kueue's visibility API)",
    )
    pending: int | None = Field(
        default=None, ge=0, description="workloads pending in the LocalQueue, this one included"
    )
    priority_class: str | None = Field(
        default=None, max_length=253, description="the WorkloadPriorityClass, if any"
    )
    usage: list[QueueUsage] = Field(
        default_factory=list,
        description="the ClusterQueue's usage of the resources this job asks for (where the "
        "ClusterQueue can be read)",
    )
    message: str = Field(max_length=2048, description="for a person, in Kueue's words")
