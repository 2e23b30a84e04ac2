"""ECS task definition -> Kubernetes PodTemplateSpec (pure: no client, clock, randomness or I/O).

``translate_task_definition`` turns a validated ``RegisterTaskDefinitionRequest`` into a pod
template plus the companion objects it references (ServiceAccount for ``taskRoleArn``,
PersistentVolumeClaims for EFS), and reports every ECS field that Kubernetes cannot express
exactly as a ``TranslationWarning`` naming the ECS path. Input that ECS would accept but that is
inconsistent (a mount point naming no volume, a dependency cycle, ...) raises
``TranslationError``. The field-by-field mapping is documented in
docs/taskdefinition-mapping.md; the tables ``TRANSLATED``, ``WARNED`` and
``IGNORED_WITH_REASON`` below list every field of the models so that nothing is dropped silently.

This module is the entry point and puts the pod together; the steps live beside it:
:mod:`.context` (state shared by the steps), :mod:`.dependencies` (container roles and init
order), :mod:`.containers`, :mod:`.ports`, :mod:`.resources`, :mod:`.volumes`, :mod:`.health`,
:mod:`.security` and :mod:`.network`; :mod:`.annotations` holds the keys the template carries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..domain.revisions import family_label
from ..models.generated import RegisterTaskDefinitionRequest
from . import names
from .annotations import (
    ANN_APP_PROTOCOLS,
    ANN_CONTAINER_NAMES,
    ANN_DOCKER_LABELS,
    ANN_ESSENTIAL,
    ANN_EXECUTION_ROLE,
    ANN_LOG_CONFIGURATION,
    ANN_NETWORK_MODE,
    ANN_PLACEMENT_CONSTRAINTS,
    ANN_PORT_NAMES,
    ANN_REQUIRES_COMPATIBILITIES,
    ANN_TASK_DEFINITION,
    ANN_TASK_ROLE,
    LABEL_FAMILY,
    LABEL_REVISION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
)
from .containers import ContainerBuilder
from .context import TaskContext
from .dependencies import ROLE_MAIN, container_roles
from .diagnostics import TranslationError, TranslationWarning
from .network import HostAliases, pod_network
from .ports import PortMapper
from .resources import parse_task_cpu, parse_task_memory, pod_resources
from .security import PodSysctls
from .volumes import TaskVolumes

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
    "ANN_APP_PROTOCOLS",
    "ANN_CONTAINER_NAMES",
    "ANN_DOCKER_LABELS",
    "ANN_ESSENTIAL",
    "ANN_EXECUTION_ROLE",
    "ANN_LOG_CONFIGURATION",
    "ANN_NETWORK_MODE",
    "ANN_PLACEMENT_CONSTRAINTS",
    "ANN_PORT_NAMES",
    "ANN_REQUIRES_COMPATIBILITIES",
    "ANN_TASK_DEFINITION",
    "ANN_TASK_ROLE",
]

DEFAULT_STOP_TIMEOUT = 30  # seconds; ECS_CONTAINER_STOP_TIMEOUT's default

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
    "ContainerDefinition.restartPolicy": "the container's own restartPolicy (Always) / restartPolicyRules (Never + Restart NotIn ignoredExitCodes); restartAttemptPeriod warned",
    "ContainerDefinition.versionConsistency": "services: each tag resolved to a digest once per service revision (ServiceRevision containerImages), tasks run image@digest; 'disabled' runs the tag",
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
    "ContainerDefinition.startTimeout": "no per-container start timeout in Kubernetes",
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
class TaskTranslation:
    template: dict[str, Any]  # a PodTemplateSpec {metadata: {labels, annotations}, spec: {...}}
    warnings: tuple[TranslationWarning, ...]
    objects: tuple[dict[str, Any], ...]  # companion objects the template references
    container_names: dict[str, str]  # ECS container name -> Kubernetes container name


def register_input_from_ecs_json(d: dict[str, Any]) -> dict[str, Any]:
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


def translate_task_definition(td: RegisterTaskDefinitionRequest, *, family: str, revision: int) -> TaskTranslation:
    """Translate a task definition revision into a PodTemplateSpec (see the module docstring).

    ``restartPolicy`` is left unset: services use the default (Always), standalone tasks set
    Never. Raises ``TranslationError`` for inconsistent input.
    """
    return _Translator(td, family, revision).run()


# Built once: json.dumps with options builds an encoder per call.
_SORTED = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def _dump(value: Any) -> str:
    return _SORTED.encode(value)


_SCALARS = (str, int, float, bool, type(None))


class _NotPlain(Exception):
    """A value the fast copy does not handle (a non-str key, a str subclass, ...)."""


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise _NotPlain
            out[k] = v if type(v) in _SCALARS else _copy(v)
        return out
    if kind is list or kind is tuple:
        return [v if type(v) in _SCALARS else _copy(v) for v in value]
    if kind in _SCALARS:
        return value
    raise _NotPlain


def _plain(value: Any) -> Any:
    """What a JSON round trip makes of ``value`` (plain data; no two places share a dict): a
    direct copy when ``value`` holds only dicts with str keys, lists, tuples and JSON scalars
    (what the steps build), else the round trip itself."""
    try:
        return _copy(value)
    except _NotPlain:
        return json.loads(json.dumps(value))


class _Translator:
    """One translation: runs the steps in an order that fixes the order of the warnings."""

    def __init__(self, td: RegisterTaskDefinitionRequest, family: str, revision: int):
        self.td = td
        self.family = family
        self.revision = revision
        self.ctx = TaskContext(td)
        self.volumes = TaskVolumes(self.ctx)
        self.ports = PortMapper(self.ctx)
        self.host_aliases = HostAliases(self.ctx)
        self.sysctls = PodSysctls(self.ctx)
        self.builder = ContainerBuilder(self.ctx, self.volumes, self.ports, self.host_aliases, self.sysctls)

    def run(self) -> TaskTranslation:
        ctx, td = self.ctx, self.td
        ctx.name_containers()
        ctx.network_mode = td.networkMode or ("awsvpc" if "FARGATE" in (td.requiresCompatibilities or []) else "bridge")
        ctx.host_network = ctx.network_mode == "host"
        if ctx.network_mode == "none":
            ctx.warn(
                "networkMode",
                "'none': a pod always has a network namespace (containers get loopback plus the pod network)",
            )
        self.volumes.translate_task_volumes()
        roles, init_order = container_roles(ctx)
        essential = [name for name, cd in ctx.by_name.items() if cd.essential is not False]
        if not essential:
            raise TranslationError("containerDefinitions", "at least one container must be essential")
        ctx.first_essential = essential[0]

        built = {name: self.builder.build(name, cd, roles[name]) for name, cd in ctx.by_name.items()}
        self.volumes.copy_volumes_from(built)

        spec: dict[str, Any] = {}
        self._pod_identity(spec)
        pod_network(ctx, spec, self.host_aliases)
        self._pod_namespaces(spec)
        self.sysctls.apply(spec)
        spec["terminationGracePeriodSeconds"] = max(
            max(cd.stopTimeout, 0) if cd.stopTimeout is not None else DEFAULT_STOP_TIMEOUT for cd in ctx.containers
        )
        if self.builder.image_pull_secrets:
            spec["imagePullSecrets"] = [{"name": n} for n in self.builder.image_pull_secrets]
        self._node_selector(spec)
        pod_resources(ctx, spec)
        init_containers = [built[n] for n in init_order]
        if init_containers:
            spec["initContainers"] = init_containers
        spec["containers"] = [built[name] for name in ctx.by_name if roles[name] == ROLE_MAIN]
        if self.volumes.volumes:
            spec["volumes"] = self.volumes.volumes
        self._task_level_warnings()

        # A JSON round trip: plain data, and no two places of the output share a dict.
        template = _plain({"metadata": self._metadata(essential), "spec": spec})
        return TaskTranslation(
            template=template,
            warnings=tuple(ctx.warnings),
            objects=tuple(_plain(o) for o in ctx.objects),
            container_names=dict(ctx.k8s_names),
        )

    # -- pod-level -----------------------------------------------------------------------------

    def _pod_identity(self, spec: dict[str, Any]) -> None:
        spec["enableServiceLinks"] = False
        role = self.td.taskRoleArn
        if role:
            sa = names.service_account_name(role)
            spec["serviceAccountName"] = sa
            spec["automountServiceAccountToken"] = True
            self.ctx.objects.insert(
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

    def _pod_namespaces(self, spec: dict[str, Any]) -> None:
        td = self.td
        if td.pidMode == "host":
            spec["hostPID"] = True
        elif td.pidMode == "task":
            spec["shareProcessNamespace"] = True
        if td.ipcMode == "host":
            spec["hostIPC"] = True
        elif td.ipcMode == "none":
            self.ctx.warn("ipcMode", "'none': the containers of a pod always share an IPC namespace")

    def _node_selector(self, spec: dict[str, Any]) -> None:
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

    def _task_level_warnings(self) -> None:
        td, warn = self.td, self.ctx.warn
        if td.proxyConfiguration is not None:
            warn("proxyConfiguration", "App Mesh proxy configuration is not expressible (run the mesh's own injector)")
        if td.inferenceAccelerators:
            warn("inferenceAccelerators", "Elastic Inference accelerators have no Kubernetes equivalent")
        if td.enableFaultInjection:
            warn("enableFaultInjection", "ECS fault-injection endpoints are not provided")
        if td.trustedExecutionConfiguration is not None:
            warn(
                "trustedExecutionConfiguration",
                f"isolation mode {td.trustedExecutionConfiguration.isolationMode!r} is not expressible "
                "(choose a RuntimeClass)",
            )

    # -- metadata ------------------------------------------------------------------------------

    def _metadata(self, essential: list[str]) -> dict[str, Any]:
        td, ctx = self.td, self.ctx
        labels = {
            LABEL_FAMILY: family_label(self.family),
            LABEL_REVISION: str(self.revision),
            MANAGED_BY_LABEL: MANAGED_BY,
        }
        ann: dict[str, str] = {ANN_TASK_DEFINITION: f"{self.family}:{self.revision}"}
        if any(k != e for e, k in ctx.k8s_names.items()):
            ann[ANN_CONTAINER_NAMES] = _dump({k: e for e, k in ctx.k8s_names.items()})
        ann[ANN_ESSENTIAL] = _COMPACT.encode([ctx.k8s_names[n] for n in essential])
        ann[ANN_NETWORK_MODE] = ctx.network_mode
        docker_labels = {name: dict(cd.dockerLabels) for name, cd in ctx.by_name.items() if cd.dockerLabels}
        if docker_labels:
            ann[ANN_DOCKER_LABELS] = _dump(docker_labels)
        logs = self._log_configurations()
        if logs:
            ann[ANN_LOG_CONFIGURATION] = _dump(logs)
        if td.placementConstraints:
            ann[ANN_PLACEMENT_CONSTRAINTS] = _dump(
                [c.model_dump(mode="json", exclude_none=True) for c in td.placementConstraints]
            )
        if td.requiresCompatibilities:
            ann[ANN_REQUIRES_COMPATIBILITIES] = _COMPACT.encode(list(td.requiresCompatibilities))
        if td.executionRoleArn:
            ann[ANN_EXECUTION_ROLE] = td.executionRoleArn
        if td.taskRoleArn:
            ann[ANN_TASK_ROLE] = td.taskRoleArn
        if any(k != e for k, e in self.ports.port_name_map.items()):
            ann[ANN_PORT_NAMES] = _dump(self.ports.port_name_map)
        if self.ports.app_protocols:
            ann[ANN_APP_PROTOCOLS] = _dump(self.ports.app_protocols)
        return {"labels": labels, "annotations": ann}

    def _log_configurations(self) -> dict[str, dict[str, Any]]:
        """Per container, its logConfiguration and firelensConfiguration (kept in an annotation)."""
        logs: dict[str, dict[str, Any]] = {}
        for name, cd in self.ctx.by_name.items():
            entry = {}
            if cd.logConfiguration is not None:
                entry["logConfiguration"] = cd.logConfiguration.model_dump(mode="json", exclude_none=True)
            if cd.firelensConfiguration is not None:
                entry["firelensConfiguration"] = cd.firelensConfiguration.model_dump(mode="json", exclude_none=True)
            if entry:
                logs[name] = entry
        return logs
