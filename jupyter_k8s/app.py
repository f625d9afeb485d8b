"""The jupyter-k8s server extension: the traits (jupyter_k8s.config) on an ExtensionApp, the
services (jupyter_k8s.services) in the tornado settings (jupyter_k8s.settings_keys), the
handlers, the kernel reattach and cullers, a clean stop."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_server.extension.application import ExtensionApp

from .config import JupyterK8s as JupyterK8sConfig
from .k8s.cluster import ClusterService
from .server_log import route_to_server_log
from .services import make_job_service, make_kernel_service
from .settings_keys import CLUSTER_SETTING, JOBS_SETTING, KERNELS_SETTING
from .version import __version__

if TYPE_CHECKING:
    import asyncio

    from jupyter_server.serverapp import ServerApp

    from .jobs.service import JobService
    from .kernels.service import KernelService


class JupyterK8s(ExtensionApp, JupyterK8sConfig):
    """Kubernetes one click from a notebook: the traits (jupyter_k8s.config) as a server
    extension."""

    name = "jupyter_k8s"
    description = "Kubernetes one click from a notebook: notebook jobs and remote GPU kernels."
    version = __version__
    load_other_extensions = True

    cluster: ClusterService | None = None
    jobs: JobService | None = None
    kernels: KernelService | None = None
    _culler: asyncio.Future[None] | None = None
    _collector: asyncio.Future[None] | None = None
    _freezer: asyncio.Future[None] | None = None

    @property
    def _kernels(self) -> KernelService:
        """The KernelService, once initialize_settings made it."""
        if self.kernels is None:
            raise RuntimeError("jupyter-k8s: the extension's settings are not initialized")
        return self.kernels

    def initialize_settings(self) -> None:
        # Nothing talks to the cluster here: the client is created on first use, so the server
        # starts (and reports why) when the cluster is unreachable or the kubeconfig broken.
        assert self.serverapp is not None  # ExtensionApp links the server before this
        route_to_server_log(self.log)
        cluster = self.cluster = ClusterService(
            self.kubeconfig,
            self.context,
            self.namespace,
            cache_seconds=self.cluster_info_cache_seconds,
            request_timeout=self.kube_request_timeout,
            logger=self.log,
        )
        self.settings[CLUSTER_SETTING] = cluster
        self.jobs = make_job_service(self, cluster.get_client, Path(self.serverapp.root_dir))
        self.settings[JOBS_SETTING] = self.jobs
        self._initialize_kernels(cluster)

    def _initialize_kernels(self, cluster: ClusterService) -> None:
        from .kernels.kernelspecs import server_kernelspecs, wrap_kernel_spec_manager
        from .kernels.service import set_server_service

        root_dir = self.serverapp.root_dir if self.serverapp is not None else None
        kernels = self.kernels = make_kernel_service(
            self, cluster.get_client, root_dir, self.log, jobs=self.jobs
        )
        set_server_service(kernels)
        self.settings[KERNELS_SETTING] = kernels
        serverapp = self.serverapp
        if self.kernel_websocket_nodelay:
            self._kernel_websockets_nodelay()
        if not self.kernelspecs or serverapp is None:
            return
        if getattr(getattr(serverapp, "gateway_config", None), "gateway_enabled", False):
            self.log.warning("jupyter-k8s: kernels run on a gateway; no Kubernetes kernelspecs")
            return
        assert kernels.profiles is not None  # make_kernel_service gives the server's its profiles
        specs = server_kernelspecs(kernels.profiles, curve=self.kernel_curve)
        server_ksm = serverapp.kernel_spec_manager
        assert server_ksm is not None  # ServerApp.init_configurables made it before extensions
        ksm = wrap_kernel_spec_manager(server_ksm, lambda: specs)
        serverapp.kernel_spec_manager = ksm
        if getattr(serverapp, "kernel_manager", None) is not None:
            serverapp.kernel_manager.kernel_spec_manager = ksm
        # ExtensionApp copies the server's settings into self.settings and back after
        # initialize_settings: set both.
        self.settings["kernel_spec_manager"] = ksm
        if getattr(serverapp, "web_app", None) is not None:
            serverapp.web_app.settings["kernel_spec_manager"] = ksm
        self.log.info("jupyter-k8s: kernelspecs %s", ", ".join(sorted(specs)))

    def _kernel_websockets_nodelay(self) -> None:
        """TCP_NODELAY on kernel websockets (kernels/websocket_nodelay.py says why)."""
        from .kernels.websocket_nodelay import with_nodelay

        key = "kernel_websocket_connection_class"
        web_app = getattr(self.serverapp, "web_app", None)
        base = (web_app.settings if web_app is not None else self.settings).get(key)
        if base is None:
            return
        wrapped = with_nodelay(base)
        # ExtensionApp copies the server's settings into self.settings and back after
        # initialize_settings: set both.
        self.settings[key] = wrapped
        if web_app is not None:
            web_app.settings[key] = wrapped

    def initialize_handlers(self) -> None:
        from .handlers import default_handlers
        from .kernels.handlers import kernel_handlers

        self.handlers.extend(default_handlers)
        self.handlers.extend(kernel_handlers)

    async def _start_jupyter_server_extension(self, serverapp: ServerApp) -> None:
        """Once the loop runs: reattach (or clean up) kernel pods, start the GPU culler."""
        import asyncio

        asyncio.ensure_future(self._reattach(serverapp))
        if self.freeze_heap:
            self._freezer = asyncio.ensure_future(self._freeze_heap())
        self._collector = asyncio.ensure_future(self._collect_stale_standalone())
        if self.gpu_kernel_idle_timeout > 0:
            self._culler = asyncio.ensure_future(self._cull_gpu_kernels(serverapp))

    async def _freeze_heap(self) -> None:
        """Leave the server's start-up objects, then the job caches' first listing, out of
        the garbage collector's full passes (jupyter_k8s.heap says why)."""
        from .heap import freeze_long_lived

        freeze_long_lived(self.log, "server started")
        if self.jobs is not None:
            await self.jobs.synced.wait()
            freeze_long_lived(self.log, "job caches listed")

    async def _reattach(self, serverapp: ServerApp) -> None:
        from .kernels.reattach import reattach_or_clean

        try:
            done = await reattach_or_clean(
                self._kernels,
                serverapp.kernel_manager,
                reattach=self.kernel_reattach,
                logger=self.log,
            )
        except Exception as exc:  # noqa: BLE001 - the cluster may be down: say it, go on
            self.log.warning("jupyter-k8s: kernel pods not checked at start: %s", exc)
            return
        if any(done.values()):
            self.log.info("jupyter-k8s: kernel pods at start: %s", done)

    async def _collect_stale_standalone(self) -> None:
        """Every minute: delete this user's kernel pods whose standalone client (papermill…)
        was killed (its heartbeat stopped)."""
        import asyncio

        while True:
            try:
                await self._kernels.start()
                await self._kernels.collect_stale_standalone()
            except Exception as exc:  # noqa: BLE001 - the cluster may be down: try again
                self.log.debug("jupyter-k8s: stale standalone kernel pods not checked: %s", exc)
            # Often enough for a short orphan threshold, at most once a minute.
            await asyncio.sleep(min(60.0, max(1.0, self.kernel_orphan_seconds / 2)))

    async def _cull_gpu_kernels(self, serverapp: ServerApp) -> None:
        import asyncio

        from .kernels.reattach import cull_idle_gpu_kernels

        interval = max(1, min(self.gpu_kernel_cull_interval, self.gpu_kernel_idle_timeout))
        while True:
            await asyncio.sleep(interval)
            try:
                await cull_idle_gpu_kernels(
                    serverapp.kernel_manager, self.gpu_kernel_idle_timeout, self.log
                )
            except Exception:  # noqa: BLE001 - keep culling
                self.log.exception("jupyter-k8s: GPU kernel culling failed")

    async def stop_extension(self) -> None:
        from .kernels.reattach import detach_all, shutdown_all
        from .kernels.service import server_service, set_server_service

        if self._culler is not None:
            self._culler.cancel()
        for task in (self._collector, self._freezer):
            if task is not None:
                task.cancel()
        km = getattr(self.serverapp, "kernel_manager", None) if self.serverapp else None
        if self.kernels is not None:
            if km is not None:
                try:
                    if self.kernel_reattach:
                        await detach_all(km, self.log)
                    else:
                        await shutdown_all(km, self.log)
                except Exception:  # noqa: BLE001 - stopping goes on
                    self.log.exception("jupyter-k8s: kernel pods at stop")
            await self.kernels.stop()
            if server_service() is self.kernels:
                set_server_service(None)
        if self.jobs is not None:
            await self.jobs.stop()
        if self.cluster is not None:
            await self.cluster.close()
