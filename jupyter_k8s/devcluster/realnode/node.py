"""Start and stop the real node (containerd + kubelet) of one local cluster, and clean up after it.

`preflight` runs before the control plane starts (so a missing prerequisite fails in seconds):
it checks the host and finds or builds the binaries and images. `start` writes the
configuration, creates the node's bridge (its address is the node's InternalIP and the pods'
gateway) and cgroup root, starts containerd in the node's mount namespace (mountns_exec.py),
imports the images, and starts the kubelet in that same namespace. Both are components of the
cluster state (`containerd`, `kubelet`), so `status` shows them and `wait_ready` notices if
one exits.

`teardown` is what `down` runs first: stop the kubelet, remove every pod sandbox through the
CRI (each one's CNI DEL removes its veth, address and rules), stop containerd, kill whatever
still runs in the node's mount namespace, then sweep by name what a killed node may have left
(NAT rules of its network, its bridge, its cgroups) and remove its directory.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..mountns_exec import bind_args
from ..mounts import unmount_under
from . import cni, containerd, images, kubelet, prereqs
from .build import ensure_node_binaries
from .errors import RealNodeError
from .layout import SHORT_ROOT, Layout, subnet_candidates
from .procs import alive, free_port, stop

if TYPE_CHECKING:
    from ..build import Versions
    from ..controlplane import ClusterState, DevCluster

Progress = Callable[[str], None]
NODE_COMPONENTS = ("containerd", "kubelet")
CGROUP_FS = Path("/sys/fs/cgroup")

# The values the kubelet insists on (cm/container_manager_linux.go setupKernelTunables). In the
# node's mount namespace these files show them, so it changes nothing on the host.
# ip_forward: the bridge plugin turns forwarding on for the whole host; here it writes a file.
KERNEL_TUNABLES = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
    "net/ipv4/ip_forward": "1",
}
# Host-wide paths containerd 1.6 and the kubelet use whatever their configuration says.
PRIVATE_DIRS = {
    "/run/containerd": "run-containerd",
    "/run/netns": "run-netns",
    "/var/log/containers": "var-log-containers",
}


@dataclass
class NodeRecord:
    """realnode/state.json: what teardown needs even when the cluster's own state is gone."""

    subnet: str
    node_ip: str
    bridge: str
    network: str
    cgroup_root: str
    mount_ns: str = ""
    cgroup_dirs: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> NodeRecord | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))


@dataclass(frozen=True)
class Prepared:
    binaries: dict[str, Path]
    images: dict[str, Path]  # image name -> OCI archive


def preflight(versions: Versions, progress: Progress) -> Prepared:
    facts = prereqs.probe()
    found = prereqs.problems(facts)
    if found:
        raise RealNodeError(
            "the real node (--node containerd) cannot start here:\n"
            + "\n".join(f"  - {p}" for p in found)
        )
    if facts.containerd_version and facts.containerd_version < (2, 0):
        progress(
            f"containerd {'.'.join(map(str, facts.containerd_version))}: fine for the kubelet "
            f"{versions.kubernetes} (it falls back to its own cgroupDriver); Kubernetes 1.38 "
            "will need containerd 2"
        )
    binaries = ensure_node_binaries(versions, progress)
    wanted = {}
    name, archive = images.ensure_pause_image(binaries["pause"], progress)
    wanted[name] = archive
    for recipe in (images.TINY, images.NOTEBOOK):
        name, archive = images.ensure_debian_image(recipe, progress)
        wanted[name] = archive
    return Prepared(binaries, wanted)


def _pick_subnet(layout: Layout) -> ipaddress.IPv4Network:
    return cni.pick_subnet(subnet_candidates(layout.id), cni.used_subnets())


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RealNodeError(f"`ip {' '.join(args)}` failed: {proc.stderr.strip()}")


def _create_bridge(name: str, gateway: str, prefix: int) -> None:
    """The pods' bridge, up, holding the gateway address (the bridge plugin keeps it as is)."""
    cni.delete_bridge(name)
    _ip("link", "add", name, "type", "bridge")
    _ip("addr", "add", f"{gateway}/{prefix}", "dev", name)
    _ip("link", "set", name, "up")


def _cgroup_hierarchies(types: tuple[str, ...] = ("cgroup",)) -> list[Path]:
    """The mounted cgroup hierarchies of these types (v1: one per controller on these hosts)."""
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] in types:
            found.append(Path(parts[1]))
    return found


def _create_cgroup_root(root: str) -> list[str]:
    made = []
    for hierarchy in _cgroup_hierarchies():
        d = hierarchy / root.lstrip("/")
        if not d.exists():
            d.mkdir()
        made.append(str(d))
    return made


def _remove_cgroup_tree(path: Path) -> None:
    """rmdir bottom-up (cgroup directories cannot be removed with files in them)."""
    if not path.is_dir():
        return
    for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            sub.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _mount_ns(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/mnt")


def start(cluster: DevCluster, st: ClusterState, prepared: Prepared, progress: Progress) -> None:
    layout = Layout(cluster.dir)
    started = time.monotonic()
    for d in (layout.root, layout.containerd_dir, layout.kubelet_dir, layout.cni_conf_dir):
        d.mkdir(parents=True, exist_ok=True)
    subnet = _pick_subnet(layout)
    gateway = str(next(subnet.hosts()))
    record = NodeRecord(
        subnet=str(subnet),
        node_ip=gateway,
        bridge=layout.bridge,
        network=layout.network_name,
        cgroup_root=layout.cgroup_root,
    )
    record.save(layout.state_file)
    # The kubelet's serving certificate names the node IP, which may change between `up`s.
    serving = f"node-{st.node_name}-kubelet-serving"
    for suffix in (".crt", ".key"):
        (cluster.pki.dir / f"{serving}{suffix}").unlink(missing_ok=True)
    pair = cluster.pki.issue(
        serving,
        f"system:node:{st.node_name}",
        server=True,
        client=False,
        ips=(gateway, "127.0.0.1"),
        dns=(st.node_name, "localhost"),
    )
    _create_bridge(layout.bridge, gateway, subnet.prefixlen)
    record.cgroup_dirs = _create_cgroup_root(layout.cgroup_root)
    record.save(layout.state_file)

    binds: list[tuple[str, str]] = []
    for host_path, name in PRIVATE_DIRS.items():
        Path(host_path).mkdir(parents=True, exist_ok=True)  # an empty mount point on the host
        private = layout.root / name
        private.mkdir(exist_ok=True)
        binds.append((str(private), host_path))
    for key, value in KERNEL_TUNABLES.items():
        f = layout.root / "sysctl" / key.replace("/", ".")
        _write(f, value + "\n")
        binds.append((str(f), f"/proc/sys/{key}"))

    _write(
        layout.containerd_config,
        containerd.render_config(
            layout,
            sandbox_image=images.PAUSE_IMAGE,
            cni_bin_dir=prepared.binaries["cni-bin-dir"],
            runc=shutil.which("runc") or "runc",
        ),
    )
    _write(layout.cni_conf_dir / "10-jupyter-k8s.conflist", cni.render_conflist(layout, subnet))
    _write(layout.resolv_conf, kubelet.render_resolv_conf(Path("/etc/resolv.conf").read_text()))
    settings = kubelet.KubeletSettings(
        node_name=st.node_name,
        node_ip=gateway,
        port=st.ports["kubelet"],
        healthz_port=free_port(),
        pod_cidr=str(subnet),
        client_ca=cluster.pki.ca.cert,
        serving_cert=pair.cert,
        serving_key=pair.key,
        kubeconfig=cluster.dir / "node.kubeconfig",
    )
    st.ports["kubelet-healthz"] = settings.healthz_port
    _write(layout.kubelet_config, kubelet.render_config(layout, settings))

    st.commands["containerd"] = [
        sys.executable,
        "-m",
        "jupyter_k8s.devcluster.mountns_exec",
        *bind_args(binds),
        "--",
        "containerd",
        f"--config={layout.containerd_config}",
    ]
    pid = cluster._start(st, "containerd")
    try:
        containerd.wait_serving(layout, lambda: alive(pid), timeout=30)
    except containerd.ContainerdError as exc:
        raise RealNodeError(f"{exc}; see {cluster.log_path('containerd')}") from exc
    record.mount_ns = _mount_ns(pid)
    record.save(layout.state_file)
    progress(f"containerd up in {time.monotonic() - started:.1f} s; importing images")
    present = containerd.image_names(layout)
    for name, archive in prepared.images.items():
        if name not in present:
            containerd.import_image(layout, archive)
    progress(f"images imported ({time.monotonic() - started:.1f} s after start)")
    st.commands["kubelet"] = [
        "nsenter",
        f"--mount=/proc/{pid}/ns/mnt",
        "--",
        *kubelet.command(prepared.binaries["kubelet"], layout, settings),
    ]
    cluster._start(st, "kubelet")
    progress(
        f"kubelet started ({time.monotonic() - started:.1f} s after containerd): node "
        f"{st.node_name} at {gateway}, pods in {subnet} on bridge {layout.bridge}"
    )


def _processes_in(mount_ns: str) -> list[int]:
    pids = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        with contextlib.suppress(OSError):
            if os.readlink(entry / "ns" / "mnt") == mount_ns:
                pids.append(int(entry.name))
    return pids


def teardown(state_dir: Path, st: ClusterState | None, progress: Progress) -> None:
    """Stop the real node of the cluster at `state_dir` and remove all it made (idempotent)."""
    layout = Layout(state_dir)
    record = NodeRecord.load(layout.state_file)
    if record is None and not layout.root.exists():
        return
    pids = {c: st.pids[c] for c in NODE_COMPONENTS if st and c in st.pids}
    if pid := pids.get("kubelet"):
        stop(pid, grace=5.0)
    crictl = _crictl()
    if alive(pids.get("containerd", -1)) and crictl:
        # Each sandbox's removal runs its CNI DEL (veth, address, NAT rules go).
        subprocess.run(
            [crictl, "--runtime-endpoint", layout.endpoint, "--timeout", "20s", "rmp", "-af"],
            capture_output=True,
            timeout=120,
        )
    if pid := pids.get("containerd"):
        stop(pid, grace=5.0)
    if record and record.mount_ns:
        # Shims and container processes (anything left in the node's mount namespace).
        for _ in range(3):
            left = _processes_in(record.mount_ns)
            if not left:
                break
            for p in left:
                stop(p, grace=0.0)
    if record:
        rules = cni.sweep_iptables(record.network)
        namespaces = cni.sweep_netns(ipaddress.IPv4Network(record.subnet))
        cni.delete_bridge(record.bridge)
        # Also in the v2 hierarchy of a hybrid host (/sys/fs/cgroup/unified), where runc
        # places every container too.
        for hierarchy in _cgroup_hierarchies(("cgroup", "cgroup2")):
            _remove_cgroup_tree(hierarchy / record.cgroup_root.lstrip("/"))
        if rules or namespaces:
            progress(f"removed {rules} NAT rules and {namespaces} network namespaces left behind")
    unmount_under(layout.root)
    shutil.rmtree(layout.root, ignore_errors=True)
    if layout.root.parent == SHORT_ROOT:
        with contextlib.suppress(OSError):  # only when no other cluster's node is there
            SHORT_ROOT.rmdir()
            SHORT_ROOT.parent.rmdir()


def _crictl() -> str | None:
    from .build import crictl_path

    path = crictl_path()
    return str(path) if path.is_file() else shutil.which("crictl")
