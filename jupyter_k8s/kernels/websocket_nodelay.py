"""TCP_NODELAY on the server's kernel websockets.

jupyter_server's kernel websocket (a tornado WebSocketHandler) leaves Nagle's algorithm on.
A cell's reply is several small frames (status busy, execute_input, the reply, status idle):
the second waits for the browser to acknowledge the first, and the browser's TCP delays its
acknowledgement by up to 40 ms. So every execute took about 48 ms through the server where the
kernel answered in 5 ms (bench/kernels.py), remote kernels and local ones alike. tornado's own
docs advise `set_nodelay(True)` for such traffic; jupyter_server does not call it.

`with_nodelay` wraps the server's kernel websocket connection class (whatever it is
configured to be) so that each connection sets it before it starts relaying. The connection
class is the hook jupyter_server offers (`ServerApp.kernel_websocket_connection_class`), so no
handler of the server is replaced. `c.JupyterK8s.kernel_websocket_nodelay = False` leaves the
server as it is.
"""

from __future__ import annotations

import contextlib
from typing import Any

#: Marks a class made here, so that wrapping twice (a second extension load) is a no-op.
WRAPPED = "_jupyter_k8s_nodelay"


def with_nodelay(base: type) -> type:
    """A subclass of the connection class `base` that sets TCP_NODELAY when it connects."""
    if getattr(base, WRAPPED, False):
        return base

    class NoDelayConnection(base):
        def connect(self) -> Any:
            handler = getattr(self, "websocket_handler", None)
            # A handler without a stream (closed meanwhile) or a stream that refuses the
            # option: the connection works as before, only slower.
            with contextlib.suppress(Exception):
                handler.set_nodelay(True)  # type: ignore[union-attr]
            return super().connect()

    NoDelayConnection.__name__ = NoDelayConnection.__qualname__ = f"NoDelay{base.__name__}"
    NoDelayConnection.__module__ = __name__
    setattr(NoDelayConnection, WRAPPED, True)
    return NoDelayConnection
