"""`jupyter k8s ...`: the command line of jupyter-k8s (works without a Jupyter server).

This module only wires the commands together; each lives in a module of its own:

    jobs, job_commands   submit, jobs, status, logs, cancel, delete, rerun, fetch, profiles
    schedule_commands    schedule create/list/show/pause/resume/edit/run/delete
    kernelspec           kernelspec install
    doctor               doctor
    dev_cluster          dev-cluster up/down/status/env/build
    options              option parsers shared with the %k8s_submit magic
    render               jobs as text (status lines, tables, the progress line)
    exit_codes           the one error boundary: errors -> `error: ...` and an exit code
    startup              logging and lean imports for commands that talk to the cluster

Importing it stays cheap (the magic imports `options` through it): command modules import
the Kubernetes client, the models and the JobService when their command runs.
"""

from __future__ import annotations

import argparse

from . import dev_cluster, doctor, jobs, kernelspec, schedule_commands
from .exit_codes import guarded


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter k8s", description="Run notebooks and kernels on Kubernetes."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    jobs.add_parsers(sub)
    schedule_commands.add_parser(sub)
    kernelspec.add_parser(sub)
    doctor.add_parser(sub)
    dev_cluster.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The `jupyter-k8s` console script (`jupyter k8s ...`): parse, run, exit code."""
    args = build_parser().parse_args(argv)
    on_interrupt = getattr(args, "on_interrupt", None)
    return guarded(
        lambda: args.func(args),
        None if on_interrupt is None else lambda: on_interrupt(args),
    )
