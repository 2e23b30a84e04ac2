"""The pod's network settings (pure): host network, DNS servers and search domains, host
aliases from links and extraHosts, and the hostname. A pod has one network namespace and one
resolv.conf, so the containers' settings are merged."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ..models.generated import ContainerDefinition
from . import names
from .context import TaskContext
from .diagnostics import TranslationError

MAX_NAMESERVERS = 3  # Kubernetes dnsConfig limits
MAX_SEARCHES = 32

_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _is_subdomain(s: str) -> bool:
    return len(s) <= 253 and bool(_SUBDOMAIN_RE.match(s))


def _canonical_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


class HostAliases:
    """The containers' links (127.0.0.1 <alias>) and extraHosts, as the pod's hostAliases."""

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx
        self.by_ip: dict[str, list[str]] = {}

    def collect(self, cd: ContainerDefinition) -> None:
        for link in cd.links or []:
            target, _, alias = link.partition(":")
            if target not in self.ctx.by_name:
                raise TranslationError(self.ctx.cpath(cd, "links"), f"names no container of this task: {target!r}")
            self._add(cd, "links", "127.0.0.1", alias or target)
        for h in cd.extraHosts or []:
            ip = _canonical_ip(h.ipAddress)
            if ip is None:
                raise TranslationError(self.ctx.cpath(cd, "extraHosts"), f"{h.ipAddress!r} is not an IP address")
            self._add(cd, "extraHosts", ip, h.hostname)

    def _add(self, cd: ContainerDefinition, field: str, ip: str, hostname: str) -> None:
        h = hostname.strip().lower().rstrip(".")
        if "_" in h:
            self.ctx.warn(self.ctx.cpath(cd, field), f"{hostname!r}: '_' is not allowed in a host alias, '-' is used")
            h = h.replace("_", "-")
        if not _is_subdomain(h):
            self.ctx.warn(self.ctx.cpath(cd, field), f"{hostname!r} is not a valid DNS name: skipped")
            return
        hostnames = self.by_ip.setdefault(ip, [])
        if h not in hostnames:
            hostnames.append(h)


def pod_network(ctx: TaskContext, spec: dict[str, Any], aliases: HostAliases) -> None:
    if ctx.host_network:
        spec["hostNetwork"] = True
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    nameservers, searches = _dns(ctx)
    if nameservers:
        spec["dnsPolicy"] = "None"
    dns_config: dict[str, list[str]] = {}
    if nameservers:
        dns_config["nameservers"] = nameservers
    if searches:
        dns_config["searches"] = searches
    if dns_config:
        spec["dnsConfig"] = dns_config
    if aliases.by_ip:
        spec["hostAliases"] = [{"ip": ip, "hostnames": hs} for ip, hs in aliases.by_ip.items()]
    _hostname(ctx, spec)


def _dns(ctx: TaskContext) -> tuple[list[str], list[str]]:
    """The union of the containers' DNS servers and search domains, within Kubernetes' limits."""
    nameservers: list[str] = []
    searches: list[str] = []
    settings: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
    for cd in ctx.containers:
        for s in cd.dnsServers or []:
            ip = _canonical_ip(s)
            if ip is None:
                raise TranslationError(ctx.cpath(cd, "dnsServers"), f"{s!r} is not an IP address")
            if ip not in nameservers:
                nameservers.append(ip)
        for s in cd.dnsSearchDomains or []:
            d = s.strip().lower().rstrip(".")
            if not _is_subdomain(d):
                ctx.warn(ctx.cpath(cd, "dnsSearchDomains"), f"{s!r} is not a valid search domain: skipped")
                continue
            if d not in searches:
                searches.append(d)
        if cd.dnsServers or cd.dnsSearchDomains:
            settings.add((tuple(cd.dnsServers or ()), tuple(cd.dnsSearchDomains or ())))
    if len(settings) > 1:
        ctx.warn(
            "containerDefinitions.dnsServers",
            "containers set different DNS settings; the pod has one resolv.conf (union used)",
        )
    if len(nameservers) > MAX_NAMESERVERS:
        ctx.warn(
            "containerDefinitions.dnsServers",
            f"Kubernetes allows {MAX_NAMESERVERS} nameservers: {nameservers[MAX_NAMESERVERS:]} dropped",
        )
        nameservers = nameservers[:MAX_NAMESERVERS]
    if len(searches) > MAX_SEARCHES:
        ctx.warn(
            "containerDefinitions.dnsSearchDomains",
            f"Kubernetes allows {MAX_SEARCHES} search domains: the rest are dropped",
        )
        searches = searches[:MAX_SEARCHES]
    return nameservers, searches


def _hostname(ctx: TaskContext, spec: dict[str, Any]) -> None:
    """The first container's hostname (a pod has one); none in host network mode."""
    with_hostname = [(cd, cd.hostname) for cd in ctx.containers if cd.hostname]
    if not with_hostname:
        return
    cd, hostname = with_hostname[0]
    if ctx.host_network:
        ctx.warn(ctx.cpath(cd, "hostname"), "host network mode: the pod has the node's hostname")
    else:
        label = hostname.split(".", 1)[0]
        h = names.dns_label(label, fallback="host")
        if h != hostname:
            ctx.warn(
                ctx.cpath(cd, "hostname"),
                f"{hostname!r} is set as the pod hostname {h!r} (a DNS-1123 label; the domain part is not expressible)",
            )
        spec["hostname"] = h
    for other, other_hostname in with_hostname[1:]:
        if other_hostname != hostname:
            ctx.warn(
                ctx.cpath(other, "hostname"),
                f"a pod has one hostname: the one of container {cd.name!r} is used",
            )
