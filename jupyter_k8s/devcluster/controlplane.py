"""Start, watch and stop the processes of the local cluster.

One state directory holds everything of one cluster: certificates, kubeconfigs, etcd data,
component logs, the node agent's pod directories, and `state.json` with ports and process
ids. `down` stops every process it recorded (and every pod process the node agent recorded)
and removes the data, so the next `up` starts clean; the certificates are kept so that
kubeconfigs handed out stay valid.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from . import DEFAULT_MAX_PODS
from .build import Versions, ensure_binaries
from .mounts import unmount_under
from .pki import PKI, kubeconfig

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "node-agent")
DEFAULT_NAMESPACE = "jupyter-k8s"
SERVICE_ACCOUNT = "jupyter-k8s"
LOOPBACK = "127.0.0.1"


class ClusterError(RuntimeError):
    """The local cluster could not do what was asked; the message says what to look at."""


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "jupyter-k8s" / "dev-cluster"


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def stop_pid(pid: int, grace: float = 10.0, group: bool = True) -> None:
    """SIGTERM a process (its whole group when it leads one), then SIGKILL after `grace`."""

    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group and os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)

    if not pid_alive(pid):
        return
    send(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    send(signal.SIGKILL)
    for _ in range(100):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not pid_alive(pid):
            return
        time.sleep(0.05)


@dataclass
class ClusterState:
    """What `up` recorded: enough for `status`, `down` and restarting one component."""

    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)
    node_name: str = "dev-node"
    gpus: int = 0
    max_pods: int = DEFAULT_MAX_PODS
    namespace: str = DEFAULT_NAMESPACE
    versions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ClusterState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)


class DevCluster:
    """The local cluster rooted at one state directory."""

    def __init__(
        self,
        state_dir: Path | None = None,
        *,
        bin_dir: Path | None = None,
        node_name: str = "dev-node",
        gpus: int = 0,
        max_pods: int = DEFAULT_MAX_PODS,
        namespace: str = DEFAULT_NAMESPACE,
        versions: Versions | None = None,
        node: str = "process",
        kueue: bool | None = None,
        progress: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True),
    ):
        self.dir = (state_dir or default_state_dir()).absolute()
        self.bin_dir = bin_dir
        self.node_name = node_name
        self.gpus = gpus
        # The process node's pod capacity (a kubelet's maxPods): 110 as on any node; the
        # load test runs 200 jobs at once on its one node.
        self.max_pods = max_pods
        self.namespace = namespace
        self.versions = versions or Versions()
        # "process" (the node agent) or "containerd" (realnode/: kubelet + containerd)
        self.node = node
        # None: as this state directory was last brought up (see kueue.recorded).
        self.kueue = kueue
        self.progress = progress
        self.pki = PKI(self.dir / "pki")

    # -- paths -----------------------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.dir / "admin.kubeconfig"

    @property
    def user_kubeconfig(self) -> Path:
        """Kubeconfig of the least-privileged ServiceAccount the product runs as."""
        return self.dir / "user.kubeconfig"

    @property
    def node_dir(self) -> Path:
        return self.dir / "node"

    def log_path(self, component: str) -> Path:
        return self.dir / "logs" / f"{component}.log"

    def state(self) -> ClusterState | None:
        return ClusterState.load(self.state_file)

    # -- up --------------------------------------------------------------------------------

    def up(self, wait: bool = True, timeout: float = 120.0) -> ClusterState:
        from . import kueue
        from .kueue_build import ensure_kueue

        if self.kueue is not None:
            kueue.record(self.dir, self.kueue)
        with_kueue = kueue.recorded(self.dir)
        current = self.state()
        if current and all(pid_alive(p) for p in current.pids.values()) and current.pids:
            self.progress(f"the local cluster in {self.dir} is already running")
            if wait:
                self.wait_ready(current, timeout)
            if with_kueue and kueue.COMPONENT not in current.pids:
                kueue.start(self, current, ensure_kueue(progress=self.progress), timeout)
            elif not with_kueue and kueue.COMPONENT in current.pids:
                self.progress("Kueue runs until `down`; the next `up` starts without it")
            return current
        if current:
            self.progress("cleaning up the remains of a cluster that did not stop cleanly")
            self.down(quiet=True)
        binaries = ensure_binaries(self.versions, self.bin_dir, progress=self.progress)
        from .realnode import node as realnode

        # Checked and built before anything starts, so a missing prerequisite fails fast.
        prepared = (
            realnode.preflight(self.versions, self.progress) if self.node == "containerd" else None
        )
        kueue_binary = ensure_kueue(progress=self.progress) if with_kueue else None
        started = time.monotonic()
        for sub in ("logs", "etcd", "node"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        st = ClusterState(
            node_name=self.node_name,
            gpus=self.gpus,
            max_pods=self.max_pods,
            namespace=self.namespace,
            versions={"kubernetes": self.versions.kubernetes, "etcd": self.versions.etcd},
        )
        st.ports = {
            "etcd": free_port(),
            "etcd-peer": free_port(),
            "apiserver": free_port(),
            "kubelet": free_port(),
            "controller-manager": free_port(),
            "scheduler": free_port(),
        }
        server = f"https://{LOOPBACK}:{st.ports['apiserver']}"
        self._write_pki_and_kubeconfigs(server)
        st.commands = self._commands(binaries, st)
        st.save(self.state_file)
        try:
            self._start(st, "etcd")
            self._wait_http(f"http://{LOOPBACK}:{st.ports['etcd']}/health", "etcd", 30, st)
            self._start(st, "kube-apiserver")
            self._wait_http(f"{server}/readyz", "kube-apiserver", 60, st)
            for comp in ("kube-controller-manager", "kube-scheduler"):
                self._start(st, comp)
            if prepared is None:
                self._start(st, "node-agent")
            else:
                realnode.start(self, st, prepared, self.progress)
            from .bootstrap import bootstrap

            bootstrap(self, st)
            if wait:
                self.wait_ready(st, timeout)
            if kueue_binary is not None:
                kueue.start(self, st, kueue_binary, timeout)
        except BaseException:
            self.progress(f"start-up failed; logs are in {self.dir / 'logs'}")
            self.down(quiet=True)
            raise
        self.progress(f"local cluster up in {time.monotonic() - started:.1f} s")
        return st

    def _write_pki_and_kubeconfigs(self, server: str) -> None:
        pki = self.pki
        pki.ensure_ca()
        pki.ensure_service_account_keys()
        pki.issue(
            "apiserver",
            "kube-apiserver",
            server=True,
            client=False,
            ips=(LOOPBACK, "10.0.0.1"),
            dns=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
        )
        pki.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",))
        pki.issue("front-proxy-client", "front-proxy-client")
        pki.issue(f"node-{self.node_name}", f"system:node:{self.node_name}", ("system:nodes",))
        pki.issue(
            f"node-{self.node_name}-serving",
            f"system:node:{self.node_name}",
            server=True,
            client=False,
            ips=(LOOPBACK,),
            dns=("localhost", self.node_name),
        )
        identities = {
            "admin": ("kubernetes-admin", ("system:masters",)),
            "controller-manager": ("system:kube-controller-manager", ()),
            "scheduler": ("system:kube-scheduler", ()),
        }
        for name, (cn, orgs) in identities.items():
            pair = pki.issue(name, cn, orgs)
            cfg = kubeconfig(
                server,
                pki.ca.cert,
                name,
                pair,
                namespace=self.namespace if name == "admin" else None,
            )
            _write_private(self.dir / f"{name}.kubeconfig", yaml.safe_dump(cfg))
        node_pair = pki.issue(f"node-{self.node_name}", f"system:node:{self.node_name}")
        cfg = kubeconfig(server, pki.ca.cert, f"system:node:{self.node_name}", node_pair)
        _write_private(self.dir / "node.kubeconfig", yaml.safe_dump(cfg))

    def _commands(self, bins: dict[str, Path], st: ClusterState) -> dict[str, list[str]]:
        p, d, ports = self.pki.dir, self.dir, st.ports
        etcd_url = f"http://{LOOPBACK}:{ports['etcd']}"
        peer_url = f"http://{LOOPBACK}:{ports['etcd-peer']}"
        kubeconfig_args = lambda name: [  # noqa: E731 - three identical flag triples
            f"--kubeconfig={d / name}",
            f"--authentication-kubeconfig={d / name}",
            f"--authorization-kubeconfig={d / name}",
        ]
        return {
            "etcd": [
                str(bins["etcd"]),
                "--name=dev",
                f"--data-dir={d / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=dev={peer_url}",
                "--log-level=warn",
                "--unsafe-no-fsync",  # a throw-away dev cluster; fsync makes every write slow
            ],
            "kube-apiserver": [
                str(bins["kube-apiserver"]),
                f"--etcd-servers={etcd_url}",
                f"--bind-address={LOOPBACK}",
                f"--advertise-address={LOOPBACK}",
                f"--secure-port={ports['apiserver']}",
                f"--tls-cert-file={p / 'apiserver.crt'}",
                f"--tls-private-key-file={p / 'apiserver.key'}",
                f"--client-ca-file={p / 'ca.crt'}",
                # The aggregation layer (Kueue's visibility API, with --kueue) proxies with the
                # front-proxy client certificate; its name is the one allowed below.
                f"--requestheader-client-ca-file={p / 'ca.crt'}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={p / 'front-proxy-client.crt'}",
                f"--proxy-client-key-file={p / 'front-proxy-client.key'}",
                f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
                f"--kubelet-certificate-authority={p / 'ca.crt'}",
                "--kubelet-preferred-address-types=InternalIP",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                "--allow-privileged=false",
                "--profiling=false",
                # The kubernetes Service cannot point at loopback; pods get the API address from
                # KUBERNETES_SERVICE_HOST/PORT, which the node agent sets.
                "--endpoint-reconciler-type=none",
                "--v=1",
            ],
            "kube-controller-manager": [
                str(bins["kube-controller-manager"]),
                *kubeconfig_args("controller-manager.kubeconfig"),
                f"--bind-address={LOOPBACK}",
                f"--secure-port={ports['controller-manager']}",
                "--controllers=*",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={p / 'sa.key'}",
                f"--root-ca-file={p / 'ca.crt'}",
                f"--cluster-signing-cert-file={p / 'ca.crt'}",
                f"--cluster-signing-key-file={p / 'ca.key'}",
                "--leader-elect=false",
                # Quicker than the defaults, so a dev cluster reacts at human speed.
                "--node-monitor-grace-period=20s",
                "--concurrent-gc-syncs=5",
                "--v=1",
            ],
            "kube-scheduler": [
                str(bins["kube-scheduler"]),
                *kubeconfig_args("scheduler.kubeconfig"),
                f"--bind-address={LOOPBACK}",
                f"--secure-port={ports['scheduler']}",
                "--leader-elect=false",
                "--v=1",
            ],
            "node-agent": [
                sys.executable,
                "-m",
                "jupyter_k8s.devcluster.agent",
                f"--kubeconfig={d / 'node.kubeconfig'}",
                f"--node-name={self.node_name}",
                f"--gpus={st.gpus}",
                f"--max-pods={st.max_pods}",
                f"--state-dir={self.node_dir}",
                f"--port={ports['kubelet']}",
                f"--serving-cert={p / f'node-{self.node_name}-serving.crt'}",
                f"--serving-key={p / f'node-{self.node_name}-serving.key'}",
                f"--client-ca={p / 'ca.crt'}",
                f"--apiserver-port={ports['apiserver']}",
            ],
        }

    def _start(self, st: ClusterState, component: str) -> int:
        log = open(self.log_path(component), "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            st.commands[component],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the CLI; `down` stops the whole group
            cwd=self.dir,
        )
        log.close()
        st.pids[component] = proc.pid
        st.save(self.state_file)
        return proc.pid

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca.cert))
        admin = self.pki.dir
        ctx.load_cert_chain(admin / "admin.crt", admin / "admin.key")
        return ctx

    def _get(self, url: str, timeout: float = 2.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(
                url, context=self._ssl() if url.startswith("https") else None, timeout=timeout
            ) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def _wait_http(self, url: str, what: str, timeout: float, st: ClusterState) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            comp = "etcd" if what == "etcd" else "kube-apiserver"
            if not pid_alive(st.pids[comp]):
                raise ClusterError(
                    f"{what} exited during start-up; see {self.log_path(comp)}:\n"
                    + _tail(self.log_path(comp))
                )
            try:
                status, body = self._get(url)
                if status == 200:
                    return
                last = body.decode(errors="replace")[-300:]
            except (OSError, urllib.error.URLError) as exc:
                last = str(exc)
            time.sleep(0.1)
        raise ClusterError(f"{what} did not become ready in {timeout:.0f} s ({last})")

    def wait_ready(self, st: ClusterState, timeout: float = 120.0) -> None:
        """Until the API answers, the node is Ready and the product's namespace can run pods."""
        server = f"https://{LOOPBACK}:{st.ports['apiserver']}"
        deadline = time.monotonic() + timeout
        checks: list[tuple[str, str, Callable[[dict], bool]]] = [
            ("the node to be Ready", f"/api/v1/nodes/{st.node_name}", _node_ready),
            (
                "the namespace's default ServiceAccount",
                f"/api/v1/namespaces/{st.namespace}/serviceaccounts/default",
                lambda o: True,
            ),
            (
                "the namespace's root CA ConfigMap",
                f"/api/v1/namespaces/{st.namespace}/configmaps/kube-root-ca.crt",
                lambda o: True,
            ),
        ]
        for what, path, ok in checks:
            while True:
                for comp, pid in st.pids.items():
                    if not pid_alive(pid):
                        raise ClusterError(
                            f"{comp} exited; see {self.log_path(comp)}:\n"
                            + _tail(self.log_path(comp))
                        )
                try:
                    status, body = self._get(server + path)
                    if status == 200 and ok(json.loads(body)):
                        break
                except (OSError, ValueError):
                    pass
                if time.monotonic() > deadline:
                    raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}")
                time.sleep(0.1)

    # -- restart one component (tests of resilience) ----------------------------------------

    def kill_component(self, component: str) -> None:
        st = self._require_state()
        stop_pid(st.pids[component], grace=0.0)

    def start_component(self, component: str) -> None:
        st = self._require_state()
        if pid_alive(st.pids.get(component, -1)):
            return
        self._start(st, component)
        if component == "kube-apiserver":
            self._wait_http(
                f"https://{LOOPBACK}:{st.ports['apiserver']}/readyz", "kube-apiserver", 60, st
            )

    def _require_state(self) -> ClusterState:
        st = self.state()
        if st is None:
            raise ClusterError(f"no local cluster in {self.dir}; run `jupyter k8s dev-cluster up`")
        return st

    # -- down ------------------------------------------------------------------------------

    def down(self, quiet: bool = False) -> None:
        st = self.state()
        if st is None and not self.dir.exists():
            if not quiet:
                self.progress("no local cluster to stop")
            return
        from .realnode.node import teardown as teardown_real_node

        # A real node first: its pods are torn down through containerd, which must run.
        teardown_real_node(self.dir, st, self.progress)
        if st is not None:
            # Add-ons (Kueue) first, while the API server still answers them.
            for comp, addon_pid in st.pids.items():
                if comp not in COMPONENTS:
                    stop_pid(addon_pid, grace=5.0)
            # Node agent first (it stops its pods), the API server and etcd last.
            for comp in reversed(COMPONENTS):
                pid = st.pids.get(comp)
                if pid:
                    stop_pid(pid, grace=10.0 if comp == "node-agent" else 5.0)
        # Pod processes the agent may have left behind if it was killed hard.
        for pidfile in self.node_dir.glob("pods/*/containers/*/pid"):
            with contextlib.suppress(OSError, ValueError):
                stop_pid(int(pidfile.read_text()), grace=2.0)
        unmount_under(self.node_dir)
        for sub in ("etcd", "node"):
            shutil.rmtree(self.dir / sub, ignore_errors=True)
        for f in (self.state_file, self.user_kubeconfig):
            f.unlink(missing_ok=True)
        if not quiet:
            self.progress("local cluster stopped")

    # -- status / env ----------------------------------------------------------------------

    def status(self) -> dict:
        st = self.state()
        if st is None:
            return {"running": False, "state_dir": str(self.dir)}
        procs = {c: {"pid": pid, "alive": pid_alive(pid)} for c, pid in st.pids.items()}
        info: dict = {
            "running": all(p["alive"] for p in procs.values()),
            "state_dir": str(self.dir),
            "server": f"https://{LOOPBACK}:{st.ports.get('apiserver')}",
            "processes": procs,
            "node": st.node_name,
            "gpus": st.gpus,
            "namespace": st.namespace,
            "versions": st.versions,
            "kubeconfig": str(self.user_kubeconfig),
            "admin_kubeconfig": str(self.admin_kubeconfig),
        }
        from .kueue import status as kueue_status

        if kueue_info := kueue_status(st):
            info["kueue"] = kueue_info
        try:
            status, body = self._get(f"{info['server']}/api/v1/nodes/{st.node_name}")
            info["node_ready"] = status == 200 and _node_ready(json.loads(body))
        except (OSError, ValueError):
            info["node_ready"] = False
            info["running"] = False
        return info

    def env(self, admin: bool = False) -> str:
        self._require_state()
        path = self.admin_kubeconfig if admin else self.user_kubeconfig
        return f"export KUBECONFIG={path}"


def _node_ready(node: dict) -> bool:
    for cond in node.get("status", {}).get("conditions", []):
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
