"""REST API of jupyter-k8s, under `{base_url}/jupyter-k8s/`.

Handlers only translate HTTP: they call the services (plain async Python) and turn domain
errors into HTTP answers through one mapper, `map_error`. Every answer is JSON; an error is
`{"message": ..., "reason": ...}`, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from http.client import responses
from typing import Any, cast

import tornado.iostream
import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado.http1connection import HTTP1Connection

from .errors import ForbiddenProblem, Problem, ValidationProblem
from .jobs import schedules
from .jobs.models import ScheduleRequest, ScheduleUpdate, SubmitRequest
from .jobs.service import JobService
from .jobs.sweep_runs import results as sweep_results
from .jobs.sweeps import results_csv
from .k8s.cluster import ClusterService
from .settings_keys import CLUSTER_SETTING, JOBS_SETTING, KERNELS_SETTING

AUTH_RESOURCE = "jupyter_k8s"
API_PREFIX = "jupyter-k8s"
#: How long a log stream may write a backlog before it lets other callbacks run (the load
#: test's goal for the event loop's slowest callback is 50 ms).
YIELD_AFTER_SECONDS = 0.005

_log = logging.getLogger(__name__)


def _not_json_constant(name: str) -> Any:
    raise ValidationProblem(f"the request body is not valid JSON: {name} is not a JSON number")


def _validation_message(exc: Exception) -> str:
    """A short message out of a pydantic ValidationError (first few problems)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "invalid request: " + "; ".join(parts)


def map_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """Turn an exception into (HTTP status, JSON body). The one place that does it.

    A domain problem (`jupyter_k8s.errors.Problem`, Kubernetes API errors included) answers
    with its `http_status`, `public_message` and `public_reason`; anything else unexpected
    is a 500 that shows nothing of the exception (it may hold a secret): the log has it.
    """
    from pydantic import ValidationError

    if isinstance(exc, tornado.web.HTTPError):
        message = exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
        reason = exc.reason or responses.get(exc.status_code, "")
        return exc.status_code, {"message": message or reason, "reason": reason}
    if isinstance(exc, Problem):
        body = {"message": exc.public_message, "reason": exc.public_reason}
        if isinstance(exc, ValidationProblem) and exc.field:
            body["field"] = exc.field  # lets a form point at the offending input
        return exc.http_status, body
    if isinstance(exc, ValidationError):
        return 400, {"message": _validation_message(exc), "reason": "Invalid"}
    if isinstance(exc, json.JSONDecodeError):
        return 400, {"message": f"the request body is not valid JSON: {exc}", "reason": "Invalid"}
    return 500, {
        "message": "internal error in jupyter-k8s; the Jupyter server log has the details",
        "reason": "InternalError",
    }


class K8sAPIHandler(ExtensionHandlerMixin, APIHandler):
    """Base of the jupyter-k8s handlers: JSON errors from `map_error`, services at hand."""

    auth_resource = AUTH_RESOURCE

    @property
    def cluster(self) -> ClusterService:
        return self.settings[CLUSTER_SETTING]

    def write_json(self, data: Any, status: int = 200) -> None:
        self.write_json_text(json.dumps(data), status)

    def write_json_text(self, text: str, status: int = 200) -> None:
        """A JSON body serialized already (off the event loop, for a large one)."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(text)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        if exc_info and exc_info[1] is not None:
            status, body = map_error(exc_info[1])
        else:
            reason = responses.get(status_code, "Unknown HTTP Error")
            status, body = status_code, {"message": reason, "reason": reason}
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # Expected domain errors are one line in the log; only real bugs get a traceback.
        if isinstance(value, Problem):
            status, body = map_error(value)
            self.log.warning(
                "%s %s -> %d %s", self.request.method, self.request.path, status, body["message"]
            )
            return
        super().log_exception(typ, value, tb)


class ClusterHandler(K8sAPIHandler):
    """GET: what the cluster looks like from this server (never fails for cluster trouble)."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        info = dict(await self.cluster.info())
        services = (self.settings.get(JOBS_SETTING), self.settings.get(KERNELS_SETTING))
        problems = [p for s in services if s is not None and (p := s.sync_problem())]
        info["stale"] = problems[0] if problems else None
        self.write_json(info)


class DoctorHandler(K8sAPIHandler):
    """GET: the `jupyter k8s doctor` checklist for this server's cluster configuration.

    ?probes=0 skips the probe pod (image and pod-network checks); the probes need the
    "write" permission, since they create a pod. Cluster trouble is a finding in the answer
    (200), never an error status.
    """

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from .doctor.config import settings_from_app
        from .doctor.run import run_doctor

        raw = self.get_query_argument("probes", "1").lower()
        if raw not in ("0", "1", "true", "false", "yes", "no"):
            raise ValidationProblem(f"probes must be 0 or 1, not {raw!r}", field="probes")
        probes = raw in ("1", "true", "yes")
        # The probes create a pod: a GET, but only for whoever may change things here.
        if probes and not self.authorizer.is_authorized(
            self, self.current_user, "write", self.auth_resource
        ):
            raise ForbiddenProblem("the doctor's probes create a pod; ask with ?probes=0")
        report = await run_doctor(
            settings_from_app(self.extensionapp),
            get_client=self.cluster.get_client,
            probes=probes,
            progress=lambda message: self.log.debug("jupyter-k8s doctor: %s", message),
        )
        self.write_json(report.to_json())


class JobsBaseHandler(K8sAPIHandler):
    @property
    def jobs(self) -> JobService:
        return self.settings[JOBS_SETTING]

    def body_json(self) -> Any:
        if not self.request.body:
            return {}
        try:
            text = self.request.body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationProblem(
                f"the request body is not valid JSON: not UTF-8 text (byte {exc.start})"
            ) from None
        try:
            # NaN and Infinity are not JSON: accepted, they would come back in answers that
            # browsers cannot parse.
            return json.loads(text, parse_constant=_not_json_constant)
        except json.JSONDecodeError as exc:  # a 400 and one log line, not a traceback
            raise ValidationProblem(f"the request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise ValidationProblem(
                "the request body is not valid JSON: nested too deeply"
            ) from None

    def int_arg(
        self, name: str, default: int | None, low: int = 0, high: int = 10**6
    ) -> int | None:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ValidationProblem(f"{name} must be an integer, not {raw!r}", field=name) from None
        if not low <= value <= high:
            raise ValidationProblem(f"{name} must be between {low} and {high}", field=name)
        return value


class JobsHandler(JobsBaseHandler):
    """GET: list this user's jobs (filter, paginate). POST: submit a notebook."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        limit = self.int_arg("limit", 100, 1, 1000)
        offset = self.int_arg("offset", 0)
        jobs, total = await self.jobs.list(
            phase=self.get_query_argument("status", None),
            notebook=self.get_query_argument("notebook", None),
            limit=limit or 100,
            offset=offset or 0,
        )
        page = {"total": total, "offset": offset, "limit": limit, "stale": self.jobs.sync_problem()}
        # Dumping and serializing hundreds of immutable JobInfo snapshots is CPU work (tens of
        # milliseconds for 200 jobs on a busy machine): off the event loop, both.
        text = await asyncio.to_thread(
            lambda: json.dumps({"jobs": [j.model_dump(mode="json") for j in jobs], **page})
        )
        self.write_json_text(text)

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        req = SubmitRequest.from_json(self.body_json())
        info, warnings = await self.jobs.submit(req)
        self.set_header("Location", self.reverse_url_for(info.id))
        self.write_json({"job": info.model_dump(mode="json"), "warnings": warnings}, 201)

    def reverse_url_for(self, job_id: str) -> str:
        return f"{self.base_url.rstrip('/')}/{API_PREFIX}/jobs/{job_id}"


class JobHandler(JobsBaseHandler):
    """GET: one job. DELETE: delete it (its pods, logs and ConfigMap go with it)."""

    @tornado.web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.write_json((await self.jobs.get(job_id)).model_dump(mode="json"))

    @tornado.web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        await self.jobs.delete(job_id)
        self.set_status(204)
        self.finish()


class JobCancelHandler(JobsBaseHandler):
    @tornado.web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        self.write_json((await self.jobs.cancel(job_id)).model_dump(mode="json"))


class JobRerunHandler(JobsBaseHandler):
    @tornado.web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        body = self.body_json()
        params = body.get("parameters") if isinstance(body, dict) else None
        if params is not None and not isinstance(params, dict):
            raise ValidationProblem("parameters must be an object", field="parameters")
        failed_only = body.get("failed_only", False) if isinstance(body, dict) else False
        if not isinstance(failed_only, bool):
            raise ValidationProblem("failed_only must be true or false", field="failed_only")
        info, warnings = await self.jobs.rerun(job_id, params, failed_only=failed_only)
        self.write_json({"job": info.model_dump(mode="json"), "warnings": warnings}, 201)


class JobLogsHandler(JobsBaseHandler):
    """GET: the notebook's log as text; ?follow=1 streams it until the job ends."""

    @tornado.web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        tail = self.int_arg("tail", None, 0, 100_000)
        follow = self.get_query_argument("follow", "0").lower() in ("1", "true", "yes")
        lines = self.jobs.logs(job_id, tail=tail, follow=follow)
        # The first line (or error) decides the status: errors before it are JSON as usual.
        first = None
        async for line in lines:
            first = line
            break
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        # Set before the first flush sends the headers (finish sets it again, harmlessly).
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        if first is not None:
            # In a task of its own, which a browser going away cancels: a quiet job's log
            # would otherwise hold its Kubernetes stream open until the next line came.
            self._pump = asyncio.ensure_future(self._stream(first, lines))
            try:
                await self._pump
            except (asyncio.CancelledError, tornado.iostream.StreamClosedError):
                # tornado's HTTPServer serves each request on an HTTP1Connection.
                connection = cast(HTTP1Connection, self.request.connection)
                if not connection.stream.closed():
                    raise
                return  # the client left: nothing to finish
            finally:
                await lines.aclose()  # closes the upstream log stream now
        self.finish(set_content_type="text/plain; charset=utf-8")

    async def _stream(self, first: str, lines: AsyncIterator[str]) -> None:
        self.write(first)
        await self.flush()
        turn = time.monotonic()
        async for line in lines:
            self.write(line)
            await self.flush()
            if time.monotonic() - turn > YIELD_AFTER_SECONDS:
                # A backlog (a log followed from its start) arrives without a pause: let the
                # other callbacks run, or it holds the event loop until it is all sent.
                await asyncio.sleep(0)
                turn = time.monotonic()

    def on_connection_close(self) -> None:
        pump = getattr(self, "_pump", None)
        if pump is not None and not pump.done():
            pump.cancel()
        super().on_connection_close()


class JobEventsHandler(JobsBaseHandler):
    """GET: the job's events (its Job's and its pods'), oldest first."""

    @tornado.web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.write_json({"events": await self.jobs.timeline(job_id)})


class JobOutputHandler(JobsBaseHandler):
    """GET: download the executed notebook. POST {"path"}: copy it to a path of the workspace."""

    @tornado.web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        data = await self.jobs.output(job_id)
        self.set_header("Content-Disposition", f'attachment; filename="{job_id}.ipynb"')
        self.finish(data, set_content_type="application/x-ipynb+json")

    @tornado.web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        body = self.body_json()
        path = body.get("path") if isinstance(body, dict) else None
        if not isinstance(path, str) or not path.endswith(".ipynb"):
            raise ValidationProblem("path must be a notebook path ending in .ipynb", field="path")
        written = await self.jobs.copy_output(job_id, path)
        self.write_json({"path": written}, 201)


class JobLiveHandler(JobsBaseHandler):
    """GET: the job's notebook as it executes (nbformat 4, read-only), see JobService.live."""

    @tornado.web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        notebook = await self.jobs.live(job_id)
        # Up to a few MiB of outputs: encoding is CPU work, off the event loop.
        body = await asyncio.to_thread(json.dumps, notebook)
        self.set_header("Cache-Control", "no-store")
        self.finish(body, set_content_type="application/json")


class JobResultsHandler(JobsBaseHandler):
    """GET: a sweep's results table (JSON; ?format=csv: CSV), see jobs/sweep_runs.py."""

    @tornado.web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        fmt = self.get_query_argument("format", "json")
        if fmt not in ("json", "csv"):
            raise ValidationProblem("format must be json or csv", field="format")
        table = await sweep_results(self.jobs, job_id)
        if fmt == "json":
            self.write_json(table)
            return
        self.set_header("Content-Disposition", f'attachment; filename="{job_id}.csv"')
        self.finish(results_csv(table), set_content_type="text/csv; charset=utf-8")


class SchedulesHandler(JobsBaseHandler):
    """GET: this user's schedules. POST: create one (a submit request with a cron)."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        found = await schedules.list_schedules(self.jobs)
        self.write_json({"schedules": [s.model_dump(mode="json") for s in found]})

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        req = ScheduleRequest.from_json(self.body_json())
        info, warnings = await schedules.create(self.jobs, req)
        self.set_header("Location", f"{self.base_url.rstrip('/')}/{API_PREFIX}/schedules/{info.id}")
        self.write_json({"schedule": info.model_dump(mode="json"), "warnings": warnings}, 201)


class ScheduleHandler(JobsBaseHandler):
    """GET: one schedule. PATCH: pause/resume (suspend), edit its cron. DELETE: delete it (its
    input and the runs Kubernetes keeps go with it; collected outputs stay)."""

    @tornado.web.authenticated
    @authorized
    async def get(self, schedule_id: str) -> None:
        self.write_json((await schedules.get(self.jobs, schedule_id)).model_dump(mode="json"))

    @tornado.web.authenticated
    @authorized
    async def patch(self, schedule_id: str) -> None:
        change = ScheduleUpdate.from_json(self.body_json())
        info = await schedules.update(self.jobs, schedule_id, change)
        self.write_json(info.model_dump(mode="json"))

    @tornado.web.authenticated
    @authorized
    async def delete(self, schedule_id: str) -> None:
        await schedules.delete(self.jobs, schedule_id)
        self.set_status(204)
        self.finish()


class ScheduleRunHandler(JobsBaseHandler):
    """POST: run the schedule's notebook now (a run like the scheduled ones)."""

    @tornado.web.authenticated
    @authorized
    async def post(self, schedule_id: str) -> None:
        info = await schedules.run_now(self.jobs, schedule_id)
        self.set_header("Location", f"{self.base_url.rstrip('/')}/{API_PREFIX}/jobs/{info.id}")
        self.write_json({"job": info.model_dump(mode="json")}, 201)


class ProfilesHandler(JobsBaseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json({"profiles": self.jobs.profiles.public()})


_JOB = r"(?P<job_id>[a-z0-9][-a-z0-9]{0,62})"
_SCHEDULE = r"(?P<schedule_id>[a-z0-9][-a-z0-9]{0,51})"

default_handlers: list[tuple[str, type[tornado.web.RequestHandler]]] = [
    (rf"/{API_PREFIX}/cluster", ClusterHandler),
    (rf"/{API_PREFIX}/doctor", DoctorHandler),
    (rf"/{API_PREFIX}/profiles", ProfilesHandler),
    (rf"/{API_PREFIX}/jobs", JobsHandler),
    (rf"/{API_PREFIX}/jobs/{_JOB}", JobHandler),
    (rf"/{API_PREFIX}/jobs/{_JOB}/cancel", JobCancelHandler),
    (rf"/{API_PREFIX}/jobs/{_JOB}/rerun", JobRerunHandler),
    (rf"/{API_PREFIX}/jobs/{_JOB}/logs", JobLogsHandler),
    (rf"/{API_PREFIX}/jobs/{_JOB}/events", JobEventsHandler),
    (rf"/{API_PREFIX}/jobs/{_JOB}/output", JobOutputHandler),
    (rf"/{API_PREFIX}/jobs/{_JOB}/results", JobResultsHandler),
    (rf"/{API_PREFIX}/jobs/{_JOB}/live", JobLiveHandler),
    (rf"/{API_PREFIX}/schedules", SchedulesHandler),
    (rf"/{API_PREFIX}/schedules/{_SCHEDULE}", ScheduleHandler),
    (rf"/{API_PREFIX}/schedules/{_SCHEDULE}/run", ScheduleRunHandler),
]
