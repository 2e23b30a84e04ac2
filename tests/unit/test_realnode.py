"""Real nodes' names, addresses and configuration files (pure parts of dev/realnode.py)."""

from __future__ import annotations

import base64
import tomllib
from pathlib import Path

import pytest
import yaml
from ecs_operator.dev import realnode as rn
from ecs_operator.dev.cluster import kwokctl_config


@pytest.mark.parametrize("cluster", ["ecs-dev", "ecs-test", "ecs-e2e", "a" * 60])
@pytest.mark.parametrize("index", [1, 2, 9])
def test_names_fit_linux_interface_names_and_addresses_are_in_the_node_network(cluster, index):
    node = rn.NodeNet(cluster, index)
    for ifname in (node.veth_host, rn.bridge_name(cluster)):
        assert len(ifname) <= 15, ifname
    octet = rn.network_octet(cluster)
    assert node.ip == f"172.31.{octet}.{10 + index}" and rn.host_ip(cluster) == f"172.31.{octet}.1"
    assert node.pod_cidr == f"10.244.{index}.0/24"
    assert node.name == f"real-{index}" and node.cgroup.startswith("/ecs-")


def test_clusters_get_their_own_network_and_names():
    names = ["ecs-dev", "ecs-test", "ecs-e2e"]
    assert len({rn.cluster_key(n) for n in names}) == 3
    assert len({rn.network_octet(n) for n in names}) == 3
    assert rn.cluster_key("ecs-dev") == rn.cluster_key("ecs-dev"), "stable"


def test_containerd_config_is_valid_toml_with_everything_under_the_node_folder(tmp_path):
    conf = tomllib.loads(rn.containerd_config(tmp_path, "172.31.20.1:5000"))
    assert conf["version"] == 2
    for key in ("root", "state"):
        assert conf[key].startswith(str(tmp_path))
    assert conf["grpc"]["address"] == f"{tmp_path}/containerd/containerd.sock"
    cri = conf["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True, "containers here cannot lower oom_score_adj"
    assert cri["netns_mounts_under_state_dir"] is True, "pod network namespaces under the node's folder"
    assert cri["sandbox_image"] == rn.SANDBOX_IMAGE
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
    assert cri["registry"]["config_path"] == f"{tmp_path}/certs.d"


@pytest.mark.parametrize(
    "upstream, server",
    [
        ("docker.io", "https://registry-1.docker.io"),
        ("public.ecr.aws", "https://public.ecr.aws"),
        ("registry.k8s.io", "https://registry.k8s.io"),
    ],
)
def test_registry_mirror_hosts_toml(upstream, server):
    conf = tomllib.loads(rn.registry_hosts_toml(upstream, "172.31.20.1:5000"))
    assert conf["server"] == server
    assert conf["host"]["http://172.31.20.1:5000"]["capabilities"] == ["pull", "resolve"]


def test_kubelet_kube_proxy_cni_and_dns_configuration(tmp_path):
    node = rn.NodeNet("ecs-e2e", 2)
    k = rn.kubelet_config(node, tmp_path, tmp_path / "ca.crt")
    assert (k["failCgroupV1"], k["cgroupDriver"], k["cgroupRoot"]) == (False, "cgroupfs", node.cgroup)
    assert k["clusterDNS"] == [node.ip] and k["address"] == node.ip
    assert k["authentication"]["anonymous"]["enabled"] is False and k["authorization"]["mode"] == "Webhook"
    p = rn.kube_proxy_config(node, tmp_path / "kc")
    assert (p["mode"], p["hostnameOverride"], p["clusterCIDR"]) == ("iptables", "real-2", rn.CLUSTER_CIDR)
    assert p["conntrack"]["maxPerCore"] == 0
    cni = rn.cni_config(node, tmp_path)
    bridge, portmap = cni["plugins"]
    assert bridge["ipam"]["ranges"] == [[{"subnet": node.pod_cidr}]]
    assert bridge["ipam"]["dataDir"] == str(tmp_path / "cni" / "ipam"), "IPAM state per node"
    assert portmap["capabilities"] == {"portMappings": True}
    core = rn.corefile(node, tmp_path / "kc")
    assert f"bind {node.ip}" in core and "kubernetes cluster.local" in core
    labels = rn.node_labels(node, "us-east-1b", "m5.large", "us-east-1")
    assert labels[rn.LABEL_REAL_NODE] == "true" and labels["topology.kubernetes.io/zone"] == "us-east-1b"


def test_node_kubeconfig_inlines_credentials_and_points_at_the_node_network(tmp_path: Path):
    (tmp_path / "ca.crt").write_bytes(b"CA")
    (tmp_path / "admin.crt").write_bytes(b"CERT")
    (tmp_path / "admin.key").write_bytes(b"KEY")
    kc_file = tmp_path / "kubeconfig"
    kc_file.write_text(
        yaml.safe_dump(
            {
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": "https://127.0.0.1:34567",
                            "certificate-authority": str(tmp_path / "ca.crt"),
                        },
                    }
                ],
                "users": [
                    {
                        "name": "u",
                        "user": {"client-certificate": "admin.crt", "client-key": str(tmp_path / "admin.key")},
                    }
                ],
            }
        )
    )
    kc = rn.node_kubeconfig(kc_file, "172.31.20.1")
    cluster, user = kc["clusters"][0]["cluster"], kc["users"][0]["user"]
    assert cluster["server"] == "https://172.31.20.1:34567"
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"CA"
    assert base64.b64decode(user["client-certificate-data"]) == b"CERT", "relative paths resolved"
    assert base64.b64decode(user["client-key-data"]) == b"KEY"


def test_kwokctl_config_lets_real_kubelets_join():
    docs = list(yaml.safe_load_all(kwokctl_config("ecs-e2e", Path("/w"))))
    (ctl,) = [d for d in docs if d and d.get("kind") == "KwokctlConfiguration"]
    assert ctl["options"]["kubeApiserverCertSANs"] == [rn.host_ip("ecs-e2e"), "10.0.0.1"]
    patches = {p["name"]: {a["key"]: a["value"] for a in p["extraArgs"]} for p in ctl["componentsPatches"]}
    assert patches["kwok-controller"] == {
        "manage-all-nodes": "false",
        "manage-nodes-with-annotation-selector": "kwok.x-k8s.io/node=fake",
    }
    api = patches["kube-apiserver"]
    assert api["advertise-address"] == rn.host_ip("ecs-e2e"), "pods on real nodes reach the API server"
    assert api["kubelet-preferred-address-types"].startswith("InternalIP")
    assert api["kubelet-client-certificate"] == "/w/clusters/ecs-e2e/pki/admin.crt"
    assert any(d and d.get("kind") == "Stage" for d in docs), "the KWOK stages are still there"


def test_the_local_registry_by_its_own_address_is_plain_http():
    conf = tomllib.loads(rn.registry_hosts_toml("172.31.20.1:5000", "172.31.20.1:5000"))
    assert conf["server"] == "http://172.31.20.1:5000"
    assert conf["host"]["http://172.31.20.1:5000"]["capabilities"] == ["pull", "resolve"]
