"""Real worker nodes for the local cluster: kubelet + containerd + runc + CNI + kube-proxy +
CoreDNS, each node in a network namespace of its own, beside the KWOK fake nodes.

Layout of one cluster (``<key>`` = 5 hex digits of the cluster name, so two clusters on one
machine never share a name or an address)::

    host ── bridge ecsbr<key> 172.31.<k>.1/24 ── the local registry (:5000) and the API server
              ├── veth ── netns ecs-<key>-1: eth0 172.31.<k>.11, containerd, kubelet, kube-proxy,
              │                  CoreDNS (:53 on the node address), pod bridge cni0 10.244.1.0/24
              └── veth ── netns ecs-<key>-2: ...                     pod bridge cni0 10.244.2.0/24

Every process of a node runs in the host's mount namespace (``nsenter --net``, not
``ip netns exec``, which would give kubelet and containerd different views of the volumes
kubelet mounts). Each kubelet has its own cgroup root (``/ecs-<key>-<i>``), root dir, CNI
state and containerd; containerd keeps the pods' network namespaces under the node's
folder. So ``down`` removes exactly what ``up`` made: processes, containers, mounts,
network namespaces, the bridge and the cgroups.

Images come from a local registry (``docker-registry``, Debian's build of distribution)
that every node's containerd uses as the mirror of docker.io, public.ecr.aws and
registry.k8s.io; ``dev/images.py`` builds and pushes them. Needs root.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import constants

#: Nodes' label that marks a real kubelet node (tests and docs select on it).
LABEL_REAL_NODE = constants.REAL_NODE
#: Mirrors served by the local registry (containerd ``hosts.toml`` per upstream).
MIRRORED = ("docker.io", "public.ecr.aws", "registry.k8s.io")
REGISTRY_PORT = 5000
CLUSTER_CIDR = "10.244.0.0/16"
CLUSTER_DOMAIN = "cluster.local"
SANDBOX_IMAGE = "registry.k8s.io/pause:3.10"
CNI_BIN_DIR = "/usr/lib/cni"
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Debian packages whose binaries a real node runs (hack/install-node-packages.sh installs them).
HOST_BINARIES = {
    "containerd": "/usr/bin/containerd",
    "runc": "/usr/sbin/runc",
    "docker-registry": "/usr/bin/docker-registry",
    "iptables": "/usr/sbin/iptables",
    "nsenter": "/usr/bin/nsenter",
    "ip": "/usr/sbin/ip",
}


#: Host sysctls kubelet sets at start (its "kernel defaults"); up() records them, down() puts
#: them back, so the machine is left as it was found.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)


def read_sysctls() -> dict[str, str]:
    out = {}
    for key in KUBELET_SYSCTLS:
        try:
            out[key] = (Path("/proc/sys") / key).read_text().strip()
        except OSError:
            pass
    return out


def restore_sysctls(saved: dict[str, str]) -> None:
    for key, value in saved.items():
        try:
            if (Path("/proc/sys") / key).read_text().strip() != value:
                (Path("/proc/sys") / key).write_text(value + "\n")
        except OSError:
            pass


class RealNodeError(RuntimeError):
    """A real node could not be set up, started or removed."""


def cluster_key(cluster: str) -> str:
    return hashlib.sha256(cluster.encode()).hexdigest()[:5]


def network_octet(cluster: str) -> int:
    """Third octet of the cluster's node network 172.31.<octet>.0/24 (stable per name)."""
    return 16 + int(cluster_key(cluster), 16) % 224


@dataclass(frozen=True)
class NodeNet:
    """Names and addresses of one real node (pure: derived from cluster name and index)."""

    cluster: str
    index: int  # 1-based

    @property
    def key(self) -> str:
        return cluster_key(self.cluster)

    @property
    def name(self) -> str:
        return f"real-{self.index}"

    @property
    def netns(self) -> str:
        return f"ecs-{self.key}-{self.index}"

    @property
    def veth_host(self) -> str:
        return f"ecs{self.key}v{self.index}"

    @property
    def ip(self) -> str:
        return f"172.31.{network_octet(self.cluster)}.{10 + self.index}"

    @property
    def pod_cidr(self) -> str:
        return f"10.244.{self.index}.0/24"

    @property
    def cgroup(self) -> str:
        return f"/ecs-{self.key}-{self.index}"


def bridge_name(cluster: str) -> str:
    return f"ecsbr{cluster_key(cluster)}"


def host_ip(cluster: str) -> str:
    """The host's address on the node network: API server and registry as the nodes see them."""
    return f"172.31.{network_octet(cluster)}.1"


# -- configuration files (pure) --------------------------------------------------------------
def containerd_config(root: Path, registry: str) -> str:
    """containerd 1.6 (config version 2) for one node, everything under ``root``."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{root}/containerd/root"
state = "{root}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{root}/containerd/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/containerd/opt"

[{cri}]
  sandbox_image = "{SANDBOX_IMAGE}"
  # Containers here lack CAP_SYS_RESOURCE: runc cannot set a negative oom_score_adj.
  restrict_oom_score_adj = true
  # The pods' network namespaces are mounted under the node's state folder (not /run/netns),
  # so down() finds exactly them among the mounts under the node's folder.
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{HOST_BINARIES["runc"]}"
  [{cri}.cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{root}/cni/net.d"
  [{cri}.registry]
    config_path = "{root}/certs.d"
"""


def registry_hosts_toml(upstream: str, registry: str) -> str:
    """containerd ``hosts.toml``: pull ``upstream`` images from the local registry first."""
    if upstream == registry:  # the local registry itself, by its address: plain HTTP
        server = f"http://{registry}"
    else:
        server = "https://registry-1.docker.io" if upstream == "docker.io" else f"https://{upstream}"
    return (
        f'server = "{server}"\n\n[host."http://{registry}"]\n'
        f'  capabilities = ["pull", "resolve"]\n  skip_verify = true\n'
    )


def cni_config(node: NodeNet, root: Path) -> dict:
    return {
        "cniVersion": "0.4.0",
        "name": "ecs-local",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node.pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(root / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(node: NodeNet, root: Path, ca_file: Path) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # The hosts here have a cgroup v1 hierarchy (kubelet 1.36 refuses it unless told).
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": node.cgroup,
        "containerRuntimeEndpoint": f"unix://{root}/containerd/containerd.sock",
        "address": node.ip,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDNS": [node.ip],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(root / "resolv.conf"),
        # Each kubelet's own pod log folder: kubelets sharing /var/log/pods delete each other's
        # logs (log cleanup removes folders of pods the kubelet does not know).
        "podLogsDir": str(root / "pod-logs"),
        "failSwapOn": False,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "nodeStatusUpdateFrequency": "5s",
        "shutdownGracePeriod": "0s",
        "protectKernelDefaults": False,
        "podPidsLimit": -1,
    }


def kube_proxy_config(node: NodeNet, kubeconfig: Path) -> dict:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": node.name,
        "bindAddress": node.ip,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "mode": "iptables",
        "clusterCIDR": CLUSTER_CIDR,
        # No conntrack sysctls: a network namespace cannot raise the host's table size.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


def corefile(node: NodeNet, kubeconfig: Path) -> str:
    """Cluster DNS for the node's pods, on the node's own address (no upstream: nothing
    outside the cluster is reachable from here)."""
    return f"""{CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {node.ip}
    errors
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
.:53 {{
    bind {node.ip}
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
"""


def node_labels(node: NodeNet, zone: str, instance_type: str, region: str) -> dict[str, str]:
    return {
        LABEL_REAL_NODE: "true",
        "topology.kubernetes.io/zone": zone,
        "topology.kubernetes.io/region": region,
        "node.kubernetes.io/instance-type": instance_type,
        "type": "real",
    }


def node_kubeconfig(cluster_kubeconfig: Path, server_host: str) -> dict:
    """The cluster's admin kubeconfig with credentials inlined and the server address
    replaced by one the nodes can reach (``server_host``; the API server's certificate
    carries it as a SAN, see cluster.kwokctl_config)."""
    kc = yaml.safe_load(cluster_kubeconfig.read_text())
    base = cluster_kubeconfig.parent
    import base64

    def inline(d: dict, key: str) -> None:
        if key in d:
            p = Path(d.pop(key))
            p = p if p.is_absolute() else base / p
            d[f"{key}-data"] = base64.b64encode(p.read_bytes()).decode()

    for c in kc.get("clusters", []):
        server = c["cluster"]["server"]
        scheme, rest = server.split("://", 1)
        port = rest.rsplit(":", 1)[1] if ":" in rest else "443"
        c["cluster"]["server"] = f"{scheme}://{server_host}:{port}"
        inline(c["cluster"], "certificate-authority")
    for u in kc.get("users", []):
        inline(u["user"], "client-certificate")
        inline(u["user"], "client-key")
    return kc


# -- processes --------------------------------------------------------------------------------
def _run(*cmd: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), text=True, capture_output=True, input=input, check=False)
    if check and proc.returncode != 0:
        raise RealNodeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids_with(marker: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid() and marker in _cmdline(int(d.name)):
            out.append(int(d.name))
    return out


def _kill(pids: list[int], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL whatever still runs after ``timeout``; reaps our own children."""
    pids = [p for p in pids if _pid_alive(p)]
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            for p in list(pids):
                try:
                    os.waitpid(p, os.WNOHANG)
                except ChildProcessError:
                    pass
                if not _pid_alive(p):
                    pids.remove(p)
            time.sleep(0.1)
        if not pids:
            return


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``, deepest first (from /proc/self/mountinfo)."""
    prefix = str(path)
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4].encode().decode("unicode_escape")
        if mp == prefix or mp.startswith(prefix + "/"):
            found.append(mp)
    return sorted(set(found), key=lambda m: m.count("/"), reverse=True)


def _cgroup_dirs(name: str) -> list[Path]:
    """The cgroup (v1: one per hierarchy) folders of ``name`` that exist."""
    if not CGROUP_ROOT.is_dir():
        return []
    return [h / name.lstrip("/") for h in CGROUP_ROOT.iterdir() if (h / name.lstrip("/")).is_dir()]


def _cgroup_procs(name: str) -> list[int]:
    pids: set[int] = set()
    for d in _cgroup_dirs(name):
        for f in d.rglob("cgroup.procs"):
            try:
                pids.update(int(x) for x in f.read_text().split())
            except OSError:
                pass
    return sorted(pids)


def _remove_cgroup(name: str) -> None:
    for d in _cgroup_dirs(name):
        for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            try:
                sub.rmdir()
            except OSError:
                pass
        try:
            d.rmdir()
        except OSError:
            pass


def _make_cgroup(name: str) -> None:
    """Create the kubelet's cgroup root in every v1 hierarchy (kubelet refuses a missing one);
    cpuset needs its cpus and mems copied from the parent before anything can join it."""
    for h in CGROUP_ROOT.iterdir():
        if not h.is_dir() or h.name == "unified" or h.is_symlink():
            continue
        d = h / name.lstrip("/")
        d.mkdir(exist_ok=True)
        if h.name.startswith("cpuset") or (h / "cpuset.cpus").exists():
            for f in ("cpuset.cpus", "cpuset.mems"):
                if (d / f).exists() and not (d / f).read_text().strip():
                    (d / f).write_text((h / f).read_text())


# -- the node set -----------------------------------------------------------------------------
@dataclass
class RealNodes:
    """The real nodes and the local registry of one local cluster."""

    cluster: str
    bins: Path
    workdir: Path
    kubeconfig: Path
    ca_file: Path
    images_cache: Path
    zones: tuple[str, ...] = ("us-east-1a", "us-east-1b", "us-east-1c")
    region: str = "us-east-1"
    instance_type: str = "m5.large"
    log: Callable[[str], None] = print
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.workdir / "realnodes" / self.cluster

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def registry(self) -> str:
        return f"{host_ip(self.cluster)}:{REGISTRY_PORT}"

    def node_root(self, node: NodeNet) -> Path:
        return self.root / node.name

    def nodes(self) -> list[NodeNet]:
        state = self._load()
        return [NodeNet(self.cluster, i) for i in state.get("nodes", [])]

    # -- state ---------------------------------------------------------------------------
    def _load(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def _save(self, state: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state, indent=2))

    # -- up ------------------------------------------------------------------------------
    def up(self, count: int, timeout: float = 180.0) -> list[str]:
        """Start ``count`` real nodes (and the registry), push the local images, and wait
        until every node is Ready. Returns the node names."""
        if os.geteuid() != 0:
            raise RealNodeError("real nodes need root (network namespaces, mounts, cgroups, containerd)")
        missing = [b for b in HOST_BINARIES.values() if not Path(b).exists()]
        missing += [str(self.bins / b) for b in ("kubelet", "kube-proxy", "coredns") if not (self.bins / b).exists()]
        if missing:
            raise RealNodeError(
                f"missing {', '.join(missing)} (run hack/install-node-packages.sh and hack/build-bins.sh)"
            )
        t0 = time.monotonic()
        self.down(quiet=True)
        state: dict = {"nodes": list(range(1, count + 1)), "pids": {}, "sysctls": read_sysctls()}
        self._save(state)
        self._bridge_up()
        state["pids"]["registry"] = self._start_registry()
        self._save(state)
        self._push_images()
        for i in state["nodes"]:
            node = NodeNet(self.cluster, i)
            state["pids"].update(self._node_up(node, [NodeNet(self.cluster, j) for j in state["nodes"] if j != i]))
            self._save(state)
        names = [NodeNet(self.cluster, i).name for i in state["nodes"]]
        self._wait_ready(names, timeout)
        self.log(f"{count} real node(s) Ready in {time.monotonic() - t0:.1f}s: {', '.join(names)}")
        return names

    def _bridge_up(self) -> None:
        br = bridge_name(self.cluster)
        if _run("ip", "link", "show", br, check=False).returncode != 0:
            _run("ip", "link", "add", br, "type", "bridge")
        _run("ip", "addr", "replace", f"{host_ip(self.cluster)}/24", "dev", br)
        _run("ip", "link", "set", br, "up")

    def _spawn(self, what: str, cmd: list[str], netns: str | None = None) -> int:
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if netns:
            cmd = [HOST_BINARIES["nsenter"], f"--net=/run/netns/{netns}", "--", *cmd]
        env = dict(os.environ, PATH=f"{self.bins}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        with open(logs / f"{what}.log", "ab") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        return proc.pid

    def log_file(self, what: str) -> Path:
        return self.root / "logs" / f"{what}.log"

    def _start_registry(self) -> int:
        from .images import registry_config, wait_registry

        storage = self.images_cache / "registry"
        storage.mkdir(parents=True, exist_ok=True)
        conf = self.root / "registry.yaml"
        conf.write_text(registry_config(self.registry, storage))
        pid = self._spawn("registry", [HOST_BINARIES["docker-registry"], "serve", str(conf)])
        try:
            wait_registry(f"http://{self.registry}", timeout=30)
        except Exception as e:
            raise RealNodeError(
                f"local registry did not start: {e}\n{self.log_file('registry').read_text()[-2000:]}"
            ) from e
        return pid

    def _push_images(self) -> None:
        from .images import build_pause, push_all

        t0 = time.monotonic()
        pause = build_pause(self.images_cache / "bin")
        refs = push_all(
            self.registry,
            pause,
            log=lambda m: None,
            cache_dir=self.images_cache / "layers",
            kube_scheduler=self.bins / "kube-scheduler",
        )
        self.log(f"local images in the registry ({len(refs)} references) in {time.monotonic() - t0:.1f}s")

    def _node_up(self, node: NodeNet, peers: list[NodeNet]) -> dict[str, int]:
        root = self.node_root(node)
        shutil.rmtree(root, ignore_errors=True)
        for d in ("containerd", "cni/net.d", "cni/ipam", "kubelet", "certs.d"):
            (root / d).mkdir(parents=True, exist_ok=True)
        # network namespace, veth to the host bridge, pod routes to the other nodes
        _run("ip", "netns", "add", node.netns)
        _run("ip", "link", "add", node.veth_host, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
        _run("ip", "link", "set", node.veth_host, "master", bridge_name(self.cluster), "up")
        ns = ("ip", "-n", node.netns)
        _run(*ns, "addr", "add", f"{node.ip}/24", "dev", "eth0")
        _run(*ns, "link", "set", "eth0", "up")
        _run(*ns, "link", "set", "lo", "up")
        _run(*ns, "route", "add", "default", "via", host_ip(self.cluster))
        for peer in peers:
            _run(*ns, "route", "add", peer.pod_cidr, "via", peer.ip)
        nsenter = (HOST_BINARIES["nsenter"], f"--net=/run/netns/{node.netns}", "--")
        for key, value in (
            ("net.ipv4.ip_forward", "1"),
            ("net.bridge.bridge-nf-call-iptables", "1"),
            ("net.ipv4.conf.all.route_localnet", "1"),
        ):
            _run(*nsenter, "sysctl", "-qw", f"{key}={value}", check=key != "net.bridge.bridge-nf-call-iptables")
        _make_cgroup(node.cgroup)
        # configuration
        kc = root / "kubeconfig"
        kc.write_text(yaml.safe_dump(node_kubeconfig(self.kubeconfig, host_ip(self.cluster))))
        kc.chmod(0o600)
        (root / "containerd.toml").write_text(containerd_config(root, self.registry))
        for upstream in MIRRORED:
            (root / "certs.d" / upstream).mkdir(parents=True, exist_ok=True)
            (root / "certs.d" / upstream / "hosts.toml").write_text(registry_hosts_toml(upstream, self.registry))
        # images pushed to the local registry by its own address (e.g. the operator's image)
        (root / "certs.d" / self.registry).mkdir(parents=True, exist_ok=True)
        (root / "certs.d" / self.registry / "hosts.toml").write_text(registry_hosts_toml(self.registry, self.registry))
        (root / "cni" / "net.d" / "10-ecs-local.conflist").write_text(json.dumps(cni_config(node, root), indent=2))
        (root / "resolv.conf").write_text(f"nameserver {node.ip}\n")
        (root / "kubelet.yaml").write_text(yaml.safe_dump(kubelet_config(node, root, self.ca_file)))
        (root / "kube-proxy.yaml").write_text(yaml.safe_dump(kube_proxy_config(node, kc)))
        (root / "Corefile").write_text(corefile(node, kc))
        labels = node_labels(node, self.zones[(node.index - 1) % len(self.zones)], self.instance_type, self.region)
        pids = {}
        pids[f"{node.name}/containerd"] = self._spawn(
            f"{node.name}-containerd",
            [HOST_BINARIES["containerd"], "--config", str(root / "containerd.toml")],
            node.netns,
        )
        self._wait_file(root / "containerd" / "containerd.sock", f"{node.name} containerd", 30)
        pids[f"{node.name}/kubelet"] = self._spawn(
            f"{node.name}-kubelet",
            [
                str(self.bins / "kubelet"),
                f"--config={root / 'kubelet.yaml'}",
                f"--kubeconfig={kc}",
                f"--hostname-override={node.name}",
                f"--node-ip={node.ip}",
                f"--root-dir={root / 'kubelet'}",
                f"--node-labels={','.join(f'{k}={v}' for k, v in labels.items())}",
                "--v=1",
            ],
            node.netns,
        )
        pids[f"{node.name}/kube-proxy"] = self._spawn(
            f"{node.name}-kube-proxy",
            [str(self.bins / "kube-proxy"), f"--config={root / 'kube-proxy.yaml'}", "--v=1"],
            node.netns,
        )
        pids[f"{node.name}/coredns"] = self._spawn(
            f"{node.name}-coredns", [str(self.bins / "coredns"), "-conf", str(root / "Corefile")], node.netns
        )
        return pids

    def _wait_file(self, path: Path, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not path.exists():
            if time.monotonic() > deadline:
                raise RealNodeError(f"{what} did not start in {timeout:.0f}s")
            time.sleep(0.1)

    def _wait_ready(self, names: list[str], timeout: float) -> None:
        kubectl = str(self.bins / "kubectl")
        deadline = time.monotonic() + timeout
        pending = list(names)
        while True:
            proc = _run(
                kubectl,
                "--kubeconfig",
                str(self.kubeconfig),
                "get",
                "nodes",
                "-l",
                f"{LABEL_REAL_NODE}=true",
                "-o",
                "json",
                check=False,
            )
            ready = set()
            if proc.returncode == 0:
                for n in json.loads(proc.stdout)["items"]:
                    if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", [])):
                        ready.add(n["metadata"]["name"])
            pending = [n for n in names if n not in ready]
            if not pending:
                return
            dead = [w for w, pid in self._load().get("pids", {}).items() if not _pid_alive(pid)]
            if dead or time.monotonic() > deadline:
                tails = "\n".join(
                    f"--- {w} ---\n{self.log_file(w.replace('/', '-')).read_text(errors='replace')[-1500:]}"
                    for w in (dead or [f"{pending[0]}/kubelet"])
                )
                why = f"{', '.join(dead)} exited" if dead else f"not Ready after {timeout:.0f}s"
                raise RealNodeError(f"real node(s) {', '.join(pending)}: {why}\n{tails}")
            time.sleep(0.5)

    # -- down ----------------------------------------------------------------------------
    def down(self, quiet: bool = False) -> None:
        """Stop everything ``up`` started and remove what it made. Safe to repeat; also finds
        leftovers of a crashed run by name (netns, cgroups, mounts, processes)."""
        state = self._load()
        # the recorded nodes and any node namespace named after this cluster (a crashed run)
        indexes = set(state.get("nodes", [])) | {int(ns.rsplit("-", 1)[1]) for ns in self._netns()}
        if not indexes and not state and not self.root.exists():
            return
        if not quiet:
            self.log(f"removing real nodes of {self.cluster!r}")
        nodes = [NodeNet(self.cluster, i) for i in sorted(indexes)]
        # 1. node agents first (so nothing restarts containers), then the containers, then containerd
        agents = [
            p
            for p in _pids_with(str(self.root))
            if not any(x in _cmdline(p) for x in ("containerd", "docker-registry"))
        ]
        _kill(sorted(set(agents)))
        for node in nodes:
            _kill(_cgroup_procs(node.cgroup), timeout=2.0)  # every container process of the node
        _kill(_pids_with(str(self.root)))  # containerd, its shims, the registry
        # 2. mounts (kubelet volumes, overlay rootfs, pod network namespaces, kubelet's rshared root)
        for mp in _mounts_under(self.root):
            _run("umount", "-l", mp, check=False)
        # 3. network: node namespaces (their veths go with them), then the bridge
        for node in nodes:
            _run("ip", "netns", "delete", node.netns, check=False)
            _run("ip", "link", "delete", node.veth_host, check=False)
        _run("ip", "link", "delete", bridge_name(self.cluster), check=False)
        for link in self._log_links():
            link.unlink(missing_ok=True)
        # 4. cgroups, the host sysctls kubelet changed, files
        for node in nodes:
            _remove_cgroup(node.cgroup)
        restore_sysctls(state.get("sysctls") or {})
        shutil.rmtree(self.root, ignore_errors=True)

    def _netns(self) -> list[str]:
        """The node network namespaces of this cluster that exist (``ecs-<key>-<i>``)."""
        if not Path(HOST_BINARIES["ip"]).exists():
            return []
        prefix = f"ecs-{cluster_key(self.cluster)}-"
        names = [
            line.split()[0] for line in _run("ip", "netns", "list", check=False).stdout.splitlines() if line.strip()
        ]
        return [n for n in names if n.startswith(prefix) and n[len(prefix) :].isdigit()]

    def _log_links(self) -> list[Path]:
        """kubelet's links of this cluster's container logs in /var/log/containers (a fixed folder)."""
        links = Path("/var/log/containers")
        if not links.is_dir():
            return []
        return [p for p in links.iterdir() if p.is_symlink() and os.readlink(p).startswith(str(self.root))]

    def leftovers(self) -> list[str]:
        """What of this cluster's real nodes still exists (empty after a clean ``down``)."""
        found = [f"process {p}: {_cmdline(p)[:80]}" for p in _pids_with(str(self.root))]
        found += [f"mount {m}" for m in _mounts_under(self.root)]
        found += [f"netns {n}" for n in self._netns()]
        if _run("ip", "link", "show", bridge_name(self.cluster), check=False).returncode == 0:
            found.append(f"bridge {bridge_name(self.cluster)}")
        for i in range(1, 10):
            found += [f"cgroup {d}" for d in _cgroup_dirs(NodeNet(self.cluster, i).cgroup)]
        found += [f"log link {p}" for p in self._log_links()]
        return found
