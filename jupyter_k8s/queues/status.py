"""Where a piece of work stands in its Kueue queue, from Kueue's own objects (pure).

Kueue makes a Workload for each queued Job (or pod) and says in its conditions what became of
it: QuotaReserved / Admitted (it may run), Evicted and Preempted (it was stopped to make room,
and is queued again), Finished. Its visibility API gives its place in the LocalQueue, and the
ClusterQueue's status what the queue's admitted work holds of its quota. `queue_info` turns
those into a `QueueInfo` whose message says it in Kueue's words:

    Queued in gpu: position 3 of 7; ClusterQueue team-a uses nvidia.com/gpu 8 of 8
    Admitted by ClusterQueue team-a
    Preempted by a higher priority workload in ClusterQueue team-a (job requeued)
    Inadmissible: couldn't assign flavors to pod set main: resource nvidia.com/gpu unavailable
    in ClusterQueue

Everything here is read back from the cluster, so it is untrusted: wrong types are skipped,
never raised, and texts are bounded before they reach a response.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from ..k8s.quantity import parse_quantity
from .models import QueueInfo, QueueState, QueueUsage
from .names import GROUP

Obj = dict[str, Any]

WORKLOAD_PRIORITY_KIND = "WorkloadPriorityClass"

MAX_MESSAGE = 2048
_MAX_QUOTED = 600  # of a Kueue message quoted inside ours

#: What each reason of the Preempted condition means, said from the preempted side.
PREEMPTED_BY = {
    "InClusterQueue": "Preempted by a higher priority workload in ClusterQueue {cq}",
    "InCohortReclamation": (
        "Preempted: another ClusterQueue of the cohort reclaimed the quota ClusterQueue {cq} "
        "had borrowed"
    ),
    "InCohortReclaimWhileBorrowing": (
        "Preempted: the cohort reclaimed quota while ClusterQueue {cq} was borrowing"
    ),
    "InCohortFairSharing": "Preempted for fair sharing within the cohort of ClusterQueue {cq}",
}
#: Eviction reasons after which Kueue does not queue the workload again by itself.
DEACTIVATING = {"Deactivated", "RequeuingLimitExceeded", "MaximumExecutionTimeExceeded"}
#: Pieces of the scheduler's QuotaReserved=False message that say waiting will not help: the
#: request is over the ClusterQueue's whole quota, or asks for what it has no flavor of.
NEVER_FITS = ("insufficient quota for", "unavailable in ClusterQueue", "no flavor")


# -- reading a Workload ------------------------------------------------------------------------


def _text(value: Any, limit: int = _MAX_QUOTED) -> str:
    """Untrusted text as one bounded line."""
    text = " ".join(str(value).split()) if value is not None else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _d(value: Any) -> dict[str, Any]:
    """A mapping read from the cluster, or {} when it is something else."""
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    """A list read from the cluster, or [] when it is something else."""
    return value if isinstance(value, list) else []


def _conditions(obj: Obj | None) -> dict[str, Obj]:
    conds = _d(_d(obj).get("status")).get("conditions")
    found: dict[str, Obj] = {}
    for cond in conds if isinstance(conds, list) else []:
        if isinstance(cond, dict) and isinstance(cond.get("type"), str):
            found[cond["type"]] = cond
    return found


def _true(conds: Mapping[str, Obj], kind: str) -> Obj | None:
    cond = conds.get(kind)
    return cond if cond is not None and cond.get("status") == "True" else None


def owned_by(workload: Obj, kind: str, name: str, uid: str) -> bool:
    """Whether the Workload is the one Kueue made for this object (a Job, a kernel's Pod).

    Its ownerReferences are untrusted (anyone with the Role may write a Workload): kind, name
    and uid must all match, and the uid is that of the object we created."""
    if not uid:
        return False
    refs = _d(workload.get("metadata")).get("ownerReferences")
    return any(
        isinstance(r, dict)
        and r.get("kind") == kind
        and r.get("name") == name
        and r.get("uid") == uid
        for r in (refs if isinstance(refs, list) else [])
    )


def owner_uids(workload: Obj) -> list[str]:
    """The uids the Workload's ownerReferences name (an index key; checked by owned_by)."""
    refs = _d(workload.get("metadata")).get("ownerReferences")
    return [
        r["uid"]
        for r in (refs if isinstance(refs, list) else [])
        if isinstance(r, dict) and isinstance(r.get("uid"), str) and r["uid"]
    ]


def queue_name_of(workload: Obj) -> str | None:
    name = _d(workload.get("spec")).get("queueName")
    return name if isinstance(name, str) and name else None


def priority_class_of(workload: Obj) -> str | None:
    """The WorkloadPriorityClass of a Workload (v1beta2 priorityClassRef), if it has one."""
    spec = _d(workload.get("spec"))
    ref = spec.get("priorityClassRef")
    if isinstance(ref, dict) and ref.get("kind") in (None, WORKLOAD_PRIORITY_KIND):
        if ref.get("group") in (None, GROUP) and isinstance(ref.get("name"), str):
            return ref["name"] or None
    return None


def admitted_cluster_queue(workload: Obj) -> str | None:
    cq = _d(_d(workload.get("status")).get("admission")).get("clusterQueue")
    return cq if isinstance(cq, str) and cq else None


def is_pending(workload: Obj) -> bool:
    """Waiting for quota in its queue (what the visibility API lists): not finished, holding no
    quota, active. A preempted workload that was requeued is pending again."""
    conds = _conditions(workload)
    if _true(conds, "Finished") or _true(conds, "QuotaReserved"):
        return False
    return _d(workload.get("spec")).get("active") is not False


def _quantity(value: Any) -> Decimal | None:
    try:
        return parse_quantity(value)
    except (ValueError, TypeError, ArithmeticError):
        return None


def requested_resources(workload: Obj) -> dict[str, Decimal]:
    """What the Workload asks for in all (status.resourceRequests, as Kueue computed it; else
    its pod sets' containers, requests with limits as defaults, times their counts)."""
    total: dict[str, Decimal] = {}

    def add(resources: Any, times: Decimal = Decimal(1)) -> None:
        for name, value in _d(resources).items():
            amount = _quantity(value)
            if isinstance(name, str) and amount is not None:
                total[name] = total.get(name, Decimal(0)) + amount * times

    computed = _d(workload.get("status")).get("resourceRequests")
    if isinstance(computed, list) and computed:
        for podset in computed:
            if isinstance(podset, dict):
                add(podset.get("resources"))
        return total
    for podset in _l(_d(workload.get("spec")).get("podSets")):
        if not isinstance(podset, dict):
            continue
        count = podset.get("count")
        times = Decimal(count) if isinstance(count, int) and count >= 0 else Decimal(1)
        spec = _d(_d(podset.get("template")).get("spec"))
        for ctr in _l(spec.get("containers")):
            if not isinstance(ctr, dict):
                continue
            res = _d(ctr.get("resources"))
            limits, requests = res.get("limits"), res.get("requests")
            merged = dict(limits) if isinstance(limits, dict) else {}
            merged.update(requests if isinstance(requests, dict) else {})
            add(merged, times)
    return total


# -- the ClusterQueue ----------------------------------------------------------------------------


def _format(amount: Decimal) -> str:
    return str(int(amount)) if amount == amount.to_integral_value() else format(amount.normalize())


def _sum_by_resource(entries: Iterable[Any], key: str) -> dict[str, tuple[Decimal, list[str]]]:
    """{resource: (sum, the raw quantities summed)} over flavors' resource lists."""
    sums: dict[str, tuple[Decimal, list[str]]] = {}
    for flavor in entries:
        if not isinstance(flavor, dict):
            continue
        for res in _l(flavor.get("resources")):
            if not isinstance(res, dict) or not isinstance(res.get("name"), str):
                continue
            amount = _quantity(res.get(key, "0"))
            if amount is None:
                continue
            old, raw = sums.get(res["name"], (Decimal(0), []))
            sums[res["name"]] = (old + amount, [*raw, str(res.get(key, "0"))])
    return sums


#: Resources counted in bytes: shown in binary units (24683656Ki reads as 23.54Gi).
_BYTES = ("memory", "ephemeral-storage")
_BINARY = (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


def _shown(resource: str, amount: Decimal, raw: list[str]) -> str:
    """A quantity for a person: bytes in the largest binary unit that keeps it at least 1
    (two decimals at most: still a quantity Kubernetes reads); other resources as Kubernetes
    wrote them (one flavor) or as a number (a sum of several)."""
    if resource in _BYTES or resource.startswith("hugepages-"):
        for suffix, unit in _BINARY:
            if amount >= unit:
                value = (amount / unit).quantize(Decimal("0.01"))
                return f"{_format(value)}{suffix}"
        return _format(amount)
    return raw[0] if len(raw) == 1 else _format(amount)


def cluster_queue_usage(cluster_queue: Obj | None, resources: Iterable[str]) -> list[QueueUsage]:
    """The ClusterQueue's reserved quota and nominal quota of each of `resources` it covers
    (summed over its flavors)."""
    if not cluster_queue:
        return []
    spec, status = _d(cluster_queue.get("spec")), _d(cluster_queue.get("status"))
    flavors = [
        f
        for group in _l(spec.get("resourceGroups"))
        if isinstance(group, dict)
        for f in _l(group.get("flavors"))
    ]
    quota = _sum_by_resource(flavors, "nominalQuota")
    used = _sum_by_resource(_l(status.get("flavorsReservation")), "total")
    found = []
    for name in resources:
        if name not in quota:
            continue
        q_amount, q_raw = quota[name]
        u_amount, u_raw = used.get(name, (Decimal(0), ["0"]))
        found.append(
            QueueUsage(
                resource=_text(name, 317),
                used=_text(_shown(name, u_amount, u_raw), 64),
                quota=_text(_shown(name, q_amount, q_raw), 64),
            )
        )
    return found


def _full(usage: QueueUsage, requested: Mapping[str, Decimal]) -> bool:
    """The ClusterQueue has too little of this resource left for this request right now."""
    used, quota = _quantity(usage.used), _quantity(usage.quota)
    wanted = requested.get(usage.resource, Decimal(0))
    return used is not None and quota is not None and used + wanted > quota


# -- the verdict ------------------------------------------------------------------------------


def workload_state(workload: Obj | None) -> QueueState:
    """queued | admitted | preempted | inadmissible | finished, from the conditions."""
    return _verdict(workload)[0]


def _verdict(workload: Obj | None) -> tuple[QueueState, Obj | None]:
    """The state and the condition that says why."""
    if workload is None:
        return "queued", None
    conds = _conditions(workload)
    if finished := _true(conds, "Finished"):
        return "finished", finished
    evicted = _true(conds, "Evicted")
    if evicted is not None:
        if evicted.get("reason") == "Preempted":
            return "preempted", _true(conds, "Preempted") or evicted
        if evicted.get("reason") in DEACTIVATING:
            return "inadmissible", evicted
        return "queued", evicted
    if preempted := _true(conds, "Preempted"):
        return "preempted", preempted
    if admitted := _true(conds, "Admitted"):
        return "admitted", admitted
    if reserved := _true(conds, "QuotaReserved"):
        return "queued", reserved  # quota held, admission checks still to pass
    if _d(workload.get("spec")).get("active") is False:
        return "inadmissible", None
    waiting = conds.get("QuotaReserved")
    if waiting is not None:
        message = str(waiting.get("message") or "")
        if waiting.get("reason") == "Inadmissible" or any(p in message for p in NEVER_FITS):
            return "inadmissible", waiting
    return "queued", waiting


def queue_info(
    queue: str,
    workload: Obj | None,
    *,
    position: int | None = None,
    pending: int | None = None,
    cluster_queue: Obj | None = None,
    cluster_queue_name: str | None = None,
    priority_class: str | None = None,
    suspended: bool | None = None,
    unreadable: str | None = None,
) -> QueueInfo:
    """A queued object's QueueInfo.

    `queue`: the LocalQueue it was put in (its label); `workload`: the Workload Kueue made for
    it (None: not made yet); `position` (1-based) and `pending`: its place in the LocalQueue
    and how many wait there (the visibility API; None: unknown); `cluster_queue`: the
    ClusterQueue object where readable, else `cluster_queue_name` (the LocalQueue's
    spec.clusterQueue); `priority_class`: the job's label, where the Workload names none.
    `suspended`: whether the object waits (a Job's spec.suspend), which says what a missing
    Workload means; `unreadable`: why Workloads cannot be read here (RBAC), if so.
    """
    state, why = _verdict(workload)
    if workload is None and suspended is False:
        state = "admitted"  # it runs: Kueue let it, whatever became of its Workload
    cq = (
        admitted_cluster_queue(workload or {})
        or _d(_d(cluster_queue).get("metadata")).get("name")
        or cluster_queue_name
    )
    if workload is not None:
        queue = queue_name_of(workload) or queue
        priority_class = priority_class_of(workload) or priority_class
    requested = requested_resources(workload) if workload is not None else {}
    usage = cluster_queue_usage(cluster_queue, requested)
    waiting = state in ("queued", "preempted")
    if not waiting:
        position = pending = None
    elif position is not None and pending is not None and position > pending:
        pending = position  # two reads a moment apart; never "position 3 of 2"
    where = f"ClusterQueue {cq}" if cq else "its ClusterQueue"
    kueue_said = _text((why or {}).get("message")) if why else ""

    if state == "finished":
        message = "Finished" + (f": {kueue_said}" if kueue_said else "")
    elif state == "admitted" and workload is None:
        message = "Admitted (running; its Kueue Workload is not known here)"
    elif state == "admitted":
        message = f"Admitted by {where}"
    elif state == "inadmissible":
        message = "Inadmissible: " + (
            kueue_said or "the Workload is deactivated (spec.active is false)"
        )
    else:
        message = _waiting_message(
            state, queue, workload, why, where, position, pending, usage, requested, kueue_said
        )
        if workload is None and unreadable:
            message = f"Queued in {queue} (Kueue's Workloads cannot be read here: {unreadable})"
    return QueueInfo(
        queue=_text(queue, 253),
        cluster_queue=_text(cq, 253) if cq else None,
        state=state,
        position=position if position is not None and position >= 1 else None,
        pending=pending if pending is not None and pending >= 0 else None,
        priority_class=_text(priority_class, 253) if priority_class else None,
        usage=usage,
        message=_text(message, MAX_MESSAGE),
    )


def _waiting_message(
    state: QueueState,
    queue: str,
    workload: Obj | None,
    why: Obj | None,
    where: str,
    position: int | None,
    pending: int | None,
    usage: list[QueueUsage],
    requested: Mapping[str, Decimal],
    kueue_said: str,
) -> str:
    """The message of a job that waits: queued (again, after a preemption or eviction)."""
    if workload is None:
        return f"Queued in {queue}: waiting for Kueue to take the job in (no Workload yet)"
    conds = _conditions(workload)
    if state == "queued" and why is not None and why.get("type") == "QuotaReserved":
        if why.get("status") == "True":
            return f"Quota reserved in {where}; waiting for its admission checks"
    place = f"Queued in {queue}"
    if position is not None and pending is not None:
        place += f": position {position} of {pending}"
    elif pending:
        place += f" ({pending} pending)"
    full = [u for u in usage if _full(u, requested)]
    if full:
        cq = where.removeprefix("ClusterQueue ")
        uses = ", ".join(f"{u.resource} {u.used} of {u.quota}" for u in full)
        place += f"; ClusterQueue {cq} uses {uses}"
    if state == "preempted":
        reason = str((why or {}).get("reason") or "")
        template = PREEMPTED_BY.get(reason)
        cq_name = where.removeprefix("ClusterQueue ")
        head = template.format(cq=cq_name) if template else "Preempted by Kueue"
        if template is None and kueue_said:
            head += f" ({kueue_said})"
        requeued = not _true(conds, "QuotaReserved")
        return (
            f"{head} ({'job requeued' if requeued else 'stopping; it will be requeued'}); {place}"
        )
    if why is not None and why.get("type") == "Evicted":
        said = f": {kueue_said}" if kueue_said else ""
        return f"Evicted ({_text(why.get('reason'), 64)}){said}; requeued. {place}"
    if not full and kueue_said and why is not None and why.get("type") == "QuotaReserved":
        # Without the ClusterQueue's usage (not readable), Kueue's own reason is the best said.
        place += f"; {kueue_said}"
    return place
