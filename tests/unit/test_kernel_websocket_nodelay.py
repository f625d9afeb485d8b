"""TCP_NODELAY on the server's kernel websockets (jupyter_k8s/kernels/websocket_nodelay.py).

The wrapper's logic on a stand-in class; then a real in-process Jupyter server with the
extension and a real local kernel: the accepted websocket's socket has TCP_NODELAY set with
the default configuration, and not with `kernel_websocket_nodelay = False`. The latency it
saves is measured in bench/kernels.py (an execute through the server: 48 ms -> 5 ms).
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from pathlib import Path

import pytest
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from test_cluster_handler import server_config, write_kubeconfig

from jupyter_k8s.kernels.websocket_nodelay import with_nodelay


class Handler:
    def __init__(self, fails: bool = False) -> None:
        self.nodelay: list[bool] = []
        self.fails = fails

    def set_nodelay(self, value: bool) -> None:
        if self.fails:
            raise AssertionError("the stream is closed")  # tornado asserts a connection
        self.nodelay.append(value)


class Connection:
    def __init__(self, handler: Handler) -> None:
        self.websocket_handler = handler

    def connect(self) -> str:
        return "connected"


def test_the_wrapped_connection_sets_nodelay_then_connects_as_before():
    wrapped = with_nodelay(Connection)
    assert issubclass(wrapped, Connection) and wrapped.__name__ == "NoDelayConnection"
    assert with_nodelay(wrapped) is wrapped  # a second load wraps nothing more
    handler = Handler()
    assert wrapped(handler).connect() == "connected"
    assert handler.nodelay == [True]
    # A stream that refuses: the connection still connects.
    assert wrapped(Handler(fails=True)).connect() == "connected"


async def _kernel_socket_nodelay(jp_fetch, jp_ws_fetch) -> int:
    """Start a local kernel, open its websocket, run a cell; TCP_NODELAY of the server's side."""
    kernel = json.loads((await jp_fetch("api", "kernels", method="POST", body="{}")).body)
    ws = await jp_ws_fetch("api", "kernels", kernel["id"], "channels")
    try:
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": "execute_request", "session": "s", "username": ""}
        request = {"header": header, "parent_header": {}, "metadata": {}, "channel": "shell"}
        request["content"] = {"code": "1 + 1", "silent": False}
        await ws.write_message(json.dumps(request))
        while True:  # the reply comes back through the wrapped connection
            msg = json.loads(await asyncio.wait_for(ws.read_message(), 30))
            if msg["msg_type"] == "execute_reply" and msg["parent_header"]["msg_id"] == msg_id:
                assert msg["content"]["status"] == "ok"
                break
        (connection,) = [
            c for c in ZMQChannelsWebsocketConnection._open_sockets if c.kernel_id == kernel["id"]
        ]
        sock = connection.websocket_handler.ws_connection.stream.socket
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        ws.close()
        await jp_fetch("api", "kernels", kernel["id"], method="DELETE")


class TestDefault:
    @pytest.fixture
    def jp_server_config(self, tmp_path: Path) -> dict:
        # What a newcomer has: no setting of ours but where the cluster is.
        return server_config(kubeconfig=str(write_kubeconfig(tmp_path / "kubeconfig")))

    async def test_kernel_websockets_have_nodelay(self, jp_fetch, jp_ws_fetch):
        assert await _kernel_socket_nodelay(jp_fetch, jp_ws_fetch) != 0


class TestTurnedOff:
    @pytest.fixture
    def jp_server_config(self, tmp_path: Path) -> dict:
        config = server_config(kubeconfig=str(write_kubeconfig(tmp_path / "kubeconfig")))
        config["JupyterK8s"]["kernel_websocket_nodelay"] = False
        return config

    async def test_the_server_is_left_as_it_is(self, jp_fetch, jp_ws_fetch, jp_serverapp):
        settings = jp_serverapp.web_app.settings
        assert settings["kernel_websocket_connection_class"] is ZMQChannelsWebsocketConnection
        assert await _kernel_socket_nodelay(jp_fetch, jp_ws_fetch) == 0
