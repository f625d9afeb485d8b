"""jupyter-k8s without a Jupyter server: its configuration, its root folder, its JobService.

The CLI (`jupyter k8s ...`) and the `%k8s_submit` magic run where no ServerApp loads the
extension, yet they must see the same configuration the server would: `c.JupyterK8s.*` from
the user's Jupyter config files. `load_settings` reads those files the way a ServerApp and its
extension do (see `load_jupyter_config`) and applies command-line overrides; `StandaloneJobs`
turns the result into a JobService with a Kubernetes client of its own.

Nothing here parses arguments or prints: the CLI and the magic each present what it returns
in their own way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .errors import NotFoundProblem, ValidationProblem
from .jobs.models import JobInfo, JobPhase
from .jobs.objects import CONTAINER
from .jobs.runlog import parse_marker, parse_runner_log, progress_of
from .jobs.service import JOB_NAME_LABEL
from .jobs.status import cell_progress
from .k8s.client import KubeClient, KubeError, resource_path
from .k8s.pods import container_started

if TYPE_CHECKING:
    from traitlets.config import Config

    from .config import JupyterK8s
    from .jobs.service import JobService

#: Config files read, lowest precedence first; each is looked for as .py and .json in every
#: directory of the Jupyter config path. A ServerApp reads jupyter_config and
#: jupyter_server_config; the extension (an ExtensionApp) reads jupyter_jupyter_k8s_config and
#: then takes the server's config over it, so that order is kept here.
CONFIG_FILES = ("jupyter_config", "jupyter_jupyter_k8s_config", "jupyter_server_config")

PROGRESS_TAIL_LINES = 2000  # of a running job's log, read to find its last cell marker


class ConfigProblem(ValidationProblem):
    """The Jupyter configuration (profiles, traits) is invalid."""


# -- configuration --------------------------------------------------------------------------------


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

    from .config import JupyterK8s

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


# -- the root folder ------------------------------------------------------------------------------


def server_root_dir(conf: JupyterK8s) -> Path | None:
    """`c.ServerApp.root_dir` when the configuration sets it."""
    value = conf.config.get("ServerApp", {}).get("root_dir")
    if isinstance(value, str) and value.strip():
        return Path(os.path.expanduser(value)).resolve()
    return None


def root_dir_for(conf: JupyterK8s, folder: Path) -> Path:
    """The folder notebook and output paths are relative to, for work started in `folder`.

    `folder` itself (the CLI's working directory, the magic's notebook folder), except with
    shared-volume staging: the volume holds the server's root folder, so paths must be
    relative to that root whenever `folder` lies inside it.
    """
    folder = folder.resolve()
    if conf.staging == "shared":
        server_root = server_root_dir(conf)
        if server_root is not None and (folder == server_root or server_root in folder.parents):
            return server_root
    return folder


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


# -- the job service ------------------------------------------------------------------------------


class StandaloneJobs:
    """The JobService of a process without a Jupyter server, and the Kubernetes client it uses
    (created on first need).

    It collects (writes under `root_dir`) only the executed notebooks of the jobs this process
    waits for: the user's other jobs may come from other folders, and the server or `fetch`
    collects them.
    """

    def __init__(self, conf: JupyterK8s, root_dir: Path, *, collect_outputs: bool = True):
        from .profiles import ProfileError
        from .services import make_job_service

        self.conf = conf
        self.root_dir = root_dir.resolve()
        self._client: KubeClient | None = None
        self._client_lock: asyncio.Lock | None = None
        try:
            self.service: JobService = make_job_service(conf, self.client, self.root_dir)
        except ProfileError as exc:
            raise ConfigProblem(f"invalid c.JupyterK8s.profiles: {exc}") from None
        # Only the jobs this process waits for (JobService.wait adds them).
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
            resource_path("jobs", ns),
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
        pods = [p for p in listing.get("items", []) if container_started(p)]
        return sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")

    async def _pod_log(self, pod: str, **params: Any) -> str:
        """The raw log of a job pod's notebook container (runner markers and frame included)."""
        client = await self.client()
        return await client.request(
            "GET",
            resource_path("pods", self.service.config.namespace, pod, sub="log"),
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
            current, total, line = cell_progress(progress_of(events))
            if current is not None:
                info.current_cell, info.total_cells, info.current_cell_line = current, total, line
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
