"""Run a program in a private mount namespace, with directories (or files) bind-mounted where
it looks.

`python -m jupyter_k8s.devcluster.mountns_exec --bind SRC:DST ... -- PROGRAM ARGS...`

The program then execs in place, so it keeps this pid (the one `up` records and `down` stops).
Two users:

- Kueue's manager reads some certificates from fixed absolute paths that its container image
  would mount (/etc/kueue/metrics/certs, /visibility). Each local cluster keeps its own under
  its state directory; this shows them at those paths to the one process only. Only an empty
  mount-point directory is left on the host, as the node agent's pods leave one.
- The real node's containerd (realnode/node.py), which the kubelet joins: containerd 1.6 and
  the kubelet use a few host-wide paths no option moves (/run/containerd/s for shim sockets,
  /var/run/netns for pod network namespaces, /var/log/containers for log links), and the
  kubelet rewrites six kernel settings at start (vm.overcommit_memory, vm.panic_on_oom,
  kernel.panic, kernel.panic_on_oops, kernel.keys.root_maxkeys/maxbytes), on a shared machine
  not its to change. Here each of those is a directory or file under the node's state
  directory, every mount the node makes (overlay roots, Secret tmpfs, netns pins) lives and
  dies with the namespace, and nothing is mounted on the host.
"""

from __future__ import annotations

import argparse
import os
import sys

from .agent.runtime import CLONE_NEWNS, MS_BIND, MS_PRIVATE, MS_REC, _check, _libc, _mount


def parse_bind(text: str) -> tuple[str, str]:
    src, sep, dst = text.partition(":")
    if not sep or not os.path.isabs(src) or not os.path.isabs(dst):
        raise argparse.ArgumentTypeError(f"--bind {text!r}: expected /ABS/SRC:/ABS/DST")
    return src, dst


def bind_args(binds: list[tuple[str, str]]) -> list[str]:
    """The options that bind each (source, target)."""
    return [f"--bind={src}:{dst}" for src, dst in binds]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mountns_exec")
    parser.add_argument("--bind", type=parse_bind, action="append", default=[], metavar="SRC:DST")
    parser.add_argument("program")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    # Private first, so the binds below never propagate back to the host's namespace.
    _mount(None, "/", MS_REC | MS_PRIVATE)
    for src, dst in args.bind:
        if not os.path.exists(dst):  # a file's mount point (a /proc/sys setting) exists
            os.makedirs(dst)
        _mount(src, dst, MS_BIND | MS_REC)
    os.execvp(args.program, [args.program, *args.args])


if __name__ == "__main__":
    try:
        main()
    except OSError as exc:
        print(f"mountns_exec: {exc}", file=sys.stderr)
        sys.exit(126)
