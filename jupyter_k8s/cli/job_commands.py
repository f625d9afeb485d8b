"""The job commands: submit, jobs, status, logs, cancel, delete, rerun, fetch, profiles (sweep
and results are in `sweep_commands`).

Each takes the StandaloneJobs of this process (a JobService of its own) and the parsed
arguments, prints what scripts read on stdout (a job id, a table, JSON, a log) and what people
read on stderr (states, warnings), and answers an exit code. Errors are raised: the CLI's
error boundary (exit_codes.guarded) turns them into one line and an exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from ..errors import NotFoundProblem
from ..jobs.models import JobInfo, JobPhase, SubmitRequest
from ..k8s.client import KubeError
from ..standalone import StandaloneJobs, load_settings, relative_notebook_path, root_dir_for
from .exit_codes import EXIT_FAILED, EXIT_OK, error, exit_status
from .options import parse_parameters, submit_request_data
from .render import (
    CellLines,
    Progress,
    age_text,
    cell_text,
    duration_text,
    print_json,
    provenance_fields,
    shown_path,
    status_line,
    status_text,
    table,
)

Command = Callable[[StandaloneJobs, argparse.Namespace], Awaitable[int]]


async def run(args: argparse.Namespace, *, collect_outputs: bool) -> int:
    """Run `args.command` with a StandaloneJobs rooted in the working directory."""
    return await with_jobs(args, COMMANDS[args.command], collect_outputs=collect_outputs)


async def with_jobs(args: argparse.Namespace, command: Command, *, collect_outputs: bool) -> int:
    """Run `command` with a StandaloneJobs of the connection options in `args`, rooted in the
    working directory; closed after."""
    conf = load_settings(
        args.kubeconfig, args.context, args.namespace, warn=lambda m: error(f"warning: {m}")
    )
    jobs = StandaloneJobs(conf, root_dir_for(conf, Path.cwd()), collect_outputs=collect_outputs)
    try:
        return await command(jobs, args)
    finally:
        await jobs.close()


# -- following a job ------------------------------------------------------------------------------


async def _wait_started(jobs: StandaloneJobs, name: str, progress: Progress) -> JobInfo:
    """Until the job's notebook runs (or the job ended); shows the pending reason meanwhile."""
    while True:
        info = await jobs.service.get(name)
        progress(info)
        if info.phase != JobPhase.PENDING:
            return info
        await asyncio.sleep(0.5)


async def _stream_logs(
    jobs: StandaloneJobs, name: str, tail: int | None, follow: bool, cells: bool = False
) -> None:
    """Print the notebook's log; `cells`: and a progress line on stderr as each code cell
    starts ("cell 3/5: for epoch in range(10):"), between the lines of the log."""
    if tail is not None and not follow:
        # The last N lines of the notebook's log, counted after the runner's markers and the
        # output frame are left out (a tail taken by the API server would cut into the frame).
        last: collections.deque[str] = collections.deque(maxlen=tail)
        async for line in jobs.service.logs(name):
            last.append(line)
        sys.stdout.writelines(last)
        sys.stdout.flush()
        return
    async for line in jobs.service.logs(
        name, tail=tail, follow=follow, on_cell=CellLines() if cells else None
    ):
        sys.stdout.write(line)
        sys.stdout.flush()


async def _follow(jobs: StandaloneJobs, name: str, progress: Progress) -> None:
    await _wait_started(jobs, name, progress)
    progress.done()
    try:
        await _stream_logs(jobs, name, None, follow=True, cells=True)
    except NotFoundProblem:
        pass  # it ended without ever running: the state says why


async def _wait(jobs: StandaloneJobs, name: str, progress: Progress) -> int:
    info = await jobs.service.wait(name, on_change=progress)
    progress.done()
    took = f" in {duration_text(info.duration_seconds)}" if info.duration_seconds else ""
    if info.phase == JobPhase.SUCCEEDED:
        error(f"job {name} succeeded{took}")
    if info.sweep is not None:
        sweep = info.sweep
        error(
            f"sweep {name}: {sweep.succeeded} of {sweep.total} parameter sets succeeded, "
            f"{sweep.failed} failed; `jupyter k8s results {name}` shows the table"
        )
    elif info.output_state == "ready" and info.output_path:
        what = "executed notebook" if info.phase == JobPhase.SUCCEEDED else "notebook as far as run"
        error(f"{what}: {shown_path(jobs.root_dir, info.output_path)}")
    elif info.output_state == "error":
        error(f"error: the executed notebook could not be collected: {info.output_error}")
    return exit_status(info)


async def _submitted(
    jobs: StandaloneJobs, args: argparse.Namespace, info: JobInfo, warnings: list[str]
) -> int:
    """After submit/rerun: print the id, then follow or wait as asked."""
    args.job_id = info.id
    for warning in warnings:
        error(f"warning: {warning}")
    print(info.id, flush=True)
    progress = Progress()
    if getattr(args, "follow", False):
        await _follow(jobs, info.id, progress)
        return await _wait(jobs, info.id, progress)
    if args.wait:
        return await _wait(jobs, info.id, progress)
    if jobs.service.config.staging != "shared":
        error(
            f"job {info.id} submitted; the executed notebook comes back through the Jupyter "
            f"server, or `jupyter k8s fetch {info.id}`"
        )
    return EXIT_OK


# -- the commands ---------------------------------------------------------------------------------


async def cmd_submit(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    notebook = relative_notebook_path(jobs.root_dir, args.notebook)
    req = SubmitRequest.from_json(submit_request_data(args, notebook))
    await jobs.connect()
    info, warnings = await jobs.service.submit(req)
    return await _submitted(jobs, args, info, warnings)


async def cmd_rerun(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    overrides = parse_parameters(args.parameters, args.parameters_raw)
    await jobs.connect()
    old = await jobs.service.get(args.job)
    parameters = {**old.parameters, **overrides}
    SubmitRequest.from_json({"notebook": old.notebook or "x.ipynb", "parameters": parameters})
    info, warnings = await jobs.service.rerun(
        args.job, parameters, failed_only=getattr(args, "failed_only", False)
    )
    return await _submitted(jobs, args, info, warnings)


async def _with_progress(jobs: StandaloneJobs, infos: list[JobInfo]) -> list[JobInfo]:
    gate = asyncio.Semaphore(8)

    async def one(info: JobInfo) -> JobInfo:
        async with gate:
            return await jobs.add_progress(info)

    return list(await asyncio.gather(*(one(i) for i in infos)))


async def cmd_jobs(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    notebook = relative_notebook_path(jobs.root_dir, args.notebook) if args.notebook else None
    await jobs.connect()
    infos, total = await jobs.service.list(phase=args.status, notebook=notebook, limit=args.limit)
    infos = await _with_progress(jobs, infos)
    if args.json:
        print_json(infos)
        return EXIT_OK
    if not infos:
        error(f"no jobs in namespace {jobs.service.config.namespace}")
        return EXIT_OK
    rows = [["ID", "STATUS", "NOTEBOOK", "PROFILE", "AGE", "DURATION", "CELL"]]
    for i in infos:
        rows.append(
            [
                i.id,
                status_text(i),
                i.notebook,
                i.profile or "-",
                age_text(i.created),
                duration_text(i.duration_seconds),
                cell_text(i),
            ]
        )
    print(table(rows))
    if total > len(infos):
        error(f"({total - len(infos)} older jobs not shown; --limit N shows more)")
    return EXIT_OK


async def cmd_status(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    await jobs.connect()
    info = await jobs.add_progress(await jobs.service.get(args.job))
    if args.json:
        print_json(info)
        return EXIT_OK

    def when(value: datetime | None) -> str:
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"

    output = "-"
    if info.output_path:
        output = f"{shown_path(jobs.root_dir, info.output_path)} ({info.output_state})"
        if info.output_error:
            output += f": {info.output_error}"
    fields = [
        ("Job", info.id),
        ("Notebook", info.notebook),
        ("Status", info.phase.value),
        ("Reason", info.reason or "-"),
        ("Message", info.message or "-"),
        (
            "Cell",
            cell_text(info) + (f": {info.current_cell_line}" if info.current_cell_line else ""),
        ),
        ("Profile", info.profile or "-"),
        ("Image", info.image or "-"),
        ("Parameters", json.dumps(info.parameters) if info.parameters else "-"),
        ("Created", when(info.created)),
        ("Started", when(info.started)),
        ("Finished", when(info.finished)),
        ("Duration", duration_text(info.duration_seconds)),
        ("Output", output),
    ]
    for key, value in fields:
        lines = str(value).splitlines() or ["-"]
        print(f"{key + ':':<12}{lines[0]}")
        for more in lines[1:]:
            print(f"{'':<12}{more}")
    if info.provenance is not None:  # what the executed notebook's metadata says
        print("Provenance:")
        for key, value in provenance_fields(info.provenance):
            print(f"  {key + ':':<14}{value}")
    return EXIT_OK


async def cmd_logs(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    await jobs.connect()
    info = await jobs.service.get(args.job)
    if args.follow and info.phase == JobPhase.PENDING:
        progress = Progress()  # why it waits, until the notebook runs
        info = await _wait_started(jobs, args.job, progress)
        progress.done()
        if info.started is None and info.phase.finished:
            error(f"job {args.job} ended without running: {info.message or info.phase.value}")
            return EXIT_FAILED
    follow = args.follow and not info.phase.finished
    await _stream_logs(jobs, args.job, args.tail, follow, cells=args.follow)
    return EXIT_OK


async def cmd_cancel(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    await jobs.connect()
    info = await jobs.service.cancel(args.job)
    error(f"job {args.job}: {status_line(info)}")
    return EXIT_OK


async def cmd_delete(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    await jobs.connect()
    await jobs.service.delete(args.job)
    error(f"job {args.job} deleted (executed notebooks already fetched are kept)")
    return EXIT_OK


async def cmd_fetch(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    await jobs.connect()
    svc = jobs.service
    info = await svc.get(args.job)
    if not info.phase.finished:
        if not args.wait:
            error(f"error: job {args.job} has not finished ({status_line(info)}); add --wait")
            return EXIT_FAILED
        info = await svc.wait(args.job, on_change=Progress())
    elif info.output_state == "pending":
        info = await svc.wait(args.job)  # the service collects it now
    if info.output_state == "none" or not info.output_path:
        error(f"error: job {args.job} has no executed notebook ({status_line(info)})")
        return EXIT_FAILED
    if info.output_state == "error":
        error(f"error: the executed notebook of job {args.job} was lost: {info.output_error}")
        return EXIT_FAILED
    collected = await svc.output_file(args.job)  # the job's own path under the root, checked
    data = collected.read_bytes() if collected.is_file() else await jobs.output_from_log(args.job)
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return EXIT_OK
    target = Path(args.output) if args.output else collected
    print(await asyncio.to_thread(_write_file, target, data))
    return EXIT_OK


def _write_file(target: Path, data: bytes) -> str:
    """Write data to target (atomically, unless it already holds it); the path to show."""
    if not (target.is_file() and target.read_bytes() == data):
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(data)
        partial.replace(target)
    return os.path.relpath(target)


async def cmd_profiles(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    profiles = jobs.service.profiles.public()
    if args.json:
        print(json.dumps(profiles, indent=2))
        return EXIT_OK
    rows = [["NAME", "CPU", "MEMORY", "GPUS", "IMAGE", "DESCRIPTION"]]
    try:  # the configured default, else the cluster's (the profiles list works offline too)
        default = await jobs.service.default_image()
    except KubeError:
        default = jobs.service.config.default_image
    for p in profiles:
        gpus = f"{p['gpus']} {p['gpu_resource']}" if p["gpus"] else "-"
        name = p["name"] + (" (default)" if p["default"] else "")
        image = p["image"] or default or "-"
        rows.append(
            [name, p["cpu"] or "-", p["memory"] or "-", gpus, image, p["description"] or ""]
        )
    print(table(rows))
    return EXIT_OK


async def cmd_sweep(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    from .sweep_commands import sweep_request_data

    notebook = relative_notebook_path(jobs.root_dir, args.notebook)
    req = SubmitRequest.from_json(sweep_request_data(args, notebook))
    await jobs.connect()
    info, warnings = await jobs.service.submit(req)
    return await _submitted(jobs, args, info, warnings)


async def cmd_results(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    from .sweep_commands import cmd_results as results

    return await results(jobs, args)


COMMANDS: dict[str, Command] = {
    "submit": cmd_submit,
    "sweep": cmd_sweep,
    "results": cmd_results,
    "jobs": cmd_jobs,
    "status": cmd_status,
    "logs": cmd_logs,
    "cancel": cmd_cancel,
    "delete": cmd_delete,
    "rerun": cmd_rerun,
    "fetch": cmd_fetch,
    "profiles": cmd_profiles,
}
