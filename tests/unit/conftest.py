"""Unit tests: fast, no cluster.

Jupyter server fixtures (`jp_fetch`, `jp_serverapp`, `jp_server_config`, ...) come from
pytest-jupyter. They are imported here rather than loaded with `pytest_plugins` (which pytest
only accepts in the top-level conftest), and without pytest-jupyter's own event-loop hooks:
pytest-asyncio (asyncio_mode = auto) runs every async test, and the server runs on its loop.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from jupyter_server.serverapp import ServerApp
from pytest_jupyter.jupyter_server import (  # noqa: F401 - fixtures, found by name
    echo_kernel_spec,
    http_server,
    http_server_client,
    http_server_port,
    io_loop,
    jp_argv,
    jp_auth_header,
    jp_base_url,
    jp_config_dir,
    jp_configurable_serverapp,
    jp_create_notebook,
    jp_data_dir,
    jp_env_config_path,
    jp_env_jupyter_path,
    jp_environ,
    jp_extension_environ,
    jp_fetch,
    jp_home_dir,
    jp_http_port,
    jp_kernel_dir,
    jp_logging_stream,
    jp_nbconvert_templates,
    jp_root_dir,
    jp_runtime_dir,
    jp_server_auth_core_resources,
    jp_server_auth_resources,
    jp_server_authorizer,
    jp_server_config,
    jp_serverapp,
    jp_system_config_path,
    jp_system_jupyter_path,
    jp_template_dir,
    jp_web_app,
    jp_ws_fetch,
    send_request,
)


@pytest.fixture
async def jp_asyncio_loop():
    """The loop pytest-asyncio runs the test on; pytest-jupyter starts the server on it.

    (pytest-jupyter's own version makes a second loop: the server would listen on one while
    the test awaits on the other, and every request would time out.) At teardown, stop the
    ServerApp a test started, as pytest-jupyter's `jp_server_cleanup` does.
    """
    yield asyncio.get_running_loop()
    if ServerApp.initialized():
        app = ServerApp.instance()
        with contextlib.suppress(RuntimeError, SystemExit):
            await app._cleanup()
        if hasattr(app, "kernel_manager"):
            app.kernel_manager.context.destroy()
        ServerApp.clear_instance()
