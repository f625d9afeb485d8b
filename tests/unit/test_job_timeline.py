"""A job's events as a timeline: core/v1 Events in, entries out, oldest first (pure)."""

from __future__ import annotations

from jupyter_k8s.jobs.timeline import job_timeline, timeline_entry

JOB_UID = "job-uid-1"


def event(
    reason: str,
    *,
    kind: str = "Pod",
    name: str = "nb-x-abc12-k2x9q",
    last: str | None = None,
    event_time: str | None = None,
    rv: str = "100",
    type_: str = "Normal",
    message: str = "",
    count: int | None = 1,
    uid: str | None = None,
    field_path: str | None = None,
) -> dict:
    ref = {"kind": kind, "name": name, "namespace": "ns"}
    if uid:
        ref["uid"] = uid
    if field_path:
        ref["fieldPath"] = field_path
    e = {
        "metadata": {"name": f"{name}.{reason}.{rv}", "resourceVersion": rv},
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "type": type_,
        "firstTimestamp": last,
        "lastTimestamp": last,
        "eventTime": event_time,
    }
    if count is not None:
        e["count"] = count
    return e


def test_entry_of_a_kubelet_event():
    e = event(
        "Started",
        last="2026-05-01T10:00:03Z",
        message="Container started ",
        field_path="spec.containers{runner}",
        count=3,
    )
    assert timeline_entry(e) == {
        "time": "2026-05-01T10:00:03Z",
        "type": "Normal",
        "reason": "Started",
        "message": "Container started",
        "object": "Pod",
        "name": "nb-x-abc12-k2x9q",
        "container": "runner",
        "count": 3,
    }


def test_entry_of_a_scheduler_event_and_defaults():
    # events.k8s.io events seen through core/v1: eventTime, no lastTimestamp, no count.
    e = event("Scheduled", event_time="2026-05-01T10:00:00.512345Z", count=None, type_="")
    entry = timeline_entry(e)
    assert entry["time"] == "2026-05-01T10:00:00.512345Z"
    assert entry["type"] == "Normal" and entry["count"] == 1 and entry["container"] is None
    init = timeline_entry(event("Pulled", field_path="spec.initContainers{stage}"))
    assert init["container"] == "stage"
    assert timeline_entry(event("BackOff", type_="Warning"))["type"] == "Warning"
    series = timeline_entry({**event("FailedScheduling", count=None), "series": {"count": 7}})
    assert series["count"] == 7


def test_entry_of_an_events_k8s_io_event():
    e = {
        "metadata": {"name": "x", "resourceVersion": "5"},
        "regarding": {"kind": "Pod", "name": "p"},
        "reason": "Scheduled",
        "note": "Successfully assigned ns/p to node",
        "type": "Normal",
        "eventTime": "2026-05-01T10:00:00.000001Z",
        "deprecatedCount": 2,
    }
    entry = timeline_entry(e)
    assert (entry["object"], entry["name"], entry["message"], entry["count"]) == (
        "Pod",
        "p",
        "Successfully assigned ns/p to node",
        2,
    )


def test_entry_without_any_time():
    e = event("Created")
    del e["metadata"]
    assert timeline_entry(e)["time"] is None


def test_oldest_first_whole_seconds_and_microseconds():
    # Scheduled has microseconds, the kubelet's and the Job controller's whole seconds: in the
    # same second, the order the API server stored them in (resourceVersion) decides.
    events = [
        event("Completed", kind="Job", name="nb-x", last="2026-05-01T10:00:05Z", rv="180"),
        event("Started", last="2026-05-01T10:00:00Z", rv="130"),
        event("Scheduled", event_time="2026-05-01T10:00:00.900000Z", rv="110"),
        event("Pulled", last="2026-05-01T10:00:00Z", rv="120"),
        event("SuccessfulCreate", kind="Job", name="nb-x", last="2026-05-01T10:00:00Z", rv="99"),
        event("Killing", last="2026-05-01T09:59:59Z", name="older-pod", rv="200"),
    ]
    reasons = [e["reason"] for e in job_timeline(events)]
    assert reasons == ["Killing", "SuccessfulCreate", "Scheduled", "Pulled", "Started", "Completed"]


def test_start_steps_of_one_second_go_in_causal_order():
    # The Job controller's recorder posts SuccessfulCreate in the background: a fast pod's
    # Started can be stored before it. Within one second the start steps go in their order;
    # other events of that second come after them, in stored order.
    events = [
        event("Started", last="2026-05-01T10:00:00Z", rv="130"),
        event("Completed", kind="Job", name="nb-x", last="2026-05-01T10:00:00Z", rv="135"),
        event("Created", last="2026-05-01T10:00:00Z", rv="125"),
        event("SuccessfulCreate", kind="Job", name="nb-x", last="2026-05-01T10:00:00Z", rv="140"),
        event("Resumed", kind="Job", name="nb-x", last="2026-05-01T10:00:00Z", rv="95"),
        event("Scheduled", event_time="2026-05-01T10:00:00.100000Z", rv="110"),
        event("Pulled", last="2026-05-01T10:00:00Z", rv="120"),
        event("Suspended", kind="Job", name="nb-x", last="2026-05-01T10:00:00Z", rv="90"),
    ]
    assert [e["reason"] for e in job_timeline(events)] == [
        "Suspended",
        "Resumed",
        "SuccessfulCreate",
        "Scheduled",
        "Pulled",
        "Created",
        "Started",
        "Completed",
    ]


def test_without_resource_versions_the_exact_time_decides():
    events = [
        event("B", event_time="2026-05-01T10:00:00.700000Z", rv=""),
        event("A", event_time="2026-05-01T10:00:00.200000Z", rv=""),
        event("C", last="2026-05-01T10:00:01Z", rv=""),
        event("Untimed", rv=""),
    ]
    assert [e["reason"] for e in job_timeline(events)] == ["Untimed", "A", "B", "C"]


def test_events_of_an_earlier_job_of_the_same_name_are_left_out():
    events = [
        event("SuccessfulCreate", kind="Job", name="nb-x", uid="old", rv="1"),
        event("SuccessfulCreate", kind="Job", name="nb-x", uid=JOB_UID, rv="2"),
        event("Completed", kind="Job", name="nb-x", rv="3"),  # no uid: kept
        event("Started", uid="pod-uid", rv="4"),  # pods: their names are unique
    ]
    kept = job_timeline(events, JOB_UID)
    assert sorted(e["reason"] for e in kept) == ["Completed", "Started", "SuccessfulCreate"]
    assert len(job_timeline(events)) == 4
    assert job_timeline([]) == []
