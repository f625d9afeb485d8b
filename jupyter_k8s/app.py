"""The jupyter-k8s server extension: configuration, services in the tornado settings, handlers."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Unicode

from . import __version__
from .k8s.cluster import ClusterService

# Key of the ClusterService in the tornado settings. (`settings["jupyter_k8s"]` itself is the
# ExtensionApp: jupyter_server's ExtensionHandlerMixin looks the app up under its name.)
CLUSTER_SETTING = "jupyter_k8s_cluster"


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

    cluster: ClusterService | None = None

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

    def initialize_handlers(self) -> None:
        from .handlers import default_handlers

        self.handlers.extend(default_handlers)

    async def stop_extension(self) -> None:
        if self.cluster is not None:
            await self.cluster.close()
