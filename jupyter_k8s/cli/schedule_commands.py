"""`jupyter k8s schedule ...`: notebooks run on a cron schedule by a CronJob (jobs/schedules.py).

    jupyter k8s schedule create analysis.ipynb --cron "0 6 * * *" [--tz Europe/Paris] -p alpha 0.5
    jupyter k8s schedule list [--json]
    jupyter k8s schedule show ID [--json]
    jupyter k8s schedule pause ID | resume ID | run ID | delete ID
    jupyter k8s schedule edit ID [--cron C] [--tz TZ] [--concurrency P] [--keep N]

`create` takes submit's options (parameters, profile, image, env, secrets, timeout, retries,
ship-folder; cli/options.py), without --wait: a schedule's runs need no one waiting. Their
outputs come back through the Jupyter server (or in place, with shared staging); `jupyter k8s
fetch RUN` writes one here. The parser is built with every `jupyter k8s` command, so the
Kubernetes client and the models are imported only when a schedule command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import startup
from .exit_codes import EXIT_OK, error
from .options import add_connection_options, add_submit_options, nonnegative, submit_request_data

if TYPE_CHECKING:
    from ..jobs.models import ScheduleInfo
    from ..standalone import StandaloneJobs
    from .options import Subcommands

POLICIES = {"forbid": "Forbid", "allow": "Allow", "replace": "Replace"}


def _policy(text: str) -> str:
    try:
        return POLICIES[text.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the concurrency policy is forbid, allow or replace"
        ) from None


def _add_when_options(parser: argparse.ArgumentParser, *, editing: bool) -> None:
    parser.add_argument(
        "--cron",
        required=not editing,
        metavar="EXPR",
        help="when: five cron fields, minute hour day-of-month month day-of-week "
        "('0 6 * * *': every day at 06:00), or @hourly, @daily, @weekly, @monthly",
    )
    parser.add_argument(
        "--tz",
        "--time-zone",
        dest="time_zone",
        metavar="TZ",
        help="the time zone of the cron fields, e.g. Europe/Paris (default: UTC)"
        + ("; '' resets it to UTC" if editing else ""),
    )
    parser.add_argument(
        "--concurrency",
        type=_policy,
        metavar="P",
        help="a run still going when the next is due: forbid (skip the new one"
        + (", the default" if not editing else "")
        + "), allow, replace",
    )
    parser.add_argument(
        "--keep",
        type=nonnegative,
        metavar="N",
        help="succeeded runs Kubernetes keeps (job, pod, log)" + ("" if editing else "; default 3"),
    )
    parser.add_argument(
        "--keep-failed",
        type=nonnegative,
        metavar="N",
        help="failed runs Kubernetes keeps" + ("" if editing else "; default 1"),
    )


def add_parser(sub: Subcommands) -> None:
    common = argparse.ArgumentParser(add_help=False)
    add_connection_options(common)
    common.add_argument(
        "-v", "--verbose", action="count", default=0, help="log what happens (twice: more)"
    )
    top = sub.add_parser(
        "schedule",
        help="run a notebook on a cron schedule (a Kubernetes CronJob; no server needed)",
        description="Run a notebook on a cron schedule: each run is a job of yours.",
    )
    commands = top.add_subparsers(dest="schedule_command", required=True, metavar="ACTION")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help, description=help, parents=[common])
        p.set_defaults(func=run_schedule_command)
        return p

    p = add("create", "schedule a notebook: its runs start on the cron, with no server")
    p.add_argument("notebook", metavar="NOTEBOOK", help="path of the .ipynb file")
    add_submit_options(p, follow=False, wait=False)
    _add_when_options(p, editing=False)
    p.add_argument("--paused", action="store_true", help="create it paused (resume starts it)")
    p.add_argument("--json", action="store_true", help="print the schedule as JSON")

    p = add("list", "your schedules, newest first: when they run next and ran last")
    p.add_argument("--json", action="store_true", help="as JSON")

    p = add("show", "one schedule, with its recent runs")
    p.add_argument("schedule", metavar="ID")
    p.add_argument("--json", action="store_true", help="as JSON")

    for name, help in (
        ("pause", "pause a schedule: no run starts until it is resumed"),
        ("resume", "resume a paused schedule"),
        ("run", "start a run now (prints the run's job id)"),
        ("delete", "delete a schedule and the runs Kubernetes keeps (outputs stay)"),
    ):
        p = add(name, help)
        p.add_argument("schedule", metavar="ID")

    p = add("edit", "change when a schedule runs, or what it keeps")
    p.add_argument("schedule", metavar="ID")
    _add_when_options(p, editing=True)


def run_schedule_command(args: argparse.Namespace) -> int:
    """Run one schedule command with a JobService of its own, which collects nothing."""
    startup.skip_slow_imports()
    startup.setup_logging(args.verbose)
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    from .job_commands import with_jobs

    return await with_jobs(args, COMMANDS[args.schedule_command], collect_outputs=False)


# -- the commands ---------------------------------------------------------------------------------


def schedule_request_data(args: argparse.Namespace, notebook: str) -> dict[str, Any]:
    """The ScheduleRequest JSON of `schedule create`."""
    data = submit_request_data(args, notebook)
    data["cron"] = args.cron
    if args.time_zone:
        data["time_zone"] = args.time_zone
    if args.concurrency:
        data["concurrency_policy"] = args.concurrency
    if args.keep is not None:
        data["successful_jobs_history_limit"] = args.keep
    if args.keep_failed is not None:
        data["failed_jobs_history_limit"] = args.keep_failed
    data["suspend"] = args.paused
    return data


def schedule_update_data(args: argparse.Namespace) -> dict[str, Any]:
    """The ScheduleUpdate JSON of `schedule edit` (only what was given)."""
    data: dict[str, Any] = {}
    if args.cron is not None:
        data["cron"] = args.cron
    if args.time_zone is not None:
        data["time_zone"] = args.time_zone or None
    if args.concurrency:
        data["concurrency_policy"] = args.concurrency
    if args.keep is not None:
        data["successful_jobs_history_limit"] = args.keep
    if args.keep_failed is not None:
        data["failed_jobs_history_limit"] = args.keep_failed
    return data


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else "-"


def _cron_text(info: ScheduleInfo) -> str:
    return f"{info.cron} ({info.time_zone})" if info.time_zone else f"{info.cron} (UTC)"


def _print_json(value: ScheduleInfo | list[ScheduleInfo]) -> None:
    from .render import print_json  # not at the top: `--help` stays quick

    print_json(value)


async def cmd_create(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    from ..jobs.models import ScheduleRequest
    from ..jobs.schedules import create
    from ..standalone import relative_notebook_path

    notebook = relative_notebook_path(jobs.root_dir, args.notebook)
    req = ScheduleRequest.from_json(schedule_request_data(args, notebook))
    await jobs.connect()
    info, warnings = await create(jobs.service, req)
    for warning in warnings:
        error(f"warning: {warning}")
    if args.json:
        _print_json(info)
        return EXIT_OK
    print(info.id, flush=True)
    state = "paused" if info.suspended else f"next run {_when(info.next_run)}"
    error(f"schedule {info.id}: {_cron_text(info)}, {state}")
    if jobs.service.config.staging != "shared":
        error(
            "each run's executed notebook comes back through the Jupyter server (when it runs, "
            "or starts, while the run's pod is kept), or `jupyter k8s fetch RUN`"
        )
    return EXIT_OK


async def cmd_list(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    from ..jobs.schedules import list_schedules

    await jobs.connect()
    found = await list_schedules(jobs.service)
    if args.json:
        _print_json(found)
        return EXIT_OK
    if not found:
        error(f"no schedules in namespace {jobs.service.config.namespace}")
        return EXIT_OK
    from .render import table

    rows = [["ID", "NOTEBOOK", "CRON", "STATE", "NEXT RUN", "LAST RUN", "LAST RUN ID"]]
    for s in found:
        state = "paused" if s.suspended else ("running" if s.active else "scheduled")
        rows.append(
            [
                s.id,
                s.notebook,
                _cron_text(s),
                state,
                _when(s.next_run),
                _when(s.last_schedule),
                s.runs[0] if s.runs else "-",
            ]
        )
    print(table(rows))
    return EXIT_OK


async def cmd_show(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    from ..jobs.schedules import get

    await jobs.connect()
    info = await get(jobs.service, args.schedule)
    if args.json:
        _print_json(info)
        return EXIT_OK
    fields = [
        ("Schedule", info.id),
        ("Notebook", info.notebook),
        ("Cron", _cron_text(info)),
        ("State", "paused" if info.suspended else "scheduled"),
        ("Next run", _when(info.next_run)),
        ("Last run", _when(info.last_schedule)),
        ("Last success", _when(info.last_successful)),
        ("Profile", info.profile or "-"),
        ("Parameters", json.dumps(info.parameters) if info.parameters else "-"),
        ("Concurrency", info.concurrency_policy),
        (
            "Keeps",
            f"{info.successful_jobs_history_limit} succeeded, "
            f"{info.failed_jobs_history_limit} failed runs",
        ),
        ("Running", ", ".join(info.active) or "-"),
        ("Runs", ", ".join(info.runs) or "-"),
    ]
    for key, value in fields:
        print(f"{key + ':':<14}{value}")
    return EXIT_OK


async def _update(jobs: StandaloneJobs, name: str, data: dict[str, Any]) -> ScheduleInfo:
    from ..jobs.models import ScheduleUpdate
    from ..jobs.schedules import update

    change = ScheduleUpdate.from_json(data)
    await jobs.connect()
    return await update(jobs.service, name, change)


async def cmd_pause(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    await _update(jobs, args.schedule, {"suspend": True})
    error(f"schedule {args.schedule} paused (a run going on goes on)")
    return EXIT_OK


async def cmd_resume(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    info = await _update(jobs, args.schedule, {"suspend": False})
    error(f"schedule {args.schedule} resumed: next run {_when(info.next_run)}")
    return EXIT_OK


async def cmd_edit(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    data = schedule_update_data(args)
    if not data:
        raise argparse.ArgumentTypeError(
            "nothing to change: give --cron, --tz, --concurrency, --keep or --keep-failed"
        )
    info = await _update(jobs, args.schedule, data)
    state = "paused" if info.suspended else f"next run {_when(info.next_run)}"
    error(f"schedule {info.id}: {_cron_text(info)}, {state}")
    return EXIT_OK


async def cmd_run(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    from ..jobs.schedules import run_now

    await jobs.connect()
    info = await run_now(jobs.service, args.schedule)
    print(info.id, flush=True)
    error(f"run {info.id} of schedule {args.schedule} started (jupyter k8s status {info.id})")
    return EXIT_OK


async def cmd_delete(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    from ..jobs.schedules import delete

    await jobs.connect()
    await delete(jobs.service, args.schedule)
    error(f"schedule {args.schedule} deleted (executed notebooks already collected are kept)")
    return EXIT_OK


Command = Callable[["StandaloneJobs", argparse.Namespace], Awaitable[int]]

COMMANDS: dict[str, Command] = {
    "create": cmd_create,
    "list": cmd_list,
    "show": cmd_show,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "edit": cmd_edit,
    "run": cmd_run,
    "delete": cmd_delete,
}
