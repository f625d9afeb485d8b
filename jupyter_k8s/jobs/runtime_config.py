"""Notebook jobs without a Jupyter server: configuration, the JobService, paths, status text.

The CLI (`jupyter k8s ...`) and the `%k8s_submit` magic run where no ServerApp loads the
extension, yet they must see the same configuration the server would: `c.JupyterK8s.*` from
the user's Jupyter config files. `load_settings` reads those files the way a ServerApp and its
extension do (see `load_jupyter_config`), applies command-line overrides and gives a
`JupyterK8s` whose traits `app.make_job_service` turns into a JobService.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundProblem, ValidationProblem
from ..k8s.client import KubeClient, KubeError
from .models import JobInfo, JobPhase
from .objects import CONTAINER
from .runlog import parse_marker, parse_runner_log, progress_of

if TYPE_CHECKING:
    from traitlets.config import Config

    from ..app import JupyterK8s
    from .service import JobService

#: Config files read, lowest precedence first; each is looked for as .py and .json in every
#: directory of the Jupyter config path. A ServerApp reads jupyter_config and
#: jupyter_server_config; the extension (an ExtensionApp) reads jupyter_jupyter_k8s_config and
#: then takes the server's config over it, so that order is kept here.
CONFIG_FILES = ("jupyter_config", "jupyter_jupyter_k8s_config", "jupyter_server_config")

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
PROGRESS_TAIL_LINES = 2000  # of a running job's log, read to find its last cell marker


class ConfigProblem(ValidationProblem):
    """The Jupyter configuration (profiles, traits) is invalid."""


def config_paths() -> list[str]:
    """The Jupyter config path, highest precedence first, as `JupyterApp.config_file_paths`."""
    from jupyter_core.paths import jupyter_config_dir, jupyter_config_path

    paths = jupyter_config_path()
    config_dir = jupyter_config_dir()
    if config_dir not in paths:
        paths.insert(0, config_dir)
    return paths


def load_jupyter_config(
    paths: list[str] | None = None, warn: Callable[[str], Any] | None = None
) -> Config:
    """The merged traitlets Config of the files a Jupyter server would read for jupyter_k8s.

    A file that fails to load is skipped with a one-line warning, as the server does (it logs
    and starts anyway). `jupyter_server_config.d/*.json` files are not read: the server only
    takes `jpserver_extensions` from them.
    """
    from traitlets.config import Config
    from traitlets.config.loader import ConfigFileNotFound, JSONFileConfigLoader, PyFileConfigLoader

    if paths is None:
        paths = config_paths()
    merged = Config()
    for base in CONFIG_FILES:
        for directory in reversed(paths):  # lowest precedence first
            for loader_class, ext in ((PyFileConfigLoader, ".py"), (JSONFileConfigLoader, ".json")):
                loader = loader_class(base + ext, path=directory)
                try:
                    merged.merge(loader.load_config())
                except ConfigFileNotFound:
                    continue
                except Exception as exc:  # noqa: BLE001 - a user's config file may raise anything
                    if warn is not None:
                        where = os.path.join(directory, base + ext)
                        warn(f"ignoring config file {where}: {type(exc).__name__}: {exc}")
    return merged


def load_settings(
    kubeconfig: str | None = None,
    context: str | None = None,
    namespace: str | None = None,
    *,
    config: Config | None = None,
    warn: Callable[[str], Any] | None = None,
) -> JupyterK8s:
    """A `JupyterK8s` with the user's Jupyter configuration and the given overrides."""
    from traitlets import TraitError

    from ..app import JupyterK8s

    cfg = load_jupyter_config(warn=warn) if config is None else config
    try:
        app = JupyterK8s(config=cfg)
        if kubeconfig:
            app.kubeconfig = os.path.abspath(os.path.expanduser(kubeconfig))
        if context:
            app.context = context
        if namespace:
            app.namespace = namespace
    except TraitError as exc:
        raise ConfigProblem(f"invalid jupyter-k8s configuration: {exc}") from None
    return app


def server_root_dir(conf: JupyterK8s) -> Path | None:
    """`c.ServerApp.root_dir` when the configuration sets it."""
    value = conf.config.get("ServerApp", {}).get("root_dir")
    if isinstance(value, str) and value.strip():
        return Path(os.path.expanduser(value)).resolve()
    return None


def relative_notebook_path(
    root: Path,
    path: str | os.PathLike[str],
    cwd: Path | None = None,
    hint: str = "run the command from a folder that holds the notebook",
) -> str:
    """`path` (relative to `cwd`, or absolute) as a '/'-separated path relative to `root`."""
    cwd = Path.cwd() if cwd is None else cwd
    target = Path(os.path.expanduser(os.fspath(path)))
    if not target.is_absolute():
        target = cwd / target
    target = Path(os.path.abspath(target))  # '..' removed, symlinks kept
    # Resolved (symlinked folders compare equal) first, then as written.
    for base, candidate in (
        (root.resolve(), target.parent.resolve() / target.name),
        (Path(os.path.abspath(root)), target),
    ):
        try:
            rel = candidate.relative_to(base)
        except ValueError:
            continue
        if rel.parts:
            return PurePosixPath(*rel.parts).as_posix()
    raise ValidationProblem(
        f"{os.fspath(path)} is outside {root}, the folder notebook paths are relative to; {hint}",
        field="notebook",
    )


class Runtime:
    """A JobService of its own with the Kubernetes client it uses, created on first need."""

    def __init__(self, conf: JupyterK8s, root_dir: Path, *, collect_outputs: bool = True):
        from ..app import make_job_service
        from ..profiles import ProfileError

        self.conf = conf
        self.root_dir = root_dir.resolve()
        self._client: KubeClient | None = None
        self._client_lock: asyncio.Lock | None = None
        try:
            self.service: JobService = make_job_service(conf, self.client, self.root_dir)
        except ProfileError as exc:
            raise ConfigProblem(f"invalid c.JupyterK8s.profiles: {exc}") from None
        # Only the jobs this process waits for (submit --wait, fetch, the magic): the user's
        # other jobs may come from other folders, and the server or `fetch` collects them.
        self.service.collect_only = set()
        # Commands that only look (jobs, status, logs...) write nothing: they exit at once,
        # maybe in the middle of a write.
        self.service.collect_enabled = collect_outputs

    async def client(self) -> KubeClient:
        if self._client_lock is None:
            self._client_lock = asyncio.Lock()
        async with self._client_lock:
            if self._client is None:
                self._client = await KubeClient.from_kubeconfig(
                    self.conf.kubeconfig, self.conf.context, self.conf.namespace
                )
            return self._client

    async def connect(self) -> JobService:
        """Check access with one quick call (a clear error now, not a 15 s wait), then start."""
        client = await self.client()
        ns = self.conf.namespace or client.namespace
        await client.request(
            "GET",
            f"/apis/batch/v1/namespaces/{ns}/jobs",
            params={"limit": 1, "labelSelector": self.service.selector},
            timeout=max(self.conf.kube_request_timeout, 5.0),
        )
        await self.service.start()
        return self.service

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.service.stop()
        if self._client is not None:
            await self._client.close()
            self._client = None

    # -- reading what the service does not keep -----------------------------------------------

    async def _pods(self, name: str) -> list[dict[str, Any]]:
        client = await self.client()
        listing = await client.list(
            "pods", self.service.config.namespace, labelSelector=f"{JOB_NAME_LABEL}={name}"
        )
        pods = [p for p in listing.get("items", []) if _started(p)]
        return sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")

    async def _pod_log(self, pod: str, **params: Any) -> str:
        client = await self.client()
        return await client.request(
            "GET",
            f"/api/v1/namespaces/{self.service.config.namespace}/pods/{pod}/log",
            params={"container": CONTAINER, **params},
            raw=True,
            timeout=60,
        )

    async def add_progress(self, info: JobInfo) -> JobInfo:
        """Fill in the cell a job is at from its log, when the service did not follow it."""
        if info.current_cell is not None or info.phase == JobPhase.PENDING:
            return info
        with contextlib.suppress(KubeError):
            pods = await self._pods(info.id)
            if not pods:
                return info
            text = await self._pod_log(pods[-1]["metadata"]["name"], tailLines=PROGRESS_TAIL_LINES)
            events = [m[1] for line in text.splitlines() if (m := parse_marker(line))]
            progress = progress_of(events)
            if progress and progress.get("index") is not None:
                info.current_cell = int(progress["index"]) + 1
                info.total_cells = progress.get("total")
                final = progress.get("final") or {}
                if final.get("event") == "succeeded" and info.total_cells is not None:
                    info.current_cell = info.total_cells
        return info

    async def output_from_log(self, name: str) -> bytes:
        """The executed notebook read again from the job's pod log (pods are kept until TTL)."""
        pods = await self._pods(name)
        for pod in reversed(pods):
            text = await self._pod_log(pod["metadata"]["name"])
            parsed = parse_runner_log(text, max_output_bytes=self.service.config.max_output_bytes)
            if parsed.output is not None:
                return parsed.output
        raise NotFoundProblem(
            f"the executed notebook of job {name} is not in {self.root_dir} and its pod log is "
            "gone; it was collected elsewhere (e.g. by the Jupyter server, into its root folder)"
        )


def _started(pod: dict[str, Any]) -> bool:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if {"running", "terminated"} & set(cs.get("state") or {}):
            return True
    return False


# -- text for people ------------------------------------------------------------------------------


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def age_text(when: datetime | None, now: datetime | None = None) -> str:
    if when is None:
        return "-"
    now = now or datetime.now(UTC)
    s = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def cell_text(info: JobInfo) -> str:
    if info.current_cell is None:
        return "-"
    return f"{info.current_cell}/{info.total_cells}" if info.total_cells else str(info.current_cell)


def status_line(info: JobInfo) -> str:
    """One line: 'Pending: Unschedulable: 0/1 nodes ...', 'Running: cell 3/7', 'Failed: ...'."""
    parts = [info.phase.value]
    if info.reason and info.reason not in ("Cancelled",):
        parts.append(info.reason)
    if info.message and info.phase != JobPhase.SUCCEEDED:
        parts.append(" ".join(info.message.split()))  # one line, whatever the message holds
    if info.phase == JobPhase.RUNNING and info.current_cell is not None:
        parts.append(f"cell {cell_text(info)}")
    if info.phase.finished and info.output_state == "pending":
        parts.append("collecting the executed notebook")
    return ": ".join(parts)


class StatusChanges:
    """Feed it every JobInfo; it answers the status line when that changed, else None.

    Between the pod's end and the Job's Complete/Failed condition the job reads as Pending
    again for a moment (no pod runs, no condition yet): that blip is not shown.
    """

    def __init__(self) -> None:
        self.last: str | None = None
        self._ran = False

    def __call__(self, info: JobInfo) -> str | None:
        if info.phase == JobPhase.RUNNING:
            self._ran = True
        elif info.phase == JobPhase.PENDING and self._ran and not info.reason:
            return None
        line = status_line(info)
        if line == self.last:
            return None
        self.last = line
        return line


def exit_status(info: JobInfo) -> int:
    """0 when the job succeeded and its executed notebook is there; 1 otherwise."""
    if info.phase != JobPhase.SUCCEEDED:
        return 1
    return 1 if info.output_state == "error" else 0


def isatty(stream: Any = None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
