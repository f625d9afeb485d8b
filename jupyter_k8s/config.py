"""The configuration of jupyter-k8s: the `c.JupyterK8s.*` traits, apart from the server.

`JupyterK8s` here is a plain Configurable holding every trait, with help text. The server
extension (`jupyter_k8s.app.JupyterK8s`) is one, and so is what the CLI and the %k8s_submit
magic load from the user's Jupyter config files where no server runs: both read the
`c.JupyterK8s` section (traitlets finds a class's section by its name, hence the same name).
`jupyter_k8s.services` turns one into the services. Importing this module imports neither
jupyter_server nor tornado.
"""

from __future__ import annotations

import getpass
import os
from typing import Any

from traitlets import Bool, Dict, Enum, Float, Int, List, TraitError, Unicode, default, validate
from traitlets.config import LoggingConfigurable


class JupyterK8s(LoggingConfigurable):
    """The `c.JupyterK8s.*` traits: Kubernetes one click from a notebook."""

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

    freeze_heap = Bool(
        True,
        config=True,
        help="""Leave the server's long-lived objects (its start-up, the job caches' first
        listing) out of the garbage collector's full passes (gc.freeze), which otherwise
        stall the event loop for a time that grows with them. Process-wide.""",
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

    output_hold_seconds = Float(
        900.0,
        config=True,
        help="""With "api" staging, an executed notebook too large for the pod log (over
        ~3 MiB compressed) is held by its pod, which serves it on its IP until this server has
        fetched it: for at most this many seconds, after which it is lost (the job fails
        with OutputNotCollected). The server fetches it as soon as it sees the job end, or
        when it starts again within this time.""",
    )

    job_ttl_seconds = Int(
        7 * 24 * 3600,
        config=True,
        help="""How long finished jobs (and their pods and logs) are kept before Kubernetes
        deletes them (ttlSecondsAfterFinished).""",
    )

    notify_webhook = Unicode(
        None,
        allow_none=True,
        config=True,
        help="""URL (http or https) that gets a Slack/Teams-compatible JSON POST
        ({"text": ..., "job_id": ..., "phase": ...}) once when a job or a whole sweep of this
        user ends. A secret (Slack's URLs carry a token): never logged nor shown. Per user: set
        it in the user's own Jupyter config (JupyterHub gives each user a server and config
        dir). Default: no notifications.""",
    )

    @validate("notify_webhook")
    def _check_notify_webhook(self, proposal: Any) -> str | None:
        from .jobs.notify import check_webhook

        try:
            return check_webhook(proposal["value"])
        except ValueError as exc:
            raise TraitError(str(exc)) from None

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
        exits and the kubelet starts it again. When the kubelet has not started it again this
        many seconds after it ended (its crash-loop back-off grows after quick restarts: a
        real kubelet waits 10 s before the second within 10 minutes), the restart makes a new
        pod instead, which must be scheduled again (and may wait for a GPU).""",
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

    kernel_websocket_nodelay = Bool(
        True,
        config=True,
        help="""Set TCP_NODELAY on the server's kernel websockets (every kernel's, local or
        remote). jupyter_server leaves Nagle's algorithm on there, which holds each reply
        frame after the first until the browser acknowledges, up to 40 ms a cell; with it
        an execute through the server takes 5 ms instead of 48 ms (bench/kernels.py).
        False: the server's kernel websockets are left as they are.""",
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
