"""The jupyter-k8s notebook runner: the program that runs INSIDE a notebook job's pod.

It imports only the standard library, papermill and nbformat (and jupyter_client, which
papermill runs kernels with), because the image needs papermill and a kernel but not
jupyter_k8s: the server ships this file's source in the job's ConfigMap and the pod runs

    python /var/run/jupyter-k8s/job/runner.py --config /var/run/jupyter-k8s/job/job.json

job.json: {"input", "output", "parameters", "kernel_name", "language", "cwd",
"output_mode": "shared" | "log", "max_output_bytes"} and optionally "work_dir" (scratch space),
"unpack" (a .tar.gz to extract into cwd first), "cancel_grace_seconds", "termination_log",
"sweep" (a list of parameter sets: this pod runs set JOB_COMPLETION_INDEX, which Kubernetes
sets in an Indexed Job's pods, and writes `<output stem>-<index>.ipynb`).

In a sweep the injected parameters cell also defines `jupyter_k8s_record(name, value)`
(Python kernels; any kernel may print the marker line itself): it prints
`##jupyter-k8s## {"event": "record", "name": ..., "value": ...}`, and after execution the
runner gathers those lines from the cells' outputs into the executed notebook's metadata
(`jupyter_k8s_sweep`: index, parameters, records, outcome), whatever the outcome.

What the server reads back, all on stdout (the pod log):

* one marker line per event: `##jupyter-k8s## {"event": "cell", "index": i, "total": n,
  "code_cell": k, "code_cells": m, "first_line": "..."}` as each code cell starts (i: its index
  in the executed notebook; k of m: its number among the code cells, the injected parameters
  cell included; first_line: its first non-blank line, control characters removed, at most
  LINE_MAX characters) (also "start", and one final "succeeded" | "failed" | "cancelled");
  a "failed" marker of
  the runner's own making may carry a "reason" for the job status, e.g. "MissingPackage"
  when the image lacks papermill, nbformat or the kernel's ipykernel (checked before
  anything runs, so such an image fails the job at once, with the package named);
* in output_mode "log" (no shared volume) and not in a sweep, for the live view of the run:
  once before the first cell, a "notebook" marker (cell count, kernelspec) and one "source"
  marker per cell of the notebook papermill runs (injected parameters cell included; each
  source capped at SOURCE_MAX characters, all of them at SOURCES_MAX); then a "cell_done"
  marker per finished code cell with its outputs, capped (`live_outputs`: CELL_OUTPUT_MAX
  bytes of JSON a cell, LIVE_OUTPUT_MAX a run; an output over the cap is replaced by a short
  stream output that says so), so that one marker line stays far below the log's rotation
  size. With a shared volume the server reads the notebook papermill saves at each cell;
* in output_mode "log" (no shared volume), the executed notebook framed after execution:
  `##jupyter-k8s-output## begin <bytes> <sha256>`, gzip+base64 lines of 76 characters,
  `##jupyter-k8s-output## end`. The final marker comes after the frame, so the tail of the log
  (what FallbackToLogsOnError keeps as the termination message) always says how it ended.

It must keep running on the older Pythons user images have (3.8 and up): new-style
annotations are fine (never evaluated, thanks to `from __future__ import annotations`), new
syntax and library calls are not; a unit test parses it with the 3.8 grammar.

The kernel runs over IPC (unix sockets in a private dir), not TCP: it is local to the pod,
and ipykernel >= 7.4 warns in every log about TCP without encryption.

Exit codes: 0 success, 1 the notebook (or the runner's setup) failed, 143 cancelled by
SIGTERM. The Job's podFailurePolicy fails the Job at once on 1 and 143: a failing notebook or
a cancel is not worth a retry, while an evicted pod is.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import hmac
import http.server
import importlib.util
import json
import logging
import os
import shutil
import signal
import sys
import tarfile
import tempfile
import threading
import time
from typing import Any

# nbformat imports jsonschema, whose format checkers import rfc3987_syntax when it is
# installed (it is wherever jupyter-events is), and that compiles a grammar at import: 0.9 s
# of CPU and 16 MiB in every job's pod, before the first cell. The runner never validates the
# "iri" formats it checks, so it is kept out; jsonschema then skips those two formats.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

try:
    import nbformat
    import papermill
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
    from papermill.exceptions import PapermillExecutionError
    from papermill.utils import merge_kwargs, remove_args
except Exception as exc:  # noqa: BLE001 - ImportError mostly; any broken install alike
    # An image without papermill must fail the job at once with the package named, not with
    # a traceback: main() reports it (MissingPackage). The placeholders only let this module
    # finish loading; nothing below runs a notebook without the real classes.
    _IMPORT_ERROR: Exception | None = exc
    PapermillNotebookClient = NBClientEngine = NotebookExecutionManager = object
else:
    _IMPORT_ERROR = None

MARKER = "##jupyter-k8s##"
FRAME = "##jupyter-k8s-output##"
FRAME_LINE = 76
ENGINE = "jupyter-k8s"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CANCELLED = 143  # 128 + SIGTERM, what a shell would report

SWEEP_METADATA = "jupyter_k8s_sweep"  # jobs/sweeps.py's METADATA_KEY
INDEX_ENV = "JOB_COMPLETION_INDEX"
# Appended to papermill's injected parameters cell in a sweep (Python kernels only).
RECORD_HELPER = (
    "def jupyter_k8s_record(name, value):\n"
    '    """Record a result of this sweep index (see the job\'s results table)."""\n'
    "    import json as _json\n"
    "    print('" + MARKER + " ' + _json.dumps({'event': 'record', 'name': str(name), "
    "'value': value}, default=str), flush=True)\n"
)

MISSING_PACKAGE = "MissingPackage"  # the failure's reason, also the job status's
OUTPUT_NOT_WRITABLE = "OutputNotWritable"  # likewise: the pod cannot write the output's folder
NEEDS = (
    "the runner needs Python >= 3.8 with papermill and ipykernel (pip install papermill ipykernel)"
)
# Unix socket paths must fit sun_path (108 bytes with the NUL); keep a margin.
MAX_SOCKET_PATH = 100
IPC_PREFIX = "k"  # the kernel's sockets: <kernel dir>/k-1 ... k-5

DEFAULT_MAX_OUTPUT = 5 * 1024 * 1024  # stays well under the kubelet's 10 MiB log rotation
# An output frame (gzip + base64) up to this size goes into the log; a larger one is handed
# over (see hold_output): a frame must fit in one 10 MiB log file with room for what the
# notebook printed, or log rotation could cut it for any reader that was not following.
FRAME_LIMIT = 4 * 1024 * 1024
DEFAULT_HOLD_SECONDS = 900.0
DEFAULT_CANCEL_GRACE = 20.0  # under the pod's terminationGracePeriodSeconds (30)
TERMINATION_LOG = "/dev/termination-log"
AUTOSAVE_SECONDS = 10  # papermill's autosave while a cell runs (its default: 30)
MAX_TEXT = 500  # exception values in markers: the termination message keeps only 2-4 KiB

# The live view (jobs/live.py reads these markers and caps them again: they are untrusted).
LINE_MAX = 120  # a cell's first line in its progress marker
SOURCE_MAX = 16 * 1024  # characters of one cell's source in its "source" marker
SOURCES_MAX = 512 * 1024  # characters of all sources of a run
CELL_OUTPUT_MAX = 128 * 1024  # bytes of one cell's outputs (JSON) in its "cell_done" marker
LIVE_OUTPUT_MAX = 2 * 1024 * 1024  # bytes of all "cell_done" outputs of a run
_CONTROL: dict[int, str | None] = {c: None for c in range(32)}
_CONTROL.update({9: " ", 127: None})  # a tab reads as a space; DEL goes like the others

log = logging.getLogger("papermill")


class Cancelled(KeyboardInterrupt):
    """Raised in the main thread by the SIGTERM handler.

    A KeyboardInterrupt so that asyncio re-raises it out of whatever task nbclient is running
    (other BaseExceptions would be stored in that task and could go unnoticed).
    """


class _State:
    """What the signal handler and the cancel watchdog need to reach."""

    def __init__(self) -> None:
        self.manager: NotebookExecutionManager | None = None
        self.client: PapermillNotebookClient | None = None
        self.kernel_dir: str | None = None  # private dir of the kernel's connection file
        self.executing = False
        self.cancelled = False
        self.record_helper = False  # a sweep: define jupyter_k8s_record in the injected cell
        self.live = False  # send sources and finished cells' outputs for the live view
        self.live_budget = LIVE_OUTPUT_MAX  # bytes of outputs left to send
        self.finishing = threading.Lock()


STATE = _State()
_write_lock = threading.Lock()


# -- output -------------------------------------------------------------------------------------


def _write_line(line: str) -> None:
    with _write_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def emit(event: str, **fields: Any) -> str:
    """Print one machine-readable marker line and return it."""
    fields = dict({"event": event}, **fields)
    line = MARKER + " " + json.dumps(fields, default=str)
    _write_line(line)
    return line


def _short(text: Any) -> str:
    text = str(text)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def frame_output(data: bytes) -> None:
    """Print the executed notebook into the log, compressed and framed (output_mode "log")."""
    digest = hashlib.sha256(data).hexdigest()
    encoded = base64.b64encode(gzip.compress(data, mtime=0)).decode("ascii")
    with _write_lock:
        out = sys.stdout
        out.write(f"{FRAME} begin {len(data)} {digest}\n")
        for start in range(0, len(encoded), FRAME_LINE):
            out.write(encoded[start : start + FRAME_LINE] + "\n")
        out.write(f"{FRAME} end\n")
        out.flush()


class _LogFormatter(logging.Formatter):
    """Cell output already ends with a newline; do not double it in the pod log."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).rstrip("\n")


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_LogFormatter("%(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


# -- the papermill engine -----------------------------------------------------------------------


class ReportingManager(NotebookExecutionManager):
    """papermill's execution manager, printing a progress marker as each code cell starts
    (and, for the live view, one with its outputs as it finishes)."""

    _numbers: dict[int, int] | None = None

    def code_number(self, cell_index: int | None) -> tuple[int | None, int]:
        """(k, m): the cell is code cell k of m (1-based; None for another kind)."""
        if self._numbers is None:
            code = [i for i, c in enumerate(self.nb.cells) if c.get("cell_type") == "code"]
            self._numbers = {i: k for k, i in enumerate(code, 1)}
        return self._numbers.get(cell_index if cell_index is not None else -1), len(self._numbers)

    def cell_start(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
        number, count = self.code_number(cell_index)
        if number is not None:  # markdown and raw cells run nothing: no progress to tell
            emit(
                "cell",
                index=cell_index,
                total=len(self.nb.cells),
                code_cell=number,
                code_cells=count,
                first_line=first_line(cell.get("source")),
            )
        super().cell_start(cell, cell_index, **kwargs)

    def cell_complete(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
        if STATE.cancelled and cell.metadata.get("papermill", {}).get("status") == self.RUNNING:
            # Say in the notebook where it stopped; FAILED also keeps papermill from marking
            # the cells after this one "completed".
            cell.setdefault("outputs", []).append(
                nbformat.v4.new_output(
                    "error",
                    ename="Cancelled",
                    evalue="the job was cancelled while this cell was running",
                    traceback=[],
                )
            )
            self.cell_exception(cell, cell_index=cell_index)
        super().cell_complete(cell, cell_index, **kwargs)
        if STATE.live and cell.get("cell_type") == "code":
            outputs, used = live_outputs(cell.get("outputs") or [], STATE.live_budget)
            STATE.live_budget -= used
            emit(
                "cell_done",
                index=cell_index,
                status=cell.metadata.get("papermill", {}).get("status"),
                execution_count=cell.get("execution_count"),
                outputs=outputs,
            )


class ReportingEngine(NBClientEngine):
    """NBClientEngine with the reporting manager, keeping a hand on the manager and client.

    Mirrors papermill 2.7's `Engine.execute_notebook` and
    `NBClientEngine.execute_managed_notebook`, which hard-code their manager and client.
    """

    @classmethod
    def execute_notebook(
        cls,
        nb: Any,
        kernel_name: str,
        output_path: str | None = None,
        progress_bar: bool = False,
        log_output: bool = False,
        autosave_cell_every: int = 30,
        **kwargs: Any,
    ) -> Any:
        nb_man = ReportingManager(
            nb,
            output_path=output_path,
            progress_bar=False,
            log_output=log_output,
            autosave_cell_every=autosave_cell_every,
        )
        STATE.manager = nb_man
        if STATE.record_helper:
            add_record_helper(nb_man.nb)
        if STATE.live:
            emit_sources(nb_man.nb)
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: int | None = None,
        **kwargs: Any,
    ) -> Any:
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=log,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        client = ReportingClient(nb_man, **final_kwargs)
        STATE.client = client
        return client.execute()


# -- the live view ------------------------------------------------------------------------------


def clean_text(text: Any, limit: int) -> str:
    """`text` without control characters (a tab reads as a space), at most `limit` long."""
    text = str(text).translate(_CONTROL)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def first_line(source: Any) -> str:
    """A cell's first non-blank line, cleaned and capped at LINE_MAX characters."""
    if isinstance(source, list):
        source = "".join(str(s) for s in source)
    for line in str(source or "").splitlines():
        if line.strip():
            return clean_text(line.strip(), LINE_MAX)
    return ""


def _size(value: Any) -> int:
    return len(json.dumps(value, default=str).encode("utf-8"))


def left_out(what: str, size: int, why: str) -> dict[str, Any]:
    """The stream output that stands for an output left out of the live view."""
    return {
        "output_type": "stream",
        "name": "stderr",
        "text": f"[jupyter-k8s live view: {what} of {size} bytes left out: {why}; the "
        "executed notebook has it]\n",
    }


def _kind(output: Any) -> str:
    """What an output is, for a person: 'image/png output', 'stream output'."""
    data = output.get("data") if isinstance(output, dict) else None
    if isinstance(data, dict) and data:
        rich = [k for k in data if k != "text/plain"] or list(data)
        return f"{clean_text(rich[0], 60)} output"
    kind = output.get("output_type") if isinstance(output, dict) else None
    return f"{clean_text(kind or 'an', 30)} output"


def live_outputs(outputs: list[Any], budget: int) -> tuple[list[Any], int]:
    """A finished cell's outputs for its "cell_done" marker: at most CELL_OUTPUT_MAX bytes of
    JSON and `budget` (what the run has left); each output over that is replaced by a short
    stream output that says it was left out and why. Returns (outputs, bytes used)."""
    room = min(CELL_OUTPUT_MAX, max(budget, 0))
    kept: list[Any] = []
    used = 0
    for output in outputs:
        output = dict(output)
        size = _size(output)
        if size + used > room:
            why = (
                f"over the {CELL_OUTPUT_MAX} bytes of a cell's live outputs"
                if budget >= CELL_OUTPUT_MAX
                else f"the run's live outputs are over {LIVE_OUTPUT_MAX} bytes"
            )
            output = left_out(_kind(output), size, why)
            size = _size(output)
        kept.append(output)
        used += size
    return kept, used


def emit_sources(nb: Any) -> None:
    """The notebook papermill runs (parameters injected), a marker per cell, for the live
    view: the server shows these cells, filled in by the "cell_done" markers."""
    kernelspec = nb.metadata.get("kernelspec") or {}
    emit(
        "notebook",
        cells=len(nb.cells),
        nbformat_minor=nb.get("nbformat_minor"),
        kernelspec={k: clean_text(v, 200) for k, v in kernelspec.items() if isinstance(v, str)},
        language=clean_text((nb.metadata.get("language_info") or {}).get("name") or "", 60),
    )
    left = SOURCES_MAX
    for index, cell in enumerate(nb.cells):
        source = cell.get("source") or ""
        if isinstance(source, list):
            source = "".join(source)
        limit = min(SOURCE_MAX, max(left, 0))
        if len(source) > limit:
            source = source[:limit] + (
                "\n# [jupyter-k8s live view: the rest of this cell's source is left out]"
            )
        left -= len(source)
        tags = (cell.get("metadata") or {}).get("tags") or []
        emit(
            "source",
            index=index,
            id=cell.get("id"),
            cell_type=cell.get("cell_type"),
            source=source,
            tags=[clean_text(t, 100) for t in tags if isinstance(t, str)][:20],
        )


def add_record_helper(nb: Any) -> bool:
    """Define jupyter_k8s_record in papermill's injected parameters cell; False if none."""
    for cell in nb.cells:
        if "injected-parameters" in (cell.get("metadata") or {}).get("tags", []):
            source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
            cell.source = source.rstrip("\n") + "\n" + RECORD_HELPER
            return True
    return False


class ReportingClient(PapermillNotebookClient):
    """papermill's notebook client, starting its kernel over IPC (unix sockets), not TCP.

    The kernel runs next to the runner in the same pod, so TCP buys nothing, and ipykernel
    >= 7.4 prints "Kernel is running over TCP without encryption" at the top of every job
    log. IPC sockets are files in the runner's private (0700) kernel dir: only the pod's user
    reaches them, so there is nothing to encrypt against.
    """

    def create_kernel_manager(self) -> Any:
        km = super().create_kernel_manager()
        use_ipc(km, STATE.kernel_dir)
        return km


def ipc_prefix(kernel_dir: str | None) -> str | None:
    """The IPC path prefix in kernel_dir, or None when its sockets' paths would be too long."""
    if not kernel_dir:
        return None
    prefix = os.path.join(kernel_dir, IPC_PREFIX)
    # jupyter_client numbers the sockets prefix-1, prefix-2, ...: five of them, one digit.
    if len(os.fsencode(prefix)) + len("-9") > MAX_SOCKET_PATH:
        return None
    return prefix


def use_ipc(km: Any, kernel_dir: str | None) -> None:
    """Set a (not yet started) jupyter_client KernelManager to IPC in kernel_dir.

    Without a short enough dir the kernel stays on TCP: it works, only with the warning.
    """
    prefix = ipc_prefix(kernel_dir)
    if prefix is None or kernel_dir is None:
        return
    km.transport = "ipc"
    # Explicitly, not from the defaults: a standalone KernelManager's default ip would be
    # "kernel-ipc" relative to the notebook's cwd, and its connection file a mkstemp in
    # /tmp; its port cache (on by default for TCP) would try to bind the path as a host.
    km.ip = prefix
    km.connection_file = os.path.join(kernel_dir, "kernel.json")
    km.cache_ports = False


if _IMPORT_ERROR is None:
    papermill_engines.register(ENGINE, ReportingEngine)


# -- the image's packages -----------------------------------------------------------------------


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _runs_this_python(argv: list[str]) -> bool:
    """Whether a kernelspec's argv starts ipykernel with the interpreter running the runner."""
    if not argv or not any(arg.startswith("ipykernel") for arg in argv[1:]):
        return False
    # jupyter_client's format_kernel_cmd starts these names as sys.executable itself.
    major, minor = sys.version_info[:2]
    if argv[0] in ("python", f"python{major}", f"python{major}.{minor}"):
        return True
    program = argv[0] if os.path.isabs(argv[0]) else shutil.which(argv[0])
    if not program:
        return False
    try:
        return os.path.samefile(program, sys.executable)
    except OSError:
        return False


def _kernel_problem(kernel_name: str | None) -> str | None:
    """The message when the kernel to start is this Python's ipykernel and it is missing.

    Without the check, a kernelspec pointing at this interpreter starts a process that dies
    at once ("No module named ipykernel_launcher") and the log says little more; other
    kernels (R, another Python) are not ours to judge: papermill reports what goes wrong.
    """
    if not kernel_name or _has_module("ipykernel"):
        return None
    message = f"the image has no ipykernel for the {kernel_name} kernel: {NEEDS}"
    try:
        # papermill runs kernels with jupyter_client (its dependency via nbclient): the same
        # lookup papermill does next, without starting anything.
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        return None
    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        # jupyter_client offers python3 (its native kernel) only where ipykernel imports.
        return message if kernel_name == "python3" else None
    except Exception:  # noqa: BLE001 - a broken kernelspec: papermill will say what it is
        return None
    return message if _runs_this_python(list(spec.argv or [])) else None


def missing_package(config: dict[str, Any]) -> str | None:
    """Why this image cannot run the notebook for lack of a package; None when it can."""
    if _IMPORT_ERROR is not None:
        for name in ("papermill", "nbformat"):
            if not _has_module(name):
                return f"the image has no {name}: {NEEDS}"
        # Installed but broken, e.g. one of papermill's own dependencies is missing.
        return f"papermill cannot be imported in the image ({_IMPORT_ERROR}): {NEEDS}"
    return _kernel_problem(config.get("kernel_name") or None)


# -- cancel -------------------------------------------------------------------------------------


def _on_sigterm(signum: int, frame: Any) -> None:
    if STATE.cancelled:
        return
    STATE.cancelled = True
    if STATE.client is not None:
        STATE.client.shutdown_kernel = "immediate"  # no 5 s wait for a busy kernel's reply
    timer = threading.Timer(_cancel_grace, _force_cancel)
    timer.daemon = True
    timer.start()
    if STATE.executing:
        raise Cancelled()


_cancel_grace = DEFAULT_CANCEL_GRACE
_config: dict[str, Any] = {}


def _kill_kernel() -> None:
    client = STATE.client
    km = getattr(client, "km", None) if client is not None else None
    provisioner = getattr(km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    if process is None or process.poll() is not None:
        return  # never started, or already gone (its group id may be someone else's now)
    pgid = getattr(provisioner, "pgid", None)
    pid = getattr(provisioner, "pid", None)
    try:
        if pgid and pgid != os.getpgid(0):  # the kernel's own group (jupyter_client makes one)
            os.killpg(pgid, signal.SIGKILL)
        elif pid:
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _force_cancel() -> None:
    """The watchdog: if the main thread has not wound down in time, finish from here."""
    if not STATE.finishing.acquire(blocking=False):
        return  # the main thread is already finishing
    try:
        _kill_kernel()
        code = _finish_locked(_config, "cancelled", {})
    finally:
        sys.stdout.flush()
    os._exit(code)


# -- running ------------------------------------------------------------------------------------


def load_config(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    if not isinstance(config, dict):
        raise ValueError("the job config must be a JSON object")
    for key in ("input", "output"):
        if not isinstance(config.get(key), str) or not config[key]:
            raise ValueError(f"the job config needs {key!r} (a path)")
    if config.get("output_mode", "shared") not in ("shared", "log"):
        raise ValueError("output_mode must be 'shared' or 'log'")
    if not isinstance(config.get("parameters") or {}, dict):
        raise ValueError("parameters must be a JSON object")
    return config


def indexed_output(path: str, index: int) -> str:
    """`a.x1y2z3.ipynb` -> `a.x1y2z3-<index>.ipynb` (jobs/sweeps.py's indexed_output_path)."""
    stem = path[: -len(".ipynb")] if path.endswith(".ipynb") else path
    return f"{stem}-{index}.ipynb"


def select_sweep_index(config: dict[str, Any], environ: Any = None) -> int | None:
    """In a sweep, make config this index's: its parameters and output; the index or None."""
    sweep = config.get("sweep")
    if sweep is None:
        return None
    environ = os.environ if environ is None else environ
    if not isinstance(sweep, list) or not sweep:
        raise ValueError("sweep must be a non-empty list of parameter sets")
    try:
        index = int(environ.get(INDEX_ENV, ""))
    except ValueError:
        raise ValueError(f"a sweep needs {INDEX_ENV} (an Indexed Job's pod)") from None
    if not 0 <= index < len(sweep) or not isinstance(sweep[index], dict):
        raise ValueError(f"no parameter set for sweep index {index}")
    config["parameters"] = sweep[index]
    config["output"] = indexed_output(config["output"], index)
    config["sweep_index"] = index
    return index


def gather_records(nb: dict[str, Any]) -> list[dict[str, Any]]:
    """The record markers the cells printed, in order (from stream outputs)."""
    found = []
    for cell in nb.get("cells") or []:
        for output in cell.get("outputs") or []:
            text = output.get("text") if output.get("output_type") == "stream" else None
            if isinstance(text, list):
                text = "".join(text)
            for line in (text or "").splitlines():
                pos = line.find(MARKER + " ")
                if pos < 0:
                    continue
                try:
                    event = json.loads(line[pos + len(MARKER) + 1 :])
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("event") == "record":
                    found.append({"name": event.get("name"), "value": event.get("value")})
    return found


def stamp_sweep(config: dict[str, Any], outcome: str, details: dict[str, Any]) -> None:
    """Write this index, its parameters, the records and the outcome into the output."""
    path = config["output"]
    if config.get("sweep_index") is None or not os.path.exists(path):
        return
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
        nb.setdefault("metadata", {})[SWEEP_METADATA] = {
            "index": config["sweep_index"],
            "parameters": config.get("parameters") or {},
            "records": gather_records(nb),
            "outcome": outcome,
            "error": details or None,
        }
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(nb, f, indent=1, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:
        log.warning("could not record the sweep's results in the notebook: %s", exc)


def unpack(archive: str, dest: str) -> int:
    """Extract a .tar.gz of the notebook's folder into dest; regular files and folders only."""
    count = 0
    root = os.path.realpath(dest)
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            target = os.path.realpath(os.path.join(root, member.name))
            if not (target == root or target.startswith(root + os.sep)):
                raise ValueError(f"unsafe path in the folder archive: {member.name!r}")
            if member.isdir():
                os.makedirs(target, exist_ok=True)
            elif member.isfile():
                os.makedirs(os.path.dirname(target), exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    continue
                with source, open(target, "wb") as out:
                    out.write(source.read())
                count += 1
    return count


class OutputNotWritable(Exception):
    """The pod's user cannot write where the executed notebook goes (found before running)."""


def not_writable_message(folder: str, error: OSError) -> str:
    """Who the pod is, what the folder allows, and the fix: for a person."""
    groups = sorted({os.getgid(), *os.getgroups()})
    try:
        st = os.stat(folder)
        owner = f"owned by {st.st_uid}:{st.st_gid}, mode {st.st_mode & 0o7777:04o}"
    except OSError:
        owner = "not readable"
    return (
        f"the pod (uid {os.getuid()}, groups {','.join(map(str, groups))}) cannot write "
        f"{folder} ({owner}: {error.strerror or error}); the executed notebook could not be "
        "saved, so nothing was run. Make the folder writable by the pod's uid, or group-owned "
        "by its gid and group-writable (chgrp GID DIR; chmod g+ws DIR)"
    )


def check_writable(folder: str) -> None:
    """Raise OutputNotWritable unless a file can be made in `folder` (made if missing).

    A real probe (create, remove) rather than mode bits: ACLs, read-only mounts and NFS
    squashing decide too. On a real kubelet fsGroup does not change hostPath (or most NFS)
    volumes, so a folder the pod cannot write is a setup mistake to name at once, not after
    hours of computing whose result would then have nowhere to go.
    """
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".jupyter-k8s-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputNotWritable(not_writable_message(folder, exc)) from exc


def _prepare(config: dict[str, Any]) -> None:
    """Folders, the kernel's runtime dir and the shipped folder, before papermill starts."""
    if config["input"].endswith(".gz"):
        # The notebook travels gzipped (smaller ConfigMap); papermill reads it plain.
        plain = os.path.join(config.get("work_dir") or tempfile.gettempdir(), "input.ipynb")
        os.makedirs(os.path.dirname(plain), exist_ok=True)
        with gzip.open(config["input"], "rb") as src, open(plain, "wb") as dst:
            dst.write(src.read())
        config["input"] = plain
    check_writable(os.path.dirname(os.path.abspath(config["output"])))
    cwd = config.get("cwd")
    if cwd:
        os.makedirs(cwd, exist_ok=True)
    # The image's home may not be writable for the pod's user; the kernel's connection file
    # and IPC sockets need a writable place of their own.
    work = config.get("work_dir") or None
    if work:
        os.makedirs(work, exist_ok=True)
    STATE.kernel_dir = _make_kernel_dir(work)
    if not os.environ.get("JUPYTER_RUNTIME_DIR"):
        os.environ["JUPYTER_RUNTIME_DIR"] = STATE.kernel_dir
    if config.get("unpack"):
        n = unpack(config["unpack"], cwd or os.getcwd())
        log.info("unpacked %d files of the notebook's folder into %s", n, cwd or os.getcwd())


def _make_kernel_dir(work: str | None) -> str:
    """A private (0700) dir for the kernel's files, short enough for its IPC sockets.

    Under work_dir (the pod's scratch emptyDir) when the socket paths fit there, else in
    the temp dir (a deep work_dir, or a long TMPDIR in tests).
    """
    path = tempfile.mkdtemp(prefix="jupyter-runtime-", dir=work)
    if work and ipc_prefix(path) is None:
        os.rmdir(path)
        path = tempfile.mkdtemp(prefix="jupyter-runtime-")
    return path


def execute(config: dict[str, Any]) -> None:
    """Run the notebook with papermill; raises what papermill raises."""
    papermill.execute_notebook(
        config["input"],
        config["output"],
        parameters=config.get("parameters") or {},
        engine_name=ENGINE,
        kernel_name=config.get("kernel_name") or None,
        language=config.get("language") or None,
        progress_bar=False,
        log_output=True,
        cwd=config.get("cwd") or None,
        # Save the output notebook as each cell starts and ends (papermill's default, said
        # here because the live view of shared staging reads that file), and every
        # AUTOSAVE_SECONDS while a long cell prints.
        request_save_on_cell_execute=True,
        autosave_cell_every=AUTOSAVE_SECONDS,
    )


def _save_partial() -> None:
    """After a cancel, write the notebook as far as it got (papermill does not on interrupt)."""
    manager = STATE.manager
    if manager is None or not manager.output_path:
        return
    try:
        nbformat.write(manager.nb, manager.output_path)
    except Exception as exc:  # noqa: BLE001 - still report the cancel
        log.warning("could not save the partial notebook: %s", exc)


def _emit_log_output(config: dict[str, Any]) -> dict[str, Any] | None:
    """Frame the output into the log; returns a problem dict when it cannot."""
    path = config["output"]
    if not os.path.exists(path):
        return {"ename": "NoOutput", "evalue": "no executed notebook was written"}
    limit = int(config.get("max_output_bytes") or DEFAULT_MAX_OUTPUT)
    size = os.path.getsize(path)
    if size > limit:
        return {
            "ename": "OutputTooLarge",
            "evalue": f"the executed notebook is {size} bytes, over the limit of {limit} bytes; "
            "clear large outputs or use a shared volume",
        }
    with open(path, "rb") as f:
        data = f.read()
    packed = gzip.compress(data, mtime=0)
    handover = config.get("handover") or {}
    if (len(packed) + 2) // 3 * 4 <= int(config.get("frame_limit") or FRAME_LIMIT):
        frame_output(data)
        return None
    if not handover.get("token"):
        return {
            "ename": "OutputTooLarge",
            "evalue": f"the executed notebook is {size} bytes, too large for the pod log and "
            "no hand-over was configured; clear large outputs or use a shared volume",
        }
    return hold_output(data, packed, handover)


class _HandOver(http.server.BaseHTTPRequestHandler):
    """GET /output: the gzipped notebook; POST /done: the server has it, stop holding.

    Both need the job's hand-over token as a bearer token; anything else is refused."""

    server: _HandOverServer

    def _authorized(self) -> bool:
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), b"Bearer " + self.server.token.encode())

    def do_GET(self) -> None:
        if self.path != "/output" or not self._authorized():
            self.send_error(403 if self.path == "/output" else 404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(self.server.packed)))
        self.end_headers()
        self.wfile.write(self.server.packed)

    def do_POST(self) -> None:
        if self.path != "/done" or not self._authorized():
            self.send_error(403 if self.path == "/done" else 404)
            return
        self.send_response(204)
        self.end_headers()
        self.server.collected.set()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the pod log is the server's channel: no access log in it


class _HandOverServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], token: str, packed: bytes):
        super().__init__(address, _HandOver)
        self.token = token
        self.packed = packed
        self.collected = threading.Event()


def hold_output(data: bytes, packed: bytes, handover: dict[str, Any]) -> dict[str, Any] | None:
    """Serve the executed notebook on the pod's IP until the server has it (or time is up).

    A marker says it waits ("output_held", with size, sha256 and port): the server fetches it
    from the pod's IP with the job's hand-over token and confirms. Nothing large goes through
    the log, so log rotation cannot cut it, and a server that restarts meanwhile finds the
    marker at the end of the log and fetches it then. A cancel (SIGTERM) ends the wait.
    """
    host = os.environ.get("POD_IP") or "0.0.0.0"
    port = int(handover.get("port") or 0)
    hold = float(handover.get("hold_seconds") or DEFAULT_HOLD_SECONDS)
    try:
        server = _HandOverServer((host, port), str(handover["token"]), packed)
    except OSError as exc:
        return {"ename": "OutputNotServed", "evalue": f"cannot listen on {host}:{port}: {exc}"}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    thread.daemon = True
    thread.start()
    try:
        emit(
            "output_held",
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            compressed=len(packed),
            port=server.server_address[1],
            hold_seconds=hold,
        )
        deadline = time.monotonic() + hold
        while not server.collected.wait(0.5):
            if STATE.cancelled:
                return {"ename": "OutputNotCollected", "evalue": "cancelled while held"}
            if time.monotonic() > deadline:
                return {
                    "ename": "OutputNotCollected",
                    "evalue": f"the executed notebook ({len(data)} bytes) was held {hold:g} s "
                    "for the Jupyter server, which did not collect it",
                }
        return None
    finally:
        server.shutdown()
        server.server_close()


def _termination_message(line: str, config: dict[str, Any]) -> None:
    """Write the final marker where the kubelet looks first (if the file exists)."""
    path = config.get("termination_log", TERMINATION_LOG)
    if path and os.path.exists(path):
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError:
            pass


def _finish_locked(config: dict[str, Any], outcome: str, details: dict[str, Any]) -> int:
    """Save (on cancel), frame (log mode), print the final marker; return the exit code."""
    if outcome == "cancelled":
        _save_partial()
    if STATE.manager is not None:
        stamp_sweep(config, outcome, details)
    # Frame only what this run wrote: no manager means papermill never got to execute.
    if config.get("output_mode") == "log" and STATE.manager is not None:
        problem = _emit_log_output(config)
        if problem is not None:
            emit("output_error", **problem)
            if outcome == "succeeded":
                outcome, details = "failed", dict(problem, cell=None)
    if outcome == "succeeded":
        line, code = emit("succeeded"), EXIT_OK
    elif outcome == "cancelled":
        line, code = emit("cancelled"), EXIT_CANCELLED
    else:
        line, code = emit("failed", **details), EXIT_FAILED
    _termination_message(line, config)
    return code


def finish(config: dict[str, Any], outcome: str, details: dict[str, Any]) -> int:
    if not STATE.finishing.acquire(blocking=False):
        time.sleep(3600)  # the watchdog is finishing and will exit the process
    return _finish_locked(config, outcome, details)


def run(config: dict[str, Any]) -> int:
    """Execute and report; the exit code."""
    outcome = "succeeded"
    details: dict[str, Any] = {}
    try:
        STATE.executing = True
        try:
            if STATE.cancelled:  # SIGTERM came before we were ready to be interrupted
                raise Cancelled()
            _prepare(config)
            execute(config)
        finally:
            STATE.executing = False
    except OutputNotWritable as exc:
        outcome = "failed"
        # Named like MissingPackage: the status shows the reason and this sentence, and the
        # server knows nothing ran (no executed notebook was lost).
        details = {
            "reason": OUTPUT_NOT_WRITABLE,
            "ename": OUTPUT_NOT_WRITABLE,
            "evalue": _short(exc),
            "cell": None,
        }
        _write_line(f"jupyter-k8s runner: {exc}")
    except Cancelled:
        outcome = "cancelled"
        _kill_kernel()  # interrupted while the kernel started: nbclient did not clean it up
    except PapermillExecutionError as exc:
        outcome = "failed"
        details = {
            "ename": exc.ename,
            "evalue": _short(exc.evalue),
            "cell": exc.cell_index,
            "exec_count": exc.exec_count,
        }
    except Exception as exc:  # noqa: BLE001 - kernel missing, bad notebook, ...: report it
        outcome = "failed"
        details = {"ename": type(exc).__name__, "evalue": _short(exc), "cell": None}
        log.error("the notebook could not be run: %s: %s", type(exc).__name__, exc)
    if STATE.cancelled and outcome == "failed":
        outcome = "cancelled"  # e.g. the cancel killed the kernel as it started: say so
    return finish(config, outcome, details)


def main(argv: list[str] | None = None) -> int:
    global _cancel_grace, _config
    parser = argparse.ArgumentParser(description="Run a notebook for a jupyter-k8s job.")
    parser.add_argument("--config", required=True, help="path of job.json")
    # A scheduled run's own output path (its Job's name in it): job.json is every run's.
    parser.add_argument("--output", help="the executed notebook's path, over job.json's")
    args = parser.parse_args(argv)
    _setup_logging()
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        config = load_config(args.config)
        if args.output:
            config["output"] = args.output
        if select_sweep_index(config) is not None:
            STATE.record_helper = (config.get("language") or "python") == "python"
        # The live view's markers, where the server has no file to read (log mode); a sweep's
        # indexes are many notebooks in one job: they tell their progress only.
        STATE.live = config.get("output_mode") == "log" and config.get("sweep_index") is None
    except (OSError, ValueError) as exc:
        _config = {}
        line = emit("failed", ename="ConfigError", evalue=_short(exc), cell=None)
        _termination_message(line, {})
        return EXIT_FAILED
    _config = config
    problem = missing_package(config)
    if problem is not None:
        # Exit 1 fails the Job at once (podFailurePolicy); the marker's reason becomes the
        # job status's reason, its evalue the message (see jobs/status.py).
        _write_line(f"jupyter-k8s runner: {problem}")
        line = emit(
            "failed", reason=MISSING_PACKAGE, ename=MISSING_PACKAGE, evalue=problem, cell=None
        )
        _termination_message(line, config)
        return EXIT_FAILED
    _cancel_grace = float(config.get("cancel_grace_seconds") or DEFAULT_CANCEL_GRACE)
    _write_line(
        f"jupyter-k8s runner: executing {config['input']} with kernel "
        f"{config.get('kernel_name') or 'from the notebook'} (papermill {papermill.__version__}, "
        f"Python {sys.version.split()[0]})"
    )
    started = {
        "input": config["input"],
        "output": config["output"],
        "kernel": config.get("kernel_name"),
        "output_mode": config.get("output_mode", "shared"),
    }
    if config.get("sweep_index") is not None:
        started["sweep_index"] = config["sweep_index"]
    emit("start", **started)
    return run(config)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: a kernel client thread left behind must not keep the pod running.
    os._exit(code)
