"""The jupyter-k8s server extension: configuration, services in the tornado settings, handlers."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Enum, Float, Int, List, Unicode, default

from . import __version__
from .k8s.cluster import ClusterService

# Key of the ClusterService in the tornado settings. (`settings["jupyter_k8s"]` itself is the
# ExtensionApp: jupyter_server's ExtensionHandlerMixin looks the app up under its name.)
CLUSTER_SETTING = "jupyter_k8s_cluster"
JOBS_SETTING = "jupyter_k8s_jobs"
KERNELS_SETTING = "jupyter_k8s_kernels"


class JupyterK8s(ExtensionApp):
    """Kubernetes one click from a notebook."""

    name = "jupyter_k8s"
    description = "Kubernetes one click from a notebook: notebook jobs and remote GPU kernels."
    version = __version__
    load_other_extensions = True

    kubeconfig = Unicode(
        None,
        allow_none=True,
        config=True,
        help="""Path of the kubeconfig file to use. Default: $KUBECONFIG, then ~/.kube/config,
        then the in-cluster service account when the server runs in a pod.""",
    )

    context = Unicode(
        None,
        allow_none=True,
        config=True,
        help="""Name of the kubeconfig context to use. Default: the kubeconfig's current
        context.""",
    )

    namespace = Unicode(
        None,
        allow_none=True,
        config=True,
        help="""Namespace where jobs and kernel pods are created. Default: the namespace of the
        kubeconfig context, or the pod's own namespace when running in a cluster, else
        "default".""",
    )

    cluster_info_cache_seconds = Float(
        2.0,
        config=True,
        help="""How long a cluster summary (GET /jupyter-k8s/cluster) is reused before the
        Kubernetes API is asked again, so that polling clients do not load the API server.""",
    )

    kube_request_timeout = Float(
        10.0,
        config=True,
        help="""Timeout in seconds of each Kubernetes API call made for the cluster summary.""",
    )

    profiles = List(
        Dict(),
        default_value=None,
        allow_none=True,
        config=True,
        help="""Resource profiles jobs and kernels can use: a list of dicts with name,
        display_name, description, image, cpu_request, cpu_limit, memory_request, memory_limit,
        gpus, gpu_resource (nvidia.com/gpu, amd.com/gpu, ...), node_selector, tolerations,
        runtime_class_name, env, pod_overrides and default. Validated at start. Default: a
        "cpu" profile (the default) and a "gpu" profile with one nvidia.com/gpu.""",
    )

    default_image = Unicode(
        None,
        allow_none=True,
        config=True,
        help="""Image of job and kernel pods when neither the request nor the profile names one.
        Default: the image this server runs in, as JupyterHub sets it (JUPYTER_IMAGE_SPEC /
        JUPYTER_IMAGE), else none (profiles must then name an image).""",
    )

    allowed_images = List(
        Unicode(),
        default_value=None,
        allow_none=True,
        config=True,
        help="""Images a user may ask for in a submit request (shell-style patterns such as
        "quay.io/jupyter/*"). None: any image; []: only the profiles' images.""",
    )

    owner = Unicode(
        config=True,
        help="""Whose jobs this server shows and creates (the owner label of every object).
        Default: the JupyterHub user (JUPYTERHUB_USER) when under JupyterHub, else the login
        name of the server's process.""",
    )

    @default("owner")
    def _default_owner(self) -> str:
        return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()

    staging = Enum(
        ["api", "shared"],
        default_value="api",
        config=True,
        help="""How notebooks travel to job pods and executed notebooks back. "api": through
        the Kubernetes API only (a ConfigMap in, the runner's log out; works from a laptop with a
        kubeconfig; bounded by max_notebook_bytes and max_output_bytes). "shared": the pod
        mounts shared_volume at shared_mount_path (the server's root directory as the pod sees
        it), so relative paths and data files just work and the runner writes the output in
        place.""",
    )

    shared_volume = Dict(
        None,
        allow_none=True,
        config=True,
        help="""The pod volume source used by "shared" staging, e.g.
        {"persistentVolumeClaim": {"claimName": "home"}}.""",
    )

    shared_mount_path = Unicode(
        None,
        allow_none=True,
        config=True,
        help="""Where shared_volume is mounted in job pods. Default: the server's root
        directory, so paths are the same on both sides.""",
    )

    output_dir = Unicode(
        None,
        allow_none=True,
        config=True,
        help="""Folder (relative to the server root) for executed notebooks. Default: next to
        the input notebook, named <notebook>.<job id>.ipynb.""",
    )

    max_notebook_bytes = Int(
        5_000_000,
        config=True,
        help="""Largest notebook "api" staging sends to a job. It travels gzipped in a
        ConfigMap with the runner, which must fit the 1 MiB a ConfigMap can hold: a notebook
        that doesn't compress that far (large embedded images) is refused with 413.""",
    )

    max_output_bytes = Int(
        50 * 1024 * 1024,
        config=True,
        help="""Largest executed notebook "api" staging brings back.""",
    )

    job_ttl_seconds = Int(
        7 * 24 * 3600,
        config=True,
        help="""How long finished jobs (and their pods and logs) are kept before Kubernetes
        deletes them (ttlSecondsAfterFinished).""",
    )

    kernel_start_timeout = Float(
        600.0,
        config=True,
        help="""Seconds a remote kernel's pod may take to start (scheduling, GPU node scale-up,
        image pull) before the start fails with the last reason and the pod is deleted.""",
    )

    kernel_reattach = Bool(
        True,
        config=True,
        help="""Remote kernels outlive a server restart: at stop the server leaves their pods
        running, at start it reattaches the kernels whose pod still runs (same kernel id,
        same state). False: kernels are shut down with the server, and at start kernel pods
        left by a previous server of this user are deleted.""",
    )

    kernel_restart_max_backoff = Float(
        5.0,
        config=True,
        help="""A kernel restart happens in the kernel's pod (same IP, same GPU): the kernel
        exits and the kubelet starts it again. When the kubelet's crash-loop back-off would
        make that wait longer than this many seconds (it grows after quick restarts), the
        restart makes a new pod instead, which must be scheduled again (and may wait for a
        GPU).""",
    )

    kernel_orphan_seconds = Float(
        300.0,
        config=True,
        help="""A kernel pod whose server (or standalone client) stopped renewing its heartbeat
        this many seconds ago is an orphan: another server of the same owner may adopt or
        delete it. Until then, two servers of one user never touch each other's kernels.
        Servers and standalone clients renew their pods' heartbeat every 30 s, or 4 times
        within this when it is shorter; `jupyter k8s kernelspec install` writes it into the
        kernelspec for papermill.""",
    )

    kernelspecs = Bool(
        True,
        config=True,
        help="""Serve one kernelspec per profile ("Python 3 · Kubernetes · <profile>", named
        k8s-<profile>) through the server's kernelspec API, without writing any file.""",
    )

    kernel_curve = Bool(
        True,
        config=True,
        help="""CurveZMQ transport encryption for remote kernels: the kernelspecs declare
        support and the provisioner makes a key pair (which travels only in the kernel's
        Secret), whatever c.MappingKernelManager.transport_encryption says. Where the image's
        ipykernel does not use the keys (older than 7.4) the kernel runs unencrypted, with a
        warning in the log and in its status; with transport_encryption = "required" it
        fails to start instead. False: no encryption.""",
    )

    gpu_kernel_idle_timeout = Int(
        0,
        config=True,
        help="""Shut down remote kernels that hold GPUs after this many seconds without
        activity (0: off). Shorter than c.MappingKernelManager.cull_idle_timeout, which applies
        to every kernel; cull_busy and cull_connected are honoured as by that culler.""",
    )

    gpu_kernel_cull_interval = Int(
        60,
        config=True,
        help="""Seconds between checks for idle GPU kernels (see gpu_kernel_idle_timeout).""",
    )

    cluster: ClusterService | None = None
    jobs = None  # the JobService
    kernels = None  # the KernelService
    _culler = None
    _collector = None

    def initialize_settings(self) -> None:
        # Nothing talks to the cluster here: the client is created on first use, so the server
        # starts (and reports why) when the cluster is unreachable or the kubeconfig broken.
        self.cluster = ClusterService(
            self.kubeconfig,
            self.context,
            self.namespace,
            cache_seconds=self.cluster_info_cache_seconds,
            request_timeout=self.kube_request_timeout,
            logger=self.log,
        )
        self.settings[CLUSTER_SETTING] = self.cluster
        self.jobs = make_job_service(self, self.cluster.get_client, Path(self.serverapp.root_dir))
        self.settings[JOBS_SETTING] = self.jobs
        self._initialize_kernels()

    def _initialize_kernels(self) -> None:
        from .kernels.kernelspecs import server_kernelspecs, wrap_kernel_spec_manager
        from .kernels.service import set_server_service

        self.kernels = make_kernel_service(self, self.cluster.get_client)
        set_server_service(self.kernels)
        self.settings[KERNELS_SETTING] = self.kernels
        serverapp = self.serverapp
        if not self.kernelspecs or serverapp is None:
            return
        if getattr(getattr(serverapp, "gateway_config", None), "gateway_enabled", False):
            self.log.warning("jupyter-k8s: kernels run on a gateway; no Kubernetes kernelspecs")
            return
        specs = server_kernelspecs(self.kernels.profiles, curve=self.kernel_curve)
        ksm = wrap_kernel_spec_manager(serverapp.kernel_spec_manager, lambda: specs)
        serverapp.kernel_spec_manager = ksm
        if getattr(serverapp, "kernel_manager", None) is not None:
            serverapp.kernel_manager.kernel_spec_manager = ksm
        # ExtensionApp copies the server's settings into self.settings and back after
        # initialize_settings: set both.
        self.settings["kernel_spec_manager"] = ksm
        if getattr(serverapp, "web_app", None) is not None:
            serverapp.web_app.settings["kernel_spec_manager"] = ksm
        self.log.info("jupyter-k8s: kernelspecs %s", ", ".join(sorted(specs)))

    def initialize_handlers(self) -> None:
        from .handlers import default_handlers
        from .kernels.handlers import kernel_handlers

        self.handlers.extend(default_handlers)
        self.handlers.extend(kernel_handlers)

    async def _start_jupyter_server_extension(self, serverapp) -> None:
        """Once the loop runs: reattach (or clean up) kernel pods, start the GPU culler."""
        import asyncio

        asyncio.ensure_future(self._reattach(serverapp))
        self._collector = asyncio.ensure_future(self._collect_stale_standalone())
        if self.gpu_kernel_idle_timeout > 0:
            self._culler = asyncio.ensure_future(self._cull_gpu_kernels(serverapp))

    async def _reattach(self, serverapp) -> None:
        from .kernels.reattach import reattach_or_clean

        try:
            done = await reattach_or_clean(
                self.kernels,
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
                await self.kernels.start()
                await self.kernels.collect_stale_standalone()
            except Exception as exc:  # noqa: BLE001 - the cluster may be down: try again
                self.log.debug("jupyter-k8s: stale standalone kernel pods not checked: %s", exc)
            # Often enough for a short orphan threshold, at most once a minute.
            await asyncio.sleep(min(60.0, max(1.0, self.kernel_orphan_seconds / 2)))

    async def _cull_gpu_kernels(self, serverapp) -> None:
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
        if self._collector is not None:
            self._collector.cancel()
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


def make_kernel_service(conf: JupyterK8s, get_client):
    """The KernelService configured from the traits."""
    from .kernels.service import KernelsConfig, KernelService
    from .profiles import default_image, load_profiles

    image = conf.default_image or default_image()
    # As jupyter_server has it: the kernels' cwd and JPY_SESSION_NAME are under it.
    root_dir = conf.serverapp.root_dir if conf.serverapp is not None else None
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
        logger=conf.log,
    )


def make_job_service(conf: JupyterK8s, get_client, root_dir: Path):
    """The JobService configured from the traits (shared by the server and the CLI)."""
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
            staging="shared" if conf.staging == "shared" else "configmap",
            shared_volume=conf.shared_volume,
            shared_mount_path=conf.shared_mount_path or str(root_dir.resolve()),
            max_notebook_bytes=conf.max_notebook_bytes,
            max_output_bytes=conf.max_output_bytes,
            default_ttl_seconds=conf.job_ttl_seconds,
            output_dir=conf.output_dir,
        ),
    )
