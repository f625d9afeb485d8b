"""The job commands' arguments (submit, sweep, jobs, status, results, logs, cancel, delete,
rerun, fetch, profiles) and how one of them runs.

Kept light: every `jupyter k8s` command builds this parser; the commands themselves (and the
Kubernetes client, pydantic models... they import) are in `job_commands`, imported when a
job command runs.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from . import startup
from .exit_codes import error
from .options import (
    add_connection_options,
    add_parameter_options,
    add_submit_options,
    add_sweep_options,
    nonnegative,
)

if TYPE_CHECKING:
    from .options import Subcommands

#: Commands that may write executed notebooks under the root folder (when they wait for the
#: job: fetch always does); the others only look, and exit at once.
COLLECTING = ("submit", "sweep", "rerun", "fetch")


def run_job_command(args: argparse.Namespace) -> int:
    """Run one of the job commands, with a JobService of its own (errors: see exit_codes)."""
    startup.skip_slow_imports()
    from . import job_commands

    collects = args.command in COLLECTING and (
        args.command == "fetch" or args.wait or getattr(args, "follow", False)
    )
    startup.setup_logging(args.verbose)
    return asyncio.run(job_commands.run(args, collect_outputs=collects))


def interrupted(args: argparse.Namespace) -> None:
    """Ctrl+C stops the waiting, not the job: say so, and how to stop it."""
    job = getattr(args, "job_id", None) or getattr(args, "job", None)
    if job and args.command in ("submit", "rerun", "logs", "fetch"):
        from .render import isatty

        newline = "\n" if isatty() else ""  # after the line updated in place
        error(f"{newline}stopped waiting; job {job} goes on (jupyter k8s cancel {job} stops it)")


def add_parsers(sub: Subcommands) -> None:
    common = argparse.ArgumentParser(add_help=False)
    add_connection_options(common)
    common.add_argument(
        "-v", "--verbose", action="count", default=0, help="log what happens (twice: more)"
    )

    def add(name: str, help: str, **kw: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, parents=[common], **kw)
        p.set_defaults(func=run_job_command, on_interrupt=interrupted)
        return p

    p = add("submit", "run a notebook as a Kubernetes Job")
    p.add_argument("notebook", metavar="NOTEBOOK", help="path of the .ipynb file")
    add_submit_options(p)

    p = add("sweep", "run a notebook once per parameter set, as one Indexed Job")
    p.add_argument("notebook", metavar="NOTEBOOK", help="path of the .ipynb file")
    add_submit_options(p)
    add_sweep_options(p)
    p.epilog = (
        "-p NAME VALUES: comma-separated values (each read as JSON, else a string) or a JSON "
        "list; -r NAME VALUES keeps them strings. Example: jupyter k8s sweep train.ipynb "
        "-p lr 0.1,0.01 -p batch 32,64 --parallel 4"
    )

    p = add("results", "a sweep's results: each parameter set with what its notebook recorded")
    p.add_argument("job", metavar="JOB", help="the sweep's job id")
    p.add_argument("--csv", action="store_true", help="as CSV")
    p.add_argument("--json", action="store_true", help="as JSON")

    p = add("jobs", "list your notebook jobs, newest first")
    p.add_argument(
        "--status",
        metavar="S",
        help="only these states (comma-separated): pending, running, succeeded, failed, cancelled",
    )
    p.add_argument("--notebook", metavar="N", help="only the jobs of this notebook")
    p.add_argument("--limit", type=nonnegative, default=100, metavar="N", help="at most N jobs")
    p.add_argument("--json", action="store_true", help="the jobs as JSON")

    p = add("status", "the state of a job, with the reason")
    p.add_argument("job", metavar="JOB", help="job id (see `jobs`)")
    p.add_argument("--json", action="store_true", help="as JSON")

    p = add("logs", "the log of a job's notebook (its cells' output)")
    p.add_argument("job", metavar="JOB")
    p.add_argument("-f", "--follow", action="store_true", help="keep streaming until it ends")
    p.add_argument("--tail", type=nonnegative, metavar="N", help="only the last N lines")

    p = add("cancel", "stop a job; the notebook as far as it ran is kept")
    p.add_argument("job", metavar="JOB")

    p = add("delete", "delete a job, its pods and logs")
    p.add_argument("job", metavar="JOB")

    p = add("rerun", "run a job's notebook again, with the same or changed parameters")
    p.add_argument("job", metavar="JOB")
    add_parameter_options(p)
    p.add_argument(
        "--failed-only",
        action="store_true",
        help="a sweep: only the parameter sets whose index did not succeed",
    )
    p.add_argument("-f", "--follow", action="store_true", help="stream the log, then --wait")
    p.add_argument("--wait", action="store_true", help="wait until it ends (exit 0: succeeded)")

    p = add("fetch", "write a job's executed notebook")
    p.add_argument("job", metavar="JOB")
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="where to write it ('-': standard output); default: its output path",
    )
    p.add_argument("--wait", action="store_true", help="wait for the job to end first")

    p = add("profiles", "the resource profiles jobs can use")
    p.add_argument("--json", action="store_true", help="as JSON")
