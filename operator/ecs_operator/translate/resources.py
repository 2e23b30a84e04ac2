"""cpu, memory, GPUs and ephemeral storage: the containers' requests and limits and the pod's
resources (pure)."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from ..models.gen import DEVICE_COUNT_PATTERN
from ..models.generated import ContainerDefinition, ResourceRequirement
from .context import TaskContext
from .diagnostics import TranslationError

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


# -- containers ------------------------------------------------------------------------------


def container_resources(ctx: TaskContext, cd: ContainerDefinition) -> dict[str, dict[str, str]]:
    """A container's requests and limits; the task's ephemeral storage goes to the first
    essential container."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    cpu = _cpu_request(ctx, cd)
    if cpu:
        requests["cpu"] = cpu
    _memory(ctx, cd, requests, limits)
    for j, rr in enumerate(cd.resourceRequirements or []):
        _device_limit(ctx, ctx.cpath(cd, f"resourceRequirements[{j}]"), rr, limits)
    if cd.name == ctx.first_essential and ctx.td.ephemeralStorage is not None:
        size = ctx.td.ephemeralStorage.sizeInGiB
        if size <= 0:
            raise TranslationError("ephemeralStorage.sizeInGiB", f"{size} must be greater than zero")
        limits["ephemeral-storage"] = f"{size}Gi"
    res: dict[str, dict[str, str]] = {}
    if requests:
        res["requests"] = requests
    if limits:
        res["limits"] = limits
    return res


def _cpu_request(ctx: TaskContext, cd: ContainerDefinition) -> str | None:
    if cd.cpu is None:
        return None
    if cd.cpu < 0:
        raise TranslationError(ctx.cpath(cd, "cpu"), f"{cd.cpu} is negative")
    return _cpu_quantity(_millicores(cd.cpu)) if cd.cpu > 0 else None


def _memory(ctx: TaskContext, cd: ContainerDefinition, requests: dict[str, str], limits: dict[str, str]) -> None:
    """memory is the hard limit, memoryReservation the request (memory when unset)."""
    if cd.memory is not None and cd.memory <= 0:
        raise TranslationError(ctx.cpath(cd, "memory"), f"{cd.memory} MiB must be greater than zero")
    if cd.memoryReservation is not None and cd.memoryReservation < 0:
        raise TranslationError(ctx.cpath(cd, "memoryReservation"), f"{cd.memoryReservation} is negative")
    if cd.memory is not None and cd.memoryReservation is not None and cd.memoryReservation > cd.memory:
        raise TranslationError(
            ctx.cpath(cd, "memoryReservation"), f"{cd.memoryReservation} MiB exceeds memory {cd.memory} MiB"
        )
    reservation = cd.memoryReservation if cd.memoryReservation is not None else cd.memory
    if reservation:
        requests["memory"] = f"{reservation}Mi"
    if cd.memory is not None:
        limits["memory"] = f"{cd.memory}Mi"


def _device_limit(ctx: TaskContext, field: str, rr: ResourceRequirement, limits: dict[str, str]) -> None:
    """GPUs and Neuron devices as extended resources (whole devices, summed per resource)."""
    if rr.type == "InferenceAccelerator":
        ctx.warn(field, f"InferenceAccelerator {rr.value!r}: Elastic Inference has no Kubernetes equivalent")
        return
    resource = "nvidia.com/gpu" if rr.type == "GPU" else "aws.amazon.com/neuron"
    count = _device_count(rr.value)
    if count is None:
        raise TranslationError(field + ".value", f"{rr.type} needs a positive number, not {rr.value!r}")
    whole = math.ceil(count)
    if whole != count:  # ECS shares a GPU on Managed Instances; Kubernetes counts whole devices
        ctx.warn(
            field + ".value",
            f"{rr.type} {rr.value}: Kubernetes extended resources are whole "
            f"devices, {whole} requested (share devices with the NVIDIA device plugin's "
            "time-slicing or MPS)",
        )
    limits[resource] = str(whole + int(limits.get(resource, "0")))
    if rr.sharingStrategy is not None:
        ctx.warn(
            field + ".sharingStrategy",
            "GPU sharing (MPS) is configured in the NVIDIA device plugin, not per pod: whole devices are requested",
        )


# -- the pod ---------------------------------------------------------------------------------


def pod_resources(ctx: TaskContext, spec: dict[str, Any]) -> None:
    """The task-level cpu and memory as pod-level resources (requests = limits)."""
    requests: dict[str, str] = {}
    cpu = _task_cpu(ctx)
    if cpu:
        requests["cpu"] = cpu
    memory = _task_memory(ctx)
    if memory:
        requests["memory"] = memory
    if requests and ctx.windows:
        ctx.warn(
            "cpu" if "cpu" in requests else "memory",
            "Windows nodes do not support pod-level resources: only the containers' own cpu/memory apply",
        )
    elif requests:
        spec["resources"] = {"requests": dict(requests), "limits": dict(requests)}


def _task_cpu(ctx: TaskContext) -> str | None:
    td = ctx.td
    if td.cpu is None or not str(td.cpu).strip():
        return None
    units = parse_task_cpu(td.cpu)
    container_units = sum(cd.cpu or 0 for cd in ctx.containers)
    if container_units > units:
        raise TranslationError(
            "cpu", f"the containers reserve {container_units} cpu units, more than the task's {td.cpu}"
        )
    ms = max(_millicores(units), sum(_millicores(cd.cpu) for cd in ctx.containers if cd.cpu))
    return _cpu_quantity(ms)


def _task_memory(ctx: TaskContext) -> str | None:
    td = ctx.td
    if td.memory is None or not str(td.memory).strip():
        return None
    mib = parse_task_memory(td.memory)
    for cd in ctx.containers:
        if cd.memory is not None and cd.memory > mib:
            raise TranslationError(ctx.cpath(cd, "memory"), f"{cd.memory} MiB exceeds the task's memory ({mib} MiB)")
    reserved = sum(
        (cd.memoryReservation if cd.memoryReservation is not None else cd.memory) or 0 for cd in ctx.containers
    )
    if reserved > mib:
        raise TranslationError("memory", f"the containers reserve {reserved} MiB, more than the task's {mib} MiB")
    return f"{mib}Mi"
