"""End-of-job notifications: a Slack/Teams-compatible JSON POST to `c.JupyterK8s.notify_webhook`.

Pure parts (the body, whether a job is due, the URL check) and one small sender. The webhook
URL is a secret (a Slack incoming-webhook URL carries its token in the path): nothing here
puts it in a log line, an exception message or anything returned; failures are described by
an HTTP status or an exception class only.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .models import JobInfo

#: A restarted server stays quiet about jobs that ended this long before it started: old news.
#: A schedule's run that ended within it while no server ran is still told.
STALE_AFTER = timedelta(hours=1)
TIMEOUT_SECONDS = 10.0
RETRY_DELAY_SECONDS = 2.0


def check_webhook(url: str | None) -> str | None:
    """The URL if it is an http(s) URL with a host, None for None or ''; ValueError otherwise.

    The message never quotes the URL (it is a secret)."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("c.JupyterK8s.notify_webhook must be an http:// or https:// URL")
    return url


def is_due(info: JobInfo, notified: bool, service_started: datetime) -> bool:
    """Whether the end of this job is to be told now.

    Once it has ended (the whole Job: a sweep's indexes are not told one by one), not yet told
    (the Job's notified annotation), with its output no longer being collected (the message
    then points at a file that is there), and not old news to a server that just started."""
    if not info.phase.finished or notified or info.output_state == "pending":
        return False
    ended = info.finished or info.created
    return ended is None or ended >= service_started - STALE_AFTER


def _duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def body(info: JobInfo) -> dict[str, Any]:
    """The POSTed JSON: `text` (what Slack and Teams incoming webhooks show) and, for other
    receivers, the same facts as fields."""
    duration = _duration(info.duration_seconds)
    what = "Sweep" if info.sweep is not None else "Job"
    line = f"{what} {info.id} ({info.notebook}) {info.phase.value}"
    details = []
    if info.reason and info.phase.value != info.reason:
        details.append(info.reason)
    if info.sweep is not None:
        details.append(f"{info.sweep.succeeded} of {info.sweep.total} succeeded")
        if info.sweep.failed:
            details.append(f"{info.sweep.failed} failed")
    if duration:
        details.append(f"after {duration}")
    text = f"{line}: {', '.join(details)}" if details else line
    if info.output_path and info.output_state == "ready":
        text += f". Output: {info.output_path}"
    data: dict[str, Any] = {
        "text": text,
        "job_id": info.id,
        "notebook": info.notebook,
        "phase": info.phase.value,
        "reason": info.reason,
        "message": info.message,
        "duration_seconds": info.duration_seconds,
        "output_path": info.output_path,
        "output_state": info.output_state,
        "finished": info.finished.isoformat() if info.finished else None,
    }
    if info.schedule:
        data["schedule"] = info.schedule
    if info.sweep is not None:
        data["sweep"] = {
            "total": info.sweep.total,
            "succeeded": info.sweep.succeeded,
            "failed": info.sweep.failed,
            "cancelled": info.sweep.cancelled,
        }
    return data


async def send(
    url: str,
    payload: dict[str, Any],
    *,
    timeout: float = TIMEOUT_SECONDS,
    retry_delay: float = RETRY_DELAY_SECONDS,
) -> str | None:
    """POST `payload` to `url`: one try, one retry after `retry_delay`. None when a try got
    a 2xx answer, else what went wrong the last time ("HTTP 500", "ClientConnectorError"),
    never the URL."""
    problem = "not sent"
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    for attempt in range(2):
        if attempt:
            await asyncio.sleep(retry_delay)
        try:
            async with (
                aiohttp.ClientSession(timeout=client_timeout) as session,
                session.post(url, json=payload, allow_redirects=False) as resp,
            ):
                if 200 <= resp.status < 300:
                    return None
                problem = f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # The class only: aiohttp's messages quote the URL.
            problem = type(exc).__name__
    return problem
