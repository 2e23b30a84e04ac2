"""ECS task definition -> Kubernetes PodTemplateSpec (pure: no client, clock, randomness or I/O).

``translate_task_definition`` turns a validated ``RegisterTaskDefinitionRequest`` into a pod
template plus the companion objects it references (ServiceAccount for ``taskRoleArn``,
PersistentVolumeClaims for EFS), and reports every ECS field that Kubernetes cannot express
exactly as a ``TranslationWarning`` naming the ECS path. Input that ECS would accept but that is
inconsistent (a mount point naming no volume, a dependency cycle, ...) raises
``TranslationError``. The field-by-field mapping is documented in
docs/taskdefinition-mapping.md; the tables ``TRANSLATED``, ``WARNED`` and
``IGNORED_WITH_REASON`` below list every field of the models so that nothing is dropped silently.
"""

from __future__ import annotations

import ipaddress
import json
import math
import posixpath
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .. import constants
from ..domain.revisions import family_label
from ..models.gen import DEVICE_COUNT_PATTERN
from ..models.generated import (
    ContainerDefinition,
    HealthCheck,
    RegisterTaskDefinitionRequest,
    Volume,
)
from . import names

__all__ = [
    "TranslationWarning",
    "TranslationError",
    "TaskTranslation",
    "translate_task_definition",
    "register_input_from_ecs_json",
    "parse_task_cpu",
    "parse_task_memory",
    "TRANSLATED",
    "WARNED",
    "IGNORED_WITH_REASON",
    "DESCRIBE_ONLY_KEYS",
    "SAFE_SYSCTLS",
]

PREFIX = "ecs.seed.dev/"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "ecs-operator"

ANN_TASK_DEFINITION = constants.TASK_DEFINITION
ANN_CONTAINER_NAMES = constants.CONTAINER_NAMES
ANN_ESSENTIAL = constants.ESSENTIAL_CONTAINERS
ANN_DOCKER_LABELS = PREFIX + "docker-labels"
ANN_LOG_CONFIGURATION = PREFIX + "log-configuration"
ANN_PLACEMENT_CONSTRAINTS = constants.PLACEMENT_CONSTRAINTS
ANN_REQUIRES_COMPATIBILITIES = PREFIX + "requires-compatibilities"
ANN_NETWORK_MODE = PREFIX + "network-mode"
ANN_EXECUTION_ROLE = PREFIX + "execution-role-arn"
ANN_TASK_ROLE = PREFIX + "task-role-arn"
ANN_PORT_NAMES = PREFIX + "port-names"
ANN_APP_PROTOCOLS = PREFIX + "app-protocols"
LABEL_FAMILY = constants.FAMILY
LABEL_REVISION = constants.REVISION

EFS_STORAGE_CLASS = "efs-sc"
EFS_PLACEHOLDER_SIZE = "5Gi"
DEFAULT_STOP_TIMEOUT = 30  # seconds; ECS_CONTAINER_STOP_TIMEOUT's default
HEALTH_DEFAULTS = {"interval": 30, "timeout": 5, "retries": 3, "startPeriod": 0}
MAX_PORT_RANGE = 100  # containerPortRange sizes expanded into individual ports
MAX_NAMESERVERS = 3  # Kubernetes dnsConfig limits
MAX_SEARCHES = 32

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

# Keys of a DescribeTaskDefinition output that RegisterTaskDefinition does not take.
DESCRIBE_ONLY_KEYS = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
)

# --------------------------------------------------------------------------------------------
# Field tables: every member of the models below is in exactly one of them (checked by a unit
# test over the pydantic models' ``model_fields``, so a botocore update adding a field fails).
# Keys are "<ShapeName>.<member>".
# --------------------------------------------------------------------------------------------

TRANSLATED: dict[str, str] = {
    # RegisterTaskDefinitionRequest
    "RegisterTaskDefinitionRequest.family": "label ecs.seed.dev/family, annotation ecs.seed.dev/task-definition",
    "RegisterTaskDefinitionRequest.taskRoleArn": "serviceAccountName ecs-task-<role> + ServiceAccount (IRSA annotation)",
    "RegisterTaskDefinitionRequest.executionRoleArn": "annotation ecs.seed.dev/execution-role-arn",
    "RegisterTaskDefinitionRequest.networkMode": "host -> hostNetwork; awsvpc/bridge -> pod network; none -> warning",
    "RegisterTaskDefinitionRequest.containerDefinitions": "containers / initContainers",
    "RegisterTaskDefinitionRequest.volumes": "volumes (+ PersistentVolumeClaims in objects)",
    "RegisterTaskDefinitionRequest.placementConstraints": "annotation ecs.seed.dev/placement-constraints (placement layer)",
    "RegisterTaskDefinitionRequest.requiresCompatibilities": "annotation ecs.seed.dev/requires-compatibilities (placement layer)",
    "RegisterTaskDefinitionRequest.cpu": "spec.resources requests=limits cpu",
    "RegisterTaskDefinitionRequest.memory": "spec.resources requests=limits memory",
    "RegisterTaskDefinitionRequest.pidMode": "host -> hostPID; task -> shareProcessNamespace",
    "RegisterTaskDefinitionRequest.ipcMode": "host -> hostIPC; task -> (pod default); none -> warning",
    "RegisterTaskDefinitionRequest.ephemeralStorage": "ephemeral-storage limit on the first essential container",
    "RegisterTaskDefinitionRequest.runtimePlatform": "nodeSelector kubernetes.io/os, kubernetes.io/arch",
    # ContainerDefinition
    "ContainerDefinition.name": "container name (DNS-1123 label) + annotation ecs.seed.dev/container-names",
    "ContainerDefinition.image": "image",
    "ContainerDefinition.repositoryCredentials": "imagePullSecrets (Secret naming rule)",
    "ContainerDefinition.cpu": "resources.requests.cpu (millicores)",
    "ContainerDefinition.memory": "resources.limits.memory (+ requests.memory)",
    "ContainerDefinition.memoryReservation": "resources.requests.memory",
    "ContainerDefinition.links": "hostAliases 127.0.0.1 <alias>",
    "ContainerDefinition.portMappings": "ports (hostPort per network mode)",
    "ContainerDefinition.essential": "annotation ecs.seed.dev/essential-containers; liveness probes; non-essential -> warning",
    "ContainerDefinition.entryPoint": "command",
    "ContainerDefinition.command": "args",
    "ContainerDefinition.environment": "env",
    "ContainerDefinition.environmentFiles": "envFrom configMapRef (+ warning: the ConfigMap must exist)",
    "ContainerDefinition.mountPoints": "volumeMounts",
    "ContainerDefinition.volumesFrom": "volumeMounts copied from the source container",
    "ContainerDefinition.linuxParameters": "securityContext.capabilities, emptyDir tmpfs and /dev/shm; rest warned",
    "ContainerDefinition.secrets": "env valueFrom.secretKeyRef (Secret naming rule)",
    "ContainerDefinition.dependsOn": "initContainers (regular or native sidecar) ordered by dependency",
    "ContainerDefinition.stopTimeout": "terminationGracePeriodSeconds (max over containers)",
    "ContainerDefinition.hostname": "spec.hostname",
    "ContainerDefinition.user": "securityContext.runAsUser/runAsGroup (numeric only)",
    "ContainerDefinition.workingDirectory": "workingDir",
    "ContainerDefinition.privileged": "securityContext.privileged",
    "ContainerDefinition.readonlyRootFilesystem": "securityContext.readOnlyRootFilesystem",
    "ContainerDefinition.dnsServers": "dnsPolicy None + dnsConfig.nameservers",
    "ContainerDefinition.dnsSearchDomains": "dnsConfig.searches",
    "ContainerDefinition.extraHosts": "hostAliases",
    "ContainerDefinition.dockerSecurityOptions": "no-new-privileges -> allowPrivilegeEscalation; apparmor -> appArmorProfile; others warned",
    "ContainerDefinition.interactive": "stdin",
    "ContainerDefinition.pseudoTerminal": "tty",
    "ContainerDefinition.dockerLabels": "annotation ecs.seed.dev/docker-labels",
    "ContainerDefinition.healthCheck": "readinessProbe / livenessProbe / startupProbe (essential containers; "
    "non-essential: startup probe only when a dependency waits for HEALTHY)",
    "ContainerDefinition.systemControls": "securityContext.sysctls (pod)",
    "ContainerDefinition.resourceRequirements": "limits nvidia.com/gpu, aws.amazon.com/neuron; InferenceAccelerator warned",
    # PortMapping
    "PortMapping.containerPort": "ports[].containerPort",
    "PortMapping.hostPort": "ports[].hostPort (host mode, bridge with a fixed host port)",
    "PortMapping.protocol": "ports[].protocol",
    "PortMapping.name": "ports[].name (IANA_SVC_NAME) + annotation ecs.seed.dev/port-names",
    "PortMapping.appProtocol": "annotation ecs.seed.dev/app-protocols (ContainerPort has no appProtocol; Services use it)",
    "PortMapping.containerPortRange": "one port per number (<= 100), else warning",
    # Volume
    "Volume.name": "volumes[].name",
    "Volume.host": "hostPath (sourcePath) or emptyDir",
    "Volume.dockerVolumeConfiguration": "emptyDir (task scope / local driver), nfs for local driver type=nfs; rest warned",
    "Volume.efsVolumeConfiguration": "persistentVolumeClaim efs-<id>[-<root>] + PVC in objects",
    "Volume.s3filesVolumeConfiguration": "persistentVolumeClaim s3files-<id> (not created) + warning",
    "Volume.fsxWindowsFileServerVolumeConfiguration": "TranslationError (no Linux Kubernetes equivalent)",
    "Volume.configuredAtLaunch": "persistentVolumeClaim <volume name> supplied at launch + warning",
    # LinuxParameters
    "LinuxParameters.capabilities": "securityContext.capabilities",
    "LinuxParameters.sharedMemorySize": "emptyDir medium Memory at /dev/shm",
    "LinuxParameters.tmpfs": "emptyDir medium Memory (mountOptions warned)",
    # HealthCheck
    "HealthCheck.command": "probe exec command",
    "HealthCheck.interval": "periodSeconds",
    "HealthCheck.timeout": "timeoutSeconds",
    "HealthCheck.retries": "failureThreshold",
    "HealthCheck.startPeriod": "startupProbe failureThreshold",
}

WARNED: dict[str, str] = {
    "RegisterTaskDefinitionRequest.proxyConfiguration": "App Mesh proxy configuration has no Kubernetes equivalent",
    "RegisterTaskDefinitionRequest.inferenceAccelerators": "Elastic Inference has no Kubernetes equivalent",
    "RegisterTaskDefinitionRequest.enableFaultInjection": "ECS fault-injection endpoints are not provided (warned when true)",
    "RegisterTaskDefinitionRequest.trustedExecutionConfiguration": "isolation mode is not expressible in a pod (use a RuntimeClass)",
    "ContainerDefinition.restartPolicy": "Kubernetes restarts containers per the pod restartPolicy; ignoredExitCodes/restartAttemptPeriod are not expressible",
    "ContainerDefinition.startTimeout": "no per-container start timeout in Kubernetes",
    "ContainerDefinition.versionConsistency": "Kubernetes does not pin image tags to digests (warned when 'enabled')",
    "ContainerDefinition.disableNetworking": "containers of a pod share its network (warned when true)",
    "ContainerDefinition.ulimits": "nofile with an entryPoint: set by a /bin/sh wrapper around it; the rest: "
    "Kubernetes has no ulimit field (the runtime's defaults apply)",
    "ContainerDefinition.logConfiguration": "annotation ecs.seed.dev/log-configuration; Kubernetes has no log drivers",
    "ContainerDefinition.firelensConfiguration": "annotation ecs.seed.dev/log-configuration; Kubernetes has no log routing",
    "ContainerDefinition.credentialSpecs": "gMSA credential specs need the Windows GMSA webhook",
    "LinuxParameters.devices": "host devices need a device plugin",
    "LinuxParameters.initProcessEnabled": "no init process is injected (shareProcessNamespace makes pause PID 1)",
    "LinuxParameters.maxSwap": "swap is configured per node",
    "LinuxParameters.swappiness": "swap is configured per node",
}

IGNORED_WITH_REASON: dict[str, str] = {
    "RegisterTaskDefinitionRequest.tags": "tags belong to the TaskDefinition object, not to its pods",
}


@dataclass(frozen=True)
class TranslationWarning:
    """An ECS field that Kubernetes cannot express exactly."""

    field: str  # ECS path, e.g. "containerDefinitions[web].ulimits" or "ipcMode"
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class TranslationError(ValueError):
    """Input that ECS would accept but that is inconsistent; ``str()`` names the field."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class TaskTranslation:
    template: dict  # a PodTemplateSpec {metadata: {labels, annotations}, spec: {...}}
    warnings: tuple[TranslationWarning, ...]
    objects: tuple[dict, ...]  # companion objects the template references
    container_names: dict[str, str]  # ECS container name -> Kubernetes container name


# --------------------------------------------------------------------------------------------
# Input helpers
# --------------------------------------------------------------------------------------------


def register_input_from_ecs_json(d: dict) -> dict:
    """A RegisterTaskDefinition input from ECS JSON: accepts a register input, a task
    definition as DescribeTaskDefinition returns it, or the whole ``{"taskDefinition": {...},
    "tags": [...]}`` response; drops the describe-only keys. Returns a new dict."""
    if not isinstance(d, dict):
        raise TypeError("an ECS task definition must be a JSON object")
    out = dict(d)
    inner = out.get("taskDefinition")
    if isinstance(inner, dict) and "containerDefinitions" not in out:
        tags = out.get("tags")
        out = dict(inner)
        if tags and "tags" not in out:
            out["tags"] = tags
    for key in DESCRIBE_ONLY_KEYS:
        out.pop(key, None)
    return out


_UINT_RE = re.compile(r"^[0-9]+$")
_CPU_RE = re.compile(r"^\s*(?P<n>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>vcpus?)?\s*$", re.IGNORECASE)
_MEM_RE = re.compile(r"^\s*(?P<n>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>gb|gib|g|mb|mib|m)?\s*$", re.IGNORECASE)


def parse_task_cpu(value: str) -> float:
    """Task-level cpu in ECS cpu units (1024 = 1 vCPU): ``"256"``, ``"0.25 vCPU"``, ``"1 vcpu"``."""
    m = _CPU_RE.match(str(value))
    if not m:
        raise TranslationError("cpu", f"{value!r} is neither cpu units ('256') nor vCPUs ('0.25 vCPU')")
    n = float(m.group("n"))
    units = n * 1024 if m.group("unit") else n
    if units <= 0:
        raise TranslationError("cpu", f"{value!r} must be greater than zero")
    return units


def parse_task_memory(value: str) -> int:
    """Task-level memory in MiB: ``"512"``, ``"1 GB"``, ``"2GB"`` (ECS's GB are GiB)."""
    m = _MEM_RE.match(str(value))
    if not m:
        raise TranslationError("memory", f"{value!r} is neither MiB ('512') nor GB ('1 GB')")
    n = float(m.group("n"))
    unit = (m.group("unit") or "").lower()
    mib = math.ceil(n * 1024) if unit.startswith("g") else math.ceil(n)
    if mib <= 0:
        raise TranslationError("memory", f"{value!r} must be greater than zero")
    return mib


def _millicores(units: float) -> int:
    return math.ceil(units * 1000 / 1024)


def _cpu_quantity(millicores: int) -> str:
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def _device_count(value: str | None) -> Decimal | None:
    """A GPU / Neuron count: a positive whole or decimal number (ECS takes fractions of a GPU on
    Managed Instances), else None. The CRD's CEL rule uses the same pattern."""
    if value is None or not re.fullmatch(DEVICE_COUNT_PATTERN, value):
        return None
    n = Decimal(value)
    return n if n > 0 else None


def _ulimit_wrapper(cd: ContainerDefinition) -> list[str]:
    """The ``nofile`` ulimit, which Kubernetes cannot express: a ``/bin/sh`` that sets it and
    execs the entryPoint (the argv is fully known only when the task definition sets one).
    Hard limit first (``ulimit -n`` sets both), then the soft one; a hard limit above the
    node's fails the container with the shell's message instead of being ignored silently."""
    nofile = next((u for u in cd.ulimits or [] if u.name == "nofile"), None)
    if nofile is None or not cd.entryPoint:
        return []
    script = f'ulimit -n {int(nofile.hardLimit)} && ulimit -S -n {int(nofile.softLimit)} && exec "$@"'
    return ["/bin/sh", "-c", script, "ecs-ulimits"]


def _escape_expansion(s: str) -> str:
    """Kubernetes expands ``$(VAR)`` and reduces ``$$`` to ``$`` in command, args and env
    values; Docker does neither. Double every ``$`` that precedes ``$`` or ``(``."""
    return re.sub(r"\$(?=[$(])", "$$", s)


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _model_json(model) -> Any:
    return model.model_dump(mode="json", exclude_none=True)


_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SYSCTL_RE = re.compile(r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$")
_ENV_NAME_RE = re.compile(r"^[\x20-\x3c\x3e-\x7e]+$")  # printable ASCII except '='
# A Windows user name as securityContext.windowsOptions.runAsUserName accepts it (no domain).
_WINDOWS_USER_RE = re.compile(r"^(?=.*[A-Za-z0-9])[A-Za-z0-9 ._-]{1,104}$")
_IPC_SYSCTL_RE = re.compile(r"^(kernel\.shm|kernel\.msg|kernel\.sem$|fs\.mqueue\.)")


def _is_subdomain(s: str) -> bool:
    return len(s) <= 253 and bool(_SUBDOMAIN_RE.match(s))


def _canonical_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# The translator
# --------------------------------------------------------------------------------------------

_ROLE_MAIN = "main"
_ROLE_INIT = "init"  # a regular init container (COMPLETE/SUCCESS target)
_ROLE_SIDECAR = "sidecar"  # a native sidecar: initContainers entry with restartPolicy Always


class _Translator:
    def __init__(self, td: RegisterTaskDefinitionRequest, family: str, revision: int):
        self.td = td
        self.family = family
        self.revision = revision
        self.warnings: list[TranslationWarning] = []
        self.objects: list[dict] = []
        self.containers = list(td.containerDefinitions)
        self.by_name: dict[str, ContainerDefinition] = {}
        self.k8s_names: dict[str, str] = {}
        self.volumes: list[dict] = []
        self.volume_names: dict[str, str] = {}  # ECS volume name -> Kubernetes volume name
        self.taken_volume_names: set[str] = set()
        self.taken_port_names: set[str] = set()
        self.port_name_map: dict[str, str] = {}  # k8s port name -> ECS port name
        self.app_protocols: dict[str, str] = {}
        self.host_ports: dict[tuple[int, str], str] = {}
        self.host_aliases: dict[str, list[str]] = {}
        self.sysctls: dict[str, tuple[str, str]] = {}  # name -> (value, ECS container)
        self.image_pull_secrets: list[str] = []
        self.os_family = (td.runtimePlatform.operatingSystemFamily if td.runtimePlatform else None) or "LINUX"

    # -- helpers -------------------------------------------------------------------------------

    def warn(self, field: str, message: str) -> None:
        w = TranslationWarning(field, message)
        if w not in self.warnings:
            self.warnings.append(w)

    @staticmethod
    def cpath(cd: ContainerDefinition, field: str = "") -> str:
        base = f"containerDefinitions[{cd.name}]"
        return f"{base}.{field}" if field else base

    # -- entry point ---------------------------------------------------------------------------

    def run(self) -> TaskTranslation:
        td = self.td
        self._names()
        self.network_mode = td.networkMode or (
            "awsvpc" if "FARGATE" in (td.requiresCompatibilities or []) else "bridge"
        )
        self.host_network = self.network_mode == "host"
        if self.network_mode == "none":
            self.warn(
                "networkMode",
                "'none': a pod always has a network namespace (containers get loopback plus the pod network)",
            )
        self._translate_volumes()
        roles, init_order = self._roles()
        essential = [cd.name for cd in self.containers if cd.essential is not False]
        if not essential:
            raise TranslationError("containerDefinitions", "at least one container must be essential")
        self.first_essential = essential[0]

        built: dict[str, dict] = {}
        for cd in self.containers:
            built[cd.name] = self._container(cd, roles[cd.name])
        self._volumes_from(built)

        init_containers = [built[n] for n in init_order]
        main_containers = [built[cd.name] for cd in self.containers if roles[cd.name] == _ROLE_MAIN]

        spec: dict[str, Any] = {}
        self._pod_identity(spec)
        self._pod_network(spec)
        self._pod_namespaces(spec)
        self._pod_security(spec)
        spec["terminationGracePeriodSeconds"] = max(
            max(cd.stopTimeout, 0) if cd.stopTimeout is not None else DEFAULT_STOP_TIMEOUT for cd in self.containers
        )
        if self.image_pull_secrets:
            spec["imagePullSecrets"] = [{"name": n} for n in self.image_pull_secrets]
        self._node_selector(spec)
        self._pod_resources(spec)
        if init_containers:
            spec["initContainers"] = init_containers
        spec["containers"] = main_containers
        if self.volumes:
            spec["volumes"] = self.volumes
        self._task_level_warnings()

        # A JSON round trip: plain data, and no two places of the output share a dict.
        template = _plain({"metadata": self._metadata(essential), "spec": spec})
        return TaskTranslation(
            template=template,
            warnings=tuple(self.warnings),
            objects=tuple(_plain(o) for o in self.objects),
            container_names=dict(self.k8s_names),
        )

    # -- names and roles -----------------------------------------------------------------------

    def _names(self) -> None:
        taken: set[str] = set()
        for i, cd in enumerate(self.containers):
            if not cd.name:
                raise TranslationError(f"containerDefinitions[{i}].name", "a container needs a name")
            if cd.name in self.by_name:
                raise TranslationError(f"containerDefinitions[{cd.name}].name", f"two containers are named {cd.name!r}")
            if not cd.image or not cd.image.strip():
                raise TranslationError(self.cpath(cd, "image"), "a container needs an image")
            if cd.image != cd.image.strip():
                raise TranslationError(self.cpath(cd, "image"), "leading or trailing whitespace")
            self.by_name[cd.name] = cd
            base = names.dns_label(cd.name.replace("_", "-"), fallback="container")
            self.k8s_names[cd.name] = names.unique_label(base, cd.name, taken)

    def _roles(self) -> tuple[dict[str, str], list[str]]:
        """Role of each container and the order of the initContainers list."""
        deps: dict[str, list[tuple[str, str]]] = {cd.name: [] for cd in self.containers}
        targets: dict[str, set[str]] = {}
        for cd in self.containers:
            for d in cd.dependsOn or []:
                if d.containerName not in self.by_name:
                    raise TranslationError(
                        self.cpath(cd, "dependsOn"), f"names no container of this task: {d.containerName!r}"
                    )
                if d.containerName == cd.name:
                    raise TranslationError(self.cpath(cd, "dependsOn"), "a container cannot depend on itself")
                deps[cd.name].append((d.containerName, d.condition))
                targets.setdefault(d.containerName, set()).add(d.condition)

        # Cycle check over the whole graph (depth-first, in ECS order: deterministic message).
        state: dict[str, int] = {}

        def visit(n: str, stack: list[str]) -> None:
            state[n] = 1
            for t, _ in deps[n]:
                if state.get(t) == 1:
                    cycle = stack[stack.index(t) :] + [t] if t in stack else [n, t]
                    raise TranslationError(
                        f"containerDefinitions[{n}].dependsOn", "dependency cycle: " + " -> ".join(cycle)
                    )
                if t not in state:
                    visit(t, stack + [t])
            state[n] = 2

        for cd in self.containers:
            if cd.name not in state:
                visit(cd.name, [cd.name])

        roles: dict[str, str] = {}
        for cd in self.containers:
            conds = targets.get(cd.name)
            if not conds:
                roles[cd.name] = _ROLE_MAIN
            elif conds & {"COMPLETE", "SUCCESS"}:
                if cd.essential is not False:
                    raise TranslationError(
                        self.cpath(cd, "essential"),
                        "containers depend on this container with condition COMPLETE/SUCCESS, "
                        "which ECS allows only for non-essential containers",
                    )
                roles[cd.name] = _ROLE_INIT
            else:
                roles[cd.name] = _ROLE_SIDECAR
                if "HEALTHY" in conds and not self._has_health_check(cd):
                    self.warn(
                        self.cpath(cd, "healthCheck"),
                        "containers depend on this container being HEALTHY but it has no health "
                        "check: dependents start once it has started",
                    )

        for cd in self.containers:
            for d in cd.dependsOn or []:
                if roles[d.containerName] != _ROLE_INIT:
                    continue
                if d.condition == "COMPLETE":
                    self.warn(
                        self.cpath(cd, "dependsOn"),
                        f"{d.containerName} COMPLETE (any exit code): {d.containerName!r} runs as an init "
                        "container, which must exit 0 (it is retried until it does)",
                    )
                elif d.condition in ("START", "HEALTHY"):
                    self.warn(
                        self.cpath(cd, "dependsOn"),
                        f"{d.containerName} {d.condition}: {d.containerName!r} runs as an init container "
                        "(other containers wait for it to COMPLETE/SUCCESS), so this waits for it to exit",
                    )

        # Topological order of the initContainers list (Kahn; ties in ECS order).
        index = {cd.name: i for i, cd in enumerate(self.containers)}
        pending = {n for n, r in roles.items() if r != _ROLE_MAIN}
        order: list[str] = []
        while pending:
            ready = sorted((n for n in pending if all(t in order for t, _ in deps[n])), key=index.get)
            if not ready:  # unreachable: the cycle check above ran first
                raise TranslationError("containerDefinitions", "dependency cycle")
            order.append(ready[0])
            pending.remove(ready[0])
        return roles, order

    @staticmethod
    def _has_health_check(cd: ContainerDefinition) -> bool:
        hc = cd.healthCheck
        return bool(hc and hc.command and hc.command[0] != "NONE")

    # -- containers ----------------------------------------------------------------------------

    def _container(self, cd: ContainerDefinition, role: str) -> dict:
        k: dict[str, Any] = {"name": self.k8s_names[cd.name], "image": cd.image}
        if role == _ROLE_SIDECAR:
            k["restartPolicy"] = "Always"
        if cd.entryPoint:
            k["command"] = _ulimit_wrapper(cd) + [_escape_expansion(a) for a in cd.entryPoint]
        if cd.command:
            k["args"] = [_escape_expansion(a) for a in cd.command]
        if cd.workingDirectory:
            k["workingDir"] = cd.workingDirectory
        self._env(cd, k)
        ports = self._ports(cd)
        if ports:
            k["ports"] = ports
        resources = self._resources(cd)
        if resources:
            k["resources"] = resources
        mounts = self._mounts(cd)
        if mounts:
            k["volumeMounts"] = mounts
        self._probes(cd, role, k)
        sc = self._security_context(cd)
        if sc:
            k["securityContext"] = sc
        if cd.interactive:
            k["stdin"] = True
        if cd.pseudoTerminal:
            k["tty"] = True
        self._container_pod_fields(cd)
        self._container_warnings(cd, role)
        return k

    def _env(self, cd: ContainerDefinition, k: dict) -> None:
        env: dict[str, dict] = {}
        for j, kv in enumerate(cd.environment or []):
            if not kv.name:
                self.warn(self.cpath(cd, f"environment[{j}]"), "an entry without a name is skipped")
                continue
            if not _ENV_NAME_RE.match(kv.name):
                self.warn(
                    self.cpath(cd, f"environment[{kv.name}]"),
                    "not a valid Kubernetes variable name (printable ASCII without '='): skipped",
                )
                continue
            # A later duplicate wins, as with Docker; the first position is kept.
            env[kv.name] = {"name": kv.name, "value": _escape_expansion(kv.value or "")}
        for s in cd.secrets or []:
            if not _ENV_NAME_RE.match(s.name):
                self.warn(
                    self.cpath(cd, f"secrets[{s.name}]"),
                    "not a valid Kubernetes variable name (printable ASCII without '='): skipped",
                )
                continue
            if s.name in env and "value" in env[s.name]:
                self.warn(self.cpath(cd, f"secrets[{s.name}]"), "also set in environment: the secret's value is used")
            env.pop(s.name, None)
            ref = names.secret_ref(s.valueFrom)
            if ref.ignored:
                self.warn(
                    self.cpath(cd, f"secrets[{s.name}].valueFrom"),
                    f"version stage/id {ref.ignored!r} is not expressible: Secret {ref.name!r} holds a single version",
                )
            env[s.name] = {"name": s.name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
        if env:
            k["env"] = list(env.values())
        env_from = []
        seen: set[str] = set()
        for f in cd.environmentFiles or []:
            name = names.config_map_name(f.value)
            self.warn(
                self.cpath(cd, "environmentFiles"),
                f"ConfigMap {name!r} must hold the variables of {f.value} (Kubernetes cannot read S3)",
            )
            if name not in seen:
                seen.add(name)
                env_from.append({"configMapRef": {"name": name}})
        if env_from:
            k["envFrom"] = env_from

    def _ports(self, cd: ContainerDefinition) -> list[dict]:
        out: list[dict] = []
        seen: set[tuple] = set()
        for j, pm in enumerate(cd.portMappings or []):
            field = self.cpath(cd, f"portMappings[{j}]")
            protocol = (pm.protocol or "tcp").upper()
            if pm.containerPortRange:
                m = re.match(r"^\s*(\d+)\s*-\s*(\d+)\s*$", pm.containerPortRange)
                if not m:
                    raise TranslationError(
                        field + ".containerPortRange", f"{pm.containerPortRange!r} is not 'start-end'"
                    )
                lo, hi = int(m.group(1)), int(m.group(2))
                if not (1 <= lo <= hi <= 65535):
                    raise TranslationError(
                        field + ".containerPortRange", f"{pm.containerPortRange!r} is not a range of ports 1-65535"
                    )
                if hi - lo + 1 > MAX_PORT_RANGE:
                    self.warn(
                        field + ".containerPortRange",
                        f"{hi - lo + 1} ports: ranges over {MAX_PORT_RANGE} ports are not listed "
                        "(the container still receives traffic on them via the pod IP)",
                    )
                    continue
                numbers = list(range(lo, hi + 1))
                if pm.name:
                    self.warn(field + ".name", "a port range is not named in Kubernetes")
            else:
                if pm.containerPort is None:
                    raise TranslationError(field + ".containerPort", "needs containerPort or containerPortRange")
                if not 1 <= pm.containerPort <= 65535:
                    raise TranslationError(field + ".containerPort", f"{pm.containerPort} is not a port (1-65535)")
                numbers = [pm.containerPort]
            for number in numbers:
                port: dict[str, Any] = {}
                if pm.name and not pm.containerPortRange:
                    pname = names.port_name(pm.name, self.taken_port_names)
                    port["name"] = pname
                    self.port_name_map[pname] = pm.name
                port["containerPort"] = number
                port["protocol"] = protocol
                host_port = self._host_port(cd, field, pm, number)
                ident = (number, protocol, host_port)
                if ident in seen:  # an exact repeat of an earlier mapping
                    if "name" in port:
                        self.taken_port_names.discard(port["name"])
                        self.port_name_map.pop(port["name"], None)
                    continue
                seen.add(ident)
                if host_port:
                    port["hostPort"] = host_port
                    key = (host_port, protocol)
                    if key in self.host_ports:
                        raise TranslationError(
                            field + ".hostPort",
                            f"host port {host_port}/{protocol} is also used by container {self.host_ports[key]!r}",
                        )
                    self.host_ports[key] = cd.name
                if pm.appProtocol:
                    self.app_protocols[port.get("name") or f"{self.k8s_names[cd.name]}/{number}"] = {
                        "http": "http",
                        "http2": "kubernetes.io/h2c",
                        "grpc": "kubernetes.io/h2c",
                    }[pm.appProtocol]
                out.append(port)
        return out

    def _host_port(self, cd, field: str, pm, number: int) -> int | None:
        if self.host_network:
            if pm.hostPort and pm.hostPort != number and not pm.containerPortRange:
                self.warn(
                    field + ".hostPort",
                    f"host network mode: hostPort {pm.hostPort} is replaced by the containerPort {number}",
                )
            return number
        if self.network_mode == "awsvpc":
            if pm.hostPort and pm.hostPort != number:
                self.warn(field + ".hostPort", "awsvpc: a hostPort other than the containerPort is ignored")
            return None
        # bridge (and none, Windows NAT): a fixed hostPort is published on the node; 0 or none
        # is a dynamic host port, i.e. reachable on the pod IP only.
        if pm.hostPort and not pm.containerPortRange:
            if not 1 <= pm.hostPort <= 65535:
                raise TranslationError(field + ".hostPort", f"{pm.hostPort} is not a port (1-65535)")
            return pm.hostPort
        return None

    def _resources(self, cd: ContainerDefinition) -> dict:
        requests: dict[str, str] = {}
        limits: dict[str, str] = {}
        if cd.cpu is not None:
            if cd.cpu < 0:
                raise TranslationError(self.cpath(cd, "cpu"), f"{cd.cpu} is negative")
            if cd.cpu > 0:
                requests["cpu"] = _cpu_quantity(_millicores(cd.cpu))
        if cd.memory is not None and cd.memory <= 0:
            raise TranslationError(self.cpath(cd, "memory"), f"{cd.memory} MiB must be greater than zero")
        if cd.memoryReservation is not None and cd.memoryReservation < 0:
            raise TranslationError(self.cpath(cd, "memoryReservation"), f"{cd.memoryReservation} is negative")
        if cd.memory is not None and cd.memoryReservation is not None and cd.memoryReservation > cd.memory:
            raise TranslationError(
                self.cpath(cd, "memoryReservation"), f"{cd.memoryReservation} MiB exceeds memory {cd.memory} MiB"
            )
        reservation = cd.memoryReservation if cd.memoryReservation is not None else cd.memory
        if reservation:
            requests["memory"] = f"{reservation}Mi"
        if cd.memory is not None:
            limits["memory"] = f"{cd.memory}Mi"
        for j, rr in enumerate(cd.resourceRequirements or []):
            field = self.cpath(cd, f"resourceRequirements[{j}]")
            if rr.type == "InferenceAccelerator":
                self.warn(field, f"InferenceAccelerator {rr.value!r}: Elastic Inference has no Kubernetes equivalent")
                continue
            resource = "nvidia.com/gpu" if rr.type == "GPU" else "aws.amazon.com/neuron"
            count = _device_count(rr.value)
            if count is None:
                raise TranslationError(field + ".value", f"{rr.type} needs a positive number, not {rr.value!r}")
            whole = math.ceil(count)
            if whole != count:  # ECS shares a GPU on Managed Instances; Kubernetes counts whole devices
                self.warn(
                    field + ".value",
                    f"{rr.type} {rr.value}: Kubernetes extended resources are whole "
                    f"devices, {whole} requested (share devices with the NVIDIA device plugin's "
                    "time-slicing or MPS)",
                )
            limits[resource] = str(whole + int(limits.get(resource, "0")))
            if rr.sharingStrategy is not None:
                self.warn(
                    field + ".sharingStrategy",
                    "GPU sharing (MPS) is configured in the NVIDIA device "
                    "plugin, not per pod: whole devices are requested",
                )
        if cd.name == self.first_essential and self.td.ephemeralStorage is not None:
            size = self.td.ephemeralStorage.sizeInGiB
            if size <= 0:
                raise TranslationError("ephemeralStorage.sizeInGiB", f"{size} must be greater than zero")
            limits["ephemeral-storage"] = f"{size}Gi"
        res: dict[str, dict] = {}
        if requests:
            res["requests"] = requests
        if limits:
            res["limits"] = limits
        return res

    def _mount_list(self, cd: ContainerDefinition) -> list[dict]:
        mounts: list[dict] = []
        for j, mp in enumerate(cd.mountPoints or []):
            field = self.cpath(cd, f"mountPoints[{j}]")
            if not mp.sourceVolume:
                raise TranslationError(field + ".sourceVolume", "a mount point needs a sourceVolume")
            if mp.sourceVolume not in self.volume_names:
                raise TranslationError(
                    field + ".sourceVolume", f"names no volume of this task definition: {mp.sourceVolume!r}"
                )
            if not mp.containerPath:
                raise TranslationError(field + ".containerPath", "a mount point needs a containerPath")
            m = {"name": self.volume_names[mp.sourceVolume], "mountPath": mp.containerPath}
            if mp.readOnly:
                m["readOnly"] = True
            mounts.append(m)
        return mounts

    def _mounts(self, cd: ContainerDefinition) -> list[dict]:
        mounts = self._mount_list(cd)
        lp = cd.linuxParameters
        if lp is not None:
            if lp.sharedMemorySize is not None:
                if lp.sharedMemorySize <= 0:
                    raise TranslationError(
                        self.cpath(cd, "linuxParameters.sharedMemorySize"),
                        f"{lp.sharedMemorySize} MiB must be greater than zero",
                    )
                vname = self._add_volume(
                    f"shm-{self.k8s_names[cd.name]}",
                    f"{cd.name}/shm",
                    {"emptyDir": {"medium": "Memory", "sizeLimit": f"{lp.sharedMemorySize}Mi"}},
                )
                mounts.append({"name": vname, "mountPath": "/dev/shm"})
            for j, t in enumerate(lp.tmpfs or []):
                field = self.cpath(cd, f"linuxParameters.tmpfs[{j}]")
                if t.size <= 0:
                    raise TranslationError(field + ".size", f"{t.size} MiB must be greater than zero")
                if not t.containerPath:
                    raise TranslationError(field + ".containerPath", "a tmpfs mount needs a containerPath")
                if t.mountOptions:
                    self.warn(
                        field + ".mountOptions",
                        f"mount options {t.mountOptions} are not expressible (emptyDir medium Memory)",
                    )
                vname = self._add_volume(
                    f"tmpfs-{self.k8s_names[cd.name]}-{j}",
                    f"{cd.name}/tmpfs/{j}",
                    {"emptyDir": {"medium": "Memory", "sizeLimit": f"{t.size}Mi"}},
                )
                mounts.append({"name": vname, "mountPath": t.containerPath})
        self._check_mount_paths(cd, mounts)
        return mounts

    def _check_mount_paths(self, cd: ContainerDefinition, mounts: list[dict]) -> None:
        seen: set[str] = set()
        for m in mounts:
            p = posixpath.normpath(m["mountPath"]) if m["mountPath"].startswith("/") else m["mountPath"]
            if p in seen:
                raise TranslationError(
                    self.cpath(cd, "mountPoints"),
                    f"two mounts at {m['mountPath']!r} (mountPoints, tmpfs, sharedMemorySize)",
                )
            seen.add(p)

    def _volumes_from(self, built: dict[str, dict]) -> None:
        """Copy the source containers' mount points (recursively, as Docker's --volumes-from)."""

        def mounts_of(name: str, chain: tuple[str, ...]) -> list[dict]:
            cd = self.by_name[name]
            result = list(self._mount_list(cd))
            for vf in cd.volumesFrom or []:
                field = self.cpath(cd, "volumesFrom")
                if not vf.sourceContainer or vf.sourceContainer not in self.by_name:
                    raise TranslationError(field, f"names no container of this task: {vf.sourceContainer!r}")
                if vf.sourceContainer == name or vf.sourceContainer in chain:
                    raise TranslationError(field, "volumesFrom cycle: " + " -> ".join(chain + (vf.sourceContainer,)))
                for m in mounts_of(vf.sourceContainer, chain + (vf.sourceContainer,)):
                    m = dict(m)
                    if vf.readOnly:
                        m["readOnly"] = True
                    result.append(m)
            return result

        for cd in self.containers:
            if not cd.volumesFrom:
                continue
            k = built[cd.name]
            own = k.get("volumeMounts", [])
            paths = {posixpath.normpath(m["mountPath"]) for m in own}
            added = []
            for m in mounts_of(cd.name, (cd.name,))[len(self._mount_list(cd)) :]:
                p = posixpath.normpath(m["mountPath"])
                if p in paths:  # the container's own mount at that path takes precedence
                    continue
                paths.add(p)
                added.append(m)
            if added:
                k["volumeMounts"] = own + added
            self.warn(
                self.cpath(cd, "volumesFrom"),
                "mount points of the source containers are copied; anonymous volumes declared by "
                "their images (Dockerfile VOLUME) are not shared",
            )

    def _probe(self, hc: HealthCheck, cd: ContainerDefinition) -> dict | None:
        cmd = list(hc.command or [])
        field = self.cpath(cd, "healthCheck.command")
        if not cmd:
            raise TranslationError(field, "empty health check command")
        kind = cmd[0]
        if kind == "NONE":
            return None
        if kind == "CMD":
            if len(cmd) < 2:
                raise TranslationError(field, "CMD needs a command")
            exec_cmd = cmd[1:]
        elif kind == "CMD-SHELL":
            script = " ".join(cmd[1:])
            if not script.strip():
                raise TranslationError(field, "CMD-SHELL needs a command")
            shell = ["cmd", "/S", "/C"] if self.os_family.startswith("WINDOWS") else ["/bin/sh", "-c"]
            exec_cmd = shell + [script]
        else:
            raise TranslationError(field, f"must start with CMD, CMD-SHELL or NONE, not {kind!r}")
        interval = max(hc.interval if hc.interval is not None else HEALTH_DEFAULTS["interval"], 1)
        timeout = max(hc.timeout if hc.timeout is not None else HEALTH_DEFAULTS["timeout"], 1)
        retries = max(hc.retries if hc.retries is not None else HEALTH_DEFAULTS["retries"], 1)
        return {
            "exec": {"command": exec_cmd},
            "periodSeconds": interval,
            "timeoutSeconds": timeout,
            "failureThreshold": retries,
        }

    def _probes(self, cd: ContainerDefinition, role: str, k: dict) -> None:
        hc = cd.healthCheck
        if hc is None:
            return
        probe = self._probe(hc, cd)
        if probe is None:
            return
        if role == _ROLE_INIT:
            self.warn(
                self.cpath(cd, "healthCheck"),
                "runs as an init container, which Kubernetes does not probe: health check not used",
            )
            return
        essential = cd.essential is not False
        start_period = max(hc.startPeriod or 0, 0)
        healthy_target = role == _ROLE_SIDECAR and "HEALTHY" in self._conditions_on(cd.name)
        if healthy_target or (essential and start_period > 0):
            startup = dict(probe)
            startup["failureThreshold"] = math.ceil(start_period / probe["periodSeconds"]) + probe["failureThreshold"]
            k["startupProbe"] = startup
        if essential:
            k["readinessProbe"] = dict(probe)
            k["livenessProbe"] = dict(probe)
        else:
            # ECS derives a task's health from its essential containers only; a readiness probe
            # here would make the whole pod (and the service's healthy count) depend on it.
            self.warn(
                self.cpath(cd, "healthCheck"),
                "a non-essential container's health does not count toward the task's health (as in ECS), "
                "so it gets no readiness probe; its health status is not reported"
                + (
                    " (the startup probe still gates containers that depend on it being HEALTHY)"
                    if healthy_target
                    else ""
                ),
            )

    def _conditions_on(self, name: str) -> set[str]:
        return {d.condition for cd in self.containers for d in (cd.dependsOn or []) if d.containerName == name}

    def _security_context(self, cd: ContainerDefinition) -> dict:
        sc: dict[str, Any] = {}
        if cd.user:
            self._user(cd, sc)
        if cd.privileged:
            sc["privileged"] = True
        if cd.readonlyRootFilesystem:
            sc["readOnlyRootFilesystem"] = True
        caps = cd.linuxParameters.capabilities if cd.linuxParameters else None
        if caps is not None:
            out: dict[str, list[str]] = {}
            for key in ("add", "drop"):
                values: list[str] = []
                for c in getattr(caps, key) or []:
                    v = c.strip().upper()
                    v = v[4:] if v.startswith("CAP_") else v
                    if v and v not in values:
                        values.append(v)
                if values:
                    out[key] = values
            if out:
                sc["capabilities"] = out
        for opt in cd.dockerSecurityOptions or []:
            field = self.cpath(cd, "dockerSecurityOptions")
            m = re.match(r"^([^:=]*)[:=]?(.*)$", opt, re.DOTALL)
            name, value = m.group(1), m.group(2)
            name = name.strip().lower()
            value = value.strip()
            if name == "no-new-privileges" and value.lower() in ("", "true"):
                if cd.privileged or "SYS_ADMIN" in sc.get("capabilities", {}).get("add", []):
                    self.warn(
                        field,
                        "no-new-privileges cannot be combined with privileged or CAP_SYS_ADMIN "
                        "in Kubernetes: not applied",
                    )
                else:
                    sc["allowPrivilegeEscalation"] = False
            elif name == "no-new-privileges":
                pass  # no-new-privileges:false is the default
            elif name == "apparmor" and value:
                sc["appArmorProfile"] = (
                    {"type": "Unconfined"}
                    if value == "unconfined"
                    else {"type": "RuntimeDefault"}
                    if value == "docker-default"
                    else {"type": "Localhost", "localhostProfile": value}
                )
            elif name == "seccomp" and value == "unconfined":
                sc["seccompProfile"] = {"type": "Unconfined"}
            else:
                self.warn(field, f"{opt!r} is not expressible in a Kubernetes securityContext")
        return sc

    def _user(self, cd: ContainerDefinition, sc: dict) -> None:
        user, _, group = cd.user.partition(":")
        field = self.cpath(cd, "user")
        if self.os_family.startswith("WINDOWS"):
            if _WINDOWS_USER_RE.match(cd.user):
                sc["windowsOptions"] = {"runAsUserName": cd.user}
            else:
                self.warn(
                    field,
                    f"{cd.user!r} is not a Windows user name Kubernetes accepts "
                    "(runAsUserName): the image's user applies",
                )
            return
        if _UINT_RE.match(user) and int(user) <= 2147483647:
            sc["runAsUser"] = int(user)
        else:
            self.warn(field, f"user {user!r} is not numeric: Kubernetes needs a UID, the image's user applies")
        if group:
            if _UINT_RE.match(group) and int(group) <= 2147483647:
                sc["runAsGroup"] = int(group)
            else:
                self.warn(field, f"group {group!r} is not numeric: Kubernetes needs a GID")

    def _container_pod_fields(self, cd: ContainerDefinition) -> None:
        """Container fields that land on the pod: links, extraHosts, sysctls, pull secrets."""
        for link in cd.links or []:
            target, _, alias = link.partition(":")
            if target not in self.by_name:
                raise TranslationError(self.cpath(cd, "links"), f"names no container of this task: {target!r}")
            self._host_alias(cd, "links", "127.0.0.1", alias or target)
        for h in cd.extraHosts or []:
            ip = _canonical_ip(h.ipAddress)
            if ip is None:
                raise TranslationError(self.cpath(cd, "extraHosts"), f"{h.ipAddress!r} is not an IP address")
            self._host_alias(cd, "extraHosts", ip, h.hostname)
        for sc in cd.systemControls or []:
            field = self.cpath(cd, "systemControls")
            if not sc.namespace or sc.value is None:
                self.warn(field, "an entry without namespace or value is skipped")
                continue
            name = sc.namespace.strip()
            if not _SYSCTL_RE.match(name) or len(name) > 253:
                raise TranslationError(field, f"{name!r} is not a sysctl name")
            if name in self.sysctls and self.sysctls[name][0] != sc.value:
                raise TranslationError(
                    field,
                    f"{name} is {sc.value!r} here but {self.sysctls[name][0]!r} in "
                    f"container {self.sysctls[name][1]!r}; pod sysctls apply to every container",
                )
            if name not in self.sysctls:
                self.sysctls[name] = (sc.value, cd.name)
        if cd.repositoryCredentials is not None:
            ref = names.secret_ref(cd.repositoryCredentials.credentialsParameter)
            if ref.key != "value" or ref.ignored:
                self.warn(
                    self.cpath(cd, "repositoryCredentials"),
                    f"imagePullSecret {ref.name!r} is used whole (a JSON key or version is not expressible)",
                )
            if ref.name not in self.image_pull_secrets:
                self.image_pull_secrets.append(ref.name)

    def _host_alias(self, cd: ContainerDefinition, field: str, ip: str, hostname: str) -> None:
        h = hostname.strip().lower().rstrip(".")
        if "_" in h:
            self.warn(self.cpath(cd, field), f"{hostname!r}: '_' is not allowed in a host alias, '-' is used")
            h = h.replace("_", "-")
        if not _is_subdomain(h):
            self.warn(self.cpath(cd, field), f"{hostname!r} is not a valid DNS name: skipped")
            return
        hostnames = self.host_aliases.setdefault(ip, [])
        if h not in hostnames:
            hostnames.append(h)

    def _container_warnings(self, cd: ContainerDefinition, role: str) -> None:
        p = self.cpath
        if cd.essential is False and role != _ROLE_INIT:
            self.warn(
                p(cd, "essential"),
                "non-essential: Kubernetes restarts this container when it exits "
                "(ECS would leave it stopped) and the task does not stop with it",
            )
        if cd.restartPolicy is not None:
            self.warn(
                p(cd, "restartPolicy"),
                "Kubernetes restarts containers per the pod's restartPolicy; "
                "ignoredExitCodes and restartAttemptPeriod are not expressible",
            )
        if cd.startTimeout is not None:
            self.warn(p(cd, "startTimeout"), f"{cd.startTimeout}s: Kubernetes has no container start timeout")
        if cd.versionConsistency == "enabled":
            self.warn(
                p(cd, "versionConsistency"),
                "Kubernetes does not resolve the image tag to a digest; "
                "pin a digest in the image to get the same behaviour",
            )
        if cd.disableNetworking:
            self.warn(p(cd, "disableNetworking"), "a container cannot be cut off from its pod's network")
        unapplied = [u for u in cd.ulimits or [] if not (_ulimit_wrapper(cd) and u.name == "nofile")]
        if unapplied:
            why = (
                "only nofile can be applied (with an entryPoint, through /bin/sh)"
                if cd.entryPoint
                else "they are applied only to a container with an entryPoint (the image's own ENTRYPOINT is "
                "not known here)"
            )
            self.warn(
                p(cd, "ulimits"),
                "Kubernetes has no ulimits: the container runtime's defaults apply ("
                + ", ".join(f"{u.name}={u.softLimit}:{u.hardLimit}" for u in unapplied)
                + "); "
                + why,
            )
        if cd.logConfiguration is not None:
            self.warn(
                p(cd, "logConfiguration"),
                f"log driver {cd.logConfiguration.logDriver!r}: Kubernetes has "
                "no log drivers (stdout/stderr go to the node); kept in annotation " + ANN_LOG_CONFIGURATION,
            )
        if cd.firelensConfiguration is not None:
            self.warn(
                p(cd, "firelensConfiguration"),
                "FireLens log routing is not provided; kept in annotation " + ANN_LOG_CONFIGURATION,
            )
        if cd.credentialSpecs:
            self.warn(
                p(cd, "credentialSpecs"),
                "gMSA credential specs are not translated (needs the Windows "
                "GMSA webhook and securityContext.windowsOptions)",
            )
        lp = cd.linuxParameters
        if lp is not None:
            if lp.devices:
                self.warn(
                    p(cd, "linuxParameters.devices"),
                    "host devices need a Kubernetes device plugin: " + ", ".join(d.hostPath for d in lp.devices),
                )
            if lp.initProcessEnabled:
                self.warn(
                    p(cd, "linuxParameters.initProcessEnabled"),
                    "no init process is injected; the image must reap zombies itself "
                    "(shareProcessNamespace: true would make the pause container PID 1)",
                )
            if lp.maxSwap is not None:
                self.warn(p(cd, "linuxParameters.maxSwap"), "swap is configured per node (kubelet memorySwap)")
            if lp.swappiness is not None:
                self.warn(p(cd, "linuxParameters.swappiness"), "swappiness is configured per node")

    # -- volumes -------------------------------------------------------------------------------

    def _add_volume(self, base: str, source: str, body: dict) -> str:
        name = names.unique_label(names.dns_label(base, fallback="vol"), source, self.taken_volume_names)
        self.volumes.append({"name": name, **body})
        return name

    def _translate_volumes(self) -> None:
        for i, v in enumerate(self.td.volumes or []):
            if not v.name:
                raise TranslationError(f"volumes[{i}].name", "a volume needs a name")
            if v.name in self.volume_names:
                raise TranslationError(f"volumes[{v.name}].name", f"two volumes are named {v.name!r}")
            body = self._volume_body(v)
            base = names.dns_label(v.name.replace("_", "-"), fallback="vol")
            self.volume_names[v.name] = self._add_volume(base, v.name, body)

    def _volume_body(self, v: Volume) -> dict:
        field = f"volumes[{v.name}]"
        if v.fsxWindowsFileServerVolumeConfiguration is not None:
            raise TranslationError(
                field + ".fsxWindowsFileServerVolumeConfiguration",
                "FSx for Windows File Server volumes cannot be mounted by Kubernetes "
                "on Linux nodes; use a PersistentVolumeClaim-backed volume instead",
            )
        if v.configuredAtLaunch:
            claim = names.dns_label(v.name.replace("_", "-"), fallback="vol")
            self.warn(
                field + ".configuredAtLaunch",
                f"the volume is configured at launch: PersistentVolumeClaim {claim!r} must be "
                "supplied in the namespace",
            )
            return {"persistentVolumeClaim": {"claimName": claim}}
        if v.efsVolumeConfiguration is not None:
            return self._efs(v)
        if v.s3filesVolumeConfiguration is not None:
            s3 = v.s3filesVolumeConfiguration
            claim = names.s3files_claim_name(s3.fileSystemArn, s3.rootDirectory)
            self.warn(
                field + ".s3filesVolumeConfiguration",
                f"Kubernetes has no S3 Files volume: PersistentVolumeClaim {claim!r} bound to "
                f"{s3.fileSystemArn} must be supplied in the namespace",
            )
            return {"persistentVolumeClaim": {"claimName": claim}}
        if v.dockerVolumeConfiguration is not None:
            return self._docker_volume(v)
        if v.host is not None and v.host.sourcePath:
            path = v.host.sourcePath
            if ".." in re.split(r"[/\\]", path):
                raise TranslationError(field + ".host.sourcePath", f"{path!r} must not contain '..'")
            return {"hostPath": {"path": path, "type": ""}}
        return {"emptyDir": {}}

    def _docker_volume(self, v: Volume) -> dict:
        dv = v.dockerVolumeConfiguration
        field = f"volumes[{v.name}].dockerVolumeConfiguration"
        driver = dv.driver or "local"
        opts = dict(dv.driverOpts or {})
        if dv.scope == "shared" or dv.autoprovision:
            self.warn(
                field + ".scope",
                "a shared Docker volume outlives the task; an emptyDir is per pod "
                "(use a PersistentVolumeClaim to keep data)",
            )
        if driver != "local":
            self.warn(field + ".driver", f"Docker volume driver {driver!r} is not available: emptyDir used")
            return {"emptyDir": {}}
        kind = opts.pop("type", "").lower()
        if kind == "tmpfs":
            opts.pop("device", None)
            body: dict = {"emptyDir": {"medium": "Memory"}}
        elif kind in ("nfs", "nfs4") and "device" in opts:
            o = opts.pop("o", "")
            device = opts.pop("device")
            addr = next((p.split("=", 1)[1] for p in o.split(",") if p.startswith("addr=")), "")
            server, _, path = device.partition(":")
            server = server or addr
            if server and path.startswith("/"):
                nfs: dict[str, Any] = {"server": server, "path": path}
                if any(p == "ro" for p in o.split(",")):
                    nfs["readOnly"] = True
                if [p for p in o.split(",") if p and not p.startswith("addr=") and p not in ("ro", "rw")]:
                    self.warn(field + ".driverOpts", f"NFS mount options {o!r} are set by the node, not the pod")
                return {"nfs": nfs}
            self.warn(field + ".driverOpts", f"NFS device {device!r} has no server and absolute path: emptyDir used")
            body = {"emptyDir": {}}
        else:
            if kind:
                opts["type"] = kind
            body = {"emptyDir": {}}
        if opts:
            self.warn(field + ".driverOpts", f"driver options {sorted(opts)} are not expressible: emptyDir used")
        return body

    def _efs(self, v: Volume) -> dict:
        efs = v.efsVolumeConfiguration
        field = f"volumes[{v.name}].efsVolumeConfiguration"
        claim = names.efs_claim_name(efs.fileSystemId, efs.rootDirectory)
        annotations = {PREFIX + "efs-file-system-id": efs.fileSystemId}
        root = efs.rootDirectory or "/"
        annotations[PREFIX + "efs-root-directory"] = root
        ap = efs.authorizationConfig.accessPointId if efs.authorizationConfig else None
        # The EFS CSI driver's volumeHandle for a static PersistentVolume of this volume.
        handle = efs.fileSystemId + (f":{root}" if root != "/" or ap else "") + (f":{ap}" if ap else "")
        annotations[PREFIX + "efs-volume-handle"] = handle
        extra = []
        if efs.transitEncryption is not None:
            annotations[PREFIX + "efs-transit-encryption"] = efs.transitEncryption
            extra.append("transitEncryption")
        if efs.transitEncryptionPort is not None:
            annotations[PREFIX + "efs-transit-encryption-port"] = str(efs.transitEncryptionPort)
            extra.append("transitEncryptionPort")
        if efs.authorizationConfig is not None:
            if efs.authorizationConfig.accessPointId:
                annotations[PREFIX + "efs-access-point-id"] = efs.authorizationConfig.accessPointId
            if efs.authorizationConfig.iam:
                annotations[PREFIX + "efs-iam"] = efs.authorizationConfig.iam
            extra.append("authorizationConfig")
        if extra:
            self.warn(
                field,
                f"{', '.join(extra)} kept as annotations of PersistentVolumeClaim {claim!r}: "
                f"the StorageClass {EFS_STORAGE_CLASS!r} or a static PersistentVolume must apply them",
            )
        if not any(o["metadata"]["name"] == claim and o["kind"] == "PersistentVolumeClaim" for o in self.objects):
            self.objects.append(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": claim, "labels": {MANAGED_BY_LABEL: MANAGED_BY}, "annotations": annotations},
                    "spec": {
                        "accessModes": ["ReadWriteMany"],
                        "storageClassName": EFS_STORAGE_CLASS,
                        "resources": {"requests": {"storage": EFS_PLACEHOLDER_SIZE}},
                    },
                }
            )
        return {"persistentVolumeClaim": {"claimName": claim}}

    # -- pod-level -----------------------------------------------------------------------------

    def _pod_identity(self, spec: dict) -> None:
        spec["enableServiceLinks"] = False
        role = self.td.taskRoleArn
        if role:
            sa = names.service_account_name(role)
            spec["serviceAccountName"] = sa
            spec["automountServiceAccountToken"] = True
            self.objects.insert(
                0,
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {
                        "name": sa,
                        "labels": {MANAGED_BY_LABEL: MANAGED_BY},
                        "annotations": {"eks.amazonaws.com/role-arn": role},
                    },
                },
            )
        else:
            spec["automountServiceAccountToken"] = False

    def _pod_network(self, spec: dict) -> None:
        if self.host_network:
            spec["hostNetwork"] = True
            spec["dnsPolicy"] = "ClusterFirstWithHostNet"
        nameservers: list[str] = []
        searches: list[str] = []
        by_container: dict[str, tuple] = {}
        for cd in self.containers:
            for s in cd.dnsServers or []:
                ip = _canonical_ip(s)
                if ip is None:
                    raise TranslationError(self.cpath(cd, "dnsServers"), f"{s!r} is not an IP address")
                if ip not in nameservers:
                    nameservers.append(ip)
            for s in cd.dnsSearchDomains or []:
                d = s.strip().lower().rstrip(".")
                if not _is_subdomain(d):
                    self.warn(self.cpath(cd, "dnsSearchDomains"), f"{s!r} is not a valid search domain: skipped")
                    continue
                if d not in searches:
                    searches.append(d)
            if cd.dnsServers or cd.dnsSearchDomains:
                by_container[cd.name] = (tuple(cd.dnsServers or ()), tuple(cd.dnsSearchDomains or ()))
        if len(set(by_container.values())) > 1:
            self.warn(
                "containerDefinitions.dnsServers",
                "containers set different DNS settings; the pod has one resolv.conf (union used)",
            )
        if len(nameservers) > MAX_NAMESERVERS:
            self.warn(
                "containerDefinitions.dnsServers",
                f"Kubernetes allows {MAX_NAMESERVERS} nameservers: {nameservers[MAX_NAMESERVERS:]} dropped",
            )
            nameservers = nameservers[:MAX_NAMESERVERS]
        if len(searches) > MAX_SEARCHES:
            self.warn(
                "containerDefinitions.dnsSearchDomains",
                f"Kubernetes allows {MAX_SEARCHES} search domains: the rest are dropped",
            )
            searches = searches[:MAX_SEARCHES]
        if nameservers:
            spec["dnsPolicy"] = "None"
        dns_config: dict[str, list[str]] = {}
        if nameservers:
            dns_config["nameservers"] = nameservers
        if searches:
            dns_config["searches"] = searches
        if dns_config:
            spec["dnsConfig"] = dns_config
        if self.host_aliases:
            spec["hostAliases"] = [{"ip": ip, "hostnames": hs} for ip, hs in self.host_aliases.items()]
        hostnames = [cd for cd in self.containers if cd.hostname]
        if hostnames:
            cd = hostnames[0]
            if self.host_network:
                self.warn(self.cpath(cd, "hostname"), "host network mode: the pod has the node's hostname")
            else:
                label = cd.hostname.split(".", 1)[0]
                h = names.dns_label(label, fallback="host")
                if h != cd.hostname:
                    self.warn(
                        self.cpath(cd, "hostname"),
                        f"{cd.hostname!r} is set as the pod hostname {h!r} "
                        "(a DNS-1123 label; the domain part is not expressible)",
                    )
                spec["hostname"] = h
            for other in hostnames[1:]:
                if other.hostname != cd.hostname:
                    self.warn(
                        self.cpath(other, "hostname"),
                        f"a pod has one hostname: the one of container {cd.name!r} is used",
                    )

    def _pod_namespaces(self, spec: dict) -> None:
        td = self.td
        if td.pidMode == "host":
            spec["hostPID"] = True
        elif td.pidMode == "task":
            spec["shareProcessNamespace"] = True
        if td.ipcMode == "host":
            spec["hostIPC"] = True
        elif td.ipcMode == "none":
            self.warn("ipcMode", "'none': the containers of a pod always share an IPC namespace")

    def _pod_security(self, spec: dict) -> None:
        sysctls = []
        for name, (value, container) in self.sysctls.items():
            field = f"containerDefinitions[{container}].systemControls"
            if self.host_network and name.startswith("net."):
                self.warn(field, f"{name}: network sysctls cannot be set in host network mode: skipped")
                continue
            if spec.get("hostIPC") and _IPC_SYSCTL_RE.match(name):
                self.warn(field, f"{name}: IPC sysctls cannot be set with ipcMode host: skipped")
                continue
            if name not in SAFE_SYSCTLS:
                self.warn(
                    field,
                    f"{name} is not a safe sysctl: the kubelet must allow it "
                    "(--allowed-unsafe-sysctls) or the pod is rejected",
                )
            sysctls.append({"name": name, "value": value})
        if sysctls:
            spec["securityContext"] = {"sysctls": sysctls}

    def _node_selector(self, spec: dict) -> None:
        rp = self.td.runtimePlatform
        if rp is None:
            return
        selector = {}
        if rp.operatingSystemFamily:
            selector["kubernetes.io/os"] = "linux" if rp.operatingSystemFamily == "LINUX" else "windows"
        if rp.cpuArchitecture:
            selector["kubernetes.io/arch"] = {"X86_64": "amd64", "ARM64": "arm64"}[rp.cpuArchitecture]
        if selector:
            spec["nodeSelector"] = selector

    def _pod_resources(self, spec: dict) -> None:
        td = self.td
        requests: dict[str, str] = {}
        if td.cpu is not None and str(td.cpu).strip():
            units = parse_task_cpu(td.cpu)
            container_units = sum(cd.cpu or 0 for cd in self.containers)
            if container_units > units:
                raise TranslationError(
                    "cpu", f"the containers reserve {container_units} cpu units, more than the task's {td.cpu}"
                )
            ms = max(_millicores(units), sum(_millicores(cd.cpu) for cd in self.containers if cd.cpu))
            requests["cpu"] = _cpu_quantity(ms)
        if td.memory is not None and str(td.memory).strip():
            mib = parse_task_memory(td.memory)
            for cd in self.containers:
                if cd.memory is not None and cd.memory > mib:
                    raise TranslationError(
                        self.cpath(cd, "memory"), f"{cd.memory} MiB exceeds the task's memory ({mib} MiB)"
                    )
            reserved = sum(
                (cd.memoryReservation if cd.memoryReservation is not None else cd.memory) or 0 for cd in self.containers
            )
            if reserved > mib:
                raise TranslationError(
                    "memory", f"the containers reserve {reserved} MiB, more than the task's {mib} MiB"
                )
            requests["memory"] = f"{mib}Mi"
        if requests and self.os_family.startswith("WINDOWS"):
            self.warn(
                "cpu" if "cpu" in requests else "memory",
                "Windows nodes do not support pod-level resources: only the containers' own cpu/memory apply",
            )
        elif requests:
            spec["resources"] = {"requests": dict(requests), "limits": dict(requests)}

    def _task_level_warnings(self) -> None:
        td = self.td
        if td.proxyConfiguration is not None:
            self.warn(
                "proxyConfiguration", "App Mesh proxy configuration is not expressible (run the mesh's own injector)"
            )
        if td.inferenceAccelerators:
            self.warn("inferenceAccelerators", "Elastic Inference accelerators have no Kubernetes equivalent")
        if td.enableFaultInjection:
            self.warn("enableFaultInjection", "ECS fault-injection endpoints are not provided")
        if td.trustedExecutionConfiguration is not None:
            self.warn(
                "trustedExecutionConfiguration",
                f"isolation mode {td.trustedExecutionConfiguration.isolationMode!r} is not expressible "
                "(choose a RuntimeClass)",
            )

    def _metadata(self, essential: list[str]) -> dict:
        td = self.td
        labels = {
            LABEL_FAMILY: family_label(self.family),
            LABEL_REVISION: str(self.revision),
            MANAGED_BY_LABEL: MANAGED_BY,
        }
        ann: dict[str, str] = {ANN_TASK_DEFINITION: f"{self.family}:{self.revision}"}
        if any(k != e for e, k in self.k8s_names.items()):
            ann[ANN_CONTAINER_NAMES] = _dump({k: e for e, k in self.k8s_names.items()})
        ann[ANN_ESSENTIAL] = json.dumps([self.k8s_names[n] for n in essential], separators=(",", ":"))
        ann[ANN_NETWORK_MODE] = self.network_mode
        docker_labels = {cd.name: dict(cd.dockerLabels) for cd in self.containers if cd.dockerLabels}
        if docker_labels:
            ann[ANN_DOCKER_LABELS] = _dump(docker_labels)
        logs = {}
        for cd in self.containers:
            entry = {}
            if cd.logConfiguration is not None:
                entry["logConfiguration"] = _model_json(cd.logConfiguration)
            if cd.firelensConfiguration is not None:
                entry["firelensConfiguration"] = _model_json(cd.firelensConfiguration)
            if entry:
                logs[cd.name] = entry
        if logs:
            ann[ANN_LOG_CONFIGURATION] = _dump(logs)
        if td.placementConstraints:
            ann[ANN_PLACEMENT_CONSTRAINTS] = _dump([_model_json(c) for c in td.placementConstraints])
        if td.requiresCompatibilities:
            ann[ANN_REQUIRES_COMPATIBILITIES] = json.dumps(list(td.requiresCompatibilities), separators=(",", ":"))
        if td.executionRoleArn:
            ann[ANN_EXECUTION_ROLE] = td.executionRoleArn
        if td.taskRoleArn:
            ann[ANN_TASK_ROLE] = td.taskRoleArn
        if any(k != e for k, e in self.port_name_map.items()):
            ann[ANN_PORT_NAMES] = _dump(self.port_name_map)
        if self.app_protocols:
            ann[ANN_APP_PROTOCOLS] = _dump(self.app_protocols)
        return {"labels": labels, "annotations": ann}


def translate_task_definition(td: RegisterTaskDefinitionRequest, *, family: str, revision: int) -> TaskTranslation:
    """Translate a task definition revision into a PodTemplateSpec (see the module docstring).

    ``restartPolicy`` is left unset: services use the default (Always), standalone tasks set
    Never. Raises ``TranslationError`` for inconsistent input.
    """
    return _Translator(td, family, revision).run()
