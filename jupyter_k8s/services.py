"""The services of jupyter-k8s made from its configuration (the `c.JupyterK8s.*` traits).

Shared by the server extension (jupyter_k8s.app) and the tools that run without a server
(the CLI, the %k8s_submit magic): they load a `jupyter_k8s.config.JupyterK8s` and call these.
Imports neither jupyter_server nor tornado.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import JupyterK8s
    from .jobs.service import JobService
    from .k8s.client import KubeClient
    from .kernels.service import KernelService

GetClient = Callable[[], Awaitable["KubeClient"]]


def make_job_service(conf: JupyterK8s, get_client: GetClient, root_dir: Path) -> JobService:
    """The JobService configured from the traits; `root_dir` is where notebook paths start."""
    from .jobs.service import JobsConfig, JobService
    from .profiles import default_image, load_profiles

    image = conf.default_image or default_image()
    profiles = load_profiles(conf.profiles, image)
    return JobService(
        get_client,
        profiles,
        JobsConfig(
            namespace=conf.namespace,
            owner=conf.owner,
            root_dir=root_dir,
            default_image=image,
            allowed_images=conf.allowed_images,
            staging="shared" if conf.staging == "shared" else "api",
            shared_volume=conf.shared_volume,
            shared_mount_path=conf.shared_mount_path or str(root_dir.resolve()),
            max_notebook_bytes=conf.max_notebook_bytes,
            max_output_bytes=conf.max_output_bytes,
            output_hold_seconds=conf.output_hold_seconds,
            default_ttl_seconds=conf.job_ttl_seconds,
            output_dir=conf.output_dir,
            notify_webhook=conf.notify_webhook,
        ),
    )


def make_kernel_service(
    conf: JupyterK8s,
    get_client: GetClient,
    root_dir: str | None,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
    jobs: JobService | None = None,
) -> KernelService:
    """The server's KernelService configured from the traits; `root_dir` is the Jupyter
    server's (the kernels' working directories and JPY_SESSION_NAME are under it); `jobs`:
    the server's JobService, whose Kueue QueueWatch the kernels share (one per namespace)."""
    from .kernels.queueing import jobs_queue_watch
    from .kernels.service import KernelsConfig, KernelService
    from .profiles import default_image, load_profiles

    image = conf.default_image or default_image()
    shared = conf.staging == "shared" and bool(conf.shared_volume)
    return KernelService(
        get_client,
        load_profiles(conf.profiles, image),
        KernelsConfig(
            namespace=conf.namespace,
            owner=conf.owner,
            client="server",
            default_image=image,
            start_timeout=conf.kernel_start_timeout,
            restart_max_backoff=conf.kernel_restart_max_backoff,
            server_stale_seconds=conf.kernel_orphan_seconds,
            root_dir=root_dir,
            shared_volume=conf.shared_volume if shared else None,
            shared_mount_path=(conf.shared_mount_path or str(Path(root_dir).resolve()))
            if shared and root_dir
            else None,
        ),
        logger=logger,
        queue_watch=jobs_queue_watch(jobs) if jobs is not None else None,
    )
