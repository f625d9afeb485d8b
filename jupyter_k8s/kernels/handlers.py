"""REST API of remote kernels: what each one does now (start-up reasons included).

GET /jupyter-k8s/kernels: this user's pod kernels of this server, also those still
starting (jupyter_server only lists a kernel once its start returned, so this is where a UI
sees "Pending: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu" meanwhile).
GET /jupyter-k8s/kernels/{kernel_id}: one of them.
"""

from __future__ import annotations

import copy

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..errors import NotFoundProblem
from ..handlers import API_PREFIX, K8sAPIHandler
from ..settings_keys import KERNELS_SETTING
from .service import KernelService


class KernelsBaseHandler(K8sAPIHandler):
    @property
    def kernels(self) -> KernelService:
        return self.settings[KERNELS_SETTING]


class KernelStatusesHandler(KernelsBaseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json({"kernels": copy.deepcopy(self.kernels.list_statuses())})


class KernelStatusHandler(KernelsBaseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        status = self.kernels.statuses.get(kernel_id)
        if status is None:
            raise NotFoundProblem(f"no remote kernel {kernel_id!r} on this server")
        self.write_json(copy.deepcopy(status))


_KERNEL = r"(?P<kernel_id>[-a-zA-Z0-9_]{1,64})"

kernel_handlers: list[tuple[str, type[tornado.web.RequestHandler]]] = [
    (rf"/{API_PREFIX}/kernels", KernelStatusesHandler),
    (rf"/{API_PREFIX}/kernels/{_KERNEL}", KernelStatusHandler),
]
