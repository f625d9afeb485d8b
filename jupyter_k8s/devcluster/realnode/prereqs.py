"""What the host must have for the real node, each missing piece named with its fix.

`probe()` gathers facts from the host; `problems(facts)` is pure and says what is missing.

Why Debian's containerd 1.6 and runc 1.1 are enough at Kubernetes 1.37 (read in the
kubelet's source, k8s.io/kubernetes v1.37.2 cmd/kubelet/app/server.go): the kubelet speaks
CRI v1, which containerd serves since 1.6; it asks the runtime for its cgroup driver
(RuntimeConfig, which containerd 1.6 lacks) and, on `Unimplemented`, falls back to the
`cgroupDriver` of its own configuration, counting `kubelet_cri_losing_support{version="1.38.0"}`.
So 1.37 runs on containerd 1.6; 1.38 will not - then containerd 2.x is needed (it is on the Go
module proxy; see docs/dev-cluster.md).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# cgroup v1 controllers the kubelet's container manager requires (cm/container_manager_linux.go)
REQUIRED_CGROUPS = ("cpu", "cpuacct", "cpuset", "memory", "pids")
MIN_CONTAINERD = (1, 6)


@dataclass(frozen=True)
class Facts:
    euid: int
    commands: dict[str, bool]  # name -> on PATH
    filesystems: frozenset[str]  # from /proc/filesystems
    cgroup_v2_unified: bool  # /sys/fs/cgroup is cgroup2
    cgroup_v1_controllers: frozenset[str]  # mounted v1 hierarchies
    containerd_version: tuple[int, int] | None
    iptables_ok: bool | None  # `iptables -t nat -S` worked (None: iptables missing)
    iptables_error: str = ""
    ip_forward_writable: bool = True
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.what}; fix: {self.fix}"


COMMAND_FIXES = {
    "containerd": "apt-get install containerd",
    "ctr": "apt-get install containerd",
    "runc": "apt-get install runc",
    "iptables": "apt-get install iptables",
    "ip": "apt-get install iproute2",
    "mount": "apt-get install mount",
    "umount": "apt-get install mount",
}


def problems(facts: Facts) -> list[Problem]:
    found: list[Problem] = []
    if facts.euid != 0:
        found.append(
            Problem(
                "the real node needs root (it mounts filesystems, creates network namespaces, "
                "a bridge and cgroups)",
                "run `sudo jupyter k8s dev-cluster up --node containerd`, or use the process "
                "node (no --node)",
            )
        )
    missing = sorted(c for c, present in facts.commands.items() if not present)
    for cmd in missing:
        found.append(Problem(f"`{cmd}` is not installed", COMMAND_FIXES.get(cmd, f"install {cmd}")))
    if "overlay" not in facts.filesystems:
        found.append(
            Problem(
                "the kernel has no overlay filesystem (containerd's overlayfs snapshotter)",
                "modprobe overlay (CONFIG_OVERLAY_FS)",
            )
        )
    if not facts.cgroup_v2_unified:
        lacking = [c for c in REQUIRED_CGROUPS if c not in facts.cgroup_v1_controllers]
        if lacking:
            found.append(
                Problem(
                    f"cgroup v1 controllers not mounted: {', '.join(lacking)}",
                    "mount each under /sys/fs/cgroup/<name> "
                    "(mount -t cgroup -o <name> cgroup /sys/fs/cgroup/<name>)",
                )
            )
    if facts.containerd_version is not None and facts.containerd_version < MIN_CONTAINERD:
        found.append(
            Problem(
                f"containerd {'.'.join(map(str, facts.containerd_version))} is too old "
                "(the kubelet needs CRI v1: containerd 1.6 or later)",
                "apt-get install containerd from Debian 12 or later",
            )
        )
    if facts.iptables_ok is False:
        found.append(
            Problem(
                f"iptables cannot list the nat table ({facts.iptables_error.strip()[:200]})",
                "the kernel lacks nf_tables: try `update-alternatives --set iptables "
                "/usr/sbin/iptables-legacy`, or load nf_tables / ip_tables",
            )
        )
    if not facts.ip_forward_writable:
        found.append(
            Problem(
                "/proc/sys/net/ipv4/ip_forward is not writable (pods could not reach beyond "
                "the host)",
                "run as root on a host (not in an unprivileged container)",
            )
        )
    return found


def parse_containerd_version(text: str) -> tuple[int, int] | None:
    """From `containerd --version`: "containerd github.com/containerd/containerd 1.6.20~ds1 ..."."""
    m = re.search(r"\sv?(\d+)\.(\d+)\.\d+", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _v1_controllers(mounts: str) -> frozenset[str]:
    controllers: set[str] = set()
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "cgroup":
            controllers.update(o for o in parts[3].split(",") if o in REQUIRED_CGROUPS)
    return frozenset(controllers)


def probe() -> Facts:
    commands = {c: shutil.which(c) is not None for c in COMMAND_FIXES}
    try:
        filesystems = frozenset(
            line.split()[-1] for line in Path("/proc/filesystems").read_text().splitlines() if line
        )
    except OSError:
        filesystems = frozenset()
    try:
        mounts = Path("/proc/self/mounts").read_text()
    except OSError:
        mounts = ""
    unified = any(
        line.split()[1:3] == ["/sys/fs/cgroup", "cgroup2"] for line in mounts.splitlines()
    )
    version = None
    if commands["containerd"]:
        out = subprocess.run(["containerd", "--version"], capture_output=True, text=True)
        version = parse_containerd_version(out.stdout)
    iptables_ok: bool | None = None
    iptables_error = ""
    if commands["iptables"] and os.geteuid() == 0:
        proc = subprocess.run(
            ["iptables", "-w", "5", "-t", "nat", "-S"], capture_output=True, text=True
        )
        iptables_ok = proc.returncode == 0
        iptables_error = proc.stderr
    return Facts(
        euid=os.geteuid(),
        commands=commands,
        filesystems=filesystems,
        cgroup_v2_unified=unified,
        cgroup_v1_controllers=_v1_controllers(mounts),
        containerd_version=version,
        iptables_ok=iptables_ok,
        iptables_error=iptables_error,
        ip_forward_writable=os.access("/proc/sys/net/ipv4/ip_forward", os.W_OK),
    )
