"""jupyter_k8s.server_log: the package's info lines reach the server log, once."""

from __future__ import annotations

import io
import logging

from jupyter_k8s.server_log import PACKAGE_LOGGER, route_to_server_log


def server_log(name: str) -> tuple[logging.Logger, io.StringIO]:
    """A logger shaped like a traitlets app's: its own handler, no propagation."""
    out = io.StringIO()
    log = logging.getLogger(name)
    log.handlers[:] = [logging.StreamHandler(out)]
    log.setLevel(logging.INFO)
    log.propagate = False
    return log, out


def test_package_info_lines_reach_the_server_log_once_per_server():
    first, first_out = server_log("test-server-1")
    route_to_server_log(first)
    logging.getLogger(f"{PACKAGE_LOGGER}.jobs.service").info("watch resumed")
    logging.getLogger(f"{PACKAGE_LOGGER}.jobs.service").debug("not at info level")
    assert first_out.getvalue() == "watch resumed\n"

    # A second server app (a test process makes many) replaces the first's handlers.
    second, second_out = server_log("test-server-2")
    route_to_server_log(logging.LoggerAdapter(second, {}))
    logging.getLogger(f"{PACKAGE_LOGGER}.kernels").warning("pod gone")
    assert second_out.getvalue() == "pod gone\n"
    assert first_out.getvalue() == "watch resumed\n"
    assert len(logging.getLogger(PACKAGE_LOGGER).handlers) == 1
