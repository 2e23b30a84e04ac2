"""Container dependencies (``dependsOn``): the role each container takes in the pod and the
order of the initContainers list (pure).

A container others wait for to COMPLETE/SUCCESS runs as a regular init container; one they
wait for to START/become HEALTHY runs as a native sidecar (an initContainers entry with
restartPolicy Always); every other container is a main container.
"""

from __future__ import annotations

from ..models.generated import ContainerDefinition
from .context import TaskContext
from .diagnostics import TranslationError

ROLE_MAIN = "main"
ROLE_INIT = "init"  # a regular init container (COMPLETE/SUCCESS target)
ROLE_SIDECAR = "sidecar"  # a native sidecar: initContainers entry with restartPolicy Always

# ECS name -> the (container, condition) pairs it waits for
_Dependencies = dict[str, list[tuple[str, str]]]


def container_roles(ctx: TaskContext) -> tuple[dict[str, str], list[str]]:
    """Role of each container and the order of the initContainers list."""
    deps, targets = _dependency_graph(ctx)
    _check_cycles(deps)
    roles = {name: _role(ctx, cd, targets.get(name)) for name, cd in ctx.by_name.items()}
    _warn_waits_for_init_containers(ctx, roles)
    return roles, _init_order(deps, roles)


def has_health_check(cd: ContainerDefinition) -> bool:
    hc = cd.healthCheck
    return bool(hc and hc.command and hc.command[0] != "NONE")


def conditions_on(ctx: TaskContext, name: str) -> set[str]:
    """The conditions other containers wait for on container ``name``."""
    return {d.condition for cd in ctx.containers for d in (cd.dependsOn or []) if d.containerName == name}


def _dependency_graph(ctx: TaskContext) -> tuple[_Dependencies, dict[str, set[str]]]:
    """What each container waits for, and the conditions waited for on each target."""
    deps: _Dependencies = {name: [] for name in ctx.by_name}
    targets: dict[str, set[str]] = {}
    for name, cd in ctx.by_name.items():
        for d in cd.dependsOn or []:
            if d.containerName not in ctx.by_name:
                raise TranslationError(
                    ctx.cpath(cd, "dependsOn"), f"names no container of this task: {d.containerName!r}"
                )
            if d.containerName == name:
                raise TranslationError(ctx.cpath(cd, "dependsOn"), "a container cannot depend on itself")
            deps[name].append((d.containerName, d.condition))
            targets.setdefault(d.containerName, set()).add(d.condition)
    return deps, targets


def _check_cycles(deps: _Dependencies) -> None:
    """Cycle check over the whole graph (depth-first, in ECS order: deterministic message)."""
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

    for name in deps:
        if name not in state:
            visit(name, [name])


def _role(ctx: TaskContext, cd: ContainerDefinition, conditions: set[str] | None) -> str:
    if not conditions:
        return ROLE_MAIN
    if conditions & {"COMPLETE", "SUCCESS"}:
        if cd.essential is not False:
            raise TranslationError(
                ctx.cpath(cd, "essential"),
                "containers depend on this container with condition COMPLETE/SUCCESS, "
                "which ECS allows only for non-essential containers",
            )
        return ROLE_INIT
    if "HEALTHY" in conditions and not has_health_check(cd):
        ctx.warn(
            ctx.cpath(cd, "healthCheck"),
            "containers depend on this container being HEALTHY but it has no health "
            "check: dependents start once it has started",
        )
    return ROLE_SIDECAR


def _warn_waits_for_init_containers(ctx: TaskContext, roles: dict[str, str]) -> None:
    """An init container must exit 0 before anything else starts: waiting for it to START or
    become HEALTHY waits for its exit, and COMPLETE (any exit code) needs exit code 0."""
    for cd in ctx.containers:
        for d in cd.dependsOn or []:
            if roles[d.containerName] != ROLE_INIT:
                continue
            if d.condition == "COMPLETE":
                ctx.warn(
                    ctx.cpath(cd, "dependsOn"),
                    f"{d.containerName} COMPLETE (any exit code): {d.containerName!r} runs as an init "
                    "container, which must exit 0 (it is retried until it does)",
                )
            elif d.condition in ("START", "HEALTHY"):
                ctx.warn(
                    ctx.cpath(cd, "dependsOn"),
                    f"{d.containerName} {d.condition}: {d.containerName!r} runs as an init container "
                    "(other containers wait for it to COMPLETE/SUCCESS), so this waits for it to exit",
                )


def _init_order(deps: _Dependencies, roles: dict[str, str]) -> list[str]:
    """Topological order of the initContainers list (Kahn; ties in ECS order)."""
    index = {name: i for i, name in enumerate(deps)}
    pending = {n for n, r in roles.items() if r != ROLE_MAIN}
    order: list[str] = []
    while pending:
        ready = sorted((n for n in pending if all(t in order for t, _ in deps[n])), key=index.__getitem__)
        if not ready:  # unreachable: the cycle check ran first
            raise TranslationError("containerDefinitions", "dependency cycle")
        order.append(ready[0])
        pending.remove(ready[0])
    return order
