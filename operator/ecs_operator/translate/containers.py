"""ECS container definitions -> Kubernetes containers (pure): command and args, environment and
secrets, and the per-container fields Kubernetes cannot express (warned).

The steps that need more than one container (ports, volumes, pod-wide fields) keep their state
in the objects a ``ContainerBuilder`` is given.
"""

from __future__ import annotations

import re
from typing import Any

from ..models.generated import ContainerDefinition
from . import names
from .annotations import ANN_LOG_CONFIGURATION
from .context import TaskContext
from .dependencies import ROLE_INIT, ROLE_SIDECAR
from .health import add_probes
from .network import HostAliases
from .ports import PortMapper
from .resources import container_resources
from .security import PodSysctls, security_context
from .volumes import TaskVolumes

_ENV_NAME_RE = re.compile(r"^[\x20-\x3c\x3e-\x7e]+$")  # printable ASCII except '='


def ulimit_wrapper(cd: ContainerDefinition) -> list[str]:
    """The ``nofile`` ulimit, which Kubernetes cannot express: a ``/bin/sh`` that sets it and
    execs the entryPoint (the argv is fully known only when the task definition sets one).
    Hard limit first (``ulimit -n`` sets both), then the soft one; a hard limit above the
    node's fails the container with the shell's message instead of being ignored silently."""
    nofile = next((u for u in cd.ulimits or [] if u.name == "nofile"), None)
    if nofile is None or not cd.entryPoint:
        return []
    script = f'ulimit -n {int(nofile.hardLimit)} && ulimit -S -n {int(nofile.softLimit)} && exec "$@"'
    return ["/bin/sh", "-c", script, "ecs-ulimits"]


def escape_expansion(s: str) -> str:
    """Kubernetes expands ``$(VAR)`` and reduces ``$$`` to ``$`` in command, args and env
    values; Docker does neither. Double every ``$`` that precedes ``$`` or ``(``."""
    return re.sub(r"\$(?=[$(])", "$$", s)


class ContainerBuilder:
    """Builds the Kubernetes container of each ECS container, collecting what lands on the pod
    (ports, volumes, host aliases, sysctls, image pull secrets) in the objects it holds."""

    def __init__(
        self,
        ctx: TaskContext,
        volumes: TaskVolumes,
        ports: PortMapper,
        host_aliases: HostAliases,
        sysctls: PodSysctls,
    ) -> None:
        self.ctx = ctx
        self.volumes = volumes
        self.ports = ports
        self.host_aliases = host_aliases
        self.sysctls = sysctls
        self.image_pull_secrets: list[str] = []

    def build(self, name: str, cd: ContainerDefinition, role: str) -> dict[str, Any]:
        ctx = self.ctx
        k: dict[str, Any] = {"name": ctx.k8s_names[name], "image": cd.image}
        if role == ROLE_SIDECAR:
            k["restartPolicy"] = "Always"
        container_restart(ctx, cd, role, k)
        if cd.entryPoint:
            k["command"] = ulimit_wrapper(cd) + [escape_expansion(a) for a in cd.entryPoint]
        if cd.command:
            k["args"] = [escape_expansion(a) for a in cd.command]
        if cd.workingDirectory:
            k["workingDir"] = cd.workingDirectory
        self._env(cd, k)
        ports = self.ports.container_ports(name, cd)
        if ports:
            k["ports"] = ports
        resources = container_resources(ctx, cd)
        if resources:
            k["resources"] = resources
        mounts = self.volumes.container_mounts(name, cd)
        if mounts:
            k["volumeMounts"] = mounts
        add_probes(ctx, name, cd, role, k)
        sc = security_context(ctx, cd)
        if sc:
            k["securityContext"] = sc
        if cd.interactive:
            k["stdin"] = True
        if cd.pseudoTerminal:
            k["tty"] = True
        # Container fields that land on the pod: links, extraHosts, sysctls, pull secrets.
        self.host_aliases.collect(cd)
        self.sysctls.collect(name, cd)
        self._pull_secret(cd)
        container_warnings(ctx, cd, role)
        return k

    def _env(self, cd: ContainerDefinition, k: dict[str, Any]) -> None:
        env = self._variables(cd)
        if env:
            k["env"] = list(env.values())
        env_from = []
        seen: set[str] = set()
        for f in cd.environmentFiles or []:
            name = names.config_map_name(f.value)
            self.ctx.warn(
                self.ctx.cpath(cd, "environmentFiles"),
                f"ConfigMap {name!r} must hold the variables of {f.value} (Kubernetes cannot read S3)",
            )
            if name not in seen:
                seen.add(name)
                env_from.append({"configMapRef": {"name": name}})
        if env_from:
            k["envFrom"] = env_from

    def _variables(self, cd: ContainerDefinition) -> dict[str, dict[str, Any]]:
        """environment, then secrets (a secret replaces a variable of the same name)."""
        ctx = self.ctx
        env: dict[str, dict[str, Any]] = {}
        for j, kv in enumerate(cd.environment or []):
            if not kv.name:
                ctx.warn(ctx.cpath(cd, f"environment[{j}]"), "an entry without a name is skipped")
                continue
            if not _ENV_NAME_RE.match(kv.name):
                ctx.warn(
                    ctx.cpath(cd, f"environment[{kv.name}]"),
                    "not a valid Kubernetes variable name (printable ASCII without '='): skipped",
                )
                continue
            # A later duplicate wins, as with Docker; the first position is kept.
            env[kv.name] = {"name": kv.name, "value": escape_expansion(kv.value or "")}
        for s in cd.secrets or []:
            if not _ENV_NAME_RE.match(s.name):
                ctx.warn(
                    ctx.cpath(cd, f"secrets[{s.name}]"),
                    "not a valid Kubernetes variable name (printable ASCII without '='): skipped",
                )
                continue
            if s.name in env and "value" in env[s.name]:
                ctx.warn(ctx.cpath(cd, f"secrets[{s.name}]"), "also set in environment: the secret's value is used")
            env.pop(s.name, None)
            ref = names.secret_ref(s.valueFrom)
            if ref.ignored:
                ctx.warn(
                    ctx.cpath(cd, f"secrets[{s.name}].valueFrom"),
                    f"version stage/id {ref.ignored!r} is not expressible: Secret {ref.name!r} holds a single version",
                )
            env[s.name] = {"name": s.name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
        return env

    def _pull_secret(self, cd: ContainerDefinition) -> None:
        if cd.repositoryCredentials is None:
            return
        ref = names.secret_ref(cd.repositoryCredentials.credentialsParameter)
        if ref.key != "value" or ref.ignored:
            self.ctx.warn(
                self.ctx.cpath(cd, "repositoryCredentials"),
                f"imagePullSecret {ref.name!r} is used whole (a JSON key or version is not expressible)",
            )
        if ref.name not in self.image_pull_secrets:
            self.image_pull_secrets.append(ref.name)


# -- restartPolicy: restart a container in place --------------------------------------------

# ECS: a container must have run restartAttemptPeriod seconds (default 300) before it is restarted.
DEFAULT_RESTART_ATTEMPT_PERIOD = 300


def restarts_in_place(cd: ContainerDefinition, role: str) -> bool:
    """The container carries its own restart rules (a main container whose ECS restart policy is on)."""
    return role not in (ROLE_INIT, ROLE_SIDECAR) and bool(cd.restartPolicy and cd.restartPolicy.enabled)


def container_restart(ctx: TaskContext, cd: ContainerDefinition, role: str, k: dict[str, Any]) -> None:
    """``restartPolicy`` (ECS restarts the container in place; the task keeps running) onto the
    container's own ``restartPolicy`` and ``restartPolicyRules`` (Kubernetes ContainerRestartRules,
    beta and on by default since 1.35), which override the pod's ``restartPolicy`` for this
    container: no ignored exit code -> ``Always``; otherwise ``Never`` with one rule restarting on
    every exit code ``NotIn`` the ignored ones. A container left stopped (an ignored code) stops its
    task when it is essential, as in ECS."""
    rp = cd.restartPolicy
    if rp is None or not rp.enabled:
        return
    where = ctx.cpath(cd, "restartPolicy")
    ignored = sorted(set(rp.ignoredExitCodes or []))
    if role == ROLE_SIDECAR:
        if ignored:
            ctx.warn(
                f"{where}.ignoredExitCodes",
                "this container runs as a native sidecar (others wait for it to start or be HEALTHY), "
                "which Kubernetes restarts on every exit: the ignored exit codes are not applied",
            )
        return
    if role == ROLE_INIT:
        ctx.warn(
            where,
            "not applied: other containers wait for this one to exit (dependsOn COMPLETE/SUCCESS), "
            "so it runs once as an init container",
        )
        return
    if ignored:
        k["restartPolicy"] = "Never"
        k["restartPolicyRules"] = [{"action": "Restart", "exitCodes": {"operator": "NotIn", "values": ignored}}]
    else:
        k["restartPolicy"] = "Always"
    period = rp.restartAttemptPeriod
    shown = f"{period}s" if period is not None else f"unset (ECS's default {DEFAULT_RESTART_ATTEMPT_PERIOD}s)"
    ctx.warn(
        f"{where}.restartAttemptPeriod",
        f"{shown}: Kubernetes restarts the container after every restartable exit, however short its run, "
        "with a back-off (10s doubling up to 5 minutes); ECS would leave a container that ran less than "
        "the period stopped",
    )


# -- fields Kubernetes cannot express ----------------------------------------------------------


def container_warnings(ctx: TaskContext, cd: ContainerDefinition, role: str) -> None:
    p = ctx.cpath
    if cd.essential is False and role != ROLE_INIT and not restarts_in_place(cd, role):
        ctx.warn(
            p(cd, "essential"),
            "non-essential: Kubernetes restarts this container when it exits "
            "(ECS would leave it stopped) and the task does not stop with it",
        )
    if cd.startTimeout is not None:
        ctx.warn(p(cd, "startTimeout"), f"{cd.startTimeout}s: Kubernetes has no container start timeout")
    if cd.disableNetworking:
        ctx.warn(p(cd, "disableNetworking"), "a container cannot be cut off from its pod's network")
    _ulimit_warning(ctx, cd)
    _logging_warnings(ctx, cd)
    if cd.credentialSpecs:
        ctx.warn(
            p(cd, "credentialSpecs"),
            "gMSA credential specs are not translated (needs the Windows "
            "GMSA webhook and securityContext.windowsOptions)",
        )
    _linux_parameter_warnings(ctx, cd)


def _ulimit_warning(ctx: TaskContext, cd: ContainerDefinition) -> None:
    unapplied = [u for u in cd.ulimits or [] if not (ulimit_wrapper(cd) and u.name == "nofile")]
    if not unapplied:
        return
    why = (
        "only nofile can be applied (with an entryPoint, through /bin/sh)"
        if cd.entryPoint
        else "they are applied only to a container with an entryPoint (the image's own ENTRYPOINT is not known here)"
    )
    ctx.warn(
        ctx.cpath(cd, "ulimits"),
        "Kubernetes has no ulimits: the container runtime's defaults apply ("
        + ", ".join(f"{u.name}={u.softLimit}:{u.hardLimit}" for u in unapplied)
        + "); "
        + why,
    )


def _logging_warnings(ctx: TaskContext, cd: ContainerDefinition) -> None:
    if cd.logConfiguration is not None:
        ctx.warn(
            ctx.cpath(cd, "logConfiguration"),
            f"log driver {cd.logConfiguration.logDriver!r}: Kubernetes has "
            "no log drivers (stdout/stderr go to the node); kept in annotation " + ANN_LOG_CONFIGURATION,
        )
    if cd.firelensConfiguration is not None:
        ctx.warn(
            ctx.cpath(cd, "firelensConfiguration"),
            "FireLens log routing is not provided; kept in annotation " + ANN_LOG_CONFIGURATION,
        )


def _linux_parameter_warnings(ctx: TaskContext, cd: ContainerDefinition) -> None:
    lp = cd.linuxParameters
    if lp is None:
        return
    if lp.devices:
        ctx.warn(
            ctx.cpath(cd, "linuxParameters.devices"),
            "host devices need a Kubernetes device plugin: " + ", ".join(d.hostPath for d in lp.devices),
        )
    if lp.initProcessEnabled:
        ctx.warn(
            ctx.cpath(cd, "linuxParameters.initProcessEnabled"),
            "no init process is injected; the image must reap zombies itself "
            "(shareProcessNamespace: true would make the pause container PID 1)",
        )
    if lp.maxSwap is not None:
        ctx.warn(ctx.cpath(cd, "linuxParameters.maxSwap"), "swap is configured per node (kubelet memorySwap)")
    if lp.swappiness is not None:
        ctx.warn(ctx.cpath(cd, "linuxParameters.swappiness"), "swappiness is configured per node")
