"""A notebook job's events as a timeline (pure): what the Job controller, the scheduler and the
kubelet said about the Job and its pods, oldest first.

Core/v1 event times have whole seconds (firstTimestamp, lastTimestamp), events.k8s.io ones
(the scheduler's Scheduled) microseconds: within one second the two can't be compared by
time, so events of the same second keep the order the API server stored them in (their
resourceVersion, an etcd revision), which is the order they were posted in.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from ..k8s.objects import event_message, event_time
from .status import parse_time

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


def _order(event: Obj) -> tuple:
    when = parse_time(event_time(event)) or _NEVER
    rv = str((event.get("metadata") or {}).get("resourceVersion") or "")
    return (
        when.replace(microsecond=0),
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
