"""Run a program in a private mount namespace, with directories bind-mounted where it looks.

`python -m jupyter_k8s.devcluster.mountns_exec --bind SRC:DST ... -- PROGRAM ARGS...`

Kueue's manager reads some certificates from fixed absolute paths that its container image
would mount (/etc/kueue/metrics/certs, /visibility). Each local cluster keeps its own under
its state directory; this wrapper shows them at those paths to the one process only, then
execs it, so the process keeps this pid (the one `up` records and `down` stops). Only an
empty mount-point directory is left on the host, as the node agent's pods leave one.
"""

from __future__ import annotations

import argparse
import os
import sys

from .agent.runtime import CLONE_NEWNS, MS_BIND, MS_PRIVATE, MS_REC, _check, _libc, _mount


def _bind(text: str) -> tuple[str, str]:
    src, sep, dst = text.partition(":")
    if not sep or not os.path.isabs(src) or not os.path.isabs(dst):
        raise argparse.ArgumentTypeError(f"--bind {text!r}: expected /ABS/SRC:/ABS/DST")
    return src, dst


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mountns_exec")
    parser.add_argument("--bind", type=_bind, action="append", default=[], metavar="SRC:DST")
    parser.add_argument("program")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    # Private first, so the binds below never propagate back to the host's namespace.
    _mount(None, "/", MS_REC | MS_PRIVATE)
    for src, dst in args.bind:
        os.makedirs(dst, exist_ok=True)
        _mount(src, dst, MS_BIND | MS_REC)
    os.execv(args.program, [args.program, *args.args])


if __name__ == "__main__":
    try:
        main()
    except OSError as exc:
        print(f"mountns_exec: {exc}", file=sys.stderr)
        sys.exit(126)
