"""Where one real node keeps its files, and the host-wide names it uses (pure, no side effects).

Every path lives under `<cluster state dir>/realnode`, so `down` can remove it all. The names
that are host-wide (the bridge, the CNI network, the cgroup root, the pod subnet) carry a short
hash of the state directory, so two clusters on one machine (parallel test runs) do not meet.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

# 107 (a Unix socket path) less the longest socket path under the root (see Layout.root).
MAX_ROOT_LENGTH = 107 - len("/kubelet/root/device-plugins/kubelet.sock") - 4
SHORT_ROOT = Path("/var/lib/jupyter-k8s/nodes")
# Pod subnets are /24s taken from here, picked by the hash (see `subnet_candidates`).
POD_NETWORK_POOL = ipaddress.ip_network("10.88.0.0/16")


def cluster_id(state_dir: Path) -> str:
    return hashlib.sha256(str(state_dir.absolute()).encode()).hexdigest()[:6]


def subnet_candidates(cid: str) -> list[ipaddress.IPv4Network]:
    """Every /24 of the pool, starting at the one this cluster's id points at."""
    subnets = list(POD_NETWORK_POOL.subnets(new_prefix=24))
    start = int(cid, 16) % len(subnets)
    return [*subnets[start:], *subnets[:start]]  # type: ignore[list-item]


@dataclass(frozen=True)
class Layout:
    state_dir: Path  # the cluster's state dir

    @property
    def id(self) -> str:
        return cluster_id(self.state_dir)

    @property
    def root(self) -> Path:
        """`<state dir>/realnode`, unless that is too long for the node's Unix sockets.

        A socket's path has at most 107 bytes; the longest the node makes is the kubelet's
        `<root>/kubelet/root/device-plugins/kubelet.sock`. A deep state directory (pytest's
        tmp_path) gets its node under /var/lib/jupyter-k8s/nodes/<id> instead."""
        direct = self.state_dir / "realnode"
        if len(str(direct).encode()) <= MAX_ROOT_LENGTH:
            return direct
        return SHORT_ROOT / self.id

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    # -- containerd --
    @property
    def containerd_dir(self) -> Path:
        return self.root / "containerd"

    @property
    def containerd_config(self) -> Path:
        return self.containerd_dir / "config.toml"

    @property
    def containerd_root(self) -> Path:
        return self.containerd_dir / "root"

    @property
    def containerd_state(self) -> Path:
        return self.containerd_dir / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd_dir / "containerd.sock"

    @property
    def runc_root(self) -> Path:
        return self.containerd_dir / "runc"

    @property
    def endpoint(self) -> str:
        return f"unix://{self.containerd_socket}"

    # -- CNI --
    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def network_name(self) -> str:
        return f"jupyter-k8s-{self.id}"

    @property
    def bridge(self) -> str:
        # Linux interface names are at most 15 characters.
        return f"jk8s{self.id}"

    # -- kubelet --
    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.kubelet_dir / "config.yaml"

    @property
    def kubelet_root(self) -> Path:
        return self.kubelet_dir / "root"

    @property
    def pod_logs_dir(self) -> Path:
        return self.kubelet_dir / "pod-logs"

    @property
    def resolv_conf(self) -> Path:
        return self.kubelet_dir / "resolv.conf"

    @property
    def cgroup_root(self) -> str:
        # Pods of this node live under it in every cgroup v1 hierarchy (kubelet's cgroupRoot).
        return f"/jupyter-k8s-{self.id}"

    @property
    def images_dir(self) -> Path:
        return self.root / "images"
