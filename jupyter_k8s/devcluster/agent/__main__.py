"""The process node agent, as started by `jupyter k8s dev-cluster up`."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from .. import DEFAULT_MAX_PODS
from .logs import MAX_FILES, MAX_SIZE
from .node import AgentOptions, amain, detect_gpus


def parse(argv: list[str] | None = None) -> AgentOptions:
    p = argparse.ArgumentParser(prog="jupyter-k8s-node-agent", description=__doc__)
    p.add_argument("--kubeconfig", required=True, help="kubeconfig with the node's identity")
    p.add_argument("--node-name", default="dev-node")
    p.add_argument("--state-dir", type=Path, required=True, help="where pod files and logs live")
    p.add_argument("--port", type=int, required=True, help="HTTPS port serving container logs")
    p.add_argument("--serving-cert", required=True)
    p.add_argument("--serving-key", required=True)
    p.add_argument("--client-ca", required=True, help="CA whose clients may read logs")
    p.add_argument("--apiserver-port", type=int, required=True)
    p.add_argument(
        "--gpus",
        default="0",
        help="nvidia.com/gpu to advertise: a number, or 'auto' for what nvidia-smi lists",
    )
    p.add_argument("--host-ip", default="127.0.0.1")
    p.add_argument(
        "--max-pods",
        type=int,
        default=DEFAULT_MAX_PODS,
        help="the node's pod capacity (as a kubelet's maxPods)",
    )
    p.add_argument(
        "--container-log-max-size",
        type=int,
        default=MAX_SIZE,
        help="bytes after which a container's log is rotated (the kubelet's 10Mi default)",
    )
    p.add_argument(
        "--container-log-max-files",
        type=int,
        default=MAX_FILES,
        help="log files kept per container, the current one included (the kubelet's 5)",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if a.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    gpus = detect_gpus() if a.gpus == "auto" else int(a.gpus)
    return AgentOptions(
        kubeconfig=a.kubeconfig,
        node_name=a.node_name,
        state_dir=a.state_dir,
        port=a.port,
        serving_cert=a.serving_cert,
        serving_key=a.serving_key,
        client_ca=a.client_ca,
        apiserver_port=a.apiserver_port,
        gpus=gpus,
        max_pods=a.max_pods,
        host_ip=a.host_ip,
        container_log_max_size=a.container_log_max_size,
        container_log_max_files=a.container_log_max_files,
    )


def main(argv: list[str] | None = None) -> None:
    asyncio.run(amain(parse(argv)))


if __name__ == "__main__":
    main()
