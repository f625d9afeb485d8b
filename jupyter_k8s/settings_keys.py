"""Where the extension puts its services in the tornado settings, and the handlers find them.

A module of its own so that the handlers need not import the extension app (which imports
them): the app writes these keys, the handlers read them. (`settings["jupyter_k8s"]` itself
is the ExtensionApp: jupyter_server's ExtensionHandlerMixin looks the app up under its name.)
"""

from __future__ import annotations

#: The ClusterService (jupyter_k8s.k8s.cluster).
CLUSTER_SETTING = "jupyter_k8s_cluster"
#: The JobService (jupyter_k8s.jobs.service).
JOBS_SETTING = "jupyter_k8s_jobs"
#: The KernelService (jupyter_k8s.kernels.service).
KERNELS_SETTING = "jupyter_k8s_kernels"
