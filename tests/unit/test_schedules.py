"""Schedules, the pure parts: cron and time zone checks, the next run time, the CronJob and a
run started by hand (golden), which Job is a schedule's run and where its output goes, the
schedule as users see it, the REST description, the doctor and the CLI's requests.

To regenerate the golden file after an intended change: JUPYTER_K8S_UPDATE_GOLDEN=1 pytest
this file, then read its diff.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from builders import golden

from jupyter_k8s.cli import build_parser
from jupyter_k8s.cli.schedule_commands import schedule_request_data, schedule_update_data
from jupyter_k8s.doctor.permissions import permission_findings, required_permissions
from jupyter_k8s.errors import ForbiddenProblem, ValidationProblem
from jupyter_k8s.jobs.cron import check_cron, check_time_zone, next_run
from jupyter_k8s.jobs.models import ScheduleInfo, ScheduleRequest, ScheduleUpdate
from jupyter_k8s.jobs.objects import (
    ANN_INSTANTIATE,
    ANN_SCHEDULE,
    RUN_NAME_ENV,
    SCHEDULE_SELECTOR,
    JobBuild,
    ScheduleSpec,
    make_cronjob,
    make_manual_run,
    output_path_for,
    run_output_path,
    schedule_of,
)
from jupyter_k8s.jobs.schedules import schedule_info, schedule_name
from jupyter_k8s.jobs.service import JobsConfig, JobService
from jupyter_k8s.profiles import load_profiles

PROFILES = load_profiles([{"name": "cpu", "cpu_request": "500m"}], default_image="img:1")
SCHEDULE = "sc-report-a1b2c3"
BUILD = JobBuild(
    name=SCHEDULE,
    namespace="team",
    owner="alice",
    notebook_path="reports/report.ipynb",
    parameters={"day": "today"},
    profile=PROFILES.get("cpu"),
    image="img:1",
    output_path=output_path_for("reports/report.ipynb", SCHEDULE),
    ttl_seconds=604800,
    handover={"token": "t0ken", "port": 52790, "hold_seconds": 900.0},
    schedule=True,
)
SPEC = ScheduleSpec(cron="0 6 * * *", time_zone="Europe/Paris")
NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # the day before Paris moves to summer time


# -- cron and time zones ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "clean"),
    [
        ("0 6 * * *", "0 6 * * *"),
        ("  */15   *  * * 1-5 ", "*/15 * * * 1-5"),
        ("0 6 ? * mon-fri", "0 6 ? * mon-fri"),
        ("0 0 1 jan,jul *", "0 0 1 jan,jul *"),
        ("@Daily", "@daily"),
    ],
)
def test_cron_expressions_kubernetes_takes(expr, clean):
    assert check_cron(expr) == clean


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("", "empty"),
        ("0 6 * *", "has 4 fields; a cron expression has 5"),
        ("0 0 6 * * *", "has 6 fields"),
        ("61 * * * *", "bad minute"),
        ("0 6 L * *", "the day-of-month field 'L' is not valid here"),
        ("0 6 * * 5#2", "not L, W or #"),
        ("0 6 * foo *", "the month field 'foo'"),
        ("@every 1h", "@every is not supported"),
        ("@sometimes", "is not a cron macro"),
        ("TZ=Europe/Paris 0 6 * * *", "put the time zone in time_zone"),
        ("*/99999999999 * * * *", "out of range"),
    ],
)
def test_bad_cron_expressions_say_what_to_write(expr, says):
    with pytest.raises(ValueError, match=None) as caught:
        check_cron(expr)
    assert says in str(caught.value)


def test_time_zones_are_names_of_the_database_only():
    assert check_time_zone(" Europe/Paris ") == "Europe/Paris"
    for bad in ("Mars/Olympus", "Local", "../../etc/passwd", "a" * 1000, "UTC\x00"):
        with pytest.raises(ValueError):
            check_time_zone(bad)


def test_next_run_in_a_time_zone_across_daylight_saving():
    # 06:00 in Paris on 29 March 2026 is already summer time (UTC+2).
    assert next_run("0 6 * * *", "Europe/Paris", NOW) == datetime(2026, 3, 29, 4, tzinfo=UTC)
    assert next_run("0 6 * * *", None, NOW) == datetime(2026, 3, 29, 6, tzinfo=UTC)
    assert next_run("@hourly", None, NOW) == datetime(2026, 3, 28, 13, tzinfo=UTC)
    assert next_run("0 6 ? * mon", None, NOW) == datetime(2026, 3, 30, 6, tzinfo=UTC)
    # Read back from the cluster: what cannot be computed has no next run, never an error.
    assert next_run("not a cron", None, NOW) is None
    assert next_run("0 6 * * *", "Nowhere/Else", NOW) is None


def test_schedule_request_names_the_bad_field():
    with pytest.raises(ValidationProblem) as caught:
        ScheduleRequest.from_json({"notebook": "a.ipynb", "cron": "0 25 * * *"})
    assert caught.value.field == "cron" and "bad hour" in str(caught.value)
    with pytest.raises(ValidationProblem) as caught:
        ScheduleRequest.from_json({"notebook": "a.ipynb", "cron": "@daily", "time_zone": "X/Y"})
    assert caught.value.field == "time_zone" and "IANA" in str(caught.value)
    req = ScheduleRequest.from_json({"notebook": "a.ipynb", "cron": "@daily", "time_zone": ""})
    assert (req.time_zone, req.concurrency_policy, req.suspend) == (None, "Forbid", False)
    change = ScheduleUpdate.from_json({"suspend": True})
    assert change.model_fields_set == {"suspend"}
    with pytest.raises(ValidationProblem):
        ScheduleUpdate.from_json({"schedule": "x"})  # unknown field


# -- the objects --------------------------------------------------------------------------------


def test_cronjob_matches_golden():
    cronjob = make_cronjob(BUILD, SPEC)
    assert cronjob == golden("cronjob_schedule.json", cronjob)


def test_cronjob_template_is_the_job_a_submit_makes():
    cronjob = make_cronjob(BUILD, SPEC)
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid" and spec["timeZone"] == "Europe/Paris"
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    template = spec["jobTemplate"]
    labels = template["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "notebook-job"  # runs are listed as jobs
    assert cronjob["metadata"]["labels"]["app.kubernetes.io/component"] == "notebook-schedule"
    assert SCHEDULE_SELECTOR.endswith("notebook-schedule")
    assert template["metadata"]["annotations"][ANN_SCHEDULE] == SCHEDULE
    assert "suspend" not in template["spec"]
    volumes = template["spec"]["template"]["spec"]["volumes"]
    assert {"name": "job", "configMap": {"name": f"{SCHEDULE}-input", "defaultMode": 0o444}} in (
        volumes
    )
    env = template["spec"]["template"]["spec"]["containers"][0]["env"]
    run_name = next(e for e in env if e["name"] == RUN_NAME_ENV)
    assert run_name["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.labels['batch.kubernetes.io/job-name']"
    )
    no_tz = make_cronjob(BUILD, ScheduleSpec(cron="@daily"))
    assert "timeZone" not in no_tz["spec"]
    with pytest.raises(ValueError):
        make_cronjob(replace(BUILD, schedule=False), SPEC)
    with pytest.raises(ValueError):
        ScheduleSpec(cron="@daily", concurrency_policy="Sometimes")


def test_shared_staging_runs_write_their_own_notebook_in_place():
    shared = replace(
        BUILD,
        staging="shared",
        shared_volume={"persistentVolumeClaim": {"claimName": "home"}},
        shared_mount_path="/home/$user",  # a '$' of the path stays a '$'
        handover=None,
    )
    pod = make_cronjob(shared, SPEC)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    command = pod["containers"][0]["command"]
    assert command[-2:] == [
        "--output",
        f"/home/$$user/reports/report.$({RUN_NAME_ENV}).ipynb",
    ]
    # API staging: the output comes through the log; job.json's path is the pod's own.
    api = make_cronjob(BUILD, SPEC)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "--output" not in api["containers"][0]["command"]


def test_a_run_started_by_hand_is_what_kubectl_create_job_from_makes():
    cronjob = make_cronjob(BUILD, SPEC)
    cronjob["metadata"]["uid"] = "uid-1"
    run = make_manual_run(cronjob, f"{SCHEDULE}-mabc123")
    assert run == golden("job_schedule_manual_run.json", run)
    assert run["metadata"]["annotations"][ANN_INSTANTIATE] == "manual"
    assert run["spec"] == cronjob["spec"]["jobTemplate"]["spec"]
    assert schedule_of(run) == SCHEDULE
    with pytest.raises(ValueError):
        make_manual_run(make_cronjob(BUILD, SPEC), "x")  # not created yet: no uid


def _run(name: str, schedule: str = SCHEDULE, owner: str = SCHEDULE, controller: bool = True):
    cronjob = make_cronjob(BUILD, SPEC)
    return {
        "metadata": {
            "name": name,
            "labels": cronjob["spec"]["jobTemplate"]["metadata"]["labels"],
            "annotations": {
                **cronjob["spec"]["jobTemplate"]["metadata"]["annotations"],
                ANN_SCHEDULE: schedule,
            },
            "ownerReferences": [
                {"kind": "CronJob", "name": owner, "uid": "u", "controller": controller}
            ],
            "creationTimestamp": "2026-03-28T06:00:00Z",
        },
        "spec": cronjob["spec"]["jobTemplate"]["spec"],
    }


def test_which_job_is_a_schedules_run():
    assert schedule_of(_run(f"{SCHEDULE}-29580000")) == SCHEDULE
    # Annotation, name and controller must agree: each is only text someone wrote.
    assert schedule_of(_run("nb-other-abc123")) is None
    assert schedule_of(_run(f"{SCHEDULE}-29580000", owner="sc-other-zzzzzz")) is None
    assert schedule_of(_run(f"{SCHEDULE}-29580000", controller=False)) is None
    assert schedule_of({"metadata": {"name": "nb-x-abc123"}}) is None


def test_each_run_has_its_own_output_path(tmp_path: Path):
    assert run_output_path("a/report.sc-r-1.ipynb", "sc-r-1", "sc-r-1-29580000") == (
        "a/report.sc-r-1-29580000.ipynb"
    )
    with pytest.raises(ValueError):
        run_output_path("a/report.other.ipynb", "sc-r-1", "sc-r-1-2")
    svc = JobService(
        _no_client, PROFILES, JobsConfig(namespace="team", owner="alice", root_dir=tmp_path)
    )
    run = _run(f"{SCHEDULE}-29580000")
    target = svc.output_target(run)
    assert target == tmp_path.resolve() / "reports" / f"report.{SCHEDULE}-29580000.ipynb"
    info = svc.info(run)
    assert info.schedule == SCHEDULE
    assert info.output_path == f"reports/report.{SCHEDULE}-29580000.ipynb"
    # A run whose annotations point elsewhere writes nothing.
    forged = _run(f"{SCHEDULE}-29580000")
    forged["metadata"]["annotations"]["jupyter-k8s.io/output"] = ".bashrc"
    with pytest.raises(ForbiddenProblem):
        svc.output_target(forged)


async def _no_client():
    raise AssertionError("no cluster in unit tests")


def test_schedule_names_fit_a_cronjob():
    name = schedule_name("reports/A Very Long Notebook Name That Goes On And On.ipynb", "a1b2c3")
    assert len(name) <= 52 and name.startswith("sc-") and name.endswith("-a1b2c3")
    assert schedule_name("report.ipynb", "a1b2c3") == "sc-report-a1b2c3"


def test_schedule_info_from_its_cronjob_and_runs():
    cronjob = make_cronjob(BUILD, SPEC)
    cronjob["metadata"]["creationTimestamp"] = "2026-03-20T10:00:00Z"
    cronjob["status"] = {
        "lastScheduleTime": "2026-03-28T05:00:00Z",
        "lastSuccessfulTime": "2026-03-28T05:00:40Z",
        "active": [{"kind": "Job", "name": f"{SCHEDULE}-29580001"}],
    }
    older, newer = _run(f"{SCHEDULE}-29580000"), _run(f"{SCHEDULE}-29580001")
    newer["metadata"]["creationTimestamp"] = "2026-03-28T07:00:00Z"
    jobs = SimpleNamespace(items=lambda: [older, newer, _run("nb-other-abc123")])
    svc = SimpleNamespace(jobs=jobs, is_mine=lambda job: True)
    info = schedule_info(svc, cronjob, now=NOW)  # type: ignore[arg-type]
    assert info.id == SCHEDULE and info.notebook == "reports/report.ipynb"
    assert info.owner == "alice" and info.profile == "cpu" and info.image == "img:1"
    assert info.parameters == {"day": "today"}
    assert (info.cron, info.time_zone, info.suspended) == ("0 6 * * *", "Europe/Paris", False)
    assert info.next_run == datetime(2026, 3, 29, 4, tzinfo=UTC)
    assert info.last_schedule == datetime(2026, 3, 28, 5, tzinfo=UTC)
    assert info.active == [f"{SCHEDULE}-29580001"]
    assert info.runs == [f"{SCHEDULE}-29580001", f"{SCHEDULE}-29580000"]
    cronjob["spec"]["suspend"] = True
    assert schedule_info(svc, cronjob, now=NOW).next_run is None  # type: ignore[arg-type]


# -- REST description, doctor, CLI ----------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load((Path(__file__).parents[2] / "docs" / "openapi.yaml").read_text())


def test_schedule_schemas_match_the_models(spec: dict):
    schemas = spec["components"]["schemas"]
    # A schedule's request is a submit's without the sweep fields (sweeps are refused).
    fields = set(ScheduleRequest.model_fields) - {"sweep", "parallelism"}
    assert set(schemas["ScheduleRequest"]["properties"]) == fields
    assert set(schemas["ScheduleRequest"]["required"]) == {"notebook", "cron"}
    assert set(schemas["ScheduleUpdate"]["properties"]) == set(ScheduleUpdate.model_fields)
    assert set(schemas["ScheduleInfo"]["properties"]) == set(ScheduleInfo.model_fields)
    assert set(schemas["ScheduleInfo"]["required"]) <= set(ScheduleInfo.model_fields)
    assert "schedule" in schemas["JobInfo"]["properties"]
    pattern = spec["components"]["parameters"]["ScheduleId"]["schema"]["pattern"]
    assert pattern == "^[a-z0-9][-a-z0-9]{0,51}$"


def test_the_doctor_calls_cronjobs_optional():
    perms = required_permissions()
    assert {"create batch/cronjobs", "patch batch/cronjobs"} <= {p.text for p in perms}
    answers = {p: {"status": {"allowed": p.resource != "cronjobs"}} for p in perms}
    checks = permission_findings(perms, answers, "team", None)
    line = next(c for c in checks if c.id == "rbac.batch/cronjobs")
    assert line.status == "warn" and "schedules cannot be made" in line.detail
    assert line.name == "batch/cronjobs (optional)" and 'resources: ["cronjobs"]' in line.fix
    assert all(c.status == "ok" for c in checks if c is not line)


def test_cli_schedule_requests():
    args = build_parser().parse_args(
        [
            "schedule",
            "create",
            "analysis.ipynb",
            "--cron",
            "0 6 * * *",
            "--tz",
            "Europe/Paris",
            "-p",
            "alpha",
            "0.5",
            "--concurrency",
            "replace",
            "--keep",
            "5",
        ]
    )
    data = schedule_request_data(args, "analysis.ipynb")
    req = ScheduleRequest.from_json(data)
    assert (req.cron, req.time_zone, req.parameters) == (
        "0 6 * * *",
        "Europe/Paris",
        {"alpha": 0.5},
    )
    assert (req.concurrency_policy, req.successful_jobs_history_limit) == ("Replace", 5)
    assert req.failed_jobs_history_limit == 1 and req.suspend is False
    assert not hasattr(args, "wait")  # nobody waits for a schedule's runs
    edit = build_parser().parse_args(["schedule", "edit", "sc-x-1", "--tz", ""])
    assert schedule_update_data(edit) == {"time_zone": None}
    for action in ("pause", "resume", "run", "delete", "show"):
        parsed = build_parser().parse_args(["schedule", action, "sc-x-1"])
        assert parsed.schedule_command == action and parsed.schedule == "sc-x-1"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["schedule", "create", "a.ipynb"])  # --cron is required
    with pytest.raises((SystemExit, argparse.ArgumentTypeError)):
        build_parser().parse_args(
            ["schedule", "create", "a.ipynb", "--cron", "@daily", "--concurrency", "maybe"]
        )
