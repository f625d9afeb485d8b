"""What runs first in a kernel pod: put the pod IP in the connection file, then exec the kernel.

Shipped to the pod in the kernel's Secret (next to connection.json) and run as
`python3 launcher.py -- <kernelspec argv>`, so the image needs nothing of jupyter-k8s: only
Python and the kernel itself. Standard library only.

1. Read connection.json from the Secret (mode 0400: the HMAC key never is in env or argv).
2. Set its "ip" to the pod IP ($POD_IP, from the downward API): the kernel binds its ports
   there, and the Jupyter server connects straight to it.
3. Write the result to the pod's memory-backed run directory (mode 0600).
4. exec the kernel with {connection_file} replaced by that file, so the kernel is the
   container's process and the kubelet's restart and stop reach it directly.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

SECRET_DIR = "/var/run/jupyter-k8s/kernel"
RUN_DIR = "/var/run/jupyter-k8s/run"


def prepare(argv: list[str], environ: dict[str, str], secret_dir: str, run_dir: str) -> list[str]:
    """Write the connection file with the pod IP; returns the kernel command to exec."""
    if "--" not in argv:
        raise SystemExit("usage: launcher.py -- KERNEL ARGV ({connection_file} is replaced)")
    command = argv[argv.index("--") + 1 :]
    if not command:
        raise SystemExit("launcher.py: no kernel command after --")
    with open(os.path.join(secret_dir, "connection.json")) as f:
        info = json.load(f)
    info["ip"] = environ.get("POD_IP") or "0.0.0.0"
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    path = os.path.join(run_dir, "connection.json")
    partial = path + ".partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    os.replace(partial, path)
    values = {"connection_file": path, "resource_dir": run_dir}
    command = [_fill(arg, values) for arg in command]
    if shutil.which(command[0], path=environ.get("PATH")) is None and command[0] in (
        "python",
        "python3",
    ):
        command[0] = sys.executable  # an image with only python3 (or only python)
    return command


def _fill(arg: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        arg = arg.replace("{" + name + "}", value)
    return arg


def main() -> None:
    command = prepare(sys.argv[1:], dict(os.environ), SECRET_DIR, RUN_DIR)
    sys.stdout.flush()
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
