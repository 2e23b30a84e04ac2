"""The embedded local control plane: real kube-apiserver, kube-controller-manager,
kube-scheduler and etcd, with KWOK fake nodes, started by kwokctl's binary runtime.

Binaries come from ``hack/build-bins.sh`` (built once per machine from Go modules and
cached under ``~/.cache/ecs-operator``); nothing here downloads anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..domain.capacity import FARGATE_PROVIDERS, LABEL_CAPACITY_PROVIDER, TAINT_VIRTUAL_NODE

DEFAULT_NAME = "ecs-dev"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
REGION = "us-east-1"
# The node pool that stands in for EC2 container instances.
DEFAULT_INSTANCE_TYPE = "m5.large"
INSTANCE_TYPES = {
    # instance type: (vCPU, memory GiB)
    "m5.large": (2, 8),
    "m5.xlarge": (4, 16),
    "c5.large": (2, 4),
    # virtual nodes serving FARGATE / FARGATE_SPOT (virtual-kubelet style: one big node per zone)
    "fargate": (64, 256),
}


# KWOK Stages the cluster runs with (package data): KWOK's usual node/pod behaviour plus the
# image conventions tests use to make containers exit or never become ready
# (``kwok.local/exit:<code>``, ``kwok.local/never-ready``); see docs/local-cluster.md.
STAGES_FILE = Path(__file__).resolve().parents[1] / "data" / "kwok-stages.yaml"


def kwokctl_config(cluster: str, kwok_workdir: Path) -> str:
    """The ``kwokctl --config`` file: our KWOK Stages (package data) plus the cluster options
    that real nodes need (pure):

    - the API server's certificate also names the host's address on the real nodes' network
      and the ``kubernetes`` Service's address, and it advertises the former (pods on real
      nodes, e.g. the chart's operator, reach it through that Service); it reaches kubelets by
      InternalIP with the admin client certificate (``kubectl logs`` / ``exec`` on real nodes);
    - the KWOK controller manages only the fake nodes (annotation ``kwok.x-k8s.io/node=fake``),
      never a real kubelet's node or pods.
    """
    from .realnode import host_ip

    pki = kwok_workdir / "clusters" / cluster / "pki"
    options = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        # 10.0.0.1: the `kubernetes` Service (kwokctl's service range is 10.0.0.0/24), which
        # pods on real nodes use to reach the API server.
        "options": {"kubeApiserverCertSANs": [host_ip(cluster), "10.0.0.1"]},
        "componentsPatches": [
            {
                "name": "kube-apiserver",
                "extraArgs": [
                    # the `kubernetes` Service's endpoint: an address pods on real nodes can reach
                    {"key": "advertise-address", "value": host_ip(cluster)},
                    {"key": "kubelet-preferred-address-types", "value": "InternalIP,Hostname"},
                    {"key": "kubelet-client-certificate", "value": str(pki / "admin.crt")},
                    {"key": "kubelet-client-key", "value": str(pki / "admin.key")},
                ],
            },
            {
                "name": "kwok-controller",
                "extraArgs": [
                    {"key": "manage-all-nodes", "value": "false"},
                    {"key": "manage-nodes-with-annotation-selector", "value": "kwok.x-k8s.io/node=fake"},
                ],
            },
        ],
    }
    return STAGES_FILE.read_text().rstrip() + "\n---\n" + yaml.safe_dump(options, sort_keys=False)


def stages_digest(cluster: str, kwok_workdir: Path) -> str:
    """Digest of the kwokctl configuration a cluster is created with (recorded next to its
    kubeconfig: a running cluster made from another configuration is recreated)."""
    return hashlib.sha256(kwokctl_config(cluster, kwok_workdir).encode()).hexdigest()


class ClusterError(RuntimeError):
    """The local control plane could not be built, started or reached."""


def repo_root() -> Path | None:
    """The source checkout this package runs from, if any (operator/ecs_operator/dev/ -> repo)."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "hack" / "build-bins.sh").is_file() else None


def cache_root() -> Path:
    return Path(os.environ.get("ECS_OPERATOR_CACHE", Path.home() / ".cache" / "ecs-operator"))


def bin_dir() -> Path:
    """Folder with the control plane binaries, building them on first use."""
    explicit = os.environ.get("ECS_OPERATOR_BIN_DIR")
    if explicit:
        return Path(explicit)
    root = repo_root()
    if root is None:
        raise ClusterError("cannot find hack/build-bins.sh; run from a source checkout or set ECS_OPERATOR_BIN_DIR")
    proc = subprocess.run(
        ["bash", str(root / "hack" / "build-bins.sh")],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ClusterError(f"hack/build-bins.sh failed with exit code {proc.returncode}")
    return Path(proc.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class NodeSpec:
    name: str
    zone: str
    instance_type: str = DEFAULT_INSTANCE_TYPE
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[dict, ...] = ()


def virtual_node(provider: str, zone: str) -> NodeSpec:
    """A virtual node that serves a Fargate capacity provider in one zone."""
    return NodeSpec(
        name=f"{provider.lower().replace('_', '-')}-{zone}",
        zone=zone,
        instance_type="fargate",
        labels={
            LABEL_CAPACITY_PROVIDER: provider,
            "type": "virtual-kubelet",
            "eks.amazonaws.com/compute-type": "fargate",
        },
        taints=({"key": TAINT_VIRTUAL_NODE, "value": provider, "effect": "NoSchedule"},),
    )


def default_nodes(per_zone: int = 2, fargate: bool = True) -> list[NodeSpec]:
    """EC2-style container instances (m5.large, ``per_zone`` in each zone) and, with
    ``fargate``, one FARGATE and one FARGATE_SPOT virtual node per zone."""
    nodes = [NodeSpec(name=f"ip-10-0-{z}-{i + 1}", zone=zone) for z, zone in enumerate(ZONES) for i in range(per_zone)]
    if fargate:
        nodes += [virtual_node(p, zone) for p in FARGATE_PROVIDERS for zone in ZONES]
    return nodes


def node_manifest(spec: NodeSpec) -> dict:
    """A KWOK fake node that looks like an EC2 instance in a managed node group."""
    cpu, mem_gib = INSTANCE_TYPES[spec.instance_type]
    resources = {"cpu": str(cpu), "memory": f"{mem_gib}Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    labels = {
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": spec.name,
        "node.kubernetes.io/instance-type": spec.instance_type,
        "topology.kubernetes.io/region": REGION,
        "topology.kubernetes.io/zone": spec.zone,
        "type": "kwok",
        **spec.labels,
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": spec.name,
            "labels": labels,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"taints": list(spec.taints)} if spec.taints else {},
        "status": {
            "allocatable": resources,
            "capacity": resources,
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
            },
        },
    }


@dataclass
class LocalCluster:
    """A kwokctl cluster on this machine; ``kubeconfig`` is written under the cache folder."""

    name: str = DEFAULT_NAME
    bins: Path | None = None
    workdir: Path = field(default_factory=lambda: cache_root() / "clusters")

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / f"{self.name}.kubeconfig"

    @property
    def _stages_stamp(self) -> Path:
        """Digest of the Stages file the running cluster was created with."""
        return self.workdir / f"{self.name}.stages.sha256"

    def _stages_current(self) -> bool:
        try:
            return self._stages_stamp.read_text().strip() == stages_digest(self.name, self.workdir / "kwok")
        except OSError:
            return False

    # -- plumbing -------------------------------------------------------------------------
    def _bins(self) -> Path:
        if self.bins is None:
            self.bins = bin_dir()
        return self.bins

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KWOK_WORKDIR"] = str(self.workdir / "kwok")
        env["PATH"] = f"{self._bins()}{os.pathsep}{env.get('PATH', '')}"
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def _run(self, *args: str, input: str | None = None, check: bool = True, capture: bool = True):
        proc = subprocess.run(
            list(args),
            env=self.env(),
            input=input,
            text=True,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            check=False,
        )
        if check and proc.returncode != 0:
            raise ClusterError(f"{' '.join(args[:4])} failed ({proc.returncode}): {proc.stderr or proc.stdout}")
        return proc

    def kubectl(self, *args: str, input: str | None = None, check: bool = True):
        return self._run(
            str(self._bins() / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args, input=input, check=check
        )

    def kwokctl(self, *args: str, check: bool = True, capture: bool = True):
        return self._run(str(self._bins() / "kwokctl"), *args, check=check, capture=capture)

    # -- lifecycle ------------------------------------------------------------------------
    def exists(self) -> bool:
        if not (self.workdir / "kwok" / "clusters" / self.name).exists():
            return False
        out = self.kwokctl("get", "clusters", check=False).stdout or ""
        return self.name in out.split()

    def up(
        self,
        nodes: list[NodeSpec] | None = None,
        timeout: float = 180.0,
        log=print,
        real_nodes: int = 0,
        gateway_api: bool = True,
    ) -> Path:
        """Start the cluster (or reuse a healthy one), create the nodes, wait until all Ready.
        ``real_nodes``: that many real kubelet nodes beside the fake ones (dev/realnode.py;
        needs root); 0 removes any this cluster had. ``gateway_api``: install the Gateway API
        CRDs (dev/gateway_api.py; no controller)."""
        bins = self._bins()
        self.workdir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        if self.exists() and self.healthy() and self._stages_current():
            log(f"cluster {self.name!r} already running")
        else:
            if self.exists():
                why = "is not healthy" if not self.healthy() else "runs other KWOK stages"
                log(f"cluster {self.name!r} exists but {why}; recreating")
                self.down(log=log)
            if not STAGES_FILE.is_file():
                raise ClusterError(f"missing KWOK stages file {STAGES_FILE}")
            config_file = self.workdir / f"{self.name}.kwokctl.yaml"
            config_file.write_text(kwokctl_config(self.name, self.workdir / "kwok"))
            digest = stages_digest(self.name, self.workdir / "kwok")
            log(f"starting cluster {self.name!r} (kube-apiserver, etcd, controller-manager, scheduler, kwok)")
            self.kwokctl(
                "create",
                "cluster",
                "--name",
                self.name,
                # Stages in --config replace kwokctl's built-in ones (the file has the full set).
                "--config",
                str(config_file),
                "--runtime",
                "binary",
                "--kube-apiserver-binary",
                str(bins / "kube-apiserver"),
                "--kube-controller-manager-binary",
                str(bins / "kube-controller-manager"),
                "--kube-scheduler-binary",
                str(bins / "kube-scheduler"),
                "--kwok-controller-binary",
                str(bins / "kwok"),
                "--etcd-binary",
                str(bins / "etcd"),
                "--kube-authorization",
                "--kube-admission",
                "--disable-qps-limits",
                "--kubeconfig",
                str(self.kubeconfig),
                "--wait",
                f"{int(timeout)}s",
                "--quiet-pull",
            )
            self._stages_stamp.write_text(digest + "\n")
        if gateway_api:
            from . import gateway_api as gw

            try:
                gw.install(self.kubectl, log=log)
            except gw.GatewayApiError as e:
                raise ClusterError(str(e)) from e
        self.apply_nodes(nodes if nodes is not None else default_nodes())
        if real_nodes:
            self.real_nodes(log=log).up(real_nodes, timeout=timeout)
        elif self.real_nodes(log=log).nodes():
            self.remove_real_nodes(log=log)
        self.wait_nodes_ready(timeout=timeout)
        log(f"cluster {self.name!r} ready in {time.monotonic() - t0:.1f}s; KUBECONFIG={self.kubeconfig}")
        return self.kubeconfig

    def real_nodes(self, log=print):
        """The :class:`~ecs_operator.dev.realnode.RealNodes` of this cluster (not started)."""
        from .realnode import RealNodes

        pki = self.workdir / "kwok" / "clusters" / self.name / "pki"
        return RealNodes(
            cluster=self.name,
            bins=self.bins or Path("."),
            workdir=self.workdir,
            kubeconfig=self.kubeconfig,
            ca_file=pki / "ca.crt",
            images_cache=cache_root() / "images",
            zones=ZONES,
            region=REGION,
            instance_type=DEFAULT_INSTANCE_TYPE,
            log=log,
        )

    def remove_real_nodes(self, log=print) -> None:
        real = self.real_nodes(log=log)
        names = [n.name for n in real.nodes()]
        real.down()
        if names and self.healthy():
            self.kubectl("delete", "node", "--ignore-not-found", "--wait=false", *names, check=False)

    def apply_nodes(self, nodes: list[NodeSpec]) -> None:
        docs = [node_manifest(n) for n in nodes]
        if not docs:
            return
        self.kubectl(
            "apply", "--server-side", "--field-manager", "ecs-operator-dev", "-f", "-", input=yaml.safe_dump_all(docs)
        )

    def node_names(self) -> list[str]:
        out = self.kubectl("get", "nodes", "-o", "json").stdout
        return [n["metadata"]["name"] for n in json.loads(out)["items"]]

    def wait_nodes_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            items = json.loads(self.kubectl("get", "nodes", "-o", "json").stdout)["items"]
            not_ready = [
                n["metadata"]["name"]
                for n in items
                if not any(
                    c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", [])
                )
            ]
            if items and not not_ready:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"nodes not Ready after {timeout}s: {not_ready or 'no nodes'}")
            time.sleep(0.5)

    def healthy(self) -> bool:
        if not self.kubeconfig.exists():
            return False
        proc = self.kubectl("get", "--raw", "/readyz", check=False)
        return proc.returncode == 0 and (proc.stdout or "").strip() == "ok"

    # -- the ecs-scheduler (dev/scheduler.py) ----------------------------------------------
    def ecs_scheduler(self):
        """The :class:`~ecs_operator.dev.scheduler.EcsScheduler` of this cluster (not started)."""
        from .scheduler import EcsScheduler

        return EcsScheduler(kubeconfig=self.kubeconfig, bins=self._bins(), workdir=self.workdir, cluster=self.name)

    def start_ecs_scheduler(self, timeout: float = 60.0, log=print):
        """Start (or reuse) the extender and the second kube-scheduler ``ecs-scheduler``."""
        return self.ecs_scheduler().start(timeout=timeout, log=log)

    def stop_ecs_scheduler(self, clean: bool = False) -> None:
        """Stop the ecs-scheduler processes recorded for this cluster (any process started them)."""
        from .scheduler import EcsScheduler

        sched = EcsScheduler(
            kubeconfig=self.kubeconfig, bins=self.bins or Path("."), workdir=self.workdir, cluster=self.name
        )
        if clean:
            sched.clean()
        else:
            sched.stop()

    def down(self, log=print) -> None:
        self.stop_ecs_scheduler(clean=True)
        self.real_nodes(log=log).down(quiet=True)
        if self.exists():
            log(f"stopping cluster {self.name!r}")
            self.kwokctl("delete", "cluster", "--name", self.name, check=False)
        shutil.rmtree(self.workdir / "kwok" / "clusters" / self.name, ignore_errors=True)
        self.kubeconfig.unlink(missing_ok=True)
        self._stages_stamp.unlink(missing_ok=True)

    def status(self) -> dict:
        info: dict = {"name": self.name, "kubeconfig": str(self.kubeconfig), "exists": self.exists()}
        if info["exists"]:
            info["healthy"] = self.healthy()
            if info["healthy"]:
                info["nodes"] = self.node_names()
                info["version"] = (
                    json.loads(self.kubectl("version", "-o", "json").stdout).get("serverVersion", {}).get("gitVersion")
                )
        from .scheduler import EcsScheduler

        sched = EcsScheduler(kubeconfig=self.kubeconfig, bins=Path("."), workdir=self.workdir, cluster=self.name)
        info["ecsScheduler"] = (
            {"running": True, "extenderPort": sched.extender_port, "securePort": sched.secure_port, "pids": sched.pids}
            if sched.load()
            else {"running": False}
        )
        return info


def main(argv: list[str]) -> int:
    """``ecs-operator dev cluster up|down|status [--name N] [--nodes-per-zone K] [--no-ecs-scheduler]``"""
    import argparse

    from .realnode import RealNodeError
    from .scheduler import SchedulerError

    p = argparse.ArgumentParser(prog="ecs-operator dev cluster")
    p.add_argument("action", choices=["up", "down", "status", "kubeconfig"])
    p.add_argument("--name", default=DEFAULT_NAME)
    p.add_argument("--nodes-per-zone", type=int, default=2)
    p.add_argument(
        "--real-nodes",
        type=int,
        default=0,
        metavar="N",
        help="also start N real worker nodes (kubelet, containerd, runc, CNI, kube-proxy, "
        "CoreDNS; needs root) and the local image registry",
    )
    p.add_argument(
        "--no-ecs-scheduler",
        action="store_true",
        help="do not start the ecs-scheduler (second kube-scheduler + ECS placement extender)",
    )
    p.add_argument(
        "--no-gateway-api",
        action="store_true",
        help="do not install the Gateway API CRDs (GatewayClass, Gateway, HTTPRoute, ReferenceGrant)",
    )
    args = p.parse_args(argv)
    cluster = LocalCluster(name=args.name)
    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    try:
        if args.action == "up":
            kc = cluster.up(
                default_nodes(args.nodes_per_zone),
                log=log,
                real_nodes=args.real_nodes,
                gateway_api=not args.no_gateway_api,
            )
            if args.no_ecs_scheduler:
                cluster.stop_ecs_scheduler()
            else:
                cluster.start_ecs_scheduler(log=log)
            print(kc)
        elif args.action == "down":
            cluster.down(log=log)
        elif args.action == "kubeconfig":
            print(cluster.kubeconfig)
        else:
            print(json.dumps(cluster.status(), indent=2))
    except (ClusterError, SchedulerError, RealNodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
