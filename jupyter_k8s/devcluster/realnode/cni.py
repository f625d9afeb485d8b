"""Pod networking of the real node: the CNI configuration (pure) and sweeping up after it.

One Linux bridge per node with the first address of the pod subnet as the pods' gateway; the
reference bridge + host-local plugins give every pod a veth and an address, portmap handles
hostPort, and containerd adds loopback itself. ipMasq lets pods reach beyond the host.

Normally each pod's network is torn down by the CNI DEL that containerd runs when a sandbox is
removed. `sweep` is the fallback for a node that was killed: it removes what carries this
node's names (its bridge, the NAT rules commented with its network name, the network
namespaces with an address in its subnet), and nothing else.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import subprocess
from pathlib import Path

from .errors import RealNodeError
from .layout import Layout

CNI_VERSION = "1.0.0"
NETNS_DIR = Path("/var/run/netns")  # where containerd 1.6 pins pod network namespaces


def render_conflist(layout: Layout, subnet: ipaddress.IPv4Network) -> str:
    gateway = next(subnet.hosts())
    conf = {
        "cniVersion": CNI_VERSION,
        "name": layout.network_name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.bridge,
                "isGateway": True,
                "ipMasq": True,
                # A pod reaching its own Service address through the bridge comes back to it.
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": str(subnet), "gateway": str(gateway)}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(layout.cni_ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        ],
    }
    return json.dumps(conf, indent=2) + "\n"


def used_subnets() -> list[ipaddress.IPv4Network]:
    """The IPv4 networks of the host's interfaces and routes (to pick a pod subnet that is free)."""
    out = subprocess.run(
        ["ip", "-4", "-o", "route", "show", "table", "all"], capture_output=True, text=True
    ).stdout
    nets: list[ipaddress.IPv4Network] = []
    for line in out.splitlines():
        first = line.split()[0] if line.split() else ""
        if first in ("local", "broadcast", "unreachable", "prohibit", "blackhole"):
            first = line.split()[1]
        if first == "default":
            continue
        try:
            nets.append(ipaddress.ip_network(first, strict=False))  # type: ignore[arg-type]
        except ValueError:
            continue
    return nets


def pick_subnet(
    candidates: list[ipaddress.IPv4Network], used: list[ipaddress.IPv4Network]
) -> ipaddress.IPv4Network:
    for subnet in candidates:
        if not any(subnet.overlaps(u) for u in used if u.prefixlen > 0):
            return subnet
    raise RealNodeError("no free /24 for pods in 10.88.0.0/16 (every one overlaps a route)")


# -- sweeping (a node that did not stop cleanly) -------------------------------------------------


def nat_rules_to_delete(rules: list[str], network_name: str) -> tuple[list[str], list[str]]:
    """From `iptables -t nat -S`: the rules that name this network, and the chains they jump to.

    The bridge plugin's masquerade rules carry the comment `name: "<network>" id: "<sandbox>"`
    and jump to a chain of their own (CNI-<hash>); portmap's per-sandbox chains (CNI-DN-...)
    are reached by rules with the same comment.
    """
    marker = f'name: \\"{network_name}\\"'
    marker_plain = f'name: "{network_name}"'
    delete: list[str] = []
    chains: list[str] = []
    for rule in rules:
        if not rule.startswith("-A "):
            continue
        if marker in rule or marker_plain in rule:
            delete.append(rule)
            parts = rule.split()
            if "-j" in parts:
                target = parts[parts.index("-j") + 1]
                if target.startswith("CNI-") and not target.startswith("CNI-HOSTPORT"):
                    chains.append(target)
    # Rules inside those chains go with the chains (-F then -X).
    return delete, sorted(set(chains))


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True)


def sweep_iptables(network_name: str) -> int:
    """Delete the NAT rules and chains of this network; how many rules went."""
    removed = 0
    for table in ("nat", "filter"):
        listing = _iptables("-t", table, "-S")
        if listing.returncode != 0:
            continue
        delete, chains = nat_rules_to_delete(listing.stdout.splitlines(), network_name)
        for rule in delete:
            # The listing quotes comments the way a shell would read them.
            argv = shlex.split(rule)
            argv[0] = "-D"
            if _iptables("-t", table, *argv).returncode == 0:
                removed += 1
        for chain in chains:
            _iptables("-t", table, "-F", chain)
            _iptables("-t", table, "-X", chain)
    return removed


def sweep_netns(subnet: ipaddress.IPv4Network) -> int:
    """Delete the pinned network namespaces whose interfaces hold an address in `subnet`."""
    removed = 0
    if not NETNS_DIR.is_dir():
        return 0
    for ns in sorted(NETNS_DIR.iterdir()):
        if not ns.name.startswith("cni-"):
            continue
        out = subprocess.run(
            ["ip", "-n", ns.name, "-4", "-o", "addr", "show"], capture_output=True, text=True
        ).stdout
        addrs = [w.split("/")[0] for line in out.splitlines() for w in line.split()[3:4]]
        if any(ipaddress.ip_address(a) in subnet for a in addrs if a):
            deleted = subprocess.run(["ip", "netns", "delete", ns.name], capture_output=True)
            removed += deleted.returncode == 0
    return removed


def delete_bridge(name: str) -> bool:
    """Delete the pod veths attached to the bridge, then the bridge; whether it existed."""
    exists = subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0
    if not exists:
        return False
    ports = subprocess.run(
        ["ip", "-o", "link", "show", "master", name], capture_output=True, text=True
    ).stdout
    for line in ports.splitlines():
        # "12: veth1234@if3: <...>" - the name before any "@peer"
        port = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if port:
            subprocess.run(["ip", "link", "delete", port], capture_output=True)
    subprocess.run(["ip", "link", "delete", name], capture_output=True)
    return True
