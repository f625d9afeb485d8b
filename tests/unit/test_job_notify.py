"""End-of-job notifications: the body, who is told when, the URL check (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jupyter_k8s.config import JupyterK8s
from jupyter_k8s.jobs.models import JobInfo, JobPhase
from jupyter_k8s.jobs.notify import STALE_AFTER, body, check_webhook, is_due
from jupyter_k8s.jobs.sweeps import SweepInfo

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SECRET = "https://hooks.example.com/services/T000/B000/XXXXsecretXXXX"


def info(**kw) -> JobInfo:
    fields = {
        "id": "analysis-abc12",
        "notebook": "work/analysis.ipynb",
        "owner": "alice",
        "phase": JobPhase.SUCCEEDED,
        "finished": NOW,
        "duration_seconds": 83.4,
        "output_path": "work/analysis.abc12.ipynb",
        "output_state": "ready",
    }
    fields.update(kw)
    return JobInfo(**fields)


def test_body_of_a_succeeded_job():
    b = body(info())
    assert b["text"] == (
        "Job analysis-abc12 (work/analysis.ipynb) Succeeded: after 1m 23s. "
        "Output: work/analysis.abc12.ipynb"
    )
    assert b["job_id"] == "analysis-abc12"
    assert b["notebook"] == "work/analysis.ipynb"
    assert b["phase"] == "Succeeded"
    assert b["reason"] is None
    assert b["duration_seconds"] == 83.4
    assert b["output_path"] == "work/analysis.abc12.ipynb"
    assert b["finished"] == NOW.isoformat()
    assert "sweep" not in b


def test_body_of_a_failed_job_names_the_reason_and_no_missing_output():
    b = body(
        info(
            phase=JobPhase.FAILED,
            reason="OOMKilled",
            duration_seconds=3725,
            output_state="error",
        )
    )
    assert (
        b["text"] == "Job analysis-abc12 (work/analysis.ipynb) Failed: OOMKilled, after 1h 02m 05s"
    )
    assert b["phase"] == "Failed"
    assert b["reason"] == "OOMKilled"


def test_body_of_a_sweep_counts_its_indexes():
    sweep = SweepInfo(total=6, parallelism=2, succeeded=5, failed=1)
    b = body(info(phase=JobPhase.FAILED, reason="FailedIndexes", sweep=sweep, duration_seconds=9))
    assert b["text"].startswith("Sweep analysis-abc12 (work/analysis.ipynb) Failed: ")
    assert "5 of 6 succeeded, 1 failed, after 9s" in b["text"]
    assert b["sweep"] == {"total": 6, "succeeded": 5, "failed": 1, "cancelled": 0}


def test_body_of_a_scheduled_run_names_its_schedule():
    assert body(info(schedule="nightly"))["schedule"] == "nightly"


@pytest.mark.parametrize("phase", [JobPhase.SUCCEEDED, JobPhase.FAILED, JobPhase.CANCELLED])
def test_an_ended_job_is_due(phase):
    assert is_due(info(phase=phase), notified=False, service_started=NOW)


@pytest.mark.parametrize("phase", [JobPhase.PENDING, JobPhase.RUNNING])
def test_a_job_going_on_is_not_due(phase):
    assert not is_due(info(phase=phase, finished=None), notified=False, service_started=NOW)


def test_a_told_job_is_not_due_again():
    assert not is_due(info(), notified=True, service_started=NOW)


def test_not_while_its_output_is_being_collected():
    assert not is_due(info(output_state="pending"), notified=False, service_started=NOW)
    assert is_due(info(output_state="error"), notified=False, service_started=NOW)
    assert is_due(info(output_state="none"), notified=False, service_started=NOW)


def test_a_restarted_server_keeps_quiet_about_old_news_only():
    started = NOW + STALE_AFTER + timedelta(seconds=1)
    assert not is_due(info(finished=NOW), notified=False, service_started=started)
    # A schedule's run that ended within the hour before the server came back is told.
    assert is_due(info(finished=NOW), notified=False, service_started=NOW + timedelta(minutes=59))


def test_an_ended_job_without_an_end_time_falls_back_to_its_creation():
    old = info(phase=JobPhase.CANCELLED, finished=None, created=NOW - timedelta(hours=2))
    assert not is_due(old, notified=False, service_started=NOW)
    assert is_due(info(finished=None, created=None), notified=False, service_started=NOW)


def test_only_http_urls_and_the_message_keeps_the_secret():
    assert check_webhook(None) is None
    assert check_webhook("") is None
    assert check_webhook(SECRET) == SECRET
    assert check_webhook("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080/x"
    for bad in (
        "file:///etc/passwd/XXXXsecretXXXX",
        "ftp://h/XXXXsecretXXXX",
        "https:///XXXXsecretXXXX",
    ):
        with pytest.raises(ValueError) as exc:
            check_webhook(bad)
        assert "XXXXsecretXXXX" not in str(exc.value)


def test_the_trait_is_checked():
    assert JupyterK8s().notify_webhook is None
    assert JupyterK8s(notify_webhook=SECRET).notify_webhook == SECRET
    with pytest.raises(Exception) as exc:
        JupyterK8s(notify_webhook="ftp://h/XXXXsecretXXXX")
    assert "XXXXsecretXXXX" not in str(exc.value)


def test_the_jobs_config_does_not_show_the_url():
    from pathlib import Path

    from jupyter_k8s.jobs.service import JobsConfig

    conf = JobsConfig(namespace="ns", owner="alice", root_dir=Path("."), notify_webhook=SECRET)
    assert "XXXXsecretXXXX" not in repr(conf)


async def test_send_posts_the_body_and_retries_once():
    """Against a real local aiohttp receiver: one try, one retry, then what went wrong."""
    from aiohttp import web

    from jupyter_k8s.jobs.notify import send

    got: list[dict] = []
    answers = [500, 500, 200]

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(status=answers[len(got) - 1])

    app = web.Application()
    app.router.add_post("/services/XXXXsecretXXXX", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/services/XXXXsecretXXXX"
    try:
        assert await send(url, {"text": "a"}, retry_delay=0) == "HTTP 500"
        assert len(got) == 2  # one try and one retry, no more
        assert await send(url, {"text": "b"}, retry_delay=0) is None
        assert got[-1] == {"text": "b"}
    finally:
        await runner.cleanup()
    # Nobody listens there any more: the exception's class, never its message (the URL).
    problem = await send(url, {"text": "c"}, retry_delay=0)
    assert problem == "ClientConnectorError"
