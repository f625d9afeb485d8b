"""Run containerd in a mount namespace of the node's own; the kubelet joins it (nsenter).

`python -m jupyter_k8s.devcluster.realnode.nodens --bind SRC:DST ... -- PROGRAM ARGS...`

Why: containerd 1.6 and the kubelet use a few host-wide paths no option moves
(/run/containerd/s for shim sockets, /var/run/netns for pod network namespaces,
/var/log/containers for log links), and the kubelet rewrites six kernel settings at start
(vm.overcommit_memory, vm.panic_on_oom, kernel.panic, kernel.panic_on_oops,
kernel.keys.root_maxkeys/maxbytes) - on a shared machine, not its to change. In a private mount
namespace each of those paths is a directory (or file) under the node's state directory,
every mount the node makes (overlay roots, Secret tmpfs, netns pins) lives and dies with the
namespace, and nothing is mounted on the host. The process then execs PROGRAM, keeping its pid.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys

CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str | None, dst: str, flags: int) -> None:
    _check(
        _libc.mount(src.encode() if src else None, dst.encode(), None, ctypes.c_ulong(flags), None),
        f"mount {src} on {dst}",
    )


def parse_bind(text: str) -> tuple[str, str]:
    src, sep, dst = text.partition(":")
    if not sep or not os.path.isabs(src) or not os.path.isabs(dst):
        raise argparse.ArgumentTypeError(f"--bind {text!r}: expected /ABS/SRC:/ABS/DST")
    return src, dst


def bind_args(binds: list[tuple[str, str]]) -> list[str]:
    return [f"--bind={src}:{dst}" for src, dst in binds]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nodens")
    parser.add_argument("--bind", type=parse_bind, action="append", default=[], metavar="SRC:DST")
    parser.add_argument("program", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    program = args.program[1:] if args.program[:1] == ["--"] else args.program
    if not program:
        parser.error("no program to run")
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    # Nothing done in here may reach the host's mount table.
    _mount(None, "/", MS_REC | MS_PRIVATE)
    for src, dst in args.bind:
        _mount(src, dst, MS_BIND)
    os.execvp(program[0], program)


if __name__ == "__main__":
    try:
        main()
    except OSError as exc:
        print(f"nodens: {exc}", file=sys.stderr)
        sys.exit(1)
