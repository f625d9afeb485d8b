"""The server id on kernel pods (identity.py): the same for a restart of one server, another
for any other server, kept safely in the data directory."""

from __future__ import annotations

import json
import os
import threading
import time

from traitlets.config import Configurable

from jupyter_k8s.kernels import identity
from jupyter_k8s.kernels.identity import (
    find_server_app,
    persistent_server_id,
    random_server_id,
    server_app_id,
)
from jupyter_k8s.kernels.objects import is_server_id


def test_the_same_server_keeps_its_id_and_others_get_theirs(tmp_path):
    first = persistent_server_id(tmp_path, "host", "/home/a", 8888)
    assert is_server_id(first)
    assert persistent_server_id(tmp_path, "host", "/home/a", 8888) == first  # a restart
    others = {
        persistent_server_id(tmp_path, "host", "/home/a", 8889),  # a second lab, other port
        persistent_server_id(tmp_path, "host", "/home/b", 8888),  # other root
        persistent_server_id(tmp_path, "jupyter-bob--gpu", "/home/a", 8888),  # other pod
        persistent_server_id(tmp_path / "other-home", "host", "/home/a", 8888),  # other machine
    }
    assert first not in others and len(others) == 4
    files = list((tmp_path / "jupyter_k8s" / "servers").iterdir())
    assert all(f.stat().st_mode & 0o077 == 0 for f in files)
    record = json.loads(files[0].read_text())
    assert set(record) == {"id", "hostname", "root_dir", "port"}


def test_a_corrupt_file_gives_a_fresh_id(tmp_path):
    first = persistent_server_id(tmp_path, "h", "/r", 1)
    (path,) = (tmp_path / "jupyter_k8s" / "servers").iterdir()
    for junk in ("{", json.dumps({"id": "../../x"}), json.dumps(["x"])):
        path.write_text(junk)
        fresh = persistent_server_id(tmp_path, "h", "/r", 1)
        assert is_server_id(fresh) and fresh != first
        assert persistent_server_id(tmp_path, "h", "/r", 1) == fresh


def test_two_processes_starting_at_once_agree(tmp_path):
    results: list[str] = []

    def make() -> None:
        results.append(persistent_server_id(tmp_path, "h", "/r", 8888))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1


def test_old_files_are_pruned(tmp_path):
    persistent_server_id(tmp_path, "h", "/old", 1)
    (old,) = (tmp_path / "jupyter_k8s" / "servers").iterdir()
    long_ago = time.time() - (identity.PRUNE_DAYS + 1) * 86400
    os.utime(old, (long_ago, long_ago))
    persistent_server_id(tmp_path, "h", "/new", 1)
    assert not old.exists()


def test_the_server_app_is_found_through_the_parent_chain(tmp_path, monkeypatch):
    from jupyter_server.serverapp import ServerApp

    class App(ServerApp):
        pass

    monkeypatch.setattr(ServerApp, "initialized", classmethod(lambda cls: False))
    app = App.__new__(App)  # no init: only the parent chain is walked
    Configurable.__init__(app)
    kernel_manager = Configurable(parent=app)
    one_kernel = Configurable(parent=kernel_manager)
    assert find_server_app(Configurable(parent=one_kernel)) is app
    assert find_server_app(Configurable()) is None


def test_server_app_id_uses_root_port_and_data_dir(tmp_path):
    class FakeApp:
        root_dir = str(tmp_path / "root")
        port = 8888
        data_dir = str(tmp_path / "data")

    (tmp_path / "root").mkdir()
    one = server_app_id(FakeApp())
    assert one == server_app_id(FakeApp())
    FakeApp.port = 8889
    assert server_app_id(FakeApp()) != one
    FakeApp.data_dir = "/proc/no-such-dir-can-be-made"
    assert is_server_id(server_app_id(FakeApp()))  # random, with a warning
    assert random_server_id() != random_server_id()
