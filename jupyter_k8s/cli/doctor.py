"""`jupyter k8s doctor`: a checklist of what jupyter-k8s needs from a real cluster."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from typing import TYPE_CHECKING

from . import startup
from .exit_codes import EXIT_FAILED, EXIT_OK, error
from .options import add_connection_options, parse_duration

if TYPE_CHECKING:
    from .options import Subcommands


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check what jupyter-k8s needs from the cluster; exit 1 when something required fails."""
    startup.skip_slow_imports()
    from ..doctor.checks import format_report
    from ..doctor.config import settings_from_app
    from ..doctor.run import run_doctor
    from ..standalone import load_settings

    startup.setup_logging(args.verbose)
    conf = load_settings(
        args.kubeconfig, args.context, args.namespace, warn=lambda m: error(f"warning: {m}")
    )
    origins = {
        name: f"--{name}" for name in ("kubeconfig", "context", "namespace") if getattr(args, name)
    }
    settings = dataclasses.replace(
        settings_from_app(conf, origins), probe_timeout=float(args.timeout)
    )
    report = asyncio.run(run_doctor(settings, probes=not args.no_probes, progress=error))
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        print(format_report(report))
    return EXIT_OK if report.ok else EXIT_FAILED


def add_parser(sub: Subcommands) -> None:
    help = "check what jupyter-k8s needs from the cluster, with the fix for each problem"
    p = sub.add_parser(
        "doctor",
        help=help,
        description=help[0].upper() + help[1:] + ": kubeconfig, API server, every permission "
        "of the shipped Role, Pod Security, ResourceQuotas, the default image (with a probe "
        "pod) and whether this machine reaches pod IPs on the kernel ports. Exit 0 when every "
        "required check passes (warnings don't count), 1 otherwise. See docs/doctor.md.",
    )
    add_connection_options(p)
    p.add_argument("--json", action="store_true", help="the checklist as JSON")
    p.add_argument(
        "--no-probes", action="store_true", help="don't start the probe pod (image, network)"
    )
    p.add_argument(
        "--timeout",
        type=parse_duration,
        default=60,
        metavar="S",
        help="how long the probe pod may take to start (default 60 s)",
    )
    p.add_argument(
        "-v", "--verbose", action="count", default=0, help="log what happens (twice: more)"
    )
    p.set_defaults(func=cmd_doctor)
