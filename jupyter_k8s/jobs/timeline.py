"""A notebook job's events as a timeline (pure): what the Job controller, the scheduler and the
kubelet said about the Job and its pods, oldest first.

Core/v1 event times have whole seconds (firstTimestamp, lastTimestamp), events.k8s.io ones
(the scheduler's Scheduled) microseconds: within one second the two can't be compared by
time. Within one second, the steps of a pod's start go in the order they happen (the Job
controller creates the pod, the scheduler places it, the kubelet pulls, creates, starts),
whatever order their posters got them stored in: the Job controller's recorder posts its
SuccessfulCreate in the background, often after a fast pod has started. Other events of
the same second keep the order the API server stored them in (their resourceVersion, an
etcd revision).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from ..k8s.objects import event_message, event_time, parse_time

Obj = dict[str, Any]

_FIELD_PATH = re.compile(r"^spec\.(?:containers|initContainers|ephemeralContainers)\{(.+)\}$")
_NEVER = datetime.min.replace(tzinfo=UTC)


def timeline_entry(event: Obj) -> dict[str, Any]:
    """One core/v1 (or events.k8s.io/v1) Event as an entry of the timeline."""
    ref = event.get("involvedObject") or event.get("regarding") or {}
    container = _FIELD_PATH.match(ref.get("fieldPath") or "")
    count = event.get("count") or (event.get("series") or {}).get("count")
    return {
        "time": event_time(event) or None,
        "type": "Warning" if event.get("type") == "Warning" else "Normal",
        "reason": event.get("reason") or "",
        "message": event_message(event),
        "object": ref.get("kind") or "",
        "name": ref.get("name") or "",
        "container": container.group(1) if container else None,
        "count": int(count or event.get("deprecatedCount") or 1),
    }


#: The causal order of a job's start, for events stamped within the same second (jobs are
#: created suspended and resumed once their notebook is stored).
_START_STEPS = {
    ("Job", "Suspended"): 0,
    ("Job", "Resumed"): 1,
    ("Job", "SuccessfulCreate"): 2,
    ("Pod", "Scheduled"): 3,
    ("Pod", "Pulling"): 4,
    ("Pod", "Pulled"): 5,
    ("Pod", "Created"): 6,
    ("Pod", "Started"): 7,
}


def _order(event: Obj) -> tuple:
    when = parse_time(event_time(event)) or _NEVER
    rv = str((event.get("metadata") or {}).get("resourceVersion") or "")
    ref = event.get("involvedObject") or event.get("regarding") or {}
    step = _START_STEPS.get((ref.get("kind") or "", event.get("reason") or ""))
    return (
        when.replace(microsecond=0),
        # Start steps in their order; anything else after them, in stored order.
        (0, step) if step is not None else (1, 0),
        int(rv) if rv.isdigit() else 0,
        when,
        (event.get("metadata") or {}).get("name") or "",
    )


def job_timeline(events: list[Obj], job_uid: str | None = None) -> list[dict[str, Any]]:
    """The entries of `events` (about a Job and its pods), oldest first.

    With `job_uid`, events about an earlier Job of the same name are left out.
    """
    kept = [
        e
        for e in events
        if not (
            job_uid
            and (ref := e.get("involvedObject") or e.get("regarding") or {}).get("kind") == "Job"
            and ref.get("uid")
            and ref["uid"] != job_uid
        )
    ]
    return [timeline_entry(e) for e in sorted(kept, key=_order)]
