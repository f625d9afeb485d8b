"""`%k8s_submit`: submit a notebook (by default the one this kernel belongs to) as a job.

    %load_ext jupyter_k8s
    %k8s_submit --wait -p alpha 0.5 --profile gpu
    %k8s_submit other.ipynb -p n 100

The kernel runs its own event loop (ipykernel's), which a magic must not block or re-enter:
the async JobService lives on a private event loop in a background thread (one per kernel,
reused by every call), and the magic waits on futures from it. Display updates are made from
the kernel's main thread while it waits, so they land in the magic's own cell output.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import queue
import shlex
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.display import display

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

SESSION_ENV = "JPY_SESSION_NAME"


class K8sJobError(Exception):
    """A job failed, or the cluster or the request said no: shown as one line, no traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


# -- the background event loop ------------------------------------------------------------------


class BackgroundLoop:
    """An asyncio loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="jupyter-k8s-loop", daemon=True)
        self.thread.start()
        self._tasks: set[Future] = set()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Any) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Any, timeout: float | None = None) -> Any:
        return self.submit(coro).result(timeout)

    def keep(self, future: Future) -> None:
        """Let a future run on after the magic returned (a reference is held until done)."""
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)


_loop: BackgroundLoop | None = None
_loop_lock = threading.Lock()
_standalone: dict[tuple[Any, ...], Any] = {}


def background_loop() -> BackgroundLoop:
    global _loop
    with _loop_lock:
        if _loop is None or not _loop.thread.is_alive():
            _loop = BackgroundLoop()
        return _loop


# -- which notebook -----------------------------------------------------------------------------


def session_notebook(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """The notebook this kernel was started for, from JPY_SESSION_NAME.

    jupyter_server (2.x) sets JPY_SESSION_NAME in a kernel's environment to the session's
    path: an absolute file path when the client sends a session name (JupyterLab does), else
    the API path relative to the server's root. The kernel starts in the notebook's folder, so
    a relative path is resolved by taking that folder off the kernel's working directory.
    """
    environ = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    name = environ.get(SESSION_ENV, "").strip()
    if not name:
        raise UsageError(
            f"%k8s_submit: which notebook? This kernel was not started by a Jupyter server for "
            f"a notebook ({SESSION_ENV} is not set): give its path, %k8s_submit path/to/nb.ipynb"
        )
    path = Path(os.path.expanduser(name))
    candidates = [path]
    if not path.is_absolute():
        rel = PurePosixPath(name.replace("\\", "/"))
        folders = rel.parent.parts
        candidates = []
        if folders and cwd.parts[-len(folders) :] == folders:
            candidates.append(cwd.parents[len(folders) - 1] / Path(*rel.parts))
        candidates += [cwd / rel.name, cwd / Path(*rel.parts)]
    for candidate in candidates:
        if candidate.suffix == ".ipynb" and candidate.is_file():
            return Path(os.path.abspath(candidate))
    if path.suffix != ".ipynb":
        raise UsageError(
            f"%k8s_submit: this kernel belongs to {name!r}, not a notebook: give the notebook's "
            "path, %k8s_submit path/to/nb.ipynb"
        )
    raise UsageError(
        f"%k8s_submit: this kernel's notebook {name!r} is not found (renamed or moved since the "
        "kernel started?): give its path, %k8s_submit path/to/nb.ipynb"
    )


# -- the magic ----------------------------------------------------------------------------------


def magic_argv(line: str) -> list[str]:
    """The magic's arguments, as a shell splits them: a `#` that starts a word starts a comment
    (`%k8s_submit --wait  # this notebook`), a quoted one is a value (`-p tag '#1'`)."""
    quote: str | None = None
    escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            line = line[:i]
            break
    return shlex.split(line)


class _Exit(Exception):
    pass


class _MagicParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"%k8s_submit: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            print(message)
        raise _Exit()


def make_parser(sweep: bool = False) -> argparse.ArgumentParser:
    """The options of %k8s_submit, or of %k8s_sweep (`sweep`: -p takes lists of values)."""
    from .cli.options import add_connection_options, add_submit_options, add_sweep_options

    parser = _MagicParser(
        prog="%k8s_sweep" if sweep else "%k8s_submit",
        description=(
            "Run a notebook (default: this one, as last saved) once per parameter set, as one "
            "Kubernetes Indexed Job."
            if sweep
            else "Run a notebook (default: this one, as last saved) as a Kubernetes Job."
        ),
    )
    parser.add_argument(
        "notebook", nargs="?", metavar="NOTEBOOK", help="the .ipynb file (default: this notebook)"
    )
    add_submit_options(parser, follow=False)
    if sweep:
        add_sweep_options(parser)
        parser.epilog = (
            "-p NAME VALUES: comma-separated values (each read as JSON, else a string) or a "
            "JSON list; -r NAME VALUES keeps them strings. Example: %k8s_sweep -p lr 0.1,0.01 "
            "-p batch 32,64 --parallel 4 --wait"
        )
    add_connection_options(parser)
    return parser


def _results_bundle(found: dict[str, Any]) -> dict[str, str]:
    """A sweep's results table as text and as HTML (every value escaped: it was recorded by
    a notebook and read back from the cluster)."""
    from .cli.render import table
    from .cli.sweep_commands import results_rows

    rows = results_rows(found)
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in rows[1:]
    )
    caption = html.escape(f"sweep {found['id']}: {found['phase']}")
    rich = f"<table><caption>{caption}</caption><tr>{head}</tr>{body}</table>"
    return {"text/plain": table(rows), "text/html": rich}


def _status_bundle(info: Any, line: str) -> dict[str, str]:
    text = f"jupyter-k8s job {info.id} ({info.notebook}): {line}"
    colour = {"Succeeded": "green", "Failed": "#c00", "Cancelled": "#a60"}.get(info.phase.value)
    style = f' style="color:{colour}"' if colour else ""
    rich = (
        f"<div>jupyter-k8s job <code>{html.escape(info.id)}</code> "
        f"(<code>{html.escape(info.notebook)}</code>): <b{style}>{html.escape(line)}</b></div>"
    )
    return {"text/plain": text, "text/html": rich}


@magics_class
class K8sMagics(Magics):
    def __init__(self, shell: InteractiveShell):
        super().__init__(shell)
        # (execution count, start time) of cells run since the extension was loaded, this one
        # (the %load_ext cell) included: to tell whether cells ran after the last save.
        self._runs: list[tuple[int, float]] = [(shell.execution_count, time.time())]
        self._last_job: str | None = None  # what %k8s_results shows by default
        self._last_jobs: Any = None  # and the StandaloneJobs it was submitted with

    @property
    def _shell(self) -> InteractiveShell:
        """The shell these magics were made for (Magics types it as optional)."""
        assert self.shell is not None  # __init__ takes it
        return self.shell

    def pre_run_cell(self, info: Any = None) -> None:
        self._runs = [*self._runs[-3:], (self._shell.execution_count, time.time())]

    def _unsaved_warning(self, notebook: Path) -> str | None:
        """A warning when cells ran after the notebook was last saved (edits may be unsaved)."""
        current = self._shell.execution_count
        earlier = [t for n, t in self._runs if n < current]
        last_run: float | None
        if earlier:
            last_run = max(earlier)
        elif current > 1:
            last_run = _session_start(self._shell)  # cells ran before the extension was loaded
            if last_run is None:
                return None
        else:
            return None
        saved = notebook.stat().st_mtime
        if saved >= last_run - 1.0:
            return None
        at = datetime.fromtimestamp(saved).strftime("%H:%M:%S")
        return (
            f"warning: {notebook.name} was last saved at {at}, before cells that ran since: the "
            "job runs the notebook as saved on disk; save it (Ctrl+S) first if you changed it"
        )

    @line_magic
    def k8s_submit(self, line: str) -> None:
        """Submit a notebook as a Kubernetes Job; see `%k8s_submit -h`."""
        try:
            args = make_parser().parse_args(magic_argv(line))
        except _Exit:
            return None
        except ValueError as exc:  # shlex: no closing quotation
            raise UsageError(f"%k8s_submit: {exc}") from None
        self._submit(args)
        return None

    @line_magic
    def k8s_sweep(self, line: str) -> None:
        """Run a notebook once per parameter set, as one Indexed Job; see `%k8s_sweep -h`."""
        try:
            args = make_parser(sweep=True).parse_args(magic_argv(line))
        except _Exit:
            return None
        except ValueError as exc:
            raise UsageError(f"%k8s_sweep: {exc}") from None
        self._last_job = None
        try:
            self._submit(args, sweep=True)
        finally:
            # Also after a failed index (the error says so): the table shows which and why.
            if args.wait and self._last_job:
                self.k8s_results(self._last_job)
        return None

    @line_magic
    def k8s_results(self, line: str) -> None:
        """A sweep's results table (default: the last sweep of this kernel): each parameter
        set with its status and the values its notebook recorded."""
        from .errors import Problem
        from .jobs.sweep_runs import results
        from .standalone import load_settings

        job = line.strip() or self._last_job
        if not job:
            raise UsageError("%k8s_results: give a sweep's job id (no sweep ran here yet)")
        try:
            jobs = self._last_jobs
            if jobs is None or job != self._last_job:
                conf = load_settings(None, None, None, warn=lambda m: print(f"warning: {m}"))
                jobs = _standalone_jobs(conf, Path.cwd() / "_")
            found = background_loop().run(_connect_and(jobs, results(jobs.service, job)))
        except Problem as exc:
            raise K8sJobError(str(exc)) from None
        display(_results_bundle(found), raw=True)
        return None

    def _submit(self, args: argparse.Namespace, sweep: bool = False) -> None:
        from .cli.options import submit_request_data
        from .cli.sweep_commands import sweep_request_data
        from .errors import Problem
        from .jobs.models import SubmitRequest
        from .standalone import load_settings

        if args.notebook:
            path = Path(os.path.abspath(os.path.expanduser(args.notebook)))
            if not path.is_file():
                raise UsageError(f"%k8s_submit: notebook {args.notebook} does not exist")
            try:
                own: Path | None = session_notebook()
            except UsageError:
                own = None
        elif not os.environ.get(SESSION_ENV, "").strip():
            # No notebook of its own: a plain IPython, or this very notebook running as a job
            # (papermill's kernel). Not an error, so that such a job runs on past this cell.
            print(
                f"%k8s_submit: skipped: this kernel has no notebook of its own ({SESSION_ENV} "
                "is not set, as when the notebook itself runs as a job); give a notebook path "
                "to submit one"
            )
            return
        else:
            path = own = session_notebook()
        if own is not None and path == own:
            warning = self._unsaved_warning(path)
            if warning:
                print(warning)
        try:
            conf = load_settings(
                args.kubeconfig, args.context, args.namespace, warn=lambda m: print(f"warning: {m}")
            )
            jobs = _standalone_jobs(conf, path)
            build = sweep_request_data if sweep else submit_request_data
            data = build(args, _relative(jobs.root_dir, path))
            req = SubmitRequest.from_json(data)
        except (Problem, argparse.ArgumentTypeError) as exc:
            raise UsageError(f"%k8s_submit: {exc}") from None
        bg = background_loop()
        try:
            info, warnings = bg.run(_connect_and_submit(jobs, req))
        except Problem as exc:  # the Kubernetes API's errors too
            raise K8sJobError(str(exc)) from None
        for warning in warnings:
            print(f"warning: {warning}")
        self._last_job, self._last_jobs = info.id, jobs
        self._follow(bg, jobs, info, wait=args.wait)

    def _follow(self, bg: BackgroundLoop, jobs: Any, info: Any, wait: bool) -> None:
        from .cli.render import StatusChanges, duration_text, status_line

        changes = StatusChanges()
        handle = display(_status_bundle(info, status_line(info)), raw=True, display_id=True)
        changes(info)
        updates: queue.SimpleQueue = queue.SimpleQueue()
        future = bg.submit(jobs.service.wait(info.id, on_change=updates.put))
        if not wait:
            # Keep following in the background: the executed notebook is collected next to
            # the notebook even without a Jupyter server extension doing it. The status line
            # is updated too where the frontend routes updates to finished cells (classic).
            shell = self._shell
            parent = getattr(shell.display_pub, "parent_header", None)
            future.add_done_callback(lambda f: _late_update(shell, handle, parent, f))
            bg.keep(future)
            print(
                f"submitted job {info.id}; %k8s_submit --wait waits for it, "
                f"`jupyter k8s status {info.id}` tells how it goes"
            )
            return
        try:
            while not (future.done() and updates.empty()):
                try:
                    latest = updates.get(timeout=0.25)
                except queue.Empty:
                    continue
                line = changes(latest)
                if line is not None and handle is not None:
                    handle.update(_status_bundle(latest, line), raw=True)
            final = future.result()
        except KeyboardInterrupt:
            bg.keep(future)  # it still collects the executed notebook when the job ends
            print(
                f"stopped waiting; job {info.id} goes on (`jupyter k8s cancel {info.id}` stops it)"
            )
            return
        except Exception as exc:  # noqa: BLE001 - a Problem (the API's errors too), timeouts
            raise K8sJobError(str(exc)) from None
        line = changes(final)
        if line is not None and handle is not None:
            handle.update(_status_bundle(final, line), raw=True)
        took = f" in {duration_text(final.duration_seconds)}" if final.duration_seconds else ""
        where = jobs.root_dir / final.output_path if final.output_path else None
        if final.sweep is not None:  # each index has its notebook: the table below says which
            sweep = final.sweep
            print(
                f"sweep {final.id} {final.phase.value}{took}: {sweep.succeeded} of "
                f"{sweep.total} parameter sets succeeded, {sweep.failed} failed"
            )
        elif final.output_state == "ready" and where is not None:
            print(f"job {final.id} {final.phase.value}{took}; executed notebook: {where}")
        else:
            print(f"job {final.id} {final.phase.value}{took}")
        if final.output_state == "error" and final.sweep is None:
            raise K8sJobError(f"the executed notebook could not be collected: {final.output_error}")
        if final.phase.value != "Succeeded":
            raise K8sJobError(f"job {final.id} {status_line(final)}")


def _late_update(shell: Any, handle: Any, parent: Any, future: Future) -> None:
    """Show the final state in the status line (from the loop thread, with the cell's parent)."""
    from .cli.render import status_line

    if handle is None or future.cancelled() or future.exception() is not None:
        return
    info = future.result()
    pub = getattr(shell, "display_pub", None)
    token = None
    try:
        if parent and pub is not None and hasattr(pub, "set_thread_parent"):
            token = pub.set_thread_parent(parent)
        handle.update(_status_bundle(info, status_line(info)), raw=True)
    except Exception:  # noqa: BLE001 - best effort: never break the loop thread
        pass
    finally:
        if pub is not None and token is not None:
            pub.reset_thread_parent(token)


def _session_start(shell: Any) -> float | None:
    """When this kernel's IPython session began (from its history), if known."""
    try:
        start = shell.history_manager.get_session_info()[1]
    except Exception:  # noqa: BLE001 - history may be disabled
        return None
    return start.timestamp() if isinstance(start, datetime) else None


def _standalone_jobs(conf: Any, notebook: Path) -> Any:
    """The StandaloneJobs (service and client) for this configuration and notebook, reused
    by every call of this kernel."""
    from .standalone import StandaloneJobs, root_dir_for

    root = root_dir_for(conf, notebook.parent)
    key = (conf.kubeconfig, conf.context, conf.namespace, str(root))
    jobs = _standalone.get(key)
    if jobs is None:
        jobs = _standalone[key] = StandaloneJobs(conf, root)
    return jobs


def _relative(root: Path, notebook: Path) -> str:
    from .standalone import relative_notebook_path

    return relative_notebook_path(root, notebook, hint="give a notebook inside it")


async def _connect_and_submit(jobs: Any, req: Any) -> Any:
    await jobs.connect()
    return await jobs.service.submit(req)


async def _connect_and(jobs: Any, work: Any) -> Any:
    await jobs.connect()
    return await work


def load_ipython_extension(ipython: Any) -> None:
    magics = K8sMagics(ipython)
    ipython.register_magics(magics)
    ipython.events.register("pre_run_cell", magics.pre_run_cell)
    ipython._jupyter_k8s_magics = magics  # for unload


def unload_ipython_extension(ipython: Any) -> None:
    magics = getattr(ipython, "_jupyter_k8s_magics", None)
    if magics is not None:
        try:
            ipython.events.unregister("pre_run_cell", magics.pre_run_cell)
        except ValueError:
            pass
        del ipython._jupyter_k8s_magics
