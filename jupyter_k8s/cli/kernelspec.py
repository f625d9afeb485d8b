"""`jupyter k8s kernelspec install`: kernelspecs for clients outside JupyterLab (papermill,
nbclient, jupyter console), with the profile's and the cluster's settings written in."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .exit_codes import EXIT_OK, error
from .options import add_connection_options

if TYPE_CHECKING:
    from .options import Subcommands


def cmd_kernelspec_install(args: argparse.Namespace) -> int:
    """Write k8s-<profile> kernelspecs (profile and cluster settings embedded)."""
    from ..errors import InvalidRequest
    from ..kernels.kernelspecs import install_from_config
    from ..standalone import load_settings

    conf = load_settings(
        args.kubeconfig, args.context, args.namespace, warn=lambda m: error(f"warning: {m}")
    )
    try:
        installed = install_from_config(
            conf,
            args.profile or None,
            user=args.prefix is None,
            prefix=args.prefix,
            image=args.image,
        )
    except OSError as exc:
        # A folder that can't be written is the --prefix (or the user's own folder) given:
        # a usage error (exit 2), where a job command's file errors are failures (exit 1).
        raise InvalidRequest(str(exc)) from exc
    for name, folder in installed:
        print(f"{name}: {folder}")
    return EXIT_OK


def add_parser(sub: Subcommands) -> None:
    ks = sub.add_parser("kernelspec", help="kernelspecs of remote kernels, for papermill & co.")
    ksub = ks.add_subparsers(dest="action", required=True, metavar="ACTION")
    inst = ksub.add_parser(
        "install",
        help="install k8s-<profile> kernelspecs (default: one per configured profile)",
        description="Install kernelspecs that start kernels in pods, for clients without the "
        "Jupyter server extension (papermill -k k8s-gpu, nbclient, jupyter console). The "
        "profile's settings and the cluster settings are written into kernel.json.",
    )
    inst.add_argument(
        "--profile", action="append", metavar="P", help="only this profile (repeatable)"
    )
    inst.add_argument(
        "--prefix", metavar="DIR", help="install under DIR/share/jupyter/kernels (default: user)"
    )
    inst.add_argument("--image", metavar="I", help="image of the kernel pods (over the profile's)")
    add_connection_options(inst)
    inst.set_defaults(func=cmd_kernelspec_install)
