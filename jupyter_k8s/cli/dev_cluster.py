"""`jupyter k8s dev-cluster ...`: the local Kubernetes cluster to try and test with."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..devcluster import DEFAULT_MAX_PODS
from .exit_codes import EXIT_CLUSTER, EXIT_OK

if TYPE_CHECKING:
    from ..devcluster.controlplane import DevCluster
    from .options import Subcommands


def _dev_cluster(args: argparse.Namespace) -> DevCluster:
    from ..devcluster.controlplane import DevCluster

    return DevCluster(
        args.state_dir,
        bin_dir=args.bin_dir,
        node_name=args.node_name,
        gpus=args.gpus,
        max_pods=getattr(args, "max_pods", DEFAULT_MAX_PODS),
        namespace=args.namespace,
        node=getattr(args, "node", "process"),
        kueue=getattr(args, "kueue", None),
    )


def cmd_dev_up(args: argparse.Namespace) -> int:
    cluster = _dev_cluster(args)
    cluster.up(wait=args.wait, timeout=args.timeout)
    print(cluster.env(admin=args.admin))
    return EXIT_OK


def cmd_dev_down(args: argparse.Namespace) -> int:
    _dev_cluster(args).down()
    return EXIT_OK


def cmd_dev_status(args: argparse.Namespace) -> int:
    info = _dev_cluster(args).status()
    if args.json:
        print(json.dumps(info, indent=2))
    elif not info["running"] and "processes" not in info:
        print(f"no local cluster in {info['state_dir']}")
    else:
        print(
            f"local cluster in {info['state_dir']}: "
            f"{'running' if info['running'] else 'NOT running'}"
        )
        print(f"  API server  {info['server']}  (Kubernetes {info['versions'].get('kubernetes')})")
        for comp, p in info["processes"].items():
            print(f"  {comp:<24} pid {p['pid']:<8} {'running' if p['alive'] else 'stopped'}")
        print(
            f"  node {info['node']}: {'Ready' if info.get('node_ready') else 'not ready'}, "
            f"{info['gpus']} nvidia.com/gpu"
        )
        print(f"  namespace {info['namespace']}; KUBECONFIG={info['kubeconfig']}")
        if kueue := info.get("kueue"):
            print(
                f"  Kueue {kueue['version']}: LocalQueue {kueue['local_queue']} -> "
                f"ClusterQueue {kueue['cluster_queue']}; pending: GET {kueue['visibility']}"
            )
    return EXIT_OK if info["running"] else EXIT_CLUSTER


def cmd_dev_env(args: argparse.Namespace) -> int:
    print(_dev_cluster(args).env(admin=args.admin))
    return EXIT_OK


def cmd_dev_build(args: argparse.Namespace) -> int:
    from ..devcluster.build import Versions, ensure_binaries

    progress = lambda m: print(m, flush=True)  # noqa: E731
    paths = ensure_binaries(Versions(), args.bin_dir, progress=progress)
    if args.kueue:
        from ..devcluster.kueue_build import ensure_kueue

        paths["kueue"] = ensure_kueue(progress=progress)
    if args.node == "containerd":
        from ..devcluster.realnode.node import preflight

        prepared = preflight(Versions(), lambda m: print(m, flush=True))
        paths.update(prepared.binaries)
        paths.update(prepared.images)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return EXIT_OK


def add_parser(sub: Subcommands) -> None:
    dev = sub.add_parser("dev-cluster", help="a local Kubernetes cluster to try and test with")
    dev.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where the cluster keeps its files (default ~/.local/state/jupyter-k8s/dev-cluster)",
    )
    dev.add_argument(
        "--bin-dir",
        type=Path,
        default=None,
        help="a directory with kube-apiserver, kube-controller-manager, kube-scheduler "
        "and etcd of the pinned versions (else PATH, else build once)",
    )
    dev.add_argument("--node-name", default="dev-node")
    dev.add_argument("--gpus", type=int, default=0, help="nvidia.com/gpu the node advertises")
    dev.add_argument(
        "--namespace", default="jupyter-k8s", help="the namespace prepared for the extension"
    )
    dsub = dev.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = dsub.add_parser("up", help="start the cluster (building it the first time)")
    up.add_argument("--wait", action="store_true", help="return once the node is Ready")
    up.add_argument("--timeout", type=float, default=120.0)
    up.add_argument("--admin", action="store_true", help="print the admin KUBECONFIG line")
    up.add_argument(
        "--max-pods",
        type=int,
        default=DEFAULT_MAX_PODS,
        help=f"pods the process node takes at once (the kubelet's default: {DEFAULT_MAX_PODS})",
    )
    up.add_argument(
        "--node",
        choices=("process", "containerd"),
        default="process",
        help="process: pods as local processes (default); containerd: a real kubelet with "
        "containerd, runc and CNI (experimental, root only; see docs/dev-cluster.md)",
    )
    up.add_argument(
        "--kueue",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run Kueue with a sample queue (LocalQueue gpu -> ClusterQueue team-a); "
        "kept for later `up`s of this state directory until --no-kueue",
    )
    up.set_defaults(func=cmd_dev_up)
    dsub.add_parser("down", help="stop everything and remove the cluster's data").set_defaults(
        func=cmd_dev_down
    )
    st = dsub.add_parser("status", help="what runs (exit 0 when running)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_dev_status)
    env = dsub.add_parser("env", help="print the export KUBECONFIG=... line")
    env.add_argument(
        "--admin",
        action="store_true",
        help="the admin kubeconfig instead of the extension's ServiceAccount",
    )
    env.set_defaults(func=cmd_dev_env)
    build = dsub.add_parser("build", help="build (or find) the control-plane binaries")
    build.add_argument("--kueue", action="store_true", help="also build the Kueue manager")
    build.add_argument(
        "--node",
        choices=("process", "containerd"),
        default="process",
        help="containerd: also the real node's kubelet, CNI plugins, crictl and images",
    )
    build.set_defaults(func=cmd_dev_build)
