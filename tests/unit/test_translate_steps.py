"""The steps of the task definition translation, one module each (translate.taskdef puts them
together; test_translate_taskdef covers the whole)."""

from __future__ import annotations

import re

import pytest
from ecs_operator.models.generated import RegisterTaskDefinitionRequest
from ecs_operator.translate.containers import escape_expansion, ulimit_wrapper
from ecs_operator.translate.context import TaskContext
from ecs_operator.translate.dependencies import ROLE_INIT, ROLE_MAIN, ROLE_SIDECAR, container_roles
from ecs_operator.translate.diagnostics import TranslationError
from ecs_operator.translate.ports import PortMapper
from ecs_operator.translate.resources import container_resources, pod_resources
from ecs_operator.translate.security import _apparmor_profile, _split_option, security_context
from ecs_operator.translate.volumes import TaskVolumes


def _ctx(*containers: dict, **td: object) -> TaskContext:
    ctx = TaskContext(
        RegisterTaskDefinitionRequest.model_validate({"family": "f", "containerDefinitions": list(containers), **td})
    )
    ctx.name_containers()
    ctx.network_mode = str(td.get("networkMode") or "bridge")
    ctx.host_network = ctx.network_mode == "host"
    return ctx


def _c(name: str, **fields: object) -> dict:
    return {"name": name, "image": "busybox", **fields}


def test_container_names_become_unique_dns_labels():
    ctx = _ctx(_c("web_app"), _c("web-app"), _c("Web"))
    assert list(ctx.by_name) == ["web_app", "web-app", "Web"]
    assert len(set(ctx.k8s_names.values())) == 3
    assert all(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", k) for k in ctx.k8s_names.values())


def test_roles_and_init_order_follow_the_dependencies():
    ctx = _ctx(
        _c(
            "app",
            dependsOn=[
                {"containerName": "migrate", "condition": "SUCCESS"},
                {"containerName": "proxy", "condition": "START"},
            ],
        ),
        _c("migrate", essential=False, dependsOn=[{"containerName": "proxy", "condition": "START"}]),
        _c("proxy"),
    )
    roles, order = container_roles(ctx)
    assert roles == {"app": ROLE_MAIN, "migrate": ROLE_INIT, "proxy": ROLE_SIDECAR}
    assert order == ["proxy", "migrate"]


def test_a_dependency_cycle_names_its_path():
    ctx = _ctx(
        _c("a", dependsOn=[{"containerName": "b", "condition": "START"}]),
        _c("b", dependsOn=[{"containerName": "a", "condition": "START"}]),
    )
    with pytest.raises(TranslationError, match=r"dependency cycle: a -> b -> a"):
        container_roles(ctx)


@pytest.mark.parametrize(
    "opt",
    ["no-new-privileges", "no-new-privileges:true", "apparmor=x:y", "label:type:a=b", "seccomp=", ":", "=", "a\nb:c"],
)
def test_security_options_split_at_the_first_colon_or_equals(opt):
    m = re.match(r"^([^:=]*)[:=]?(.*)$", opt, re.DOTALL)
    assert m is not None
    name, _, value = _split_option(opt)
    assert (name, value) == (m.group(1), m.group(2))


def test_apparmor_profiles():
    assert _apparmor_profile("unconfined") == {"type": "Unconfined"}
    assert _apparmor_profile("docker-default") == {"type": "RuntimeDefault"}
    assert _apparmor_profile("mine") == {"type": "Localhost", "localhostProfile": "mine"}


def test_security_context_capabilities_and_no_new_privileges():
    ctx = _ctx(
        _c(
            "a",
            user="1000:2000",
            linuxParameters={"capabilities": {"add": ["cap_net_admin", "NET_ADMIN"], "drop": ["ALL"]}},
            dockerSecurityOptions=["no-new-privileges"],
        )
    )
    assert security_context(ctx, ctx.by_name["a"]) == {
        "runAsUser": 1000,
        "runAsGroup": 2000,
        "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
        "allowPrivilegeEscalation": False,
    }


def test_an_exact_repeat_of_a_port_mapping_is_dropped_with_its_name():
    ctx = _ctx(_c("a", portMappings=[{"containerPort": 80, "name": "web"}, {"containerPort": 80, "name": "web"}]))
    ports = PortMapper(ctx)
    assert ports.container_ports("a", ctx.by_name["a"]) == [{"name": "web", "containerPort": 80, "protocol": "TCP"}]
    assert ports.port_name_map == {"web": "web"}


def test_container_and_pod_resources():
    ctx = _ctx(_c("a", cpu=512, memory=256, memoryReservation=128), cpu="1 vCPU", memory="1 GB")
    ctx.first_essential = "a"
    assert container_resources(ctx, ctx.by_name["a"]) == {
        "requests": {"cpu": "500m", "memory": "128Mi"},
        "limits": {"memory": "256Mi"},
    }
    spec: dict = {}
    pod_resources(ctx, spec)
    assert spec == {
        "resources": {"requests": {"cpu": "1", "memory": "1024Mi"}, "limits": {"cpu": "1", "memory": "1024Mi"}}
    }


def test_nfs_docker_volume():
    ctx = _ctx(
        _c("a"),
        volumes=[
            {
                "name": "share",
                "dockerVolumeConfiguration": {
                    "driver": "local",
                    "driverOpts": {"type": "nfs", "device": ":/export", "o": "addr=10.0.0.1,ro,nfsvers=4"},
                },
            }
        ],
    )
    volumes = TaskVolumes(ctx)
    volumes.translate_task_volumes()
    assert volumes.volumes == [{"name": "share", "nfs": {"server": "10.0.0.1", "path": "/export", "readOnly": True}}]
    assert [w.field for w in ctx.warnings] == ["volumes[share].dockerVolumeConfiguration.driverOpts"]


def test_command_helpers():
    assert escape_expansion("$(HOME) $$ $x") == "$$(HOME) $$$ $x"
    ctx = _ctx(_c("a", entryPoint=["app"], ulimits=[{"name": "nofile", "softLimit": 10, "hardLimit": 20}]))
    assert ulimit_wrapper(ctx.by_name["a"])[:2] == ["/bin/sh", "-c"]
