"""Pure pieces of the real node (--node containerd): configuration files, names, checks, images."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

from jupyter_k8s.devcluster.build import Versions, kube_go_mod
from jupyter_k8s.devcluster.mountns_exec import parse_bind
from jupyter_k8s.devcluster.realnode import cni, containerd, images, kubelet, prereqs, toml
from jupyter_k8s.devcluster.realnode.build import cni_go_mod
from jupyter_k8s.devcluster.realnode.layout import Layout, subnet_candidates

LAYOUT = Layout(Path("/state/cluster"))


def _settings(**over: object) -> kubelet.KubeletSettings:
    base: dict = dict(
        node_name="dev-node",
        node_ip="10.88.7.1",
        port=34567,
        healthz_port=34568,
        pod_cidr="10.88.7.0/24",
        client_ca=Path("/state/cluster/pki/ca.crt"),
        serving_cert=Path("/state/cluster/pki/serving.crt"),
        serving_key=Path("/state/cluster/pki/serving.key"),
        kubeconfig=Path("/state/cluster/node.kubeconfig"),
    )
    base.update(over)
    return kubelet.KubeletSettings(**base)


def test_kubelet_is_an_optional_command_of_the_build_module():
    plain = kube_go_mod(Versions())
    assert "cmd/kubelet" not in plain
    assert "\tk8s.io/kubernetes/cmd/kubelet\n" in kube_go_mod(Versions(), ("kubelet",))


def test_cni_go_mod_lists_the_four_plugins():
    mod = cni_go_mod("v1.10.0")
    assert "require github.com/containernetworking/plugins v1.10.0" in mod
    for pkg in ("main/bridge", "ipam/host-local", "main/loopback", "meta/portmap"):
        assert f"github.com/containernetworking/plugins/plugins/{pkg}" in mod


def test_toml_round_trips_through_tomllib():
    doc = {
        "version": 2,
        "name": 'quote " and \\ back',
        "flag": False,
        "list": ["a", "b"],
        "plugins": {"io.containerd.grpc.v1.cri": {"x": 1, "nested": {"y": "z"}}},
    }
    assert tomllib.loads(toml.dumps(doc)) == doc


def test_toml_refuses_what_it_cannot_write():
    with pytest.raises(TypeError):
        toml.dumps({"x": 1.5})


def test_containerd_config_keeps_everything_under_the_state_dir():
    text = containerd.render_config(
        LAYOUT, sandbox_image="localhost/p:1", cni_bin_dir=Path("/cni"), runc="/usr/sbin/runc"
    )
    cfg = tomllib.loads(text)
    assert cfg["version"] == 2
    assert cfg["root"] == "/state/cluster/realnode/containerd/root"
    assert cfg["state"] == "/state/cluster/realnode/containerd/state"
    assert cfg["grpc"]["address"] == "/state/cluster/realnode/containerd/containerd.sock"
    cri = cfg["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "localhost/p:1"
    assert cri["stream_server_port"] == "0"
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"] == {
        "BinaryName": "/usr/sbin/runc",
        "SystemdCgroup": False,
        "Root": "/state/cluster/realnode/containerd/runc",
    }
    assert cri["cni"] == {
        "bin_dir": "/cni",
        "conf_dir": "/state/cluster/realnode/cni/net.d",
        "max_conf_num": 1,
    }


def test_kubelet_config_for_cgroup_v1_hosts_and_the_cluster_ca():
    cfg = yaml.safe_load(kubelet.render_config(LAYOUT, _settings()))
    assert cfg["kind"] == "KubeletConfiguration"
    assert cfg["failCgroupV1"] is False
    assert cfg["cgroupDriver"] == "cgroupfs"
    assert cfg["cgroupRoot"] == f"/jupyter-k8s-{LAYOUT.id}"
    assert cfg["authentication"] == {
        "anonymous": {"enabled": False},
        "webhook": {"enabled": True},
        "x509": {"clientCAFile": "/state/cluster/pki/ca.crt"},
    }
    assert cfg["authorization"] == {"mode": "Webhook"}
    assert cfg["tlsCertFile"] == "/state/cluster/pki/serving.crt"
    assert cfg["containerLogMaxSize"] == "10Mi"
    assert cfg["podCIDR"] == "10.88.7.0/24"
    assert cfg["resolvConf"] == "/state/cluster/realnode/kubelet/resolv.conf"
    assert cfg["staticPodPath"] == ""
    assert cfg["makeIPTablesUtilChains"] is False
    assert cfg["readOnlyPort"] == 0
    assert cfg["address"] == "10.88.7.1" and cfg["port"] == 34567
    assert cfg["containerRuntimeEndpoint"] == LAYOUT.endpoint
    assert cfg["podLogsDir"].startswith("/state/cluster/realnode/")


def test_kubelet_command_line():
    argv = kubelet.command(Path("/bin/kubelet"), LAYOUT, _settings())
    assert argv[0] == "/bin/kubelet"
    assert "--node-ip=10.88.7.1" in argv
    assert "--hostname-override=dev-node" in argv
    assert "--root-dir=/state/cluster/realnode/kubelet/root" in argv


def test_resolv_conf_drops_loopback_resolvers():
    host = "search example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0\n"
    assert kubelet.render_resolv_conf(host) == (
        "search example.org\nnameserver 10.0.0.2\noptions edns0\n"
    )


def test_cni_conflist():
    subnet = ipaddress.IPv4Network("10.88.7.0/24")
    conf = json.loads(cni.render_conflist(LAYOUT, subnet))
    assert conf["cniVersion"] == "1.0.0"
    assert conf["name"] == f"jupyter-k8s-{LAYOUT.id}"
    bridge, portmap = conf["plugins"]
    assert bridge["type"] == "bridge" and bridge["bridge"] == LAYOUT.bridge
    assert bridge["isGateway"] is True
    ipam = bridge["ipam"]
    assert ipam["type"] == "host-local"
    assert ipam["ranges"] == [[{"subnet": "10.88.7.0/24", "gateway": "10.88.7.1"}]]
    assert ipam["dataDir"] == "/state/cluster/realnode/cni/ipam"
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}


def test_host_wide_names_are_short_and_differ_per_state_dir():
    other = Layout(Path("/state/other"))
    assert len(LAYOUT.bridge) <= 15
    assert LAYOUT.bridge != other.bridge
    assert LAYOUT.network_name != other.network_name
    assert LAYOUT.cgroup_root != other.cgroup_root


def test_subnet_candidates_cover_the_pool_once_from_the_hash():
    cands = subnet_candidates("00000a")
    assert len(cands) == 256 and len(set(cands)) == 256
    assert cands[0] == ipaddress.IPv4Network("10.88.10.0/24")


def test_pick_subnet_skips_used_networks():
    cands = [ipaddress.IPv4Network("10.88.1.0/24"), ipaddress.IPv4Network("10.88.2.0/24")]
    used = [ipaddress.IPv4Network("10.88.0.0/23"), ipaddress.IPv4Network("0.0.0.0/0")]
    assert cni.pick_subnet(cands, used) == cands[1]
    with pytest.raises(RuntimeError, match="no free /24"):
        cni.pick_subnet(cands, [ipaddress.IPv4Network("10.88.0.0/16")])


def test_nat_rules_to_delete_only_names_this_network():
    listing = [
        "-P POSTROUTING ACCEPT",
        "-N CNI-0a1b2c",
        "-N CNI-DN-0a1b2c",
        '-A POSTROUTING -s 10.88.7.2/32 -m comment --comment "name: \\"jupyter-k8s-abc123\\" '
        'id: \\"f00\\"" -j CNI-0a1b2c',
        '-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"jupyter-k8s-abc123\\" '
        'id: \\"f00\\"" -j CNI-DN-0a1b2c',
        '-A POSTROUTING -s 10.1.0.2/32 -m comment --comment "name: \\"other\\" id: \\"x\\"" '
        "-j CNI-ffff",
        '-A CNI-0a1b2c -d 10.88.7.0/24 -m comment --comment "name: \\"jupyter-k8s-abc123\\" '
        'id: \\"f00\\"" -j ACCEPT',
    ]
    delete, chains = cni.nat_rules_to_delete(listing, "jupyter-k8s-abc123")
    assert len(delete) == 3
    assert not any("other" in r for r in delete)
    assert chains == ["CNI-0a1b2c", "CNI-DN-0a1b2c"]


def _facts(**over: object) -> prereqs.Facts:
    base: dict = dict(
        euid=0,
        commands={c: True for c in prereqs.COMMAND_FIXES},
        filesystems=frozenset({"overlay", "cgroup"}),
        cgroup_v2_unified=False,
        cgroup_v1_controllers=frozenset(prereqs.REQUIRED_CGROUPS),
        containerd_version=(1, 6),
        iptables_ok=True,
    )
    base.update(over)
    return prereqs.Facts(**base)


def test_prerequisites_met():
    assert prereqs.problems(_facts()) == []


@pytest.mark.parametrize(
    ("over", "what", "fix"),
    [
        ({"euid": 1000}, "needs root", "sudo"),
        (
            {"commands": {**{c: True for c in prereqs.COMMAND_FIXES}, "iptables": False}},
            "`iptables` is not installed",
            "apt-get install iptables",
        ),
        (
            {"commands": {**{c: True for c in prereqs.COMMAND_FIXES}, "runc": False}},
            "`runc` is not installed",
            "apt-get install runc",
        ),
        ({"filesystems": frozenset({"cgroup"})}, "no overlay filesystem", "modprobe overlay"),
        (
            {"cgroup_v1_controllers": frozenset({"cpu", "cpuacct", "cpuset"})},
            "not mounted: memory, pids",
            "mount -t cgroup",
        ),
        ({"containerd_version": (1, 5)}, "too old", "containerd"),
        ({"iptables_ok": False, "iptables_error": "nf_tables: x"}, "nat table", "legacy"),
        ({"ip_forward_writable": False}, "ip_forward", "root"),
    ],
)
def test_each_missing_prerequisite_is_named_with_its_fix(over, what, fix):
    (problem,) = prereqs.problems(_facts(**over))
    assert what in problem.what
    assert fix in problem.fix


def test_cgroup_v2_hosts_need_no_v1_controllers():
    facts = _facts(cgroup_v2_unified=True, cgroup_v1_controllers=frozenset())
    assert prereqs.problems(facts) == []


def test_parse_containerd_version():
    text = "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n"
    assert prereqs.parse_containerd_version(text) == (1, 6)
    assert prereqs.parse_containerd_version("containerd github.com/c/c/v2 v2.1.4 abc") == (2, 1)
    assert prereqs.parse_containerd_version("garbage") is None


def test_parse_bind():
    assert parse_bind("/a:/b") == ("/a", "/b")
    for bad in ("a:/b", "/a", "/a:b"):
        with pytest.raises(Exception, match="expected /ABS/SRC:/ABS/DST"):
            parse_bind(bad)


def test_oci_layout_archive(tmp_path):
    payload = tmp_path / "hello"
    payload.write_bytes(b"#!/bin/sh\necho hi\n")
    layer = tmp_path / "layer.tar"
    diff_id = images.files_layer(layer, [("/bin/hello", payload, 0o755)])
    assert diff_id == hashlib.sha256(layer.read_bytes()).hexdigest()
    config = images.image_config([diff_id], entrypoint=["/bin/hello"], user="65535")
    out = tmp_path / "image.tar"
    images.write_oci_layout(out, "localhost/jupyter-k8s/hello:1", [layer], config)
    with tarfile.open(out) as tar:
        names = tar.getnames()
        read = lambda name: tar.extractfile(name).read()  # noqa: E731
        assert json.loads(read("oci-layout")) == {"imageLayoutVersion": "1.0.0"}
        (entry,) = json.loads(read("index.json"))["manifests"]
        assert entry["annotations"]["io.containerd.image.name"] == "localhost/jupyter-k8s/hello:1"
        assert entry["annotations"]["org.opencontainers.image.ref.name"] == "1"
        manifest_blob = read(f"blobs/sha256/{entry['digest'].split(':')[1]}")
        assert hashlib.sha256(manifest_blob).hexdigest() == entry["digest"].split(":")[1]
        manifest = json.loads(manifest_blob)
        (layer_desc,) = manifest["layers"]
        assert layer_desc["digest"] == f"sha256:{diff_id}"
        assert layer_desc["mediaType"] == images.OCI_LAYER
        assert f"blobs/sha256/{diff_id}" in names
        cfg = json.loads(read(f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}"))
        assert cfg["rootfs"]["diff_ids"] == [f"sha256:{diff_id}"]
        assert cfg["config"]["Entrypoint"] == ["/bin/hello"]
        with tarfile.open(fileobj=tar.extractfile(f"blobs/sha256/{diff_id}")) as inner:
            member = inner.getmember("bin/hello")
            assert member.mode == 0o755 and member.uid == 0


def test_image_names_need_a_tag(tmp_path):
    with pytest.raises(images.ImageError, match="needs a tag"):
        images.write_oci_layout(tmp_path / "x.tar", "localhost/x", [], images.image_config([]))


def test_debian_recipe_key_follows_its_content():
    a = images.DebianRecipe(name="localhost/x:1", packages=("python3",))
    b = images.DebianRecipe(name="localhost/x:1", packages=("python3", "python3-numpy"))
    assert a.key() != b.key()
    assert a.key() == images.DebianRecipe(name="localhost/x:1", packages=("python3",)).key()
    argv = images.mmdebstrap_argv(b, Path("/out.tar"))
    assert argv[0] == "mmdebstrap" and argv[-2:] == ["bookworm", "/out.tar"]
    assert "--include=python3,python3-numpy" in argv


def test_a_deep_state_dir_gets_a_short_node_root():
    deep = Layout(Path("/tmp/pytest-of-root/pytest-304/test_real_node_runs_a_pod0/cluster"))
    assert deep.root == Path("/var/lib/jupyter-k8s/nodes") / deep.id
    assert len(str(deep.kubelet_root / "device-plugins" / "kubelet.sock")) <= 107
    assert LAYOUT.root == Path("/state/cluster/realnode")
    home = Layout(Path("/root/.local/state/jupyter-k8s/dev-cluster"))
    assert home.root == Path("/root/.local/state/jupyter-k8s/dev-cluster/realnode")
