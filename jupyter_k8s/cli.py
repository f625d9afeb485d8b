"""`jupyter k8s ...`: the command line of jupyter-k8s (works without a Jupyter server)."""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import math
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1  # the job failed or was cancelled; or another error
EXIT_USAGE = 2  # bad arguments, invalid request or configuration, no such job or notebook
EXIT_CLUSTER = 3  # the cluster is unreachable or said no (forbidden, unauthorized)


def _dev_cluster(args: argparse.Namespace):
    from .devcluster.controlplane import DevCluster

    return DevCluster(
        args.state_dir,
        bin_dir=args.bin_dir,
        node_name=args.node_name,
        gpus=args.gpus,
        namespace=args.namespace,
    )


def cmd_dev_up(args: argparse.Namespace) -> int:
    cluster = _dev_cluster(args)
    cluster.up(wait=args.wait, timeout=args.timeout)
    print(cluster.env(admin=args.admin))
    return 0


def cmd_dev_down(args: argparse.Namespace) -> int:
    _dev_cluster(args).down()
    return 0


def cmd_dev_status(args: argparse.Namespace) -> int:
    info = _dev_cluster(args).status()
    if args.json:
        print(json.dumps(info, indent=2))
    elif not info["running"] and "processes" not in info:
        print(f"no local cluster in {info['state_dir']}")
    else:
        print(
            f"local cluster in {info['state_dir']}: "
            f"{'running' if info['running'] else 'NOT running'}"
        )
        print(f"  API server  {info['server']}  (Kubernetes {info['versions'].get('kubernetes')})")
        for comp, p in info["processes"].items():
            print(f"  {comp:<24} pid {p['pid']:<8} {'running' if p['alive'] else 'stopped'}")
        print(
            f"  node {info['node']}: {'Ready' if info.get('node_ready') else 'not ready'}, "
            f"{info['gpus']} nvidia.com/gpu"
        )
        print(f"  namespace {info['namespace']}; KUBECONFIG={info['kubeconfig']}")
    return 0 if info["running"] else 3


def cmd_dev_env(args: argparse.Namespace) -> int:
    print(_dev_cluster(args).env(admin=args.admin))
    return 0


def cmd_dev_build(args: argparse.Namespace) -> int:
    from .devcluster.build import Versions, ensure_binaries

    paths = ensure_binaries(Versions(), args.bin_dir, progress=lambda m: print(m, flush=True))
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


# -- notebook jobs: parsing ----------------------------------------------------------------------


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _no_constant(text: str) -> Any:
    raise ValueError(text)  # NaN and Infinity are not JSON


def parse_value(text: str) -> Any:
    """A parameter value as papermill's -p reads it, with JSON on top.

    JSON first (5 -> 5, 1.5 -> 1.5, true -> True, null -> None, "y" -> 'y', [1, 2] -> list,
    {"k": 1} -> dict); papermill's Python spellings True, False and None too; anything else
    is the string as given (so `-p name Alice` needs no quotes).
    """
    python = {"True": True, "False": False, "None": None}
    if text in python:
        return python[text]
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except ValueError:
        return text


class RawValue(str):
    """A -r VALUE: kept the string as given, never parsed (see `parse_parameters`)."""


class _RawParameter(argparse.Action):
    """-r NAME VALUE: joins the -p list where it was given, its value marked RawValue.

    One list for both keeps the order of the command line (`-p a 1 -r b x -p c 2` injects a,
    b, c), which papermill's own CLI loses by putting every -r after every -p.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        name, value = values
        items = list(getattr(namespace, "parameters", None) or [])
        items.append([name, RawValue(value)])
        namespace.parameters = items


def parse_parameters(
    pairs: list[list[str]] | None, raw_pairs: list[list[str]] | None = None
) -> dict[str, Any]:
    """-p NAME VALUE (parsed) and -r NAME VALUE (kept a string) -> the parameters, in order.

    The order is the user's: the runner injects them in it, as papermill does. A name given
    twice keeps its first place and its last value (a dict's update, as in papermill).
    `pairs` may hold RawValue values (-r as parsed by `add_parameter_options`); `raw_pairs`
    come after all of `pairs`.
    """
    params: dict[str, Any] = {}
    for name, value in pairs or []:
        params[name] = str(value) if isinstance(value, RawValue) else parse_value(value)
    for name, value in raw_pairs or []:
        params[name] = value
    return params


def parse_env(items: list[str] | None) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"--env {item!r}: expected NAME=VALUE")
        env[name] = value
    return env


_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?")


def parse_duration(text: str) -> int:
    """Seconds from '90', '90s', '15m', '2h', '1h30m' or '1d' (argparse type)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (90, 90s, 15m, 2h, 1h30m)")
    d, h, m, sec = (int(g or 0) for g in match.groups())
    seconds = ((d * 24 + h) * 60 + m) * 60 + sec
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the duration must be positive")
    return seconds


def _nonnegative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """--kubeconfig, --context, --namespace: override c.JupyterK8s.* for this command."""
    group = parser.add_argument_group("cluster (default: c.JupyterK8s.* from Jupyter config)")
    group.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file")
    group.add_argument("--context", metavar="NAME", help="kubeconfig context")
    group.add_argument("--namespace", "-n", metavar="NS", help="namespace of the jobs")


def add_parameter_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-p",
        "--parameters",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        dest="parameters",
        help="a parameter injected after the cell tagged 'parameters'; VALUE is read as JSON "
        "(5, 1.5, true, null, '\"text\"', '[1, 2]'), else as a string (repeatable)",
    )
    parser.add_argument(
        "-r",
        "--parameters-raw",
        nargs=2,
        action=_RawParameter,
        metavar=("NAME", "VALUE"),
        # Stored in args.parameters with the -p ones, in the order given; this dest stays
        # None (callers still pass it to parse_parameters).
        dest="parameters_raw",
        help="a parameter whose VALUE is kept a string as given (repeatable)",
    )


def add_submit_options(parser: argparse.ArgumentParser, *, follow: bool = True) -> None:
    """The options of `submit`; the %k8s_submit magic shares them (follow=False)."""
    add_parameter_options(parser)
    parser.add_argument("--profile", metavar="P", help="resource profile (see `profiles`)")
    parser.add_argument("--image", metavar="I", help="container image (default: the profile's)")
    parser.add_argument(
        "--env",
        action="append",
        metavar="K=V",
        help="an environment variable of the job (repeatable)",
    )
    parser.add_argument(
        "--secret",
        action="append",
        metavar="NAME",
        dest="secrets",
        help="an existing Secret whose keys become environment variables (repeatable)",
    )
    parser.add_argument(
        "--timeout",
        type=parse_duration,
        metavar="S",
        help="stop the job after this long (seconds, or 15m, 2h, 1h30m)",
    )
    parser.add_argument(
        "--retries", type=_nonnegative, default=0, metavar="N", help="retries after a crash"
    )
    parser.add_argument(
        "--ship-folder",
        action="store_true",
        help="copy the notebook's folder (small data files, modules) to the job",
    )
    if follow:
        parser.add_argument(
            "-f", "--follow", action="store_true", help="stream the job's log, then --wait"
        )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait until the job ends; "
        + ("exit 0 only when it succeeded" if follow else "an error if it did not succeed"),
    )


def submit_request_data(args: argparse.Namespace, notebook: str) -> dict[str, Any]:
    """The SubmitRequest JSON for parsed submit options."""
    data: dict[str, Any] = {
        "notebook": notebook,
        "parameters": parse_parameters(args.parameters, getattr(args, "parameters_raw", None)),
        "profile": args.profile,
        "image": args.image,
        "env": parse_env(args.env),
        "secrets": args.secrets or [],
        "retries": args.retries,
        "ship_folder": args.ship_folder,
    }
    if args.timeout is not None:
        data["timeout_seconds"] = args.timeout
    return data


# -- notebook jobs: errors and progress -----------------------------------------------------------


def exit_code_for(exc: BaseException) -> int:
    """The exit code of an error: 2 request/usage, 3 cluster unreachable or forbidden, else 1."""
    from .errors import ForbiddenProblem, JupyterK8sError
    from .k8s.client import KubeError

    if isinstance(exc, ForbiddenProblem):
        return EXIT_CLUSTER
    if isinstance(exc, JupyterK8sError | argparse.ArgumentTypeError):
        return EXIT_USAGE
    if isinstance(exc, KubeError):
        if exc.status in (0, 401, 403):
            return EXIT_CLUSTER
        if exc.status in (400, 404, 422):
            return EXIT_USAGE
    return EXIT_FAILED


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Progress:
    """Job states on stderr: a line per change, or one line updated in place on a terminal."""

    def __init__(self, stream: Any = None, tty: bool | None = None):
        from .jobs.runtime_config import StatusChanges, isatty

        self.stream = sys.stderr if stream is None else stream
        self.tty = isatty(self.stream) if tty is None else tty
        self.changes = StatusChanges()
        self._open = False

    def __call__(self, info: Any) -> None:
        line = self.changes(info)
        if line is None:
            return
        if self.tty:
            width = max(20, shutil.get_terminal_size().columns - 1)
            text = line if len(line) <= width else line[: width - 1] + "…"
            self.stream.write(f"\r\x1b[K{text}")
            self._open = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        """End the line being updated, so that what follows starts on a line of its own."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


# -- notebook jobs: commands ----------------------------------------------------------------------


def _runtime(args: argparse.Namespace, collect_outputs: bool):
    from .jobs.runtime_config import Runtime, load_settings, server_root_dir

    conf = load_settings(
        args.kubeconfig, args.context, args.namespace, warn=lambda m: _err(f"warning: {m}")
    )
    cwd = Path.cwd().resolve()
    root = cwd
    if conf.staging == "shared":
        # The shared volume holds the server's root folder: paths must be relative to it.
        server_root = server_root_dir(conf)
        if server_root is not None and (cwd == server_root or server_root in cwd.parents):
            root = server_root
    return Runtime(conf, root, collect_outputs=collect_outputs)


def _shown_path(rt: Any, relative: str) -> str:
    return os.path.relpath(rt.root_dir / relative)


async def _wait_started(rt: Any, name: str, progress: Progress) -> Any:
    """Until the job's notebook runs (or the job ended); shows the pending reason meanwhile."""
    from .jobs.models import JobPhase

    while True:
        info = await rt.service.get(name)
        progress(info)
        if info.phase != JobPhase.PENDING:
            return info
        await asyncio.sleep(0.5)


async def _stream_logs(rt: Any, name: str, tail: int | None, follow: bool) -> None:
    if tail is not None and not follow:
        # The last N lines of the notebook's log, counted after the runner's markers and the
        # output frame are left out (a tail taken by the API server would cut into the frame).
        last: collections.deque[str] = collections.deque(maxlen=tail)
        async for line in rt.service.logs(name):
            last.append(line)
        sys.stdout.writelines(last)
        sys.stdout.flush()
        return
    async for line in rt.service.logs(name, tail=tail, follow=follow):
        sys.stdout.write(line)
        sys.stdout.flush()


async def _follow(rt: Any, name: str, progress: Progress) -> None:
    from .errors import NotFoundProblem

    await _wait_started(rt, name, progress)
    progress.done()
    try:
        await _stream_logs(rt, name, None, follow=True)
    except NotFoundProblem:
        pass  # it ended without ever running: the state says why


async def _wait(rt: Any, name: str, progress: Progress) -> int:
    from .jobs.models import JobPhase
    from .jobs.runtime_config import duration_text, exit_status

    info = await rt.service.wait(name, on_change=progress)
    progress.done()
    took = f" in {duration_text(info.duration_seconds)}" if info.duration_seconds else ""
    if info.phase == JobPhase.SUCCEEDED:
        _err(f"job {name} succeeded{took}")
    if info.output_state == "ready" and info.output_path:
        what = "executed notebook" if info.phase == JobPhase.SUCCEEDED else "notebook as far as run"
        _err(f"{what}: {_shown_path(rt, info.output_path)}")
    elif info.output_state == "error":
        _err(f"error: the executed notebook could not be collected: {info.output_error}")
    return exit_status(info)


async def _submitted(rt: Any, args: argparse.Namespace, info: Any, warnings: list[str]) -> int:
    """After submit/rerun: print the id, then follow or wait as asked."""
    args.job_id = info.id
    for warning in warnings:
        _err(f"warning: {warning}")
    print(info.id, flush=True)
    progress = Progress()
    if getattr(args, "follow", False):
        await _follow(rt, info.id, progress)
        return await _wait(rt, info.id, progress)
    if args.wait:
        return await _wait(rt, info.id, progress)
    if rt.service.config.staging != "shared":
        _err(
            f"job {info.id} submitted; the executed notebook comes back through the Jupyter "
            f"server, or `jupyter k8s fetch {info.id}`"
        )
    return EXIT_OK


async def cmd_submit(rt: Any, args: argparse.Namespace) -> int:
    from .jobs.models import SubmitRequest
    from .jobs.runtime_config import relative_notebook_path

    notebook = relative_notebook_path(rt.root_dir, args.notebook)
    req = SubmitRequest.from_json(submit_request_data(args, notebook))
    await rt.connect()
    info, warnings = await rt.service.submit(req)
    return await _submitted(rt, args, info, warnings)


async def cmd_rerun(rt: Any, args: argparse.Namespace) -> int:
    from .jobs.models import SubmitRequest

    overrides = parse_parameters(args.parameters, args.parameters_raw)
    await rt.connect()
    old = await rt.service.get(args.job)
    parameters = {**old.parameters, **overrides}
    SubmitRequest.from_json({"notebook": old.notebook or "x.ipynb", "parameters": parameters})
    info, warnings = await rt.service.rerun(args.job, parameters)
    return await _submitted(rt, args, info, warnings)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _status_text(info: Any) -> str:
    if info.reason and info.reason != info.phase.value:
        return f"{info.phase.value} ({info.reason})"
    return info.phase.value


async def _with_progress(rt: Any, infos: list[Any]) -> list[Any]:
    gate = asyncio.Semaphore(8)

    async def one(info: Any) -> Any:
        async with gate:
            return await rt.add_progress(info)

    return list(await asyncio.gather(*(one(i) for i in infos)))


async def cmd_jobs(rt: Any, args: argparse.Namespace) -> int:
    from .jobs.runtime_config import age_text, cell_text, duration_text, relative_notebook_path

    notebook = relative_notebook_path(rt.root_dir, args.notebook) if args.notebook else None
    await rt.connect()
    infos, total = await rt.service.list(phase=args.status, notebook=notebook, limit=args.limit)
    infos = await _with_progress(rt, infos)
    if args.json:
        print(json.dumps([i.model_dump(mode="json") for i in infos], indent=2))
        return EXIT_OK
    if not infos:
        _err(f"no jobs in namespace {rt.service.config.namespace}")
        return EXIT_OK
    rows = [["ID", "STATUS", "NOTEBOOK", "PROFILE", "AGE", "DURATION", "CELL"]]
    for i in infos:
        rows.append(
            [
                i.id,
                _status_text(i),
                i.notebook,
                i.profile or "-",
                age_text(i.created),
                duration_text(i.duration_seconds),
                cell_text(i),
            ]
        )
    print(_table(rows))
    if total > len(infos):
        _err(f"({total - len(infos)} older jobs not shown; --limit N shows more)")
    return EXIT_OK


async def cmd_status(rt: Any, args: argparse.Namespace) -> int:
    from .jobs.runtime_config import cell_text, duration_text

    await rt.connect()
    info = await rt.add_progress(await rt.service.get(args.job))
    if args.json:
        print(json.dumps(info.model_dump(mode="json"), indent=2))
        return EXIT_OK

    def when(value: Any) -> str:
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"

    output = "-"
    if info.output_path:
        output = f"{_shown_path(rt, info.output_path)} ({info.output_state})"
        if info.output_error:
            output += f": {info.output_error}"
    fields = [
        ("Job", info.id),
        ("Notebook", info.notebook),
        ("Status", info.phase.value),
        ("Reason", info.reason or "-"),
        ("Message", info.message or "-"),
        ("Cell", cell_text(info)),
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
    return EXIT_OK


async def cmd_logs(rt: Any, args: argparse.Namespace) -> int:
    from .jobs.models import JobPhase

    await rt.connect()
    info = await rt.service.get(args.job)
    if args.follow and info.phase == JobPhase.PENDING:
        progress = Progress()  # why it waits, until the notebook runs
        info = await _wait_started(rt, args.job, progress)
        progress.done()
        if info.started is None and info.phase.finished:
            _err(f"job {args.job} ended without running: {info.message or info.phase.value}")
            return EXIT_FAILED
    await _stream_logs(rt, args.job, args.tail, args.follow and not info.phase.finished)
    return EXIT_OK


async def cmd_cancel(rt: Any, args: argparse.Namespace) -> int:
    from .jobs.runtime_config import status_line

    await rt.connect()
    info = await rt.service.cancel(args.job)
    _err(f"job {args.job}: {status_line(info)}")
    return EXIT_OK


async def cmd_delete(rt: Any, args: argparse.Namespace) -> int:
    await rt.connect()
    await rt.service.delete(args.job)
    _err(f"job {args.job} deleted (executed notebooks already fetched are kept)")
    return EXIT_OK


async def cmd_fetch(rt: Any, args: argparse.Namespace) -> int:
    from .jobs.runtime_config import status_line

    await rt.connect()
    svc = rt.service
    info = await svc.get(args.job)
    if not info.phase.finished:
        if not args.wait:
            _err(f"error: job {args.job} has not finished ({status_line(info)}); add --wait")
            return EXIT_FAILED
        info = await svc.wait(args.job, on_change=Progress())
    elif info.output_state == "pending":
        info = await svc.wait(args.job)  # the service collects it now
    if info.output_state == "none" or not info.output_path:
        _err(f"error: job {args.job} has no executed notebook ({status_line(info)})")
        return EXIT_FAILED
    if info.output_state == "error":
        _err(f"error: the executed notebook of job {args.job} was lost: {info.output_error}")
        return EXIT_FAILED
    collected = await svc.output_file(args.job)  # the job's own path under the root, checked
    data = collected.read_bytes() if collected.is_file() else await rt.output_from_log(args.job)
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


async def cmd_profiles(rt: Any, args: argparse.Namespace) -> int:
    profiles = rt.service.profiles.public()
    if args.json:
        print(json.dumps(profiles, indent=2))
        return EXIT_OK
    from .k8s.client import KubeError

    rows = [["NAME", "CPU", "MEMORY", "GPUS", "IMAGE", "DESCRIPTION"]]
    try:  # the configured default, else the cluster's (the profiles list works offline too)
        default = await rt.service.default_image()
    except KubeError:
        default = rt.service.config.default_image
    for p in profiles:
        gpus = f"{p['gpus']} {p['gpu_resource']}" if p["gpus"] else "-"
        name = p["name"] + (" (default)" if p["default"] else "")
        image = p["image"] or default or "-"
        rows.append(
            [name, p["cpu"] or "-", p["memory"] or "-", gpus, image, p["description"] or ""]
        )
    print(_table(rows))
    return EXIT_OK


#: command: (function, collects executed notebooks)
_JOB_COMMANDS = {
    "submit": (cmd_submit, True),
    "jobs": (cmd_jobs, False),
    "status": (cmd_status, False),
    "logs": (cmd_logs, False),
    "cancel": (cmd_cancel, False),
    "delete": (cmd_delete, False),
    "rerun": (cmd_rerun, True),
    "fetch": (cmd_fetch, True),
    "profiles": (cmd_profiles, False),
}


def run_job_command(args: argparse.Namespace) -> int:
    """Run one of the job commands: errors are one line `error: ...` and an exit code."""
    from .errors import JupyterK8sError
    from .k8s.client import KubeError

    # jupyter_server (imported for the JupyterK8s traits) imports jupyter_events, whose
    # jsonschema imports rfc3987_syntax when installed: compiling its grammar takes seconds,
    # for an "iri" format check the CLI never makes. Not imported, jsonschema skips it.
    if "rfc3987_syntax" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    func, collects = _JOB_COMMANDS[args.command]
    collects = collects and (args.command == "fetch" or args.wait or getattr(args, "follow", False))
    _setup_logging(args.verbose)

    async def run() -> int:
        rt = _runtime(args, collect_outputs=collects)
        try:
            return await func(rt, args)
        finally:
            await rt.close()

    try:
        return asyncio.run(run())
    except (JupyterK8sError, KubeError, argparse.ArgumentTypeError) as exc:
        _err(f"error: {exc}")
        return exit_code_for(exc)
    except TimeoutError as exc:
        _err(f"error: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        job = getattr(args, "job_id", None) or getattr(args, "job", None)
        if job and args.command in ("submit", "rerun", "logs", "fetch"):
            from .jobs.runtime_config import isatty

            newline = "\n" if isatty() else ""  # after the line updated in place
            _err(f"{newline}stopped waiting; job {job} goes on (jupyter k8s cancel {job} stops it)")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # writing an output file, reading a notebook
        _err(f"error: {exc}")
        return EXIT_FAILED


def _setup_logging(verbose: int) -> None:
    logger = logging.getLogger("jupyter_k8s")
    if verbose:
        logging.basicConfig(
            level=logging.DEBUG if verbose > 1 else logging.INFO,
            format="%(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    else:
        # The watch caches log retries as warnings: the CLI reports errors itself.
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


def _add_job_parsers(sub: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    add_connection_options(common)
    common.add_argument(
        "-v", "--verbose", action="count", default=0, help="log what happens (twice: more)"
    )

    def add(name: str, help: str, **kw: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, parents=[common], **kw)
        p.set_defaults(func=run_job_command)
        return p

    p = add("submit", "run a notebook as a Kubernetes Job")
    p.add_argument("notebook", metavar="NOTEBOOK", help="path of the .ipynb file")
    add_submit_options(p)

    p = add("jobs", "list your notebook jobs, newest first")
    p.add_argument(
        "--status",
        metavar="S",
        help="only these states (comma-separated): pending, running, succeeded, failed, cancelled",
    )
    p.add_argument("--notebook", metavar="N", help="only the jobs of this notebook")
    p.add_argument("--limit", type=_nonnegative, default=100, metavar="N", help="at most N jobs")
    p.add_argument("--json", action="store_true", help="the jobs as JSON")

    p = add("status", "the state of a job, with the reason")
    p.add_argument("job", metavar="JOB", help="job id (see `jobs`)")
    p.add_argument("--json", action="store_true", help="as JSON")

    p = add("logs", "the log of a job's notebook (its cells' output)")
    p.add_argument("job", metavar="JOB")
    p.add_argument("-f", "--follow", action="store_true", help="keep streaming until it ends")
    p.add_argument("--tail", type=_nonnegative, metavar="N", help="only the last N lines")

    p = add("cancel", "stop a job; the notebook as far as it ran is kept")
    p.add_argument("job", metavar="JOB")

    p = add("delete", "delete a job, its pods and logs")
    p.add_argument("job", metavar="JOB")

    p = add("rerun", "run a job's notebook again, with the same or changed parameters")
    p.add_argument("job", metavar="JOB")
    add_parameter_options(p)
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


# -- kernelspecs for clients outside JupyterLab ---------------------------------------------------


def cmd_kernelspec_install(args: argparse.Namespace) -> int:
    """Write k8s-<profile> kernelspecs (profile and cluster settings embedded)."""
    from .errors import JupyterK8sError
    from .jobs.runtime_config import load_settings
    from .kernels.kernelspecs import install_from_config
    from .profiles import ProfileError

    try:
        conf = load_settings(
            args.kubeconfig, args.context, args.namespace, warn=lambda m: _err(f"warning: {m}")
        )
        installed = install_from_config(
            conf,
            args.profile or None,
            user=args.prefix is None,
            prefix=args.prefix,
            image=args.image,
        )
    except (JupyterK8sError, ProfileError, OSError) as exc:
        _err(f"error: {exc}")
        return EXIT_USAGE
    for name, folder in installed:
        print(f"{name}: {folder}")
    return EXIT_OK


def _add_kernelspec_parser(sub: Any) -> None:
    ks = sub.add_parser("kernelspec", help="kernelspecs of remote kernels, for papermill & co.")
    ksub = ks.add_subparsers(dest="action", required=True, metavar="ACTION")
    inst = ksub.add_parser(
        "install",
        help="install k8s-<profile> kernelspecs (default: one per configured profile)",
        description="Install kernelspecs that start kernels in pods, for clients without the "
        "Jupyter server extension (papermill -k k8s-gpu, nbclient, jupyter console). The "
        "profile's settings and the cluster settings are written into kernel.json.",
    )
    inst.add_argument(
        "--profile", action="append", metavar="P", help="only this profile (repeatable)"
    )
    inst.add_argument(
        "--prefix", metavar="DIR", help="install under DIR/share/jupyter/kernels (default: user)"
    )
    inst.add_argument("--image", metavar="I", help="image of the kernel pods (over the profile's)")
    add_connection_options(inst)
    inst.set_defaults(func=cmd_kernelspec_install)


# -- doctor: a checklist for real clusters --------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check what jupyter-k8s needs from the cluster; exit 1 when something required fails."""
    import dataclasses

    from .doctor.checks import format_report
    from .doctor.config import settings_from_app
    from .doctor.run import run_doctor
    from .errors import JupyterK8sError
    from .jobs.runtime_config import load_settings

    if "rfc3987_syntax" not in sys.modules:  # see run_job_command
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    _setup_logging(args.verbose)
    try:
        conf = load_settings(
            args.kubeconfig, args.context, args.namespace, warn=lambda m: _err(f"warning: {m}")
        )
    except JupyterK8sError as exc:
        _err(f"error: {exc}")
        return EXIT_USAGE
    origins = {
        name: f"--{name}" for name in ("kubeconfig", "context", "namespace") if getattr(args, name)
    }
    settings = dataclasses.replace(
        settings_from_app(conf, origins), probe_timeout=float(args.timeout)
    )
    try:
        report = asyncio.run(
            run_doctor(settings, probes=not args.no_probes, progress=lambda m: _err(m))
        )
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        print(format_report(report))
    return EXIT_OK if report.ok else EXIT_FAILED


def _add_doctor_parser(sub: Any) -> None:
    help = "check what jupyter-k8s needs from the cluster, with the fix for each problem"
    p = sub.add_parser(
        "doctor",
        help=help,
        description=help[0].upper() + help[1:] + ": kubeconfig, API server, every permission "
        "of the shipped Role, Pod Security, ResourceQuotas, the default image (with a probe "
        "pod) and whether this machine reaches pod IPs on the kernel ports. Exit 0 when every "
        "required check passes (warnings don't count), 1 otherwise. See docs/doctor.md.",
    )
    add_connection_options(p)
    p.add_argument("--json", action="store_true", help="the checklist as JSON")
    p.add_argument(
        "--no-probes", action="store_true", help="don't start the probe pod (image, network)"
    )
    p.add_argument(
        "--timeout",
        type=parse_duration,
        default=60,
        metavar="S",
        help="how long the probe pod may take to start (default 60 s)",
    )
    p.add_argument(
        "-v", "--verbose", action="count", default=0, help="log what happens (twice: more)"
    )
    p.set_defaults(func=cmd_doctor)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter k8s", description="Run notebooks and kernels on Kubernetes."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_job_parsers(sub)
    _add_kernelspec_parser(sub)
    _add_doctor_parser(sub)

    dev = sub.add_parser("dev-cluster", help="a local Kubernetes cluster to try and test with")
    dev.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where the cluster keeps its files (default ~/.local/state/jupyter-k8s/dev-cluster)",
    )
    dev.add_argument(
        "--bin-dir",
        type=Path,
        default=None,
        help="a directory with kube-apiserver, kube-controller-manager, kube-scheduler "
        "and etcd of the pinned versions (else PATH, else build once)",
    )
    dev.add_argument("--node-name", default="dev-node")
    dev.add_argument("--gpus", type=int, default=0, help="nvidia.com/gpu the node advertises")
    dev.add_argument(
        "--namespace", default="jupyter-k8s", help="the namespace prepared for the extension"
    )
    dsub = dev.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = dsub.add_parser("up", help="start the cluster (building it the first time)")
    up.add_argument("--wait", action="store_true", help="return once the node is Ready")
    up.add_argument("--timeout", type=float, default=120.0)
    up.add_argument("--admin", action="store_true", help="print the admin KUBECONFIG line")
    up.set_defaults(func=cmd_dev_up)
    dsub.add_parser("down", help="stop everything and remove the cluster's data").set_defaults(
        func=cmd_dev_down
    )
    st = dsub.add_parser("status", help="what runs (exit 0 when running)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_dev_status)
    env = dsub.add_parser("env", help="print the export KUBECONFIG=... line")
    env.add_argument(
        "--admin",
        action="store_true",
        help="the admin kubeconfig instead of the extension's ServiceAccount",
    )
    env.set_defaults(func=cmd_dev_env)
    dsub.add_parser("build", help="build (or find) the control-plane binaries").set_defaults(
        func=cmd_dev_build
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    from .devcluster.build import BuildError
    from .devcluster.controlplane import ClusterError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (BuildError, ClusterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
