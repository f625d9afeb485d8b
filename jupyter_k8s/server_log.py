"""The package's own loggers (`jupyter_k8s.<module>`) write to the Jupyter server's log.

Our modules log through `logging.getLogger(__name__)`-style loggers so that they work outside a
server too (the CLI, the kernel provisioner in a papermill process). The server's log is a
traitlets logger that does not propagate, and the root logger has no handler in a server
process, so without this the standard library's last-resort handler printed our warnings
without the server's format and dropped every info line (a watch resuming, a kernel
reattached): exactly what an operator reads the log for.
"""

from __future__ import annotations

import logging

PACKAGE_LOGGER = "jupyter_k8s"

# The handlers routed by the last call: a test process creates many server apps, and each
# call replaces the previous app's handlers instead of piling them up (duplicate lines).
_routed: list[logging.Handler] = []


def route_to_server_log(server_log: logging.Logger | logging.LoggerAdapter) -> logging.Logger:
    """Give the package logger the server log's handlers and level; returns it."""
    base = server_log.logger if isinstance(server_log, logging.LoggerAdapter) else server_log
    package = logging.getLogger(PACKAGE_LOGGER)
    for handler in _routed:
        package.removeHandler(handler)
    _routed[:] = [h for h in base.handlers if h not in package.handlers]
    for handler in _routed:
        package.addHandler(handler)
    package.setLevel(base.getEffectiveLevel())
    return package
