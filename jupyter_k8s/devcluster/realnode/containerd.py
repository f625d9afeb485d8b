"""containerd for the real node: its configuration (pure), and talking to it through `ctr`.

All of its state lives under the node's directory (root, state, runc's state, the socket);
nothing goes to /var/lib/containerd or /run/containerd except the shims' sockets, which
containerd 1.6 always puts in /run/containerd/s/ and removes as each shim exits.
The cgroup driver is cgroupfs (SystemdCgroup = false): these machines have no systemd.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from . import toml
from .errors import RealNodeError
from .layout import Layout

CRI = "io.containerd.grpc.v1.cri"
NAMESPACE = "k8s.io"  # the namespace the CRI plugin (and so the kubelet) sees


class ContainerdError(RealNodeError):
    pass


def render_config(layout: Layout, *, sandbox_image: str, cni_bin_dir: Path, runc: str) -> str:
    """containerd's config.toml (format version 2, which containerd 1.6 and 1.7 read)."""
    runc_entry: dict[str, object] = {
        "runtime_type": "io.containerd.runc.v2",
        "options": {
            "BinaryName": runc,
            "SystemdCgroup": False,
            # runc's own state, which is otherwise host-wide under /run/containerd/runc.
            "Root": str(layout.runc_root),
        },
    }
    doc: dict[str, object] = {
        "version": 2,
        "root": str(layout.containerd_root),
        "state": str(layout.containerd_state),
        # Storage drivers that cannot work here only add noise to the log.
        "disabled_plugins": [
            "io.containerd.snapshotter.v1.aufs",
            "io.containerd.snapshotter.v1.btrfs",
            "io.containerd.snapshotter.v1.devmapper",
            "io.containerd.snapshotter.v1.zfs",
            "io.containerd.tracing.processor.v1.otlp",
            "io.containerd.internal.v1.tracing",
        ],
        "grpc": {"address": str(layout.containerd_socket)},
        "ttrpc": {"address": str(layout.containerd_socket) + ".ttrpc"},
        "plugins": {
            "io.containerd.internal.v1.opt": {"path": str(layout.containerd_dir / "opt")},
            CRI: {
                "sandbox_image": sandbox_image,
                # Port 0: a free port of its own, so two clusters on one host do not collide.
                "stream_server_address": "127.0.0.1",
                "stream_server_port": "0",
                "enable_selinux": False,
                # Never below containerd's own score: these VMs drop CAP_SYS_RESOURCE, and runc
                # fails ("failed to update /proc/self/oom_score_adj: Permission denied") when
                # the kubelet asks for -998 (a pod sandbox) or -997 (a Guaranteed pod).
                "restrict_oom_score_adj": True,
                "max_container_log_line_size": 16384,
                "containerd": {
                    "snapshotter": "overlayfs",
                    "default_runtime_name": "runc",
                    "runtimes": {"runc": runc_entry},
                },
                "cni": {
                    "bin_dir": str(cni_bin_dir),
                    "conf_dir": str(layout.cni_conf_dir),
                    "max_conf_num": 1,
                },
            },
        },
    }
    return toml.dumps(doc)


def ctr(layout: Layout, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """`ctr` against this node's containerd, in the k8s.io namespace."""
    return subprocess.run(
        ["ctr", "--address", str(layout.containerd_socket), "--namespace", NAMESPACE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_serving(layout: Layout, alive, timeout: float = 30.0) -> None:
    """Until containerd answers on its socket; `alive()` says whether its process still runs."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not alive():
            raise ContainerdError("containerd exited during start-up")
        if layout.containerd_socket.exists():
            proc = ctr(layout, "version", timeout=5)
            if proc.returncode == 0:
                return
            last = proc.stderr.strip()
        time.sleep(0.1)
    raise ContainerdError(f"containerd did not answer in {timeout:.0f} s ({last})")


def import_image(layout: Layout, archive: Path) -> None:
    """Import an OCI layout tar (images.py) and unpack it for the overlayfs snapshotter."""
    proc = ctr(layout, "images", "import", "--snapshotter", "overlayfs", str(archive), timeout=600)
    if proc.returncode != 0:
        raise ContainerdError(f"ctr images import {archive} failed: {proc.stderr.strip()}")


def image_names(layout: Layout) -> set[str]:
    proc = ctr(layout, "images", "list", "--quiet")
    if proc.returncode != 0:
        return set()
    return {line.strip() for line in proc.stdout.splitlines() if line.strip()}
