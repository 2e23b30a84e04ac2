"""Port mappings -> container ports (pure): port names unique in the pod, host ports unique on
the node per the network mode, and the ECS port names and app protocols the pod's annotations
keep."""

from __future__ import annotations

import re
from typing import Any

from ..models.generated import ContainerDefinition, PortMapping
from . import names
from .context import TaskContext
from .diagnostics import TranslationError

MAX_PORT_RANGE = 100  # containerPortRange sizes expanded into individual ports

# ECS appProtocol -> Kubernetes appProtocol (as a Service port takes it)
_APP_PROTOCOLS = {"http": "http", "http2": "kubernetes.io/h2c", "grpc": "kubernetes.io/h2c"}

_PORT_RANGE_RE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


class PortMapper:
    """Translates the containers' port mappings, one container after the other."""

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx
        self.taken_names: set[str] = set()
        self.port_name_map: dict[str, str] = {}  # k8s port name -> ECS port name
        self.app_protocols: dict[str, str] = {}  # k8s port name (or container/number) -> appProtocol
        self.host_ports: dict[tuple[int, str], str] = {}  # (host port, protocol) -> ECS container

    def container_ports(self, name: str, cd: ContainerDefinition) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen: set[tuple[int, str, int | None]] = set()
        for j, pm in enumerate(cd.portMappings or []):
            field = self.ctx.cpath(cd, f"portMappings[{j}]")
            protocol = (pm.protocol or "tcp").upper()
            for number in self._numbers(field, pm):
                port = self._port(name, field, pm, number, protocol, seen)
                if port is not None:
                    out.append(port)
        return out

    def _numbers(self, field: str, pm: PortMapping) -> list[int]:
        """The container ports of one mapping: its containerPort, or each port of its range."""
        if pm.containerPortRange:
            return self._port_range(field, pm, pm.containerPortRange)
        if pm.containerPort is None:
            raise TranslationError(field + ".containerPort", "needs containerPort or containerPortRange")
        if not 1 <= pm.containerPort <= 65535:
            raise TranslationError(field + ".containerPort", f"{pm.containerPort} is not a port (1-65535)")
        return [pm.containerPort]

    def _port_range(self, field: str, pm: PortMapping, port_range: str) -> list[int]:
        m = _PORT_RANGE_RE.match(port_range)
        if not m:
            raise TranslationError(field + ".containerPortRange", f"{port_range!r} is not 'start-end'")
        lo, hi = int(m.group(1)), int(m.group(2))
        if not (1 <= lo <= hi <= 65535):
            raise TranslationError(field + ".containerPortRange", f"{port_range!r} is not a range of ports 1-65535")
        if hi - lo + 1 > MAX_PORT_RANGE:
            self.ctx.warn(
                field + ".containerPortRange",
                f"{hi - lo + 1} ports: ranges over {MAX_PORT_RANGE} ports are not listed "
                "(the container still receives traffic on them via the pod IP)",
            )
            return []
        if pm.name:
            self.ctx.warn(field + ".name", "a port range is not named in Kubernetes")
        return list(range(lo, hi + 1))

    def _port(
        self,
        name: str,
        field: str,
        pm: PortMapping,
        number: int,
        protocol: str,
        seen: set[tuple[int, str, int | None]],
    ) -> dict[str, Any] | None:
        """One container port (None: an exact repeat of an earlier mapping of the container)."""
        port: dict[str, Any] = {}
        if pm.name and not pm.containerPortRange:
            pname = names.port_name(pm.name, self.taken_names)
            port["name"] = pname
            self.port_name_map[pname] = pm.name
        port["containerPort"] = number
        port["protocol"] = protocol
        host_port = self._host_port(field, pm, number)
        ident = (number, protocol, host_port)
        if ident in seen:
            if "name" in port:
                self.taken_names.discard(port["name"])
                self.port_name_map.pop(port["name"], None)
            return None
        seen.add(ident)
        if host_port:
            port["hostPort"] = host_port
            key = (host_port, protocol)
            if key in self.host_ports:
                raise TranslationError(
                    field + ".hostPort",
                    f"host port {host_port}/{protocol} is also used by container {self.host_ports[key]!r}",
                )
            self.host_ports[key] = name
        if pm.appProtocol:
            key_name = port.get("name") or f"{self.ctx.k8s_names[name]}/{number}"
            self.app_protocols[key_name] = _APP_PROTOCOLS[pm.appProtocol]
        return port

    def _host_port(self, field: str, pm: PortMapping, number: int) -> int | None:
        ctx = self.ctx
        if ctx.host_network:
            if pm.hostPort and pm.hostPort != number and not pm.containerPortRange:
                ctx.warn(
                    field + ".hostPort",
                    f"host network mode: hostPort {pm.hostPort} is replaced by the containerPort {number}",
                )
            return number
        if ctx.network_mode == "awsvpc":
            if pm.hostPort and pm.hostPort != number:
                ctx.warn(field + ".hostPort", "awsvpc: a hostPort other than the containerPort is ignored")
            return None
        # bridge (and none, Windows NAT): a fixed hostPort is published on the node; 0 or none
        # is a dynamic host port, i.e. reachable on the pod IP only.
        if pm.hostPort and not pm.containerPortRange:
            if not 1 <= pm.hostPort <= 65535:
                raise TranslationError(field + ".hostPort", f"{pm.hostPort} is not a port (1-65535)")
            return pm.hostPort
        return None
