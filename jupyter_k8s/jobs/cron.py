"""Cron expressions and time zones of schedules: checked as Kubernetes' CronJob takes them, and
the next run time computed (pure: no clock read here, `now` is given).

Kubernetes parses `spec.schedule` with robfig/cron's standard parser: five fields (minute hour
day-of-month month day-of-week), `*`, `?` (as `*`, in the day fields), lists, ranges, steps,
month and weekday names, and the macros @yearly/@annually/@monthly/@weekly/@daily/@midnight/
@hourly. What it does not take is refused here with a message that says what to write
instead, so that a mistake is a 400 naming the field, not a 422 from the API server: Quartz's
`L`, `W` and `#`, six fields (seconds), `@every`, and a `TZ=` prefix (the time zone has a
field of its own). The next run time is computed with cronsim (Vixie cron's semantics, the
ones robfig follows: day-of-month and day-of-week are OR-ed when both are restricted).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_EXAMPLE = "e.g. '0 6 * * *' (every day at 06:00) or '*/15 * * * 1-5'"
_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_DAYS = "sun|mon|tue|wed|thu|fri|sat"
#: What each field may hold: digits, names (month and weekday only), * ? , / -
_FIELD_TEXT = {
    "minute": re.compile(r"[0-9*,/-]+"),
    "hour": re.compile(r"[0-9*,/-]+"),
    "day-of-month": re.compile(r"[0-9*?,/-]+"),
    "month": re.compile(rf"(?:[0-9*,/-]|{_MONTHS})+", re.IGNORECASE),
    "day-of-week": re.compile(rf"(?:[0-9*?,/-]|{_DAYS})+", re.IGNORECASE),
}
MAX_CRON_LENGTH = 256


def _five_fields(expr: str) -> str:
    """The expression as five fields (macros expanded, `?` as `*`), for computing."""
    text = " ".join(expr.split())
    text = MACROS.get(text.lower(), text)
    return " ".join("*" if f == "?" else f.replace("?", "*") for f in text.split(" "))


def check_cron(expr: str) -> str:
    """The expression with its whitespace normalized; ValueError saying what is wrong."""
    text = " ".join(str(expr).split())
    if not text:
        raise ValueError(f"the cron expression is empty; {_EXAMPLE}")
    if len(text) > MAX_CRON_LENGTH:
        raise ValueError(f"the cron expression is over {MAX_CRON_LENGTH} characters")
    upper = text.upper()
    if upper.startswith(("TZ=", "CRON_TZ=")):
        raise ValueError(
            "put the time zone in time_zone, not in the cron expression (Kubernetes refuses "
            "TZ= there)"
        )
    if text.startswith("@"):
        if text.lower() in MACROS:
            return text.lower()
        if text.lower().startswith("@every"):
            raise ValueError(
                f"{text!r}: @every is not supported; write it as five fields, {_EXAMPLE}"
            )
        raise ValueError(
            f"{text!r} is not a cron macro; known: {', '.join(MACROS)}, or five fields, {_EXAMPLE}"
        )
    fields = text.split(" ")
    if len(fields) != len(FIELDS):
        raise ValueError(
            f"{text!r} has {len(fields)} fields; a cron expression has 5 (minute hour "
            f"day-of-month month day-of-week), {_EXAMPLE}"
        )
    for name, value in zip(FIELDS, fields, strict=True):
        if not _FIELD_TEXT[name].fullmatch(value):
            raise ValueError(
                f"{text!r}: the {name} field {value!r} is not valid here (Kubernetes takes "
                f"numbers, *, ranges a-b, steps /n and lists a,b; names for months and "
                f"weekdays; not L, W or #)"
            )
        if re.search(r"\d{3}", value):  # no field counts past 59
            raise ValueError(f"{text!r}: the {name} field {value!r} has a number out of range")
    try:
        CronSim(_five_fields(text), datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        message = str(exc)[:1].lower() + str(exc)[1:]
        raise ValueError(
            f"{text!r} is not a valid cron expression: {message}; {_EXAMPLE}"
        ) from None
    return text


def check_time_zone(name: str) -> str:
    """An IANA time zone name (Europe/Paris, UTC), as Kubernetes' timeZone takes it."""
    text = str(name).strip()
    if text.lower() == "local":
        raise ValueError("time_zone must be an explicit IANA time zone, not 'Local'")
    # Only the names of the time zone database: never a file name of any other shape.
    if text not in _time_zones():
        raise ValueError(
            f"{text!r} is not a known time zone; use an IANA name such as 'Europe/Paris', "
            "'America/New_York' or 'UTC'"
        )
    return text


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def next_run(expr: str, time_zone: str | None, now: datetime) -> datetime | None:
    """The first time after `now` the expression matches in `time_zone` (None: UTC, as the
    controller manager runs in most clusters), in UTC; None if it never matches."""
    try:
        zone = ZoneInfo(time_zone) if time_zone else UTC
        found = next(iter(CronSim(_five_fields(expr), now.astimezone(zone))))
    except (CronSimError, StopIteration, ValueError, ZoneInfoNotFoundError):
        return None  # read back from the cluster: whatever it holds, no next run known
    return found.astimezone(UTC)
