"""user, privileged, capabilities, Docker security options and system controls -> container
securityContext and pod sysctls (pure)."""

from __future__ import annotations

import re
from typing import Any

from ..models.generated import ContainerDefinition, KernelCapabilities
from .context import TaskContext
from .diagnostics import TranslationError

# Sysctls the kubelet allows without --allowed-unsafe-sysctls.
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)

_UINT_RE = re.compile(r"^[0-9]+$")
_MAX_ID = 2147483647  # the largest runAsUser / runAsGroup Kubernetes accepts
_SYSCTL_RE = re.compile(r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$")
# A Windows user name as securityContext.windowsOptions.runAsUserName accepts it (no domain).
_WINDOWS_USER_RE = re.compile(r"^(?=.*[A-Za-z0-9])[A-Za-z0-9 ._-]{1,104}$")
_IPC_SYSCTL_RE = re.compile(r"^(kernel\.shm|kernel\.msg|kernel\.sem$|fs\.mqueue\.)")


# -- the container's securityContext -----------------------------------------------------------


def security_context(ctx: TaskContext, cd: ContainerDefinition) -> dict[str, Any]:
    sc: dict[str, Any] = {}
    if cd.user:
        _user(ctx, cd, cd.user, sc)
    if cd.privileged:
        sc["privileged"] = True
    if cd.readonlyRootFilesystem:
        sc["readOnlyRootFilesystem"] = True
    caps = cd.linuxParameters.capabilities if cd.linuxParameters else None
    if caps is not None:
        capabilities = _capabilities(caps)
        if capabilities:
            sc["capabilities"] = capabilities
    for opt in cd.dockerSecurityOptions or []:
        _security_option(ctx, cd, opt, sc)
    return sc


def _capabilities(caps: KernelCapabilities) -> dict[str, list[str]]:
    """add / drop without the ``CAP_`` prefix, upper case, without duplicates."""
    out: dict[str, list[str]] = {}
    for key, names in (("add", caps.add), ("drop", caps.drop)):
        values: list[str] = []
        for c in names or []:
            v = c.strip().upper()
            v = v[4:] if v.startswith("CAP_") else v
            if v and v not in values:
                values.append(v)
        if values:
            out[key] = values
    return out


def _security_option(ctx: TaskContext, cd: ContainerDefinition, opt: str, sc: dict[str, Any]) -> None:
    """One dockerSecurityOptions entry (``name``, ``name:value`` or ``name=value``)."""
    field = ctx.cpath(cd, "dockerSecurityOptions")
    name, _, value = _split_option(opt)
    name = name.strip().lower()
    value = value.strip()
    if name == "no-new-privileges" and value.lower() in ("", "true"):
        if cd.privileged or "SYS_ADMIN" in sc.get("capabilities", {}).get("add", []):
            ctx.warn(
                field,
                "no-new-privileges cannot be combined with privileged or CAP_SYS_ADMIN in Kubernetes: not applied",
            )
        else:
            sc["allowPrivilegeEscalation"] = False
    elif name == "no-new-privileges":
        pass  # no-new-privileges:false is the default
    elif name == "apparmor" and value:
        sc["appArmorProfile"] = _apparmor_profile(value)
    elif name == "seccomp" and value == "unconfined":
        sc["seccompProfile"] = {"type": "Unconfined"}
    else:
        ctx.warn(field, f"{opt!r} is not expressible in a Kubernetes securityContext")


def _split_option(opt: str) -> tuple[str, str, str]:
    """Split at the first ``:`` or ``=`` (as str.partition does at one separator)."""
    m = re.search(r"[:=]", opt)
    return (opt[: m.start()], m.group(), opt[m.end() :]) if m else (opt, "", "")


def _apparmor_profile(value: str) -> dict[str, str]:
    if value == "unconfined":
        return {"type": "Unconfined"}
    if value == "docker-default":
        return {"type": "RuntimeDefault"}
    return {"type": "Localhost", "localhostProfile": value}


def _user(ctx: TaskContext, cd: ContainerDefinition, spec: str, sc: dict[str, Any]) -> None:
    """``user`` (``uid``, ``uid:gid``; a user name on Windows) -> runAsUser / runAsGroup."""
    user, _, group = spec.partition(":")
    field = ctx.cpath(cd, "user")
    if ctx.windows:
        if _WINDOWS_USER_RE.match(spec):
            sc["windowsOptions"] = {"runAsUserName": spec}
        else:
            ctx.warn(
                field,
                f"{spec!r} is not a Windows user name Kubernetes accepts (runAsUserName): the image's user applies",
            )
        return
    if _UINT_RE.match(user) and int(user) <= _MAX_ID:
        sc["runAsUser"] = int(user)
    else:
        ctx.warn(field, f"user {user!r} is not numeric: Kubernetes needs a UID, the image's user applies")
    if group:
        if _UINT_RE.match(group) and int(group) <= _MAX_ID:
            sc["runAsGroup"] = int(group)
        else:
            ctx.warn(field, f"group {group!r} is not numeric: Kubernetes needs a GID")


# -- the pod's sysctls -----------------------------------------------------------------------


class PodSysctls:
    """The containers' systemControls, which Kubernetes sets for the whole pod."""

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx
        self.values: dict[str, tuple[str, str]] = {}  # name -> (value, ECS container)

    def collect(self, name: str, cd: ContainerDefinition) -> None:
        field = self.ctx.cpath(cd, "systemControls")
        for sc in cd.systemControls or []:
            if not sc.namespace or sc.value is None:
                self.ctx.warn(field, "an entry without namespace or value is skipped")
                continue
            sysctl = sc.namespace.strip()
            if not _SYSCTL_RE.match(sysctl) or len(sysctl) > 253:
                raise TranslationError(field, f"{sysctl!r} is not a sysctl name")
            if sysctl in self.values and self.values[sysctl][0] != sc.value:
                raise TranslationError(
                    field,
                    f"{sysctl} is {sc.value!r} here but {self.values[sysctl][0]!r} in "
                    f"container {self.values[sysctl][1]!r}; pod sysctls apply to every container",
                )
            if sysctl not in self.values:
                self.values[sysctl] = (sc.value, name)

    def apply(self, spec: dict[str, Any]) -> None:
        """Set the pod's securityContext.sysctls (after hostNetwork and hostIPC are known)."""
        sysctls = []
        for name, (value, container) in self.values.items():
            field = f"containerDefinitions[{container}].systemControls"
            if self.ctx.host_network and name.startswith("net."):
                self.ctx.warn(field, f"{name}: network sysctls cannot be set in host network mode: skipped")
                continue
            if spec.get("hostIPC") and _IPC_SYSCTL_RE.match(name):
                self.ctx.warn(field, f"{name}: IPC sysctls cannot be set with ipcMode host: skipped")
                continue
            if name not in SAFE_SYSCTLS:
                self.ctx.warn(
                    field,
                    f"{name} is not a safe sysctl: the kubelet must allow it "
                    "(--allowed-unsafe-sysctls) or the pod is rejected",
                )
            sysctls.append({"name": name, "value": value})
        if sysctls:
            spec["securityContext"] = {"sysctls": sysctls}
