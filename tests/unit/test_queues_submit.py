"""Queued jobs before the cluster: profile keys, the request's choice, the Job's labels and
failure policy, the errors of a queue that can't be, the visibility API's answer."""

from __future__ import annotations

import dataclasses

import pytest

from jupyter_k8s.errors import ConflictProblem, ValidationProblem
from jupyter_k8s.jobs.models import SubmitRequest
from jupyter_k8s.jobs.objects import JobBuild, make_job, queue_labels
from jupyter_k8s.jobs.status import job_info
from jupyter_k8s.k8s.client import NotFound
from jupyter_k8s.profiles import Profile, ProfileError, load_profiles
from jupyter_k8s.queues.cache import pending_workloads_path, positions_of
from jupyter_k8s.queues.discovery import KueueAPI, KueueDiscovery, no_kueue, no_local_queue

GPU = {"name": "gpu", "gpus": 1, "queue": "gpu", "queues": ["batch"]}


def test_profile_keys_and_public_view():
    profiles = load_profiles(
        [{"name": "cpu"}, {**GPU, "priority_class": "low", "priority_classes": ["high"]}], None
    )
    gpu = profiles.get("gpu").public()
    assert gpu["queue"] == "gpu" and gpu["queues"] == ["gpu", "batch"]
    assert gpu["priority_class"] == "low" and gpu["priority_classes"] == ["low", "high"]
    cpu = profiles.get("cpu").public()
    assert (cpu["queue"], cpu["queues"], cpu["priority_classes"]) == (None, [], [])


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"queue": "GPU"}, "is not a Kueue name"),
        ({"queues": ["ok", "no_underscore"]}, "is not a Kueue name"),
        ({"queue": "x" * 64}, "is not a Kueue name"),
        ({"priority_class": "low"}, "need a queue"),
    ],
)
def test_profile_errors_name_the_field(extra, words):
    with pytest.raises(ProfileError, match=words):
        load_profiles([{"name": "p", **extra}], None)


def test_request_picks_within_the_profile():
    profile = Profile(**GPU, priority_class="low", priority_classes=["high"])
    assert profile.pick_queue(None, None) == ("gpu", "low")
    assert profile.pick_queue("batch", "high") == ("batch", "high")
    with pytest.raises(ValidationProblem, match="allowed: gpu, batch") as exc:
        profile.pick_queue("other", None)
    assert exc.value.field == "queue"
    with pytest.raises(ValidationProblem, match="allowed: low, high") as exc:
        profile.pick_queue(None, "urgent")
    assert exc.value.field == "priority_class"
    plain = Profile(name="cpu")
    assert plain.pick_queue(None, None) == (None, None)
    with pytest.raises(ValidationProblem, match="it names no queue"):
        plain.pick_queue("gpu", None)
    optional = Profile(name="opt", queues=["gpu"], priority_classes=["low"])
    assert optional.pick_queue(None, None) == (None, None)  # not queued unless asked
    with pytest.raises(ValidationProblem, match="needs a queue") as exc:
        optional.pick_queue(None, "low")
    assert exc.value.field == "priority_class"


def test_request_fields_are_checked():
    assert SubmitRequest.from_json({"notebook": "a.ipynb", "queue": ""}).queue is None
    with pytest.raises(ValidationProblem) as exc:
        SubmitRequest.from_json({"notebook": "a.ipynb", "queue": "Bad Name"})
    assert exc.value.field == "queue"
    with pytest.raises(ValidationProblem) as exc:
        SubmitRequest.from_json({"notebook": "a.ipynb", "priority_class": "-x"})
    assert exc.value.field == "priority_class"


def _build(**extra) -> JobBuild:
    return JobBuild(
        name="train-abc123",
        namespace="team",
        owner="alice",
        notebook_path="train.ipynb",
        parameters={},
        profile=Profile(**GPU),
        image="python:3.12",
        output_path="train.abc123.ipynb",
        **extra,
    )


def test_queued_job_labels_and_failure_policy():
    plain = make_job(_build())
    assert "kueue.x-k8s.io/queue-name" not in plain["metadata"]["labels"]
    codes = plain["spec"]["podFailurePolicy"]["rules"][-1]["onExitCodes"]["values"]
    assert codes == [1, 143]

    queued = make_job(_build(queue="gpu", priority_class="high", suspend=True))
    labels = queued["metadata"]["labels"]
    assert labels["kueue.x-k8s.io/queue-name"] == "gpu"
    assert labels["kueue.x-k8s.io/priority-class"] == "high"
    # The pods are the Job's: Kueue manages the Job, not them.
    assert "kueue.x-k8s.io/queue-name" not in queued["spec"]["template"]["metadata"]["labels"]
    assert queued["spec"]["suspend"] is True
    rules = queued["spec"]["podFailurePolicy"]["rules"]
    assert [r["action"] for r in rules] == ["Ignore", "Ignore", "FailJob"]
    assert rules[1]["onExitCodes"]["values"] == [143]  # Kueue's preemption: SIGTERM
    assert rules[2]["onExitCodes"]["values"] == [1]
    assert queue_labels(_build(queue="gpu")) == {"kueue.x-k8s.io/queue-name": "gpu"}
    with pytest.raises(ValueError):
        _build(priority_class="high")


def test_a_preempted_pods_143_does_not_end_a_queued_job():
    job = make_job(_build(queue="gpu"))
    job["metadata"]["creationTimestamp"] = "2026-11-29T20:00:00Z"
    pod = {
        "metadata": {"name": "train-abc123-x", "creationTimestamp": "2026-11-29T20:00:01Z"},
        "status": {
            "phase": "Failed",
            "containerStatuses": [{"name": "runner", "state": {"terminated": {"exitCode": 143}}}],
        },
    }
    assert job_info(job, [pod], []).phase.value == "Pending"  # retried, not over
    plain = make_job(_build())
    assert job_info(plain, [pod], []).phase.value == "Running"  # final: the end is coming


def test_errors_say_what_to_do():
    problem = no_kueue(KueueAPI(False), "gpu", "gpu", from_request=False)
    assert isinstance(problem, ConflictProblem) and problem.reason == "NoKueue"
    assert "this cluster has no Kueue: the kueue.x-k8s.io API is not served" in str(problem)
    assert "ask your operator, or remove `queue` from profile 'gpu'" in str(problem)
    asked = no_kueue(KueueAPI(False), "gpu", "gpu", from_request=True)
    assert isinstance(asked, ValidationProblem) and asked.field == "queue"
    old = no_kueue(KueueAPI(False, other_versions=("v1beta1",)), "gpu", "gpu", False)
    assert "serves kueue.x-k8s.io v1beta1, not v1beta2" in str(old)
    missing = no_local_queue("gpux", "team", ["gpu", "batch"], "gpu", from_request=True)
    assert str(missing).startswith("no LocalQueue 'gpux' in namespace 'team' (queues here: ")
    assert "batch, gpu" in str(missing) and missing.reason == "NoLocalQueue"
    assert "(queues here: none)" in str(no_local_queue("a", "team", [], "p", False))


class _Discovery:
    """A client answering API discovery as a cluster without, then with, Kueue would."""

    def __init__(self):
        self.kueue = False
        self.calls = 0

    async def request(self, method, path, timeout=None):
        self.calls += 1
        if not self.kueue:
            raise NotFound(404, "NotFound", "the server could not find the requested resource")
        return {"versions": [{"groupVersion": f"{path[6:]}/v1beta2", "version": "v1beta2"}]}


async def test_discovery_is_cached_and_notices_kueue_coming():
    now = [0.0]
    client = _Discovery()
    discovery = KueueDiscovery(clock=lambda: now[0])

    async def get_client():
        return client

    assert not (await discovery.find(get_client)).served
    assert not (await discovery.find(get_client)).served
    assert client.calls == 1
    client.kueue = True
    now[0] = 31.0  # an absent Kueue is asked again after 30 s
    found = await discovery.find(get_client)
    assert found.served and found.visibility
    now[0] = 100.0
    await discovery.find(get_client)
    assert client.calls == 3  # kept for 10 minutes once found


def test_positions_from_the_visibility_api():
    summary = {
        "kind": "PendingWorkloadsSummary",
        "apiVersion": "visibility.kueue.x-k8s.io/v1beta2",
        "metadata": {},
        "items": [
            {
                "metadata": {"name": "job-a-1", "namespace": "team"},
                "priority": 0,
                "localQueueName": "gpu",
                "positionInClusterQueue": 3,
                "positionInLocalQueue": 0,
            },
            {"metadata": {"name": "job-b-2"}, "positionInLocalQueue": 1},
            {"metadata": {"name": "junk"}, "positionInLocalQueue": "1"},
            "junk",
        ],
    }
    assert positions_of(summary) == ({"job-a-1": 1, "job-b-2": 2}, 4)
    assert positions_of({"items": None}) is None and positions_of([]) is None
    assert pending_workloads_path("team", "gpu") == (
        "/apis/visibility.kueue.x-k8s.io/v1beta2/namespaces/team/localqueues/gpu/pendingworkloads"
    )


def test_cli_and_magic_options():
    from jupyter_k8s import cli
    from jupyter_k8s.cli.options import submit_request_data

    args = cli.build_parser().parse_args(
        ["submit", "nb.ipynb", "--queue", "batch", "--priority-class", "high"]
    )
    data = submit_request_data(args, "nb.ipynb")
    assert (data["queue"], data["priority_class"]) == ("batch", "high")
    plain = submit_request_data(cli.build_parser().parse_args(["submit", "nb.ipynb"]), "nb.ipynb")
    assert "queue" not in plain and "priority_class" not in plain
    SubmitRequest.from_json(data)


def test_sweeps_and_schedules_carry_the_queue():
    from jupyter_k8s.jobs.objects import ScheduleSpec, make_cronjob, make_manual_run

    sweep = make_job(_build(queue="gpu", priority_class="low", sweep=({"a": 1}, {"a": 2})))
    assert sweep["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu"
    rules = sweep["spec"]["podFailurePolicy"]["rules"]
    assert [r["action"] for r in rules] == ["Ignore", "Ignore", "FailIndex"]
    cron = make_cronjob(
        dataclasses.replace(_build(queue="gpu", priority_class="low"), schedule=True),
        ScheduleSpec(cron="@daily"),
    )
    template = cron["spec"]["jobTemplate"]
    # Each run's Job carries them (Kueue's webhook suspends it at creation); the CronJob not.
    assert template["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu"
    assert template["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] == "low"
    assert "kueue.x-k8s.io/queue-name" not in cron["metadata"]["labels"]
    cron["metadata"]["uid"] = "cron-uid"
    run = make_manual_run(cron, "train-abc123-m-1")
    assert run["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu"
