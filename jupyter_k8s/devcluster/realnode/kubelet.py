"""The kubelet of the real node: its KubeletConfiguration and command line (pure).

Choices that matter on these machines, and why:
- failCgroupV1: false - the hosts have cgroup v1 (one hierarchy per controller); the kubelet
  refuses v1 from 1.35 on unless told otherwise.
- cgroupDriver: cgroupfs - no systemd here; containerd is configured the same way.
- cgroupRoot under /jupyter-k8s-<id> - two kubelets on one host must not share /kubepods.
- makeIPTablesUtilChains: false - its KUBE-FIREWALL chain only matters with kube-proxy, which
  this node does not run, and it would leave host-wide rules behind.
- the API server reaches the kubelet by the node's InternalIP (a kubelet refuses a loopback
  node IP), and checks its serving certificate against the cluster CA: the serving
  certificate is issued for that IP.
- the kubelet authenticates callers by client certificate (cluster CA) and asks the API server
  whether each may act (Webhook); anonymous access is off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .. import DEFAULT_MAX_PODS
from .layout import Layout

CONTAINER_LOG_MAX_SIZE = "10Mi"


@dataclass(frozen=True)
class KubeletSettings:
    node_name: str
    node_ip: str
    port: int
    healthz_port: int
    pod_cidr: str
    client_ca: Path
    serving_cert: Path
    serving_key: Path
    kubeconfig: Path
    max_pods: int = DEFAULT_MAX_PODS


def render_config(layout: Layout, s: KubeletSettings) -> str:
    config: dict[str, object] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": s.node_ip,
        "port": s.port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": s.healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(s.client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(s.serving_cert),
        "tlsPrivateKeyFile": str(s.serving_key),
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "containerRuntimeEndpoint": layout.endpoint,
        "imageServiceEndpoint": layout.endpoint,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": layout.cgroup_root,
        "cgroupsPerQOS": True,
        "failCgroupV1": False,
        "failSwapOn": False,
        # Its default, -999, needs CAP_SYS_RESOURCE, which these VMs drop (it only logs that).
        "oomScoreAdj": 0,
        "makeIPTablesUtilChains": False,
        "podCIDR": s.pod_cidr,
        "resolvConf": str(layout.resolv_conf),
        "podLogsDir": str(layout.pod_logs_dir),
        "containerLogMaxSize": CONTAINER_LOG_MAX_SIZE,
        "containerLogMaxFiles": 3,
        "maxPods": s.max_pods,
        # No static pods: everything comes from the API server.
        "staticPodPath": "",
        # A developer's disk is often fuller than a server's; evict only when nearly full.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
            "nodefs.inodesFree": "2%",
        },
        # Images here are imported, never pulled: the kubelet must not delete them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # Quicker than the defaults, so a dev cluster reacts at human speed.
        "nodeStatusUpdateFrequency": "4s",
        "syncFrequency": "10s",
        "serializeImagePulls": False,
    }
    return yaml.safe_dump(config, sort_keys=False)


def command(binary: Path, layout: Layout, s: KubeletSettings) -> list[str]:
    return [
        str(binary),
        f"--config={layout.kubelet_config}",
        f"--kubeconfig={s.kubeconfig}",
        f"--root-dir={layout.kubelet_root}",
        f"--hostname-override={s.node_name}",
        f"--node-ip={s.node_ip}",
        "--v=1",
    ]


def render_resolv_conf(host_resolv_conf: str) -> str:
    """The host's resolver for pods; loopback resolvers (systemd-resolved's 127.0.0.53, dnsmasq)
    cannot be reached from a pod's own network namespace, so they are left out."""
    lines = []
    for line in host_resolv_conf.splitlines():
        words = line.split()
        if words[:1] == ["nameserver"] and len(words) > 1 and words[1].startswith("127."):
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"
