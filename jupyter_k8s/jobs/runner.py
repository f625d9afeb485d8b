"""The jupyter-k8s notebook runner: the program that runs INSIDE a notebook job's pod.

It imports only the standard library, papermill and nbformat, because the image needs
papermill and a kernel but not jupyter_k8s: the server ships this file's source in the job's
ConfigMap and the pod runs

    python /var/run/jupyter-k8s/job/runner.py --config /var/run/jupyter-k8s/job/job.json

job.json: {"input", "output", "parameters", "kernel_name", "language", "cwd",
"output_mode": "shared" | "log", "max_output_bytes"} and optionally "work_dir" (scratch space),
"unpack" (a .tar.gz to extract into cwd first), "cancel_grace_seconds", "termination_log".

What the server reads back, all on stdout (the pod log):

* one marker line per event: `##jupyter-k8s## {"event": "cell", "index": i, "total": n}`
  (also "start", and one final "succeeded" | "failed" | "cancelled");
* in output_mode "log" (no shared volume), the executed notebook framed after execution:
  `##jupyter-k8s-output## begin <bytes> <sha256>`, gzip+base64 lines of 76 characters,
  `##jupyter-k8s-output## end`. The final marker comes after the frame, so the tail of the log
  (what FallbackToLogsOnError keeps as the termination message) always says how it ended.

It must keep running on the older Pythons user images have (3.8 and up): new-style
annotations are fine (never evaluated, thanks to `from __future__ import annotations`), new
syntax and library calls are not; a unit test parses it with the 3.8 grammar.

Exit codes: 0 success, 1 the notebook (or the runner's setup) failed, 143 cancelled by
SIGTERM. The Job's podFailurePolicy fails the Job at once on 1 and 143: a failing notebook or
a cancel is not worth a retry, while an evicted pod is.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import logging
import os
import signal
import sys
import tarfile
import tempfile
import threading
import time
from typing import Any

import nbformat
import papermill
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
from papermill.exceptions import PapermillExecutionError
from papermill.utils import merge_kwargs, remove_args

MARKER = "##jupyter-k8s##"
FRAME = "##jupyter-k8s-output##"
FRAME_LINE = 76
ENGINE = "jupyter-k8s"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CANCELLED = 143  # 128 + SIGTERM, what a shell would report

DEFAULT_MAX_OUTPUT = 5 * 1024 * 1024  # stays well under the kubelet's 10 MiB log rotation
DEFAULT_CANCEL_GRACE = 20.0  # under the pod's terminationGracePeriodSeconds (30)
TERMINATION_LOG = "/dev/termination-log"
MAX_TEXT = 500  # exception values in markers: the termination message keeps only 2-4 KiB

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
        self.executing = False
        self.cancelled = False
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
    """papermill's execution manager, printing a progress marker as each cell starts."""

    def cell_start(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
        emit("cell", index=cell_index, total=len(self.nb.cells))
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
        client = PapermillNotebookClient(nb_man, **final_kwargs)
        STATE.client = client
        return client.execute()


papermill_engines.register(ENGINE, ReportingEngine)


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


def _prepare(config: dict[str, Any]) -> None:
    """Folders, the kernel's runtime dir and the shipped folder, before papermill starts."""
    if config["input"].endswith(".gz"):
        # The notebook travels gzipped (smaller ConfigMap); papermill reads it plain.
        plain = os.path.join(config.get("work_dir") or tempfile.gettempdir(), "input.ipynb")
        os.makedirs(os.path.dirname(plain), exist_ok=True)
        with gzip.open(config["input"], "rb") as src, open(plain, "wb") as dst:
            dst.write(src.read())
        config["input"] = plain
    output_dir = os.path.dirname(os.path.abspath(config["output"]))
    os.makedirs(output_dir, exist_ok=True)
    cwd = config.get("cwd")
    if cwd:
        os.makedirs(cwd, exist_ok=True)
    if not os.environ.get("JUPYTER_RUNTIME_DIR"):
        # The image's home may not be writable for the pod's user; the kernel's connection
        # file needs a writable place.
        work = config.get("work_dir") or None
        if work:
            os.makedirs(work, exist_ok=True)
        os.environ["JUPYTER_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="jupyter-runtime-", dir=work)
    if config.get("unpack"):
        n = unpack(config["unpack"], cwd or os.getcwd())
        log.info("unpacked %d files of the notebook's folder into %s", n, cwd or os.getcwd())


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
        frame_output(f.read())
    return None


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
    args = parser.parse_args(argv)
    _setup_logging()
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        config = load_config(args.config)
    except (OSError, ValueError) as exc:
        _config = {}
        line = emit("failed", ename="ConfigError", evalue=_short(exc), cell=None)
        _termination_message(line, {})
        return EXIT_FAILED
    _config = config
    _cancel_grace = float(config.get("cancel_grace_seconds") or DEFAULT_CANCEL_GRACE)
    _write_line(
        f"jupyter-k8s runner: executing {config['input']} with kernel "
        f"{config.get('kernel_name') or 'from the notebook'} (papermill {papermill.__version__}, "
        f"Python {sys.version.split()[0]})"
    )
    emit(
        "start",
        input=config["input"],
        output=config["output"],
        kernel=config.get("kernel_name"),
        output_mode=config.get("output_mode", "shared"),
    )
    return run(config)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: a kernel client thread left behind must not keep the pod running.
    os._exit(code)
