"""Run one container as a local process.

What a container runtime gives a process, emulated with what a Linux host offers without
images: its own mount namespace where each volume is bind-mounted at its mountPath (so code
that reads /var/run/secrets/... finds real files), its own session (so SIGTERM/SIGKILL reach
every child), and a memory cgroup holding its memory limit, so the kernel's OOM killer ends
it as it would in a pod and we can report OOMKilled. Where a step can't be done (no
CAP_SYS_ADMIN, no writable cgroup), the container still runs and the docs say what is lost;
memory limits then fall back to polling the process tree's resident size.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from .volumes import Mount

CLONE_NEWNS = 0x00020000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

MEMORY_CGROUP_V1 = Path("/sys/fs/cgroup/memory")
CGROUP_PARENT = "jupyter-k8s"

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


def mount_namespaces_work() -> bool:
    """Whether this process may make private mount namespaces (root with CAP_SYS_ADMIN)."""
    if os.geteuid() != 0:
        return False
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child
        os._exit(0 if _libc.unshare(CLONE_NEWNS) == 0 else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def memory_cgroups_work() -> bool:
    probe = MEMORY_CGROUP_V1 / CGROUP_PARENT
    try:
        probe.mkdir(exist_ok=True)
        return (probe / "cgroup.procs").exists()
    except OSError:
        return False


@dataclass
class MemoryCgroup:
    path: Path

    @classmethod
    def create(cls, name: str, limit_bytes: int) -> MemoryCgroup:
        path = MEMORY_CGROUP_V1 / CGROUP_PARENT / name
        with contextlib.suppress(FileExistsError):
            path.mkdir()
        (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
        # No swap either: a limit that swaps isn't the limit a pod would have.
        with contextlib.suppress(OSError):
            (path / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))
        return cls(path)

    def oom_killed(self) -> bool:
        try:
            for line in (self.path / "memory.oom_control").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value) > 0
        except (OSError, ValueError):
            pass
        return False

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.rmdir()


@dataclass
class ContainerProcess:
    process: asyncio.subprocess.Process
    cgroup: MemoryCgroup | None = None
    memory_limit: int | None = None
    rss_oom: bool = False  # killed by our RSS poller (no cgroup available)
    _poller: asyncio.Task | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    async def wait(self) -> tuple[int, bool]:
        """Wait for the process; returns (exit code as a container reports it, OOM-killed)."""
        rc = await self.process.wait()
        if self._poller:
            self._poller.cancel()
        # Whatever the main process left behind goes with it, as in a container.
        self.signal(signal.SIGKILL)
        oom = self.rss_oom or (self.cgroup.oom_killed() if self.cgroup else False)
        if self.cgroup:
            self.cgroup.remove()
        # A container killed by signal N exits 128+N.
        return (128 - rc if rc < 0 else rc), oom


def _group_rss(pgid: int) -> int:
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # field 5 of stat: the process group
                continue
            total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # field 24: rss pages
        except (OSError, ValueError, IndexError):
            continue
    return total


async def _poll_rss(cp: ContainerProcess) -> None:
    assert cp.memory_limit
    while cp.process.returncode is None:
        if _group_rss(cp.pid) > cp.memory_limit:
            cp.rss_oom = True
            cp.signal(signal.SIGKILL)
            return
        await asyncio.sleep(0.1)


def _prepare_child(
    mounts: list[Mount], cgroup: MemoryCgroup | None, isolate: bool, cwd: str
) -> None:
    """Runs in the child between fork and exec: join the cgroup, then set up the mounts."""
    if cgroup is not None:
        (cgroup.path / "cgroup.procs").write_text(str(os.getpid()))
    if not isolate or not mounts:
        return
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", MS_REC | MS_PRIVATE)
    for m in mounts:
        target = m.container_path
        if m.host_path.is_dir():
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                open(target, "a").close()  # noqa: SIM115 - an empty mount point
        _mount(str(m.host_path), target, MS_BIND | MS_REC)
        if m.read_only:
            _mount(None, target, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)
    # The working directory may lie inside a volume: enter it again, now that it is mounted.
    os.chdir(cwd)


async def start_process(
    argv: list[str],
    env: dict[str, str],
    cwd: Path,
    mounts: list[Mount],
    *,
    memory_limit: int | None,
    cgroup_name: str,
    isolate_mounts: bool,
    use_cgroups: bool,
) -> ContainerProcess:
    """Start argv as a container would; stdout/stderr are pipes the caller pumps into logs."""
    cgroup = None
    if memory_limit and use_cgroups:
        cgroup = MemoryCgroup.create(cgroup_name, memory_limit)
    cwd.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - one local mkdir
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        cwd=str(cwd),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: _prepare_child(mounts, cgroup, isolate_mounts, str(cwd)),
        limit=2**20,
    )
    cp = ContainerProcess(process, cgroup, memory_limit)
    if memory_limit and cgroup is None:
        cp._poller = asyncio.create_task(_poll_rss(cp))
    return cp


# -- what a previous agent left running ----------------------------------------------------------


def _started_at(pid: int) -> float | None:
    """When a process started (seconds since the epoch), from /proc; None if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22 of stat: start time in clock ticks after boot
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return int(line.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return None


def leftover_processes(pod_dir: Path) -> set[int]:
    """The processes a previous run of the agent started for the pod kept in `pod_dir`.

    An agent killed hard (SIGKILL, like a node that crashed) leaves its containers' processes
    behind with nobody to wait for them. They are the main process of each container (its pid
    file, when the process is not younger than the file: pids are reused) and every process
    whose environment points into the pod's directory (HOME=<pod dir>/home, which whatever
    the container started inherits, in whatever session it put itself).
    """
    pids: set[int] = set()
    for pidfile in pod_dir.glob("containers/*/pid"):
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text())
            started = _started_at(pid)
            if started is not None and started <= pidfile.stat().st_mtime + 1:
                pids.add(pid)
    marker = str(pod_dir).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(v.startswith(b"HOME=") and marker in v for v in environ.split(b"\0")):
            pids.add(int(entry.name))
    pids.discard(os.getpid())
    return pids


def kill_leftovers(pod_dir: Path) -> list[int]:
    """SIGKILL what `leftover_processes` finds (their whole group when they lead one)."""
    pids = leftover_processes(pod_dir)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
    return sorted(pids)
